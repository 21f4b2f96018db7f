use async_graphql::{Context, Object, Result};

use super::types::User;
use crate::auth::Viewer;
use crate::service;
use crate::state::AppState;

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user; null without an Authorization header.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(viewer) = ctx.data_opt::<Viewer>() else {
            return Ok(None);
        };
        let state = ctx.data::<AppState>()?;
        Ok(service::user::find(state, viewer.user_id)
            .await?
            .map(User::from))
    }
}
