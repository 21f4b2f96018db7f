//! Housekeeping, every minute on every instance: expired attempt counters,
//! sessions (with their refresh tokens) that ended long ago, and
//! notification groups past their retention.

use std::time::Duration;

use crate::state::AppState;

/// Housekeeping every minute: expired attempt counters, sessions (with
/// their refresh tokens) that ended long ago, and notification groups
/// whose newest event is older than `NOTIFICATION_RETENTION`.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        match crate::service::throttle::prune(&state).await {
            Ok(n) => tracing::trace!(pruned = n, "expired throttle rows deleted"),
            Err(e) => tracing::warn!(error = ?e, "throttle pruning failed; retrying next minute"),
        }
        match crate::service::session::prune(&state).await {
            Ok(n) => tracing::trace!(pruned = n, "long-ended sessions deleted"),
            Err(e) => tracing::warn!(error = ?e, "session pruning failed; retrying next minute"),
        }
        let now = chrono::Utc::now();
        match crate::service::notification::inbox::prune(&state, now).await {
            Ok(n) => tracing::trace!(pruned = n, "old notification groups deleted"),
            Err(e) => {
                tracing::warn!(error = ?e, "notification pruning failed; retrying next minute");
            }
        }
    }
}
