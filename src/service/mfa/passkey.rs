//! Passkeys (WebAuthn, webauthn-rs): registering one, signing in with a
//! discoverable credential (no email typed), listing and removing them. The
//! ceremony state is kept in the database (`webauthn_challenge`), single
//! use, so any instance can finish what another began.

use uuid::Uuid;

use crate::auth::{ClientInfo, Viewer};
use crate::entity::passkey;
use crate::error::AppError;
use crate::service::session::SignedIn;
use crate::state::AppState;

/// A ceremony begun: its id, and the options for `navigator.credentials`.
#[derive(Debug)]
pub struct Challenge {
    pub id: Uuid,
    /// `PublicKeyCredentialCreationOptions` or `…RequestOptions`, as JSON.
    pub options: serde_json::Value,
}

pub async fn begin_registration(
    _state: &AppState,
    _viewer: &Viewer,
) -> Result<Challenge, AppError> {
    Err(AppError::internal("passkeys are not built yet"))
}

pub async fn finish_registration(
    _state: &AppState,
    _viewer: &Viewer,
    _challenge_id: &str,
    _credential: serde_json::Value,
    _name: Option<&str>,
) -> Result<passkey::Model, AppError> {
    Err(AppError::internal("passkeys are not built yet"))
}

pub async fn begin_login(_state: &AppState) -> Result<Challenge, AppError> {
    Err(AppError::internal("passkeys are not built yet"))
}

pub async fn finish_login(
    _state: &AppState,
    _challenge_id: &str,
    _credential: serde_json::Value,
    _client: &ClientInfo,
) -> Result<SignedIn, AppError> {
    Err(AppError::internal("passkeys are not built yet"))
}

/// The account's passkeys, newest first.
pub async fn list(_state: &AppState, _user: Uuid) -> Result<Vec<passkey::Model>, AppError> {
    Ok(Vec::new())
}

/// Removes one of the viewer's passkeys; needs `aal2`.
pub async fn remove(
    _state: &AppState,
    _viewer: &Viewer,
    _id: &str,
) -> Result<passkey::Model, AppError> {
    Err(AppError::internal("passkeys are not built yet"))
}
