//! Recovery codes: ten per account, each single use, stored as keyed hashes.

use sea_orm::ConnectionTrait;
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::AppError;
use crate::state::AppState;

/// Codes shown once, never stored as they are.
#[derive(Debug)]
pub struct RecoveryCodes(pub Vec<SecretString>);

/// Replaces the account's recovery codes with ten new ones; needs `aal2`
/// and TOTP on.
pub async fn regenerate(_state: &AppState, _viewer: &Viewer) -> Result<RecoveryCodes, AppError> {
    Err(AppError::internal(
        "regenerateRecoveryCodes is not built yet",
    ))
}

/// Uses one of the account's recovery codes in `conn` (a transaction of the
/// caller's): `Ok(false)` when it is unknown or already used.
pub async fn consume(
    _conn: &impl ConnectionTrait,
    _user: Uuid,
    _code: &str,
) -> Result<bool, AppError> {
    Err(AppError::internal("recovery codes are not built yet"))
}
