//! Authenticating a request's bearer token: the access token verified
//! (once per token text) and its session checked against the revocation
//! cache (every time), with no database access.

use super::Viewer;
use super::jwt::TokenError;
use crate::state::AppState;

/// Why a bearer token was refused (for the log; the client only sees UNAUTHENTICATED).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("session revoked")]
    Revoked,
}

/// The viewer an access token names, if the token is valid (see
/// `VerifiedTokens`) and its session is not revoked.
pub fn authenticate(state: &AppState, token: &str) -> Result<Viewer, AuthError> {
    authenticate_with_expiry(state, token).map(|(viewer, _)| viewer)
}

/// As [`authenticate`], with the token's `exp` (seconds since the epoch):
/// a subscription socket closes then.
pub fn authenticate_with_expiry(state: &AppState, token: &str) -> Result<(Viewer, i64), AuthError> {
    let v = state
        .verified_tokens()
        .verify_with_expiry(state.jwt(), token)?;
    if state.revocations().is_revoked(&v.sid) {
        return Err(AuthError::Revoked);
    }
    let viewer = Viewer {
        user_id: v.sub,
        session_id: v.sid,
        aal: v.aal,
    };
    Ok((viewer, v.exp))
}
