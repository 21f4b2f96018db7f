//! The revoked-session cache: checked on every authenticated request so that
//! no request touches the database just to check a token.
//!
//! An entry lives exactly as long as the last access token its session could
//! have issued; there is no capacity bound, because evicting a revocation
//! early would bring a logged-out token back to life. The database stays the
//! source of truth: the cache is refilled from it at start.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::sync::Cache;
use uuid::Uuid;

#[derive(Clone)]
pub struct RevocationCache {
    revoked: Cache<Uuid, DateTime<Utc>>,
}

/// Each entry expires at the wall-clock time it holds.
struct UntilValue;

impl Expiry<Uuid, DateTime<Utc>> for UntilValue {
    fn expire_after_create(&self, _: &Uuid, until: &DateTime<Utc>, _: Instant) -> Option<Duration> {
        Some((*until - Utc::now()).to_std().unwrap_or(Duration::ZERO))
    }

    fn expire_after_update(
        &self,
        key: &Uuid,
        until: &DateTime<Utc>,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, until, now)
    }
}

impl Default for RevocationCache {
    fn default() -> Self {
        Self::new()
    }
}

impl RevocationCache {
    pub fn new() -> Self {
        Self {
            revoked: Cache::builder().expire_after(UntilValue).build(),
        }
    }

    /// Marks a session revoked until `until`, after which none of its access
    /// tokens can be valid anyway. A later `until` never shortens an entry.
    pub fn revoke(&self, session: Uuid, until: DateTime<Utc>) {
        if until <= Utc::now() {
            return;
        }
        let keep = match self.revoked.get(&session) {
            Some(existing) if existing >= until => existing,
            _ => until,
        };
        self.revoked.insert(session, keep);
    }

    pub fn is_revoked(&self, session: &Uuid) -> bool {
        self.revoked.contains_key(session)
    }

    /// Entries held (approximate until pending maintenance runs).
    pub fn len(&self) -> u64 {
        self.revoked.run_pending_tasks();
        self.revoked.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_session_is_revoked_until_its_tokens_expire() {
        let cache = RevocationCache::new();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        cache.revoke(a, Utc::now() + chrono::Duration::milliseconds(150));
        assert!(cache.is_revoked(&a));
        assert!(!cache.is_revoked(&b));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !cache.is_revoked(&a),
            "the entry outlived every token it could kill"
        );
    }

    #[test]
    fn an_entry_is_never_shortened() {
        let cache = RevocationCache::new();
        let a = Uuid::now_v7();
        cache.revoke(a, Utc::now() + chrono::Duration::seconds(60));
        cache.revoke(a, Utc::now() + chrono::Duration::milliseconds(50));
        std::thread::sleep(Duration::from_millis(120));
        assert!(cache.is_revoked(&a));
    }

    #[test]
    fn many_entries_are_all_kept() {
        let cache = RevocationCache::new();
        let until = Utc::now() + chrono::Duration::seconds(60);
        let ids: Vec<Uuid> = (0..20_000).map(|_| Uuid::now_v7()).collect();
        for id in &ids {
            cache.revoke(*id, until);
        }
        assert_eq!(cache.len(), 20_000);
        assert!(ids.iter().all(|id| cache.is_revoked(id)));
    }
}
