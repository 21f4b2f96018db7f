//! Housekeeping, every minute on every instance: expired attempt counters,
//! passkey ceremonies never finished and MFA tickets never used, sessions
//! (with their refresh tokens) that ended long ago, notification groups
//! past their retention, the rows of reposts undone longer ago than feeds
//! being paged need them, live events the relays have read, and uploads
//! never attached within a day.

use std::time::Duration;

use crate::state::AppState;

/// Housekeeping every minute: expired attempt counters, sessions (with
/// their refresh tokens) that ended long ago, notification groups whose
/// newest event is older than `NOTIFICATION_RETENTION`, and undone reposts
/// older than `service::feed::UNDONE_REPOST_KEPT`, and live events older
/// than `live::relay::KEPT`, and uploads unattached for longer than
/// `service::media::UNATTACHED_TTL` (their objects queued for deletion).
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
        match crate::service::mfa::passkey::prune_challenges(&state).await {
            Ok(n) => tracing::trace!(pruned = n, "expired passkey ceremonies deleted"),
            Err(e) => tracing::warn!(error = ?e, "ceremony pruning failed; retrying next minute"),
        }
        match crate::service::mfa::ticket::prune(&state).await {
            Ok(n) => tracing::trace!(pruned = n, "expired MFA tickets deleted"),
            Err(e) => tracing::warn!(error = ?e, "ticket pruning failed; retrying next minute"),
        }
        let now = chrono::Utc::now();
        match crate::service::notification::inbox::prune(&state, now).await {
            Ok(n) => tracing::trace!(pruned = n, "old notification groups deleted"),
            Err(e) => {
                tracing::warn!(error = ?e, "notification pruning failed; retrying next minute");
            }
        }
        match crate::service::feed::purge_undone_reposts(&state).await {
            Ok(n) => tracing::trace!(purged = n, "undone reposts deleted"),
            Err(e) => {
                tracing::warn!(error = ?e, "undone repost purge failed; retrying next minute")
            }
        }
        match crate::live::relay::prune(&state, now).await {
            Ok(n) => tracing::trace!(pruned = n, "old live events deleted"),
            Err(e) => tracing::warn!(error = ?e, "live event pruning failed; retrying next minute"),
        }
        match crate::service::media::expire_unattached(&state, now).await {
            Ok(n) => tracing::trace!(expired = n, "unattached uploads removed"),
            Err(e) => {
                tracing::warn!(error = ?e, "upload expiry failed; retrying next minute");
            }
        }
    }
}
