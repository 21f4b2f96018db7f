//! Revocation sync: revocations made by other instances reach this one. Every
//! `REVOCATION_SYNC_INTERVAL` it reads the sessions revoked recently (an
//! indexed range on `session.revoked_at`) into its cache, and the accounts
//! changed recently (an indexed range on `user.updated_at`), dropping each
//! cached profile that no longer matches its account, so that `me` shows
//! another instance's change of email or verification within the interval
//! too. On PostgreSQL a LISTEN on the
//! revocation channel also wakes it at once, and a lost listener connection
//! is followed by the same catch-up read.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseBackend;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::service::session::{REVOCATION_CHANNEL, pull_revocations};
use crate::service::user::pull_profile_changes;
use crate::state::AppState;

/// Each read looks this far back, so that a revocation or account change
/// committed late (a slow transaction) or stamped by an instance whose
/// clock lags is still seen. Reading one twice is harmless.
fn lookback(interval: Duration) -> Duration {
    (interval * 3).max(Duration::from_secs(30))
}

/// The background tasks; aborted when dropped.
pub struct RevocationSync {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RevocationSync {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub fn spawn(state: AppState, interval: Duration) -> RevocationSync {
    let wake = Arc::new(Notify::new());
    let mut tasks = vec![tokio::spawn(pull_loop(
        state.clone(),
        interval,
        wake.clone(),
    ))];
    if state.backend() == DatabaseBackend::Postgres {
        tasks.push(tokio::spawn(listen(state, REVOCATION_CHANNEL, wake, None)));
    }
    RevocationSync { tasks }
}

async fn pull_loop(state: AppState, interval: Duration, wake: Arc<Notify>) {
    let lookback =
        chrono::Duration::from_std(lookback(interval)).unwrap_or(chrono::Duration::seconds(30));
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = wake.notified() => {}
        }
        let since = Utc::now() - lookback;
        match pull_revocations(&state, since).await {
            Ok(n) => tracing::trace!(seen = n, "revocations pulled"),
            Err(e) => {
                tracing::warn!(detail = %e.detail(), "revocation pull failed; retrying next interval")
            }
        }
        match pull_profile_changes(&state, since).await {
            Ok(n) => tracing::trace!(seen = n, "profile changes pulled"),
            Err(e) => {
                tracing::warn!(detail = %e.detail(), "profile pull failed; retrying next interval")
            }
        }
    }
}

/// Wakes `wake` on each PostgreSQL notification on `channel` (except those
/// whose payload is `own`: an instance's own), and once more each time
/// the listener (re)connected and listens, so that the woken loop catches
/// up on what was written while nobody listened.
pub(crate) async fn listen(
    state: AppState,
    channel: &'static str,
    wake: Arc<Notify>,
    own: Option<String>,
) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let pool = state.db().get_postgres_connection_pool().clone();
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, channel, "listener cannot connect; polling only");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(channel).await {
            tracing::warn!(error = %e, channel, "LISTEN failed; polling only");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        // Catch up on whatever was missed while not listening.
        wake.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if own.as_deref() == Some(n.payload()) => {}
                Ok(Some(_)) => wake.notify_one(),
                // The connection was lost: listen again on a new one, then
                // catch up.
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, channel, "listener lost; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}
