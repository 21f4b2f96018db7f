use async_graphql::{Context, ID, Object, Result};

use super::notifications::{self, NotificationConnection, NotificationKind};
use super::social::{Post, PostConnection, Profile, ProfileConnection, feed_connection};
use super::types::{Session, User};
use super::viewer_auth;
use crate::service;
use crate::state::AppState;

pub struct Query;

// Private: every answer depends on the viewer. An operation that ran
// answers the cache control validation computed, a request error the
// default (public), which is how the direct path (`direct.rs`) tells them
// apart. (A doc comment here would become the type's SDL description.)
#[Object(cache_control(private))]
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

    /// The profile with this handle (any case); null when none has it.
    async fn profile(&self, ctx: &Context<'_>, handle: String) -> Result<Option<Profile>> {
        let state = ctx.data::<AppState>()?;
        Ok(service::profile::by_handle(state, &handle)
            .await?
            .map(Profile))
    }

    /// The post with this id; null when there is none or the viewer may not see it.
    async fn post(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Post>> {
        let state = ctx.data::<AppState>()?;
        let viewer = super::social::viewer_id(ctx)?;
        Ok(service::post::by_id(state, viewer, &id).await?.map(Post))
    }

    /// Requires a token: the viewer's posts and those of the profiles it follows, newest first.
    async fn feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<PostConnection> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        let page = service::feed::feed(state, viewer, first, after.as_deref()).await?;
        feed_connection(ctx, viewer.user_id, page).await
    }

    /// Requires a token: the viewer's notification groups, newest first.
    /// `kinds` null asks for every kind; an empty list answers no group.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        kinds: Option<Vec<NotificationKind>>,
    ) -> Result<NotificationConnection> {
        notifications::page(ctx, first, after, kinds).await
    }

    /// Requires a token: pending requests to follow the viewer, newest first.
    async fn follow_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProfileConnection> {
        super::safety::follow_requests(ctx, first, after).await
    }
}
