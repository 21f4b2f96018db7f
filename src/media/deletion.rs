//! The deletion queue: object keys written in the transaction that dropped
//! their last reference (a deleted post, a replaced picture, a deleted
//! account, an upload never attached), deleted from the store by a worker
//! on every instance, retried with back-off until the store answers. A key
//! is never reused, so a queued key is never referenced again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entity::media_deletion;
use crate::error::AppError;
use crate::state::AppState;

/// Queues `keys` for deletion, within the caller's transaction when `conn`
/// is one; due at once. Wake the worker (`Media::deletion_wake`) after the
/// commit.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    keys: impl IntoIterator<Item = String>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let rows: Vec<_> = keys
        .into_iter()
        .map(|key| media_deletion::ActiveModel {
            id: Set(Uuid::now_v7()),
            object_key: Set(key),
            attempts: Set(0),
            next_attempt_at: Set(now),
            claimed_by: Set(None),
            claimed_until: Set(None),
            last_error: Set(None),
            created_at: Set(now),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    media_deletion::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Deletions not yet done.
pub async fn pending(db: &DatabaseConnection) -> Result<u64, AppError> {
    Ok(media_deletion::Entity::find().count(db).await?)
}

/// Rows claimed, and deleted at once, per round.
const BATCH: u64 = 32;
/// The wait after a first failure; doubled for each one after.
const BASE_BACKOFF: Duration = Duration::from_secs(10);
/// The longest wait between two attempts of one deletion.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// One object's deletion is cut off after this; the store client retries
/// within it.
const DELETE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a claim holds: longer than any one deletion may take, so a
/// claim never lapses while its object is being deleted.
const LEASE: Duration = Duration::from_secs(120);
/// Stored error text is cut to this many characters.
const ERROR_LEN: usize = 500;

/// The wait after the `attempts`-th failed attempt: 10 s × 2^(n-1), at
/// most an hour. There is no last attempt: an object whose last reference
/// is gone must go, so a row is retried until the store answers.
pub fn retry_in(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.clamp(1, 16).saturating_sub(1);
    BASE_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// One round: claims up to a batch of due rows, deletes their objects at
/// once, removes the rows that succeeded (an object already gone counts)
/// and reschedules the others. Answers how many were claimed.
pub async fn drain(state: &AppState) -> Result<u64, AppError> {
    let now = crate::service::clock::now();
    // A claim of its own for every round, not one per instance: the worker
    // and a direct call (tests, an operator's tool) never take each other's
    // rows, and a row is never claimed twice while its lease holds.
    let claim = Uuid::new_v4();
    let rows = claim_due(state.db(), claim, now).await?;
    let count = rows.len() as u64;
    let mut deletions = tokio::task::JoinSet::new();
    for row in rows {
        let state = state.clone();
        deletions.spawn(async move {
            let store = state.media().store();
            let outcome =
                match tokio::time::timeout(DELETE_TIMEOUT, store.delete(&row.object_key)).await {
                    Ok(done) => done.map_err(|e| e.to_string()),
                    Err(_) => Err("timed out".to_owned()),
                };
            record(&state, &row, claim, outcome).await
        });
    }
    while let Some(done) = deletions.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(detail = %e.detail(), "a deletion's outcome was not recorded")
            }
            Err(e) => tracing::warn!(error = %e, "a media deletion task failed"),
        }
    }
    Ok(count)
}

/// Due: its time come, and not claimed (or its claim lapsed).
fn due(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(media_deletion::Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(media_deletion::Column::ClaimedUntil.is_null())
                .add(media_deletion::Column::ClaimedUntil.lt(now)),
        )
}

