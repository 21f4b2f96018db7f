//! The relay: events written by the other instances (and any of this
//! one's that its services did not hand over) reach this instance's hub.
//!
//! Every `REVOCATION_SYNC_INTERVAL`, and at once when a PostgreSQL
//! notification on `event::CHANNEL` from another instance wakes it (each
//! instance sends one after it published, see [`announce`]), a round
//! reads the `live_event` rows above the ids seen (`Seen`), in id order, a
//! bounded batch a statement: first the holes below the highest id seen
//! (ids handed out to transactions that had not committed yet), by name,
//! then the rows above it. Each id is claimed once, so an event is handled
//! once however it arrives; a hole is given up after [`give_up_after`].
//! A lost listener connection is reopened and followed by a round, which
//! reads whatever was written meanwhile. At start the mark is the highest
//! id written so far: events from before the start are not replayed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait as _, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::seen::{Holes, Seen};
use crate::entity::live_event;
use crate::error::AppError;
use crate::state::AppState;

/// Rows read per statement.
const BATCH: u64 = 500;
/// Ids seen above the mark at most (see `Seen`).
const CAPACITY: usize = 10_000;
/// How long rows are kept for the relays; a relay further behind than
/// this misses events (a notice, not the record).
pub const KEPT: Duration = Duration::from_secs(300);

/// How long a hole waits for its transaction: a few intervals, and never
/// less than ten seconds.
pub fn give_up_after(interval: Duration) -> Duration {
    (interval * 4).max(Duration::from_secs(10))
}

/// Starts tracking ids from the highest written now. At start, before the
/// server listens.
pub async fn start(state: &AppState, interval: Duration) -> Result<(), AppError> {
    let highest: Option<i64> = live_event::Entity::find()
        .select_only()
        .expr(Expr::col(live_event::Column::Id).max())
        .into_tuple()
        .one(state.db())
        .await?
        .flatten();
    state.live().start_at(Seen::new(
        highest.unwrap_or(0),
        give_up_after(interval),
        CAPACITY,
    ));
    Ok(())
}

/// The relay's tasks; aborted when dropped.
pub struct Relay {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the hub's dispatcher, the pulls and (PostgreSQL) the listener
/// and the announcer.
pub fn spawn(state: AppState, interval: Duration) -> Relay {
    let wake = Arc::new(Notify::new());
    let mut tasks: Vec<JoinHandle<()>> = state
        .live()
        .start_dispatch(state.clone())
        .into_iter()
        .collect();
    tasks.push(tokio::spawn(pull_loop(
        state.clone(),
        interval,
        wake.clone(),
    )));
    if state.backend() == DatabaseBackend::Postgres {
        tasks.push(tokio::spawn(announce(state.clone())));
        let own = state.live().tag().to_owned();
        tasks.push(tokio::spawn(crate::sync::listen(
            state,
            super::event::CHANNEL,
            wake,
            Some(own),
        )));
    }
    Relay { tasks }
}

/// PostgreSQL: after this instance published events (committed), one
/// notification on `event::CHANNEL` wakes the other instances' relays; the
/// events published while one is sent share the next. Sent after the
/// commit, never inside a transaction (see `live::event`); a lost one
/// leaves the others to their interval.
async fn announce(state: AppState) {
    let sql = format!(
        "SELECT pg_notify('{}', '{}')",
        super::event::CHANNEL,
        state.live().tag()
    );
    loop {
        state.live().published().await;
        if let Err(e) = state.db().execute_unprepared(&sql).await {
            tracing::debug!(error = %e, "live notify failed; the others read at their interval");
        }
    }
}

async fn pull_loop(state: AppState, interval: Duration, wake: Arc<Notify>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = wake.notified() => {}
        }
        if !state.live().is_started()
            && let Err(e) = start(&state, interval).await
        {
            tracing::warn!(detail = %e.detail(), "live relay cannot start; retrying next interval");
            continue;
        }
        match round(&state).await {
            Ok(n) => tracing::trace!(read = n, "live events pulled"),
            Err(e) => {
                tracing::warn!(detail = %e.detail(), "live event pull failed; retrying next interval")
            }
        }
    }
}

/// One round: the holes, then the new rows, then the give-ups. Answers the
/// rows read.
pub async fn round(state: &AppState) -> Result<usize, AppError> {
    let hub = state.live();
    let Some((holes, highest)) = hub.with_seen(|s| (s.holes(), s.highest())) else {
        return Ok(0);
    };
    let mut read = 0;
    let filled = match holes {
        Holes::None => Vec::new(),
        Holes::Named(ids) => rows(state, live_event::Column::Id.is_in(ids), BATCH * 4).await?,
        Holes::Between(low, high) => {
            let range = live_event::Column::Id
                .gt(low)
                .and(live_event::Column::Id.lt(high));
            rows(state, range, CAPACITY as u64).await?
        }
    };
    read += filled.len();
    forget_deleted_accounts(state, &filled);
    hub.receive(&filled);
    let mut after = highest;
    loop {
        let new = rows(state, live_event::Column::Id.gt(after), BATCH).await?;
        read += new.len();
        forget_deleted_accounts(state, &new);
        hub.receive(&new);
        match new.last() {
            Some(last) if new.len() as u64 == BATCH => after = last.id,
            _ => break,
        }
    }
    hub.with_seen(|s| s.expire(Instant::now()));
    Ok(read)
}

/// An account deleted elsewhere (by another instance, or the operator's
/// `users delete` in a process of its own) left every feed: the pages
/// kept here are read again.
fn forget_deleted_accounts(state: &AppState, rows: &[live_event::Model]) {
    if rows.iter().any(|row| row.kind == "account_deleted") {
        state.feed_cache().stamp_all();
    }
}

async fn rows(
    state: &AppState,
    condition: impl sea_orm::sea_query::IntoCondition,
    limit: u64,
) -> Result<Vec<live_event::Model>, AppError> {
    Ok(live_event::Entity::find()
        .filter(condition)
        .order_by_asc(live_event::Column::Id)
        .limit(limit)
        .all(state.db())
        .await?)
}

/// Deletes the rows older than [`KEPT`]; answers how many went.
pub async fn prune(state: &AppState, now: chrono::DateTime<chrono::Utc>) -> Result<u64, AppError> {
    let kept = chrono::TimeDelta::from_std(KEPT).map_err(AppError::internal)?;
    Ok(live_event::Entity::delete_many()
        .filter(live_event::Column::CreatedAt.lt(now - kept))
        .exec(state.db())
        .await?
        .rows_affected)
}
