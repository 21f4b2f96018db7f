//! The subscription root: live notices over the socket (`http::socket`).
//! Thin, like the other roots: the hub (`live::hub`) holds the rules.
//!
//! A subscription runs one of two ways:
//!
//! - **Handed off** (the socket's way): the socket puts a [`Handoff`] in
//!   the request's data, and a root field that is its operation's only
//!   selection puts its hub subscription there with what its events are
//!   rendered against ([`Live`]), and ends async-graphql's stream at once.
//!   The socket then renders each event itself (`Live::render`): the
//!   field's selection resolved as async-graphql would, the payload shared
//!   by every subscription of the same shape ([`Shapes`]: same document,
//!   operation and variables) unless rendering it read the viewer
//!   ([`ViewerProbe`]). So an idle subscription holds its hub queue and its
//!   query's environment, not async-graphql's stream, and a post that five
//!   thousand followers' feeds receive is resolved and serialised once.
//! - **As async-graphql streams it**, when there is no handoff or the
//!   operation's root holds more than the one field (the same field
//!   written twice passes the single-root rule): each event resolves in
//!   its own stream item ([`Fresh`]). (async-graphql runs no field that a
//!   fragment at the root selects.)
//!
//! Either way, each event has its own loaders, made when it resolves and
//! forgotten after, so that nothing read for one event (`viewerHasLiked`, a
//! profile) answers for the next, and an idle subscription holds none.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context as TaskContext, Poll};

use async_graphql::futures_util::future::{BoxFuture, Either};
use async_graphql::futures_util::stream::{self, Stream, StreamExt as _};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection};
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, Data, ID, OutputType, Positioned, QueryEnv, QueryPathNode,
    QueryPathSegment, Response, Result, SchemaEnv, ServerError, ServerResult,
    Subscription as SubscriptionRoot, Value,
};
use uuid::Uuid;

use super::loaders::{Loaders, RequestLoaders};
use super::notifications::Notification;
use super::social::{Post, PostEdge, feed_edge};
use super::viewer_auth;
use crate::live::{FeedEntry, Rendered, Shared, SocketHandle, Subscription as Notices};
use crate::service::notification::inbox::Group;
use crate::service::thread::PostWithAuthor;
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
        let items = move |n| Items::Notifications(viewer, n);
        Ok(live_or_fresh(
            ctx,
            state,
            items,
            groups,
            loaders,
            move |loaders, group| async move {
                super::notifications::live(&loaders, viewer, (*group).clone()).await
            },
        ))
    }

    /// Signed-in sockets only: entries entering the viewer's feed, as they are written (an edge with its cursor).
    async fn feed_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Fresh<PostEdge>>> {
        let viewer = viewer_auth(ctx).require()?.user_id;
        let (state, socket, loaders) = parts(ctx)?;
        let entries = state.live().feed(viewer, socket);
        let items = move |n| Items::Feed(viewer, n);
        Ok(live_or_fresh(
            ctx,
            state,
            items,
            entries,
            loaders,
            move |loaders, entry| async move { feed_edge(&loaders, viewer, &entry).await },
        ))
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
        Ok(live_or_fresh(
            ctx,
            state,
            Items::Post,
            changes,
            loaders,
            |loaders, changed| async move { changed_post(&loaders, &changed).await },
        ))
    }
}

/// A changed post as its subscribers get it: with its author primed.
async fn changed_post(loaders: &Loaders, changed: &PostWithAuthor) -> Post {
    loaders.prime_profiles([changed.author.clone()]).await;
    Post(changed.post.clone())
}

/// A subscription's events: handed off to the socket (`hand_off`; the
/// stream async-graphql gets then ends at once), or streamed, each made by
/// `make` with loaders of its own.
fn live_or_fresh<T, I, M, F, Fut>(
    ctx: &Context<'_>,
    state: &AppState,
    items: M,
    notices: Notices<T>,
    loaders: RequestLoaders,
    make: F,
) -> impl Stream<Item = Fresh<I>> + use<T, I, M, F, Fut>
where
    T: Send + 'static,
    M: FnOnce(Notices<T>) -> Items,
    F: Fn(Arc<Loaders>, T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = I> + Send + 'static,
{
    let Some(notices) = hand_off(ctx, state, items, notices) else {
        return Either::Left(stream::empty());
    };
    Either::Right(notices.then(move |item| -> BoxFuture<'static, Fresh<I>> {
        let (loaders, make) = (loaders.clone(), make.clone());
        Box::pin(async move {
            loaders.renew();
            let item = make(loaders.get(), item).await;
            Fresh { item, loaders }
        })
    }))
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

// ------------------------------------------------------------ handed off

/// Held by the socket for one subscription, and seen by its request as a
/// `Weak<Handoff>` (what it hands off refers to the request's data): the
/// subscription's shape, where its root field leaves what the socket runs,
/// and whether the root field returned a stream instead.
pub struct Handoff {
    shape: Arc<Shape>,
    live: Mutex<Option<Live>>,
    streaming: AtomicBool,
}

impl Handoff {
    pub fn new(shape: Arc<Shape>) -> Self {
        Self {
            shape,
            live: Mutex::new(None),
            streaming: AtomicBool::new(false),
        }
    }

    /// What the root field handed off, if it did.
    pub fn take(&self) -> Option<Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Whether the root field returned a stream for async-graphql to run:
    /// its responses are events, not a refusal.
    pub fn streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }
}

