//! The verified-token cache: a token presented again skips the signature
//! check and the JSON parses.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::{JwtKeys, LEEWAY_SECS, TokenError};

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

#[derive(Clone, Copy)]
pub(super) struct Verified {
    pub(super) sub: Uuid,
    pub(super) sid: Uuid,
    pub(super) exp: i64,
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
        self.verify_with_expiry(keys, token)
            .map(|(sub, sid, _)| (sub, sid))
    }

    /// As [`verify`](Self::verify), with the token's `exp` (seconds since
    /// the epoch), for what lives as long as the token (a socket).
    pub fn verify_with_expiry(
        &self,
        keys: &JwtKeys,
        token: &str,
    ) -> Result<(Uuid, Uuid, i64), TokenError> {
        if let Some(v) = self.cache.get(token)
            && Utc::now().timestamp() <= v.exp.saturating_add(LEEWAY_SECS as i64)
        {
            return Ok((v.sub, v.sid, v.exp));
        }
        let claims = keys.verify(token)?;
        let verified = Verified {
            sub: claims.sub,
            sid: claims.sid,
            exp: claims.exp,
        };
        self.cache.insert(token.to_owned(), verified);
        Ok((claims.sub, claims.sid, claims.exp))
    }
}
