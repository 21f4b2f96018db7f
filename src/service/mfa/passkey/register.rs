//! Adding a passkey to the signed-in account: a discoverable credential,
//! so that it later signs in with no email typed.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use uuid::Uuid;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential};

use super::ceremony::{self, Kind};
use super::{Challenge, credential_hash, invalid_credentials, keys_of};
use crate::auth::Viewer;
use crate::entity::passkey;
use crate::error::AppError;
use crate::mail::{messages, outbox};
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::state::AppState;

/// The longest name, in characters.
const NAME_MAX: usize = 64;

#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn begin_registration(state: &AppState, viewer: &Viewer) -> Result<Challenge, AppError> {
    let user = crate::service::user::find(state, viewer.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    // The authenticator refuses to make a second credential for this site
    // where it already holds one of the account's.
    let exclude = keys_of(state, user.id)
        .await?
        .into_iter()
        .map(|(_, key)| key.cred_id().clone())
        .collect();
    // The user handle is the account's id (what a sign-in identifies it by);
    // the email is what the browser shows when asking which passkey to use.
    let (creation, registration) = state
        .factors()
        .webauthn
        .start_passkey_registration(user.id, &user.email, &user.email, Some(exclude))
        .map_err(AppError::internal)?;
    let id = ceremony::store(state, Kind::Register, Some(user.id), &registration).await?;
    let mut options = serde_json::to_value(creation.public_key).map_err(AppError::internal)?;
    require_resident_key(&mut options);
    Ok(Challenge { id, options })
}

/// webauthn-rs's passkey registration asks for `residentKey: "discouraged"`
/// (it signs in by email, naming the allowed credentials). Our sign-in names
/// none (`beginPasskeyLogin` asks for no email), so the credential must live
/// on the authenticator: we ask for a resident key. Only the options change:
/// webauthn-rs does not check the resident-key choice when it verifies the
/// answer (its state keeps `require_resident_key: false` and ignores it), so
/// the finished registration verifies all the same.
fn require_resident_key(options: &mut serde_json::Value) {
    let Some(options) = options.as_object_mut() else {
        return;
    };
    let selection = options
        .entry("authenticatorSelection")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(selection) = selection.as_object_mut() {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
}

#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn finish_registration(
    state: &AppState,
    viewer: &Viewer,
    challenge_id: &str,
    credential: serde_json::Value,
    name: Option<&str>,
) -> Result<passkey::Model, AppError> {
    // A factor is added here: once one exists, only an aal2 session may add
    // another, or a stolen aal1 session would add its own and sign in with it.
    super::super::gate::require_aal2(state, viewer).await?;
    let name = clean_name(name)?;
    let credential: RegisterPublicKeyCredential =
        serde_json::from_value(credential).map_err(|_| {
            AppError::BadUserInput(
                "`credential` is not a PublicKeyCredential from navigator.credentials.create() \
                 (send its toJSON())."
                    .into(),
            )
        })?;
    let (challenge, registration): (Uuid, PasskeyRegistration) =
        ceremony::load(state, challenge_id, Kind::Register, Some(viewer.user_id)).await?;
    let key = match state
        .factors()
        .webauthn
        .finish_passkey_registration(&credential, &registration)
    {
        Ok(key) => key,
        Err(e) => {
            tracing::info!(reason = %e, "passkey registration refused");
            ceremony::discard(state, challenge).await?;
            return Err(invalid_credentials());
        }
    };
    let hash = credential_hash(key.cred_id());
    let taken = passkey::Entity::find()
        .filter(passkey::Column::CredentialHash.eq(hash.as_str()))
        .one(state.db())
        .await?
        .is_some();
    if taken {
        tracing::info!("passkey registration refused: the credential is registered already");
        ceremony::discard(state, challenge).await?;
        return Err(invalid_credentials());
    }
    let user = crate::service::user::find(state, viewer.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let stored = serde_json::to_string(&key).map_err(AppError::internal)?;
    let added = crate::service::tasks::to_completion(state, move |state| async move {
        let now = crate::service::clock::now();
        let txn = state.db().begin().await?;
        if !ceremony::consume(&txn, challenge, now).await? {
            return Err(ceremony::invalid());
        }
        let row = passkey::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user.id),
            credential_hash: Set(hash),
            credential: Set(stored),
            name: Set(name),
            created_at: Set(now),
            last_used_at: Set(None),
        };
        let row = match row.insert(&txn).await {
            Ok(row) => row,
            // The same credential, registered meanwhile by a racing request.
            Err(e) if crate::service::db_error::is_unique_violation(&e) => {
                return Err(invalid_credentials());
            }
            Err(e) => return Err(e.into()),
        };
        let mail = messages::passkey_added(&user.email, row.name.as_deref());
        outbox::enqueue(&txn, mail, now).await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(row)
    })
    .await?;
    tracing::info!(passkey = %added.id, "passkey added");
    Ok(added)
}

/// The name trimmed; none when empty; TEXT_TOO_LONG past [`NAME_MAX`].
fn clean_name(name: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > NAME_MAX {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::TextTooLong,
            Some(Field::Name),
        )));
    }
    Ok(Some(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_empty_is_none_and_65_characters_too_long() {
        assert_eq!(
            clean_name(Some("  laptop ")).unwrap().as_deref(),
            Some("laptop")
        );
        assert_eq!(clean_name(Some("   ")).unwrap(), None);
        assert_eq!(clean_name(None).unwrap(), None);
        assert!(clean_name(Some(&"é".repeat(64))).is_ok());
        assert!(clean_name(Some(&"é".repeat(65))).is_err());
    }

    #[test]
    fn the_registration_options_require_a_resident_key() {
        let mut options = serde_json::json!({
            "authenticatorSelection": {"residentKey": "discouraged", "requireResidentKey": false,
                                       "userVerification": "required"}
        });
        require_resident_key(&mut options);
        assert_eq!(
            options["authenticatorSelection"],
            serde_json::json!({"residentKey": "required", "requireResidentKey": true,
                               "userVerification": "required"})
        );
        let mut bare = serde_json::json!({});
        require_resident_key(&mut bare);
        assert_eq!(bare["authenticatorSelection"]["residentKey"], "required");
    }
}
