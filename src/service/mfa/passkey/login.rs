//! Signing in with a passkey: a discoverable credential names its account
//! (the user handle is the account's id), so no email is asked. The session
//! it opens is `aal2`, `amr` `["hwk"]`.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;
use webauthn_rs::prelude::{DiscoverableAuthentication, DiscoverableKey, PublicKeyCredential};

use super::ceremony::{self, Kind};
use super::{Challenge, invalid_credentials, keys_of};
use crate::auth::{Assurance, ClientInfo};
use crate::entity::passkey;
use crate::error::AppError;
use crate::service::problem::{InputProblem, ProblemKind};
use crate::service::session::{self, SignedIn};
use crate::service::throttle;
use crate::state::AppState;

/// Not counted against the per-address limit: it verifies nothing, and the
/// finish that follows is counted.
pub async fn begin_login(state: &AppState) -> Result<Challenge, AppError> {
    let (request, authentication) = state
        .factors()
        .webauthn
        .start_discoverable_authentication()
        .map_err(AppError::internal)?;
    let id = ceremony::store(state, Kind::Login, None, &authentication).await?;
    // The inner options only: webauthn-rs also sets `mediation:
    // "conditional"` (autofill), which is the client's choice to make.
    let options = serde_json::to_value(request.public_key).map_err(AppError::internal)?;
    Ok(Challenge { id, options })
}

#[tracing::instrument(skip_all)]
pub async fn finish_login(
    state: &AppState,
    challenge_id: &str,
    credential: serde_json::Value,
    client: &ClientInfo,
) -> Result<SignedIn, AppError> {
    if let Some(limited) = throttle::per_ip(state, client).await? {
        return Err(AppError::input(limited));
    }
    let credential: PublicKeyCredential = serde_json::from_value(credential).map_err(|_| {
        AppError::BadUserInput(
            "`credential` is not a PublicKeyCredential from navigator.credentials.get() \
             (send its toJSON())."
                .into(),
        )
    })?;
    let (challenge, authentication): (Uuid, DiscoverableAuthentication) =
        ceremony::load(state, challenge_id, Kind::Login, None).await?;
    let refuse = |reason: &str| {
        tracing::info!(reason, "passkey sign-in refused");
        async move {
            ceremony::discard(state, challenge).await?;
            Err(invalid_credentials())
        }
    };
    let webauthn = &state.factors().webauthn;
    let Ok((user_id, _)) = webauthn.identify_discoverable_authentication(&credential) else {
        return refuse("no user handle").await;
    };
    let keys = keys_of(state, user_id).await?;
    if keys.is_empty() {
        return refuse("no passkey for that user handle").await;
    }
    let allowed: Vec<DiscoverableKey> = keys.iter().map(|(_, key)| key.into()).collect();
    let result =
        match webauthn.finish_discoverable_authentication(&credential, authentication, &allowed) {
            Ok(result) => result,
            Err(e) => return refuse(&e.to_string()).await,
        };
    let Some((row, mut key)) = keys
        .into_iter()
        .find(|(_, key)| key.cred_id() == result.cred_id())
    else {
        return refuse("the credential verified is not the account's").await;
    };
    let Some(user) = crate::service::user::find(state, user_id).await? else {
        return refuse("the account is gone").await;
    };
    // Said only to whom proved the passkey, as a password login does.
    if user.disabled_at.is_some() {
        tracing::info!(user = %user.id, "passkey sign-in refused: account disabled");
        ceremony::discard(state, challenge).await?;
        return Err(AppError::input(InputProblem::new(
            ProblemKind::AccountDisabled,
            None,
        )));
    }
    // The signature counter (a clone detector) and backup flags move on.
    let updated = match key.update_credential(&result) {
        Some(true) => Some(serde_json::to_string(&key).map_err(AppError::internal)?),
        _ => None,
    };
    let client = client.clone();
    let (session, refresh) = crate::service::tasks::to_completion(state, move |state| async move {
        let now = crate::service::clock::now();
        let txn = state.db().begin().await?;
        if !ceremony::consume(&txn, challenge, now).await? {
            return Err(ceremony::invalid());
        }
        let mut touch = passkey::Entity::update_many()
            .col_expr(passkey::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(passkey::Column::Id.eq(row.id));
        if let Some(credential) = updated {
            touch = touch.col_expr(passkey::Column::Credential, Expr::value(credential));
        }
        touch.exec(&txn).await?;
        let opened = session::open(&txn, &state, user_id, &client, Assurance::Passkey, now).await?;
        txn.commit().await?;
        Ok(opened)
    })
    .await?;
    tracing::info!(user = %user.id, session = %session.id, "signed in with a passkey");
    session::sign_in(state, user, session, refresh)
}
