//! An authenticator app (RFC 6238: SHA-1, 6 digits, 30 s steps, one step
//! either side): enrolling, confirming with a first code, disabling, and
//! checking a code once per time step.

use sea_orm::ConnectionTrait;
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::AppError;
use crate::state::AppState;

/// A new, not yet active, authenticator secret for the viewer to scan.
#[derive(Debug)]
pub struct Enrollment {
    /// The shared secret, base32 (RFC 4648, no padding).
    pub secret: SecretString,
    /// `otpauth://totp/<issuer>:<email>?secret=…&issuer=…` for a QR code.
    pub uri: SecretString,
}

/// Starts (or restarts) enrollment: a fresh secret, stored sealed and not
/// active until `confirm`. Refused while TOTP is on.
pub async fn enroll(_state: &AppState, _viewer: &Viewer) -> Result<Enrollment, AppError> {
    Err(AppError::internal("enrollTotp is not built yet"))
}

/// Activates the pending secret with its first code; answers the ten
/// recovery codes (shown once). A wrong code is INVALID_CODE.
pub async fn confirm(
    _state: &AppState,
    _viewer: &Viewer,
    _code: &str,
) -> Result<super::recovery::RecoveryCodes, AppError> {
    Err(AppError::internal("confirmTotp is not built yet"))
}

/// Turns TOTP off (and drops the recovery codes), given the current
/// password and a code; needs `aal2`. Answers whether TOTP is still on.
pub async fn disable(
    _state: &AppState,
    _viewer: &Viewer,
    _current_password: &str,
    _code: &str,
) -> Result<bool, AppError> {
    Err(AppError::internal("disableTotp is not built yet"))
}

/// Whether the account has TOTP on (confirmed).
pub async fn is_enabled(_state: &AppState, _user: Uuid) -> Result<bool, AppError> {
    Ok(false)
}

/// Checks `code` against the account's active secret and, when right,
/// records its time step in `conn` (a transaction of the caller's) so that
/// it is accepted once: `Ok(false)` for a wrong code, a replay of a step
/// already used, or an older one.
pub async fn accept_code(
    _conn: &impl ConnectionTrait,
    _state: &AppState,
    _user: Uuid,
    _code: &str,
) -> Result<bool, AppError> {
    Err(AppError::internal("TOTP codes are not built yet"))
}
