//! What every request shares: the database, the keys, the hash pool and the
//! revocation cache. Cheap to clone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::auth::Viewer;
use crate::auth::jwt::{JwtKeys, LEEWAY_SECS};
use crate::auth::password::PasswordHasher;
use crate::auth::revocation::RevocationCache;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    jwt: JwtKeys,
    hasher: PasswordHasher,
    revocations: RevocationCache,
    session_ttl: Duration,
    shutting_down: AtomicBool,
}

/// Why a bearer token was refused (for the log; the client only sees UNAUTHENTICATED).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Token(#[from] crate::auth::jwt::TokenError),
    #[error("session revoked")]
    Revoked,
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        jwt: JwtKeys,
        hasher: PasswordHasher,
        revocations: RevocationCache,
        session_ttl: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                jwt,
                hasher,
                revocations,
                session_ttl,
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    pub fn revocations(&self) -> &RevocationCache {
        &self.inner.revocations
    }

    /// How long a new session lives (the refresh token lifetime).
    pub fn session_ttl(&self) -> Duration {
        self.inner.session_ttl
    }

    /// Until when a session whose last token was issued at `last_issue` can
    /// have a valid access token: what a revocation must be remembered for.
    pub fn tokens_outlive_until(&self, last_issue: DateTime<Utc>) -> DateTime<Utc> {
        last_issue + self.inner.jwt.ttl() + Duration::from_secs(LEEWAY_SECS)
    }

    /// Verifies an access token and checks its session against the
    /// revocation cache; no database access.
    pub fn authenticate(&self, token: &str) -> Result<Viewer, AuthError> {
        let claims = self.inner.jwt.verify(token)?;
        if self.inner.revocations.is_revoked(&claims.sid) {
            return Err(AuthError::Revoked);
        }
        Ok(Viewer {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }

    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }
}