/// Hands `notices` off to the socket if the request carries a [`Handoff`]
/// and this field is its operation's one selection; gives them back
/// otherwise, to be streamed by async-graphql.
fn hand_off<T>(
    ctx: &Context<'_>,
    state: &AppState,
    items: impl FnOnce(Notices<T>) -> Items,
    notices: Notices<T>,
) -> Option<Notices<T>> {
    let Some(handoff) = ctx.data_opt::<Weak<Handoff>>().and_then(Weak::upgrade) else {
        return Some(notices);
    };
    let selections = &ctx.query_env.operation.node.selection_set.node.items;
    let only = matches!(selections.as_slice(), [one] if matches!(one.node, Selection::Field(_)));
    let mut slot = handoff.live.lock().unwrap_or_else(|e| e.into_inner());
    if !only || slot.is_some() {
        handoff.streaming.store(true, Ordering::Relaxed);
        return Some(notices);
    }
    *slot = Some(Live {
        items: items(notices),
        field: Arc::new(LiveField {
            shape: handoff.shape.clone(),
            state: state.clone(),
            schema_env: ctx.schema_env.clone(),
            query_env: ctx.query_env.clone(),
        }),
    });
    None
}

/// The subscriptions that share a payload: one [`Shape`] per distinct
/// document, operation and variables (bounded; beyond that, or for a long
/// document, a subscription gets a shape of its own and shares nothing).
#[derive(Clone)]
pub struct Shapes {
    shapes: moka::sync::Cache<String, Arc<Shape>>,
    next: Arc<AtomicU64>,
}

/// One document, operation and variables, as its subscriptions share it.
pub struct Shape {
    id: u64,
    /// An event's payload read the viewer once: every subscription of the
    /// shape renders its own from then on, without waiting for another's.
    per_viewer: AtomicBool,
}

/// The payload of an event whose response did not serialise (it cannot
/// happen: a response holds JSON values only).
pub const UNSERIALISABLE: &str = r#"{"data":null,"errors":[{"message":"Internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#;

/// Distinct shapes kept (clients subscribe with a handful of documents).
const SHAPES: u64 = 512;
/// Longer keys get an id of their own.
const MAX_SHAPE_KEY: usize = 8192;

