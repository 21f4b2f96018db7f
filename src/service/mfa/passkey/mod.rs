//! Passkeys (WebAuthn, webauthn-rs): registering one, signing in with a
//! discoverable credential (no email typed), listing and removing them. The
//! ceremony state is kept in the database (`webauthn_challenge`), single
//! use, so any instance can finish what another began.
//!
//! - `ceremony`: the state between a ceremony's begin and its finish.
//! - `register`: adding a passkey to the signed-in account.
//! - `login`: signing in with one (`aal2`, `amr` `["hwk"]`).

mod ceremony;
mod login;
mod register;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use uuid::Uuid;
use webauthn_rs::prelude::Passkey;

use crate::auth::Viewer;
use crate::entity::passkey;
use crate::error::AppError;
use crate::mail::{messages, outbox};
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::state::AppState;

pub use ceremony::prune as prune_challenges;
pub use login::{begin_login, finish_login};
pub use register::{begin_registration, finish_registration};

/// A ceremony begun: its id, and the options for `navigator.credentials`.
#[derive(Debug)]
pub struct Challenge {
    pub id: Uuid,
    /// The inner `publicKey` object, as JSON: `PublicKeyCredentialCreationOptionsJSON`
    /// (registration) or `PublicKeyCredentialRequestOptionsJSON` (sign-in), what
    /// `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`
    /// take, binary fields base64url. Not `{publicKey: …}`: the client picks the rest of
    /// the call (such as `mediation`).
    pub options: serde_json::Value,
}

/// The account's passkeys, newest first.
pub async fn list(state: &AppState, user: Uuid) -> Result<Vec<passkey::Model>, AppError> {
    Ok(passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user))
        .order_by_desc(passkey::Column::CreatedAt)
        .order_by_desc(passkey::Column::Id)
        .all(state.db())
        .await?)
}

/// Removes one of the viewer's passkeys; needs `aal2`.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn remove(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<passkey::Model, AppError> {
    super::gate::require_aal2(state, viewer).await?;
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let user = crate::service::user::find(state, viewer.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let removed = crate::service::tasks::to_completion(state, move |state| async move {
        let now = crate::service::clock::now();
        let txn = state.db().begin().await?;
        let Some(row) = passkey::Entity::find_by_id(id)
            .filter(passkey::Column::UserId.eq(user.id))
            .one(&txn)
            .await?
        else {
            return Err(not_found());
        };
        let deleted = passkey::Entity::delete_many()
            .filter(passkey::Column::Id.eq(id))
            .filter(passkey::Column::UserId.eq(user.id))
            .exec(&txn)
            .await?;
        // Removed meanwhile by another request: that one sent the mail.
        if deleted.rows_affected != 1 {
            return Err(not_found());
        }
        let mail = messages::passkey_removed(&user.email, row.name.as_deref());
        outbox::enqueue(&txn, mail, now).await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(row)
    })
    .await?;
    tracing::info!(passkey = %removed.id, "passkey removed");
    Ok(removed)
}

fn not_found() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::NotFound,
        Some(Field::IdArgument),
    ))
}

/// INVALID_CREDENTIALS on `credential`: the authenticator's answer did not
/// verify, or names no passkey we know. Never the library's reason, which
/// would help only someone forging answers (it is logged).
fn invalid_credentials() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::InvalidCredentials,
        Some(Field::Credential),
    ))
}

/// `passkey.credential_hash`: SHA-256 of the credential id, lower-case hex.
fn credential_hash(id: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(id))
}

/// The account's stored passkeys, each with its webauthn-rs credential.
async fn keys_of(state: &AppState, user: Uuid) -> Result<Vec<(passkey::Model, Passkey)>, AppError> {
    list(state, user)
        .await?
        .into_iter()
        .map(|row| {
            // We wrote it: one that no longer reads is ours to fix, not the client's.
            let key = serde_json::from_str(&row.credential).map_err(AppError::internal)?;
            Ok((row, key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_credential_hash_is_the_hex_sha256_of_its_id() {
        assert_eq!(
            super::credential_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
