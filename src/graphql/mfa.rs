//! Account security's mutations (TOTP, recovery codes, `verifyMfa`,
//! passkeys), merged into the schema's mutation root, and their shapes.

use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;

use super::mutation::client;
use super::types::{AuthPayload, UserError, answer_with, payload_answer};
use super::viewer_auth;
use crate::entity::passkey;
use crate::service::mfa;
use crate::state::AppState;

/// A passkey (WebAuthn credential) of the signed-in account.
#[derive(SimpleObject)]
pub struct Passkey {
    pub id: ID,
    /// The name given when it was registered.
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The last sign-in with it.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<passkey::Model> for Passkey {
    fn from(p: passkey::Model) -> Self {
        Self {
            id: ID(p.id.to_string()),
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// A new authenticator secret, not active until `confirmTotp`.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// The shared secret, base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub otpauth_uri: String,
}

#[derive(SimpleObject, Default)]
pub struct RecoveryCodesPayload {
    /// Ten single-use codes, shown this once: each signs in once in place of a TOTP code.
    pub recovery_codes: Option<Vec<String>>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct MfaPayload {
    /// Whether TOTP is still on.
    pub mfa_enabled: bool,
    pub errors: Vec<UserError>,
}

/// A WebAuthn ceremony begun; finish it with `challengeId` within five minutes.
#[derive(SimpleObject)]
pub struct PasskeyChallenge {
    pub challenge_id: ID,
    /// `PublicKeyCredentialCreationOptions` (registration) or `PublicKeyCredentialRequestOptions`
    /// (sign-in), for `navigator.credentials.create` / `.get` (after decoding the base64url
    /// fields), or for `PublicKeyCredential.parseCreationOptionsFromJSON`.
    pub options: Json<serde_json::Value>,
}

#[derive(SimpleObject, Default)]
pub struct PasskeyPayload {
    pub passkey: Option<Passkey>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct DisableTotpInput {
    #[graphql(secret)]
    pub current_password: String,
    /// A code from the authenticator app, or a recovery code.
    #[graphql(secret)]
    pub code: String,
}

/// With `ticket` (from `login` or `resetPassword`): completes that sign-in. Without, with a token:
/// steps that session up to `aal2`. Exactly one of `code` and `recoveryCode`.
#[derive(InputObject)]
pub struct VerifyMfaInput {
    #[graphql(secret)]
    pub ticket: Option<String>,
    #[graphql(secret)]
    pub code: Option<String>,
    #[graphql(secret)]
    pub recovery_code: Option<String>,
}

#[derive(InputObject)]
pub struct FinishPasskeyRegistrationInput {
    pub challenge_id: ID,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, as JSON (`toJSON()`).
    pub credential: Json<serde_json::Value>,
    /// A name to tell it apart ("laptop"), up to 64 characters.
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct FinishPasskeyLoginInput {
    pub challenge_id: ID,
    /// The `PublicKeyCredential` from `navigator.credentials.get`, as JSON (`toJSON()`).
    pub credential: Json<serde_json::Value>,
}

payload_answer!(PasskeyPayload, passkey::Model, |p| passkey: Some(p.into()));
payload_answer!(MfaPayload, bool, |on| mfa_enabled: on);

impl RecoveryCodesPayload {
    fn answer(
        outcome: Result<mfa::recovery::RecoveryCodes, crate::error::AppError>,
    ) -> Result<Self> {
        answer_with(
            outcome,
            |codes| Self {
                recovery_codes: Some(
                    codes
                        .0
                        .iter()
                        .map(|c| c.expose_secret().to_owned())
                        .collect(),
                ),
                errors: Vec::new(),
            },
            |p, e| p.errors = e,
        )
    }
}

impl From<mfa::passkey::Challenge> for PasskeyChallenge {
    fn from(c: mfa::passkey::Challenge) -> Self {
        Self {
            challenge_id: ID(c.id.to_string()),
            options: Json(c.options),
        }
    }
}

/// The mutations of account security. Each requires a token, but for
/// `verifyMfa` with a ticket and the passkey sign-in pair.
#[derive(Default)]
pub struct MfaMutation;

#[Object]
impl MfaMutation {
    /// Requires a token. A new authenticator secret, not active until `confirmTotp`; again
    /// replaces one not yet confirmed. While TOTP is on: BAD_USER_INPUT (disable it first).
    async fn enroll_totp(&self, ctx: &Context<'_>) -> Result<TotpEnrollment> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        let e = mfa::totp::enroll(state, viewer).await?;
        Ok(TotpEnrollment {
            secret: e.secret.expose_secret().to_owned(),
            otpauth_uri: e.uri.expose_secret().to_owned(),
        })
    }

    /// Requires a token. Turns TOTP on with a first code from the app; answers ten recovery
    /// codes, shown once. A wrong code is INVALID_CODE.
    async fn confirm_totp(
        &self,
        ctx: &Context<'_>,
        #[graphql(secret)] code: String,
    ) -> Result<RecoveryCodesPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        RecoveryCodesPayload::answer(mfa::totp::confirm(state, viewer, &code).await)
    }

    /// Requires an `aal2` token. Turns TOTP off with the current password and a code.
    async fn disable_totp(&self, ctx: &Context<'_>, input: DisableTotpInput) -> Result<MfaPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        MfaPayload::answer(
            mfa::totp::disable(state, viewer, &input.current_password, &input.code).await,
        )
    }

    /// Requires an `aal2` token. Ten new recovery codes; the old ones stop working.
    async fn regenerate_recovery_codes(&self, ctx: &Context<'_>) -> Result<RecoveryCodesPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        RecoveryCodesPayload::answer(mfa::recovery::regenerate(state, viewer).await)
    }

    /// With a ticket: completes the sign-in that answered MFA_REQUIRED. Without, with a token:
    /// steps that session up to `aal2`. Answers fresh tokens either way.
    async fn verify_mfa(&self, ctx: &Context<'_>, input: VerifyMfaInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        // The viewer matters only without a ticket: a stale token sent along
        // with a ticket does not fail the sign-in.
        let viewer = match input.ticket {
            Some(_) => None,
            None => Some(viewer_auth(ctx).require()?),
        };
        let given = mfa::ticket::Verification {
            ticket: input.ticket.as_deref(),
            code: input.code.as_deref(),
            recovery_code: input.recovery_code.as_deref(),
        };
        AuthPayload::answer(mfa::ticket::verify(state, viewer, given, &client(ctx)).await)
    }

    /// Requires a token. Starts registering a passkey (a discoverable credential).
    async fn begin_passkey_registration(&self, ctx: &Context<'_>) -> Result<PasskeyChallenge> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        Ok(mfa::passkey::begin_registration(state, viewer)
            .await?
            .into())
    }

    /// Requires a token. Finishes the registration with the authenticator's answer.
    async fn finish_passkey_registration(
        &self,
        ctx: &Context<'_>,
        input: FinishPasskeyRegistrationInput,
    ) -> Result<PasskeyPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        PasskeyPayload::answer(
            mfa::passkey::finish_registration(
                state,
                viewer,
                &input.challenge_id,
                input.credential.0,
                input.name.as_deref(),
            )
            .await,
        )
    }

    /// No token needed. Starts a passkey sign-in; the browser offers the passkeys it holds for
    /// this site, so no email is asked.
    async fn begin_passkey_login(&self, ctx: &Context<'_>) -> Result<PasskeyChallenge> {
        let state = ctx.data::<AppState>()?;
        Ok(mfa::passkey::begin_login(state).await?.into())
    }

    /// No token needed. Finishes a passkey sign-in: a new `aal2` session.
    async fn finish_passkey_login(
        &self,
        ctx: &Context<'_>,
        input: FinishPasskeyLoginInput,
    ) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            mfa::passkey::finish_login(
                state,
                &input.challenge_id,
                input.credential.0,
                &client(ctx),
            )
            .await,
        )
    }

    /// Requires an `aal2` token. Removes one of the viewer's passkeys.
    async fn remove_passkey(&self, ctx: &Context<'_>, id: ID) -> Result<PasskeyPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        PasskeyPayload::answer(mfa::passkey::remove(state, viewer, &id).await)
    }
}
