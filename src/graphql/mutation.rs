use async_graphql::{Context, Object, Result};

use super::types::{AuthPayload, LoginInput, LogoutPayload, LogoutScope, RegisterInput};
use crate::auth::{ClientInfo, Viewer};
use crate::error::AppError;
use crate::service;
use crate::state::AppState;

pub struct Mutation;

fn client<'a>(ctx: &Context<'a>) -> ClientInfo {
    ctx.data_opt::<ClientInfo>().cloned().unwrap_or_default()
}

#[Object]
impl Mutation {
    /// Creates an account and signs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        let outcome =
            service::user::register(state, &input.email, &input.password, &client(ctx)).await?;
        Ok(outcome.into())
    }

    /// Signs in with email and password; each sign-in opens a session.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let state = ctx.data::<AppState>()?;
        let outcome =
            service::user::login(state, &input.email, &input.password, &client(ctx)).await?;
        Ok(outcome.into())
    }

    /// Requires a token. CURRENT ends this session; OTHERS every other; ALL every one.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "LogoutScope::Current")] scope: LogoutScope,
    ) -> Result<LogoutPayload> {
        let viewer = ctx.data_opt::<Viewer>().ok_or(AppError::Unauthenticated)?;
        let state = ctx.data::<AppState>()?;
        let revoked = service::session::revoke(state, viewer, scope.into()).await?;
        Ok(LogoutPayload {
            revoked_sessions: i32::try_from(revoked).unwrap_or(i32::MAX),
        })
    }
}
