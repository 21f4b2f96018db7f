//! A WebAuthn ceremony's state between its two requests, in the database
//! (`webauthn_challenge`), so that any instance finishes what another began:
//! stored at the start, read at the finish, consumed once.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::entity::webauthn_challenge;
use crate::error::AppError;
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::state::AppState;

/// How long a ceremony may take, as the contract says.
const LIFETIME: chrono::Duration = chrono::Duration::minutes(5);

/// Which ceremony a challenge belongs to (`webauthn_challenge.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Registering a passkey; bound to the account registering it.
    Register,
    /// A sign-in; bound to no account (the passkey names it).
    Login,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
        }
    }
}

/// INVALID_TOKEN on `challengeId`: whatever is wrong with it (not a UUID,
/// unknown, expired, used, another ceremony's or another account's), the
/// client can only begin again, so one answer fits all.
pub fn invalid() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::InvalidToken,
        Some(Field::ChallengeId),
    ))
}

/// Stores a ceremony's state; answers the id that finishes it.
pub async fn store(
    state: &AppState,
    kind: Kind,
    user: Option<Uuid>,
    ceremony: &impl Serialize,
) -> Result<Uuid, AppError> {
    let now = crate::service::clock::now();
    let json = serde_json::to_string(ceremony).map_err(AppError::internal)?;
    let row = webauthn_challenge::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        kind: Set(kind.as_str().to_owned()),
        state: Set(json),
        created_at: Set(now),
        expires_at: Set(now + LIFETIME),
    };
    Ok(row.insert(state.db()).await?.id)
}

/// The live ceremony `id` of `kind` for `user` (`None`: a sign-in), and its
/// state; INVALID_TOKEN when there is none. Reading does not consume it:
/// [`consume`] does, in the transaction of what the ceremony achieves.
pub async fn load<S: DeserializeOwned>(
    state: &AppState,
    id: &str,
    kind: Kind,
    user: Option<Uuid>,
) -> Result<(Uuid, S), AppError> {
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    let user_filter = match user {
        Some(u) => webauthn_challenge::Column::UserId.eq(u),
        None => webauthn_challenge::Column::UserId.is_null(),
    };
    let row = webauthn_challenge::Entity::find_by_id(id)
        .filter(webauthn_challenge::Column::Kind.eq(kind.as_str()))
        .filter(user_filter)
        .filter(webauthn_challenge::Column::ExpiresAt.gt(crate::service::clock::now()))
        .one(state.db())
        .await?
        .ok_or_else(invalid)?;
    // We wrote it; a state that no longer reads (a webauthn-rs upgrade
    // between begin and finish) is ours to log, and the client begins again.
    let ceremony = serde_json::from_str(&row.state).map_err(AppError::internal)?;
    Ok((id, ceremony))
}

/// Deletes ceremony `id` if it is still live: `true` for the one caller
/// that wins it, so that two finishes racing with one answer succeed once.
pub async fn consume(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let deleted = webauthn_challenge::Entity::delete_many()
        .filter(webauthn_challenge::Column::Id.eq(id))
        .filter(webauthn_challenge::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Ends ceremony `id` after a failed verification: the authenticator signed
/// its one challenge, and an answer that did not verify is not retried with
/// it (the client begins again).
pub async fn discard(state: &AppState, id: Uuid) -> Result<(), AppError> {
    webauthn_challenge::Entity::delete_by_id(id)
        .exec(state.db())
        .await?;
    Ok(())
}

/// Deletes the ceremonies begun and never finished (housekeeping): a
/// sign-in's begin needs no token, so abandoned ones must not pile up.
pub async fn prune(state: &AppState) -> Result<u64, AppError> {
    let deleted = webauthn_challenge::Entity::delete_many()
        .filter(webauthn_challenge::Column::ExpiresAt.lte(crate::service::clock::now()))
        .exec(state.db())
        .await?;
    Ok(deleted.rows_affected)
}
