//! The subscription root: live notices over the socket (`http::socket`).
//! Thin, like the other roots: the hub (`live::hub`) holds the rules.
//!
//! A subscription's request lives as long as its stream, and with it the
//! request's loaders: each event has its own, made when it resolves and
//! forgotten when its item is dropped ([`Fresh`]), so that nothing read for
//! one event (`viewerHasLiked`, a profile) answers for the next, and an
//! idle subscription holds none. What an event runs is boxed while it
//! runs, so that an idle subscription's stream keeps no room for it: ten
//! thousand sockets hold twenty thousand of them.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::futures_util::future::BoxFuture;
use async_graphql::futures_util::stream::{Stream, StreamExt as _};
use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, ID, OutputType, Positioned, Result, ServerResult,
    Subscription as SubscriptionRoot, Value,
};

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
    ) -> Result<impl Stream<Item = Fresh<Notification>>> {
        let viewer = viewer_auth(ctx).require()?.user_id;
        let (state, socket, loaders) = parts(ctx)?;
        let groups = state.live().notifications(viewer, socket);
        Ok(groups.then(move |group| -> BoxFuture<'static, _> {
            let loaders = loaders.clone();
            Box::pin(async move {
                loaders.renew();
                let item =
                    super::notifications::live(&loaders.get(), viewer, (*group).clone()).await;
                Fresh { item, loaders }
            })
        }))
    }

    /// Signed-in sockets only: entries entering the viewer's feed, as they are written (an edge with its cursor).
    async fn feed_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Fresh<PostEdge>>> {
        let viewer = viewer_auth(ctx).require()?.user_id;
        let (state, socket, loaders) = parts(ctx)?;
        let entries = state.live().feed(viewer, socket);
        Ok(entries.then(move |entry| -> BoxFuture<'static, _> {
            let loaders = loaders.clone();
            Box::pin(async move {
                loaders.renew();
                let item = feed_edge(&loaders.get(), viewer, &entry).await;
                Fresh { item, loaders }
            })
        }))
    }

    /// Anyone (a locked author's post: its followers only): the post each time its counts change; ends when it is deleted.
    async fn post_changed(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Fresh<Post>>> {
        let viewer = viewer_auth(ctx).viewer()?.map(|v| v.user_id);
        let (state, socket, loaders) = parts(ctx)?;
        let changes = crate::live::post_changes(state, viewer, &id, socket).await?;
        Ok(changes.then(move |changed| -> BoxFuture<'static, _> {
            let loaders = loaders.clone();
            Box::pin(async move {
                loaders.renew();
                loaders.get().prime_profiles([changed.author.clone()]).await;
                let item = Post(changed.post.clone());
                Fresh { item, loaders }
            })
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

/// One event's item, shown as `T` is: when async-graphql drops it, after
/// resolving it, the event's loaders go with it. Its resolution is boxed,
/// so that the stream holds room for it only while an event resolves.
pub struct Fresh<T> {
    item: T,
    loaders: RequestLoaders,
}

impl<T> Drop for Fresh<T> {
    fn drop(&mut self) {
        self.loaders.renew();
    }
}

impl<T: OutputType> OutputType for Fresh<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.item.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> impl Future<Output = ServerResult<Value>> + Send {
        Box::pin(self.item.resolve(ctx, field))
    }
}
