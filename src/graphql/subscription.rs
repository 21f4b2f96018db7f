//! The subscription root: live notices over the socket (`http::socket`).
//! Thin, like the other roots: the hub (`live::hub`) holds the rules.
//!
//! A subscription's request lives as long as its stream, and with it the
//! request's loaders: each event renews them before it resolves, so that
//! nothing read for one event (`viewerHasLiked`, a profile) answers for
//! the next.

use std::sync::Arc;

use async_graphql::futures_util::stream::{Stream, StreamExt as _};
use async_graphql::{Context, ID, Result, Subscription as SubscriptionRoot};

use super::loaders::RequestLoaders;
use super::notifications::Notification;
use super::social::{Post, PostEdge, feed_edge};
use super::viewer_auth;
use crate::live::SocketHandle;
use crate::state::AppState;

pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Signed-in sockets only: the viewer's notification groups, each time one is created or gains an actor.
    async fn notification_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Notification>> {
        let viewer = viewer_auth(ctx).require()?.user_id;
        let (state, socket, loaders) = parts(ctx)?;
        let groups = state.live().notifications(viewer, socket);
        Ok(groups.then(move |group| {
            let loaders = loaders.clone();
            async move {
                loaders.renew();
                super::notifications::live(&loaders.get(), viewer, (*group).clone()).await
            }
        }))
    }

    /// Signed-in sockets only: entries entering the viewer's feed, as they are written (an edge with its cursor).
    async fn feed_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = PostEdge>> {
        let viewer = viewer_auth(ctx).require()?.user_id;
        let (state, socket, loaders) = parts(ctx)?;
        let entries = state.live().feed(viewer, socket);
        Ok(entries.then(move |entry| {
            let loaders = loaders.clone();
            async move {
                loaders.renew();
                feed_edge(&loaders.get(), viewer, &entry).await
            }
        }))
    }

    /// Anyone (a locked author's post: its followers only): the post each time its counts change; ends when it is deleted.
    async fn post_changed(&self, ctx: &Context<'_>, id: ID) -> Result<impl Stream<Item = Post>> {
        let viewer = viewer_auth(ctx).viewer()?.map(|v| v.user_id);
        let (state, socket, loaders) = parts(ctx)?;
        let changes = crate::live::post_changes(state, viewer, &id, socket).await?;
        Ok(changes.then(move |changed| {
            let loaders = loaders.clone();
            async move {
                loaders.renew();
                loaders.get().prime_profiles([changed.author.clone()]).await;
                Post(changed.post.clone())
            }
        }))
    }
}

/// What every subscription takes from its context: the state, its socket
/// and its request's loaders.
fn parts<'a>(ctx: &Context<'a>) -> Result<(&'a AppState, Arc<SocketHandle>, RequestLoaders)> {
    Ok((
        ctx.data::<AppState>()?,
        ctx.data::<Arc<SocketHandle>>()?.clone(),
        ctx.data::<RequestLoaders>()?.clone(),
    ))
}