/// Marks up to a batch of due rows as claimed by `claim` and answers them
/// (`service::lease::claim`: instances sharing the database take different
/// rows).
async fn claim_due(
    db: &DatabaseConnection,
    claim: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<media_deletion::Model>, AppError> {
    let until = now + LEASE;
    let pick = || {
        media_deletion::Entity::find()
            .select_only()
            .column(media_deletion::Column::Id)
            .filter(due(now))
            .order_by_asc(media_deletion::Column::NextAttemptAt)
            .limit(BATCH)
    };
    let mark = |ids: Vec<Uuid>| {
        media_deletion::Entity::update_many()
            .col_expr(media_deletion::Column::ClaimedBy, Expr::value(Some(claim)))
            .col_expr(
                media_deletion::Column::ClaimedUntil,
                Expr::value(Some(until)),
            )
            .filter(media_deletion::Column::Id.is_in(ids))
            .filter(due(now))
    };
    if !crate::service::lease::claim(db, pick, mark).await? {
        return Ok(Vec::new());
    }
    Ok(media_deletion::Entity::find()
        .filter(media_deletion::Column::ClaimedBy.eq(claim))
        .all(db)
        .await?)
}

/// Stores the outcome of one attempt, if the claim still holds: the row
/// goes, or waits for its next attempt with the store's answer.
async fn record(
    state: &AppState,
    row: &media_deletion::Model,
    claim: Uuid,
    outcome: Result<(), String>,
) -> Result<(), AppError> {
    let mine = Condition::all()
        .add(media_deletion::Column::Id.eq(row.id))
        .add(media_deletion::Column::ClaimedBy.eq(claim));
    match outcome {
        Ok(()) => {
            media_deletion::Entity::delete_many()
                .filter(mine)
                .exec(state.db())
                .await?;
            tracing::debug!(deletion = %row.id, attempts = row.attempts, "media object deleted");
            metrics::counter!("media_deletions_total", "outcome" => "deleted").increment(1);
        }
        Err(error) => {
            // The store's text (an address, a status) and never a key or
            // a credential: a StoreError keeps no response body.
            let error: String = error.chars().take(ERROR_LEN).collect();
            let attempts = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
            let next = crate::service::clock::now() + retry_in(attempts);
            media_deletion::Entity::update_many()
                .col_expr(
                    media_deletion::Column::Attempts,
                    Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
                )
                .col_expr(media_deletion::Column::NextAttemptAt, Expr::value(next))
                .col_expr(
                    media_deletion::Column::LastError,
                    Expr::value(Some(error.clone())),
                )
                .col_expr(
                    media_deletion::Column::ClaimedBy,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(
                    media_deletion::Column::ClaimedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(mine)
                .exec(state.db())
                .await?;
            tracing::warn!(deletion = %row.id, attempts, %error, retry_at = %next, "media object not deleted; will retry");
            metrics::counter!("media_deletions_total", "outcome" => "failed").increment(1);
        }
    }
    Ok(())
}

/// The worker: rounds until nothing is due, when woken and at least every
/// `INTERVAL`. Never returns; aborted at shutdown (a claim cut off that
/// way lapses and its row is taken again later).
pub async fn run(state: AppState) {
    const INTERVAL: Duration = Duration::from_secs(10);
    loop {
        loop {
            match drain(&state).await {
                Ok(n) if n == BATCH => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(detail = %e.detail(), "media deletion round failed");
                    break;
                }
            }
        }
        // Rows backing off stay counted: a store long down shows here.
        if let Ok(n) = pending(state.db()).await {
            metrics::gauge!("media_deletions_pending").set(n as f64);
        }
        tokio::select! {
            () = state.media().deletion_wake().notified() => {}
            () = tokio::time::sleep(INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_from_ten_seconds_up_to_an_hour() {
        assert_eq!(retry_in(1), Duration::from_secs(10));
        assert_eq!(retry_in(2), Duration::from_secs(20));
        assert_eq!(retry_in(4), Duration::from_secs(80));
        assert_eq!(retry_in(10), Duration::from_secs(3600));
        assert_eq!(retry_in(u32::MAX), Duration::from_secs(3600));
        assert!(LEASE > DELETE_TIMEOUT);
    }
}
