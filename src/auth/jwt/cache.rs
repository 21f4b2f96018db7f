//! The verified-token cache: a token presented again skips the signature
//! check and the JSON parses.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::{JwtKeys, LEEWAY_SECS, TokenError};
use crate::auth::Aal;

/// Access tokens that verified, by their exact text: a token presented again
/// (every request of a signed-in client) costs one lookup instead of a
/// signature check and two JSON parses. Only tokens that verified are
/// inserted, so made-up text never fills it; an entry answers only while its
/// token is unexpired (with the same leeway as `JwtKeys::verify`), and the
/// keys never change while the process runs. The revocation check is not
/// part of this: it runs on every request.
pub struct VerifiedTokens {
    pub(super) cache: moka::sync::Cache<String, Verified, foldhash::fast::RandomState>,
}

/// What a verified token says of its bearer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub sub: Uuid,
    pub sid: Uuid,
    pub aal: Aal,
    /// Seconds since the epoch.
    pub exp: i64,
}

impl VerifiedTokens {
    /// At most `capacity` tokens, none kept longer than `ttl` (the access
    /// token lifetime) plus the leeway.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl + Duration::from_secs(LEEWAY_SECS))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// `(user, session)` of a valid token: from the cache when this exact
    /// token verified before and has not expired since, else from `keys`.
    pub fn verify(&self, keys: &JwtKeys, token: &str) -> Result<(Uuid, Uuid), TokenError> {
        self.verify_with_expiry(keys, token).map(|v| (v.sub, v.sid))
    }

    /// As [`verify`](Self::verify), with the token's `exp` (seconds since
    /// the epoch), for what lives as long as the token (a socket).
    pub fn verify_with_expiry(&self, keys: &JwtKeys, token: &str) -> Result<Verified, TokenError> {
        if let Some(v) = self.cache.get(token)
            && Utc::now().timestamp() <= v.exp.saturating_add(LEEWAY_SECS as i64)
        {
            return Ok(v);
        }
        let claims = keys.verify(token)?;
        let verified = Verified {
            sub: claims.sub,
            sid: claims.sid,
            aal: Aal::from_claim(&claims.aal),
            exp: claims.exp,
        };
        self.cache.insert(token.to_owned(), verified);
        Ok(verified)
    }
}
