//! The deletion queue: object keys written in the transaction that dropped
//! their last reference (a deleted post, a replaced picture, a deleted
//! account, an upload never attached), deleted from the store by a worker
//! on every instance, retried with back-off until the store answers. A key
//! is never reused, so a queued key is never referenced again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};
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

/// One round: claims due rows, deletes their objects, removes the rows
/// that succeeded and reschedules the others. Answers how many were done.
pub async fn drain(_state: &AppState) -> Result<u64, AppError> {
    // Built by the storage work: claim with a lease, delete, back off.
    Ok(0)
}

/// The worker: a round when woken, and at least every `INTERVAL`.
pub async fn run(state: AppState) {
    const INTERVAL: Duration = Duration::from_secs(10);
    loop {
        if let Err(e) = drain(&state).await {
            tracing::warn!(detail = %e.detail(), "media deletion round failed");
        }
        tokio::select! {
            () = state.media().deletion_wake().notified() => {}
            () = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
