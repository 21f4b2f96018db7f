//! What every request shares: the database, the keys, the hash pool and the
//! revocation cache. Cheap to clone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::auth::jwt::{JwtKeys, VerifiedTokens};
use crate::auth::password::PasswordHasher;
use crate::auth::refresh::RefreshKeys;
use crate::auth::revocation::RevocationCache;
use crate::config::{RateLimits, Sessions};
use crate::domain::Profile;

/// A profile changes when its address is verified or changed, or the account
/// is deleted: this instance drops its entry then; the time bound caps how
/// long another instance may show the old one.
const PROFILE_TTL: Duration = Duration::from_secs(300);
const PROFILE_CAPACITY: u64 = 100_000;
/// Verified access tokens remembered (see `VerifiedTokens`).
const VERIFIED_TOKEN_CAPACITY: u64 = 10_000;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The configured rules the services apply.
#[derive(Debug, Clone)]
pub struct Policy {
    pub sessions: Sessions,
    pub rate_limits: RateLimits,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a notification group lives after its newest event.
    pub notification_retention: Duration,
}

struct Inner {
    db: DatabaseConnection,
    jwt: JwtKeys,
    verified: VerifiedTokens,
    refresh: RefreshKeys,
    hasher: PasswordHasher,
    revocations: RevocationCache,
    profiles: moka::sync::Cache<uuid::Uuid, Profile>,
    policy: Policy,
    mail: crate::config::Mail,
    /// Wakes this instance's mail worker after a request wrote mail.
    mail_wake: tokio::sync::Notify,
    shutting_down: AtomicBool,
    /// Tasks that outlive their request (`service::tasks`).
    tasks: tokio_util::task::TaskTracker,
    /// Live updates: this instance's subscribers and their events.
    live: crate::live::Hub,
    /// This instance's subscription sockets.
    sockets: crate::live::Sockets,
    /// Second factors: the TOTP key, the WebAuthn relying party.
    factors: crate::service::mfa::Factors,
    /// Uploaded images: the processing pool and the store.
    media: crate::media::Media,
    /// Feed pages kept in memory, and the stamps of writes that retire them.
    feed: crate::service::feed::cache::FeedCache,
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        (jwt, refresh): (JwtKeys, RefreshKeys),
        hasher: PasswordHasher,
        policy: Policy,
        mail: crate::config::Mail,
        factors: crate::service::mfa::Factors,
        (media, feed): (crate::media::Media, crate::service::feed::cache::FeedCache),
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                verified: VerifiedTokens::new(VERIFIED_TOKEN_CAPACITY, jwt.ttl()),
                jwt,
                refresh,
                hasher,
                revocations: RevocationCache::new(),
                profiles: moka::sync::Cache::builder()
                    .max_capacity(PROFILE_CAPACITY)
                    .time_to_live(PROFILE_TTL)
                    .build(),
                policy,
                mail,
                mail_wake: tokio::sync::Notify::new(),
                shutting_down: AtomicBool::new(false),
                tasks: tokio_util::task::TaskTracker::new(),
                live: crate::live::Hub::new(),
                sockets: crate::live::Sockets::new(),
                factors,
                media,
                feed,
            }),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.inner.db.get_database_backend()
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }

    pub fn refresh_keys(&self) -> &RefreshKeys {
        &self.inner.refresh
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    pub fn revocations(&self) -> &RevocationCache {
        &self.inner.revocations
    }

    /// Second factors: the TOTP key, the WebAuthn relying party.
    pub fn factors(&self) -> &crate::service::mfa::Factors {
        &self.inner.factors
    }

    /// Uploaded images: the processing pool, the store, the deletion worker.
    pub fn media(&self) -> &crate::media::Media {
        &self.inner.media
    }

    /// The `me` cache: profiles by user id.
    pub fn feed_cache(&self) -> &crate::service::feed::cache::FeedCache {
        &self.inner.feed
    }

    pub fn profiles(&self) -> &moka::sync::Cache<uuid::Uuid, Profile> {
        &self.inner.profiles
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The mail settings: links, their lifetimes, delivery.
    pub fn mail(&self) -> &crate::config::Mail {
        &self.inner.mail
    }

    /// Notified after a transaction that wrote mail committed.
    pub fn mail_wake(&self) -> &tokio::sync::Notify {
        &self.inner.mail_wake
    }

    /// Access tokens that verified, by their text.
    pub fn verified_tokens(&self) -> &VerifiedTokens {
        &self.inner.verified
    }

    /// The tasks that outlive their request (`service::tasks`).
    pub fn tasks(&self) -> &tokio_util::task::TaskTracker {
        &self.inner.tasks
    }

    /// Live updates: publish after a commit; subscribe from a socket.
    pub fn live(&self) -> &crate::live::Hub {
        &self.inner.live
    }

    /// This instance's subscription sockets: closed when their session ends.
    pub fn sockets(&self) -> &crate::live::Sockets {
        &self.inner.sockets
    }

    /// `/readyz` answers 503 from now on, and every subscription socket
    /// closes (1001), so that none holds up the drain.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.inner.sockets.close_all(crate::live::Close::SHUTDOWN);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }
}
