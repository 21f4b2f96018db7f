use async_graphql::{Context, Object, Result};

use super::types::{Session, User};
use super::viewer_auth;
use crate::service;
use crate::state::AppState;

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user; null without an Authorization header.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(viewer) = viewer_auth(ctx).viewer()? else {
            return Ok(None);
        };
        let state = ctx.data::<AppState>()?;
        Ok(service::user::profile(state, viewer.user_id)
            .await?
            .map(User::from))
    }

    /// The signed-in user's live sessions, newest first. Requires a token.
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        let sessions = service::session::list(state, viewer).await?;
        Ok(sessions.into_iter().map(Session::from).collect())
    }
}
