//! `mfaTicket`: a first factor that waits for its second; and `verifyMfa`,
//! which completes it (or, with a token instead, steps a session up).

use crate::auth::{ClientInfo, Viewer};
use crate::error::AppError;
use crate::service::session::Authenticated;
use crate::state::AppState;

/// What `verifyMfa` was given; exactly one of `code` and `recovery_code`.
pub struct Verification<'a> {
    pub ticket: Option<&'a str>,
    pub code: Option<&'a str>,
    pub recovery_code: Option<&'a str>,
}

/// Completes a sign-in (with a ticket) or steps the viewer's session up to
/// `aal2` (without one): answers fresh tokens.
pub async fn verify(
    _state: &AppState,
    _viewer: Option<&Viewer>,
    _input: Verification<'_>,
    _client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    Err(AppError::internal("verifyMfa is not built yet"))
}