impl Shapes {
    pub fn new() -> Self {
        Self {
            shapes: moka::sync::Cache::new(SHAPES),
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The shape of this document, operation and variables (as JSON).
    pub fn of(&self, query: &str, operation_name: Option<&str>, variables: &str) -> Arc<Shape> {
        let fresh = || {
            Arc::new(Shape {
                id: self.next.fetch_add(1, Ordering::Relaxed),
                per_viewer: AtomicBool::new(false),
            })
        };
        let len = query.len() + operation_name.map_or(0, str::len) + variables.len();
        if len > MAX_SHAPE_KEY {
            return fresh();
        }
        // Lengths first: no two triples make one key.
        let name = operation_name.unwrap_or_default();
        let key = format!("{}:{}:{query}{name}{variables}", query.len(), name.len());
        self.shapes.get_with(key, fresh)
    }
}

impl Default for Shapes {
    fn default() -> Self {
        Self::new()
    }
}

/// Request data for an event's render: marked when a field asks who the
/// viewer is (`viewer_auth`), which makes the payload the viewer's own.
#[derive(Clone, Default)]
pub(super) struct ViewerProbe(Arc<AtomicBool>);

impl ViewerProbe {
    pub(super) fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn marked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A handed-off subscription: its hub queue, and what its events are
/// rendered against.
pub struct Live {
    items: Items,
    field: Arc<LiveField>,
}

enum Items {
    Feed(Uuid, Notices<Arc<Shared<FeedEntry>>>),
    Notifications(Uuid, Notices<Arc<Group>>),
    Post(Notices<Arc<Shared<PostWithAuthor>>>),
}

/// One event of a handed-off subscription, to render.
pub enum LiveItem {
    Feed(Uuid, Arc<Shared<FeedEntry>>),
    Notification(Uuid, Arc<Group>),
    Post(Arc<Shared<PostWithAuthor>>),
}

/// The root field's environment as the request validated it: the query's
/// (its document, variables and data), which the field's own resolvers
/// read as they would in async-graphql's stream.
struct LiveField {
    shape: Arc<Shape>,
    state: AppState,
    schema_env: SchemaEnv,
    query_env: QueryEnv,
}

impl Live {
    /// The next event; `None` once the subscription ended (a deleted post).
    pub fn poll_item(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<LiveItem>> {
        match &mut self.items {
            Items::Feed(viewer, n) => n
                .poll_next_unpin(cx)
                .map(|e| e.map(|e| LiveItem::Feed(*viewer, e))),
            Items::Notifications(viewer, n) => n
                .poll_next_unpin(cx)
                .map(|g| g.map(|g| LiveItem::Notification(*viewer, g))),
            Items::Post(n) => n.poll_next_unpin(cx).map(|p| p.map(LiveItem::Post)),
        }
    }

    /// The `next` payload of `item` for this subscription (a GraphQL
    /// response, as JSON).
    pub fn render(&self, item: LiveItem) -> BoxFuture<'static, Arc<str>> {
        let field = self.field.clone();
        Box::pin(async move {
            match item {
                LiveItem::Feed(viewer, entry) => {
                    let render = || render_feed(field.clone(), viewer, entry.clone());
                    shared(&field, &entry, render).await
                }
                LiveItem::Notification(viewer, group) => {
                    // One recipient's: nothing to share.
                    let loaders = RequestLoaders::new(&field.state);
                    let item =
                        super::notifications::live(&loaders.get(), viewer, (*group).clone()).await;
                    field.state.live().count_payload(false);
                    field.resolve(&item, loaders).await.payload
                }
                LiveItem::Post(changed) => {
                    let render = || render_post(field.clone(), changed.clone());
                    shared(&field, &changed, render).await
                }
            }
        })
    }
}

async fn render_feed(
    field: Arc<LiveField>,
    viewer: Uuid,
    entry: Arc<Shared<FeedEntry>>,
) -> Rendered {
    let loaders = RequestLoaders::new(&field.state);
    let edge = feed_edge(&loaders.get(), viewer, &entry).await;
    field.resolve(&edge, loaders).await
}

async fn render_post(field: Arc<LiveField>, changed: Arc<Shared<PostWithAuthor>>) -> Rendered {
    let loaders = RequestLoaders::new(&field.state);
    let post = changed_post(&loaders.get(), &changed).await;
    field.resolve(&post, loaders).await
}

/// The payload of `item` for a subscription of `field`'s shape: the one the
/// first of them rendered, unless that render read the viewer or failed;
/// then each renders its own. Whichever of those waiting for the first
/// render is polled drives it (a shared future), so that none waits on
/// another's socket; once a render of the shape read the viewer, none waits
/// any more.
async fn shared<T, F>(field: &LiveField, item: &Shared<T>, render: impl Fn() -> F) -> Arc<str>
where
    F: Future<Output = Rendered> + Send + 'static,
{
    let shape = &field.shape;
    if shape.per_viewer.load(Ordering::Relaxed) {
        field.state.live().count_payload(false);
        return render().await.payload;
    }
    let (first, mine) = item.render_of(shape.id, || Box::pin(render()));
    let rendered = first.await;
    if rendered.per_viewer {
        shape.per_viewer.store(true, Ordering::Relaxed);
    }
    let (payload, shared) = if mine {
        (rendered.payload, false)
    } else if rendered.shareable() {
        (rendered.payload, true)
    } else {
        (render().await.payload, false)
    };
    field.state.live().count_payload(shared);
    payload
}

impl LiveField {
    /// The operation's one root field (`hand_off` made sure there is one).
    fn field(&self) -> Option<&Positioned<Field>> {
        match self
            .query_env
            .operation
            .node
            .selection_set
            .node
            .items
            .as_slice()
        {
            [one] => match &one.node {
                Selection::Field(field) => Some(field),
                _ => None,
            },
            _ => None,
        }
    }

    /// Resolves the field's selection on `item` as async-graphql's stream
    /// would, with `loaders` for this event. Without the schema's extension
    /// (it has nothing to do per event; the direct path for queries skips it
    /// alike).
    async fn resolve<T: OutputType>(&self, item: &T, loaders: RequestLoaders) -> Rendered {
        let probe = ViewerProbe::default();
        let mut response = match self.field() {
            Some(field) => {
                let mut data = Data::default();
                data.insert(loaders);
                data.insert(probe.clone());
                let key = &field.node.response_key().node;
                let ctx = self.query_env.create_context(
                    &self.schema_env,
                    Some(QueryPathNode {
                        parent: None,
                        segment: QueryPathSegment::Name(key),
                    }),
                    &field.node.selection_set,
                    Some(&data),
                );
                match item.resolve(&ctx, field).await {
                    Ok(value) => {
                        Response::new(Value::Object(IndexMap::from([(key.clone(), value)])))
                    }
                    Err(e) => Response::from_errors(vec![e]),
                }
            }
            None => Response::from_errors(vec![ServerError::new("no root field", None)]),
        };
        // What fields recorded besides (a nullable field that failed); one
        // event of this subscription resolves at a time.
        let recorded = std::mem::take(
            &mut *self
                .query_env
                .errors
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        response.errors.extend(recorded);
        let payload = serde_json::to_string(&response).unwrap_or_else(|e| {
            tracing::error!(error = %e, "a subscription payload did not serialise");
            UNSERIALISABLE.to_owned()
        });
        Rendered {
            payload: payload.into(),
            per_viewer: probe.marked(),
            failed: !response.errors.is_empty(),
        }
    }
}

// ----------------------------------------------------- as async-graphql streams it

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
