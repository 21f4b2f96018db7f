use async_graphql::{Context, ID, Object, Result};

use super::types::{
    AuthPayload, ChangePasswordInput, LoginInput, LogoutPayload, LogoutScope, RefreshInput,
    RegisterInput,
};
use super::viewer_auth;
use crate::auth::ClientInfo;
use crate::error::AppError;
use crate::service;
use crate::state::AppState;

pub struct Mutation;

fn client(ctx: &Context<'_>) -> ClientInfo {
    ctx.data_opt::<ClientInfo>().cloned().unwrap_or_default()
}

fn logout_payload(revoked: u64) -> LogoutPayload {
    LogoutPayload {
        revoked_sessions: i32::try_from(revoked).unwrap_or(i32::MAX),
    }
}

#[Object]
impl Mutation {
    /// Creates an account and signs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::user::register(state, &input.email, &input.password, &client(ctx)).await,
        )
    }

    /// Signs in with email and password; each sign-in opens a session.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::user::login(state, &input.email, &input.password, &client(ctx)).await,
        )
    }

    /// Exchanges a refresh token for a new access token and the next refresh
    /// token of the same session. Needs no Authorization header.
    async fn refresh(&self, ctx: &Context<'_>, input: RefreshInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::session::refresh(state, &input.refresh_token, &client(ctx)).await,
        )
    }

    /// Requires a token. CURRENT ends this session; OTHERS every other; ALL every one.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "LogoutScope::Current")] scope: LogoutScope,
    ) -> Result<LogoutPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        Ok(logout_payload(
            service::session::revoke(state, viewer, scope.into()).await?,
        ))
    }

    /// Requires a token; ends one of the caller's own sessions.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> Result<LogoutPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let id = uuid::Uuid::parse_str(&id)
            .map_err(|_| AppError::BadUserInput("`id` is not a session id.".into()))?;
        let state = ctx.data::<AppState>()?;
        Ok(logout_payload(
            service::session::revoke_one(state, viewer, id).await?,
        ))
    }

    /// Requires a token; ends every other session of the user.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> Result<AuthPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        AuthPayload::answer(
            service::user::change_password(
                state,
                viewer,
                &input.current_password,
                &input.new_password,
            )
            .await,
        )
    }
}
