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
    let (user_id, session_id) = state.verified_tokens().verify(state.jwt(), token)?;
    if state.revocations().is_revoked(&session_id) {
        return Err(AuthError::Revoked);
    }
    Ok(Viewer {
        user_id,
        session_id,
    })
}
