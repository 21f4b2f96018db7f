//! The event hub: who on this instance listens to what, and the delivery
//! of events to them.
//!
//! Subscribers are kept by what they listen to: feeds and notification
//! inboxes by viewer, posts by post id. Each subscription is an unbounded
//! queue (`notices`) whose receiving end is the resolver's stream
//! ([`Subscription`]), beside the socket's [`SocketHandle`], which bounds
//! what may wait for the socket across its subscriptions: an event is
//! counted (`enqueue`) before it is queued and uncounted (`dequeue`) when
//! the stream yields it or drops it; a socket over its bound closes as too
//! slow and the event is dropped. Delivery never awaits a subscriber.
//!
//! Events come from this instance's services after their commit
//! ([`Hub::publish`]) and from the relay, which reads the other instances'
//! (`live::relay`); both claim each event's id in one [`Seen`], so each
//! event is handled once. A dispatcher task takes them in that order and,
//! for each event that some local subscription listens for, loads what it
//! shows once (the post, its author, the reposter, the notification group)
//! and shares it among the recipients (`Shared`: with the payloads rendered
//! of it). Several events are loaded ahead at once, and delivered in order.
//! Every delivery path asks `filter::may_reach`.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use async_graphql::futures_util::stream::{self, Stream, StreamExt as _};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::event::{Batch, Event};
use super::filter::{self, About, may_reach};
use super::notices::{self, Receiver, Sender};
use super::seen::Seen;
use super::shared::Shared;
use super::socket::SocketHandle;
use crate::entity::{live_event, post, profile};
use crate::error::AppError;
use crate::service::notification::inbox::Group;
use crate::service::page::{FeedCursor, snapshot_of};
use crate::service::safety::audience::Audience;
use crate::service::safety::visibility;
use crate::service::thread::PostWithAuthor;
use crate::state::AppState;

/// Events whose data the dispatcher loads at once, ahead of delivery.
const LOAD_AHEAD: usize = 16;

/// This instance's subscribers, and the way in for events.
pub struct Hub {
    /// This instance's name in the notifications it sends (PostgreSQL), so
    /// that its own relay is not woken by its own events.
    tag: String,
    subscribers: Arc<RwLock<Subscribers>>,
    next_slot: AtomicU64,
    /// The ids handled; `None` until the relay has read where to start.
    seen: Mutex<Option<Seen>>,
    /// The dispatcher's queue; unset until the relay starts it, and events
    /// published before are dropped (nobody can listen yet).
    queue: OnceLock<mpsc::UnboundedSender<Event>>,
    /// Rung after each publish: the relay's announcer tells the other
    /// instances (PostgreSQL), once for any number of rings meanwhile.
    announce: tokio::sync::Notify,
    payloads: [AtomicU64; 2],
}

/// The `next` payloads of this instance's handed-off subscriptions
/// (`graphql::Live`): rendered, or shared from another subscription of the
/// same shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Payloads {
    pub rendered: u64,
    pub shared: u64,
}

/// The subscriptions an instance holds, by field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listening {
    pub feed: usize,
    pub notifications: usize,
    pub posts: usize,
}

/// A new post or repost in the feed, as every recipient shares it.
#[derive(Debug)]
pub struct FeedEntry {
    /// The entry's key in the feed: the post's id, or the repost's.
    pub key: Uuid,
    pub post: post::Model,
    pub author: profile::Model,
    /// Set on a repost's entry.
    pub reposted_by: Option<profile::Model>,
}

impl FeedEntry {
    /// The account whose followers get the entry: the reposter, or the author.
    pub fn via(&self) -> &profile::Model {
        self.reposted_by.as_ref().unwrap_or(&self.author)
    }

    /// What the entry is about, for the filter.
    fn about(&self) -> About<'_> {
        About::Feed {
            author: &self.author,
            reposter: self.reposted_by.as_ref().map(|r| r.user_id),
        }
    }

    /// The cursor the entry has in `feed`: below it, the feed as it was at
    /// the entry's millisecond (so the entry's post is not shown again
    /// below it; see `service::feed`).
    pub fn cursor(&self) -> FeedCursor {
        FeedCursor {
            key: self.key,
            snapshot: snapshot_of(millis_of(self.key)),
        }
    }
}

/// The unix millisecond a UUIDv7 carries.
fn millis_of(id: Uuid) -> u64 {
    id.get_timestamp().map_or(0, |t| {
        let (secs, nanos) = t.to_unix();
        secs.saturating_mul(1000)
            .saturating_add(u64::from(nanos / 1_000_000))
    })
}

/// What a subscription's channel carries: an item, or the end of the
/// stream (`postChanged` of a deleted post).
enum Notice<T> {
    Item(T),
    End,
}

struct Slot<T> {
    id: u64,
    tx: Sender<Notice<T>>,
    socket: Arc<SocketHandle>,
}

impl<T> Slot<T> {
    /// Queues `notice` unless the socket has too many waiting already.
    fn send(&self, notice: Notice<T>) -> bool {
        if !self.socket.enqueue() {
            return false;
        }
        if self.tx.send(notice).is_err() {
            // The stream went meanwhile (it drained what it had).
            self.socket.dequeue();
            return false;
        }
        true
    }
}

/// A `postChanged` subscription: its viewer and its post's author.
struct PostSlot {
    slot: Slot<Arc<Shared<PostWithAuthor>>>,
    viewer: Option<Uuid>,
    /// Known once the post was read (see [`post_changes`]).
    author: Option<Uuid>,
}

#[derive(Default)]
struct Subscribers {
    feed: HashMap<Uuid, Vec<Slot<Arc<Shared<FeedEntry>>>>>,
    notifications: HashMap<Uuid, Vec<Slot<Arc<Group>>>>,
    posts: HashMap<Uuid, Vec<PostSlot>>,
}

/// What a subscription listens to, to find its slot again.
#[derive(Debug, Clone, Copy)]
enum Key {
    Feed(Uuid),
    Notifications(Uuid),
    Post(Uuid),
}

impl Key {
    fn field(self) -> &'static str {
        match self {
            Self::Feed(_) => "feedAdded",
            Self::Notifications(_) => "notificationChanged",
            Self::Post(_) => "postChanged",
        }
    }
}

fn remove_slot<S>(map: &mut HashMap<Uuid, Vec<S>>, key: Uuid, is: impl Fn(&S) -> bool) {
    if let Some(slots) = map.get_mut(&key) {
        slots.retain(|s| !is(s));
        if slots.is_empty() {
            map.remove(&key);
        }
    }
}

impl Subscribers {
    fn remove(&mut self, key: Key, id: u64) {
        match key {
            Key::Feed(viewer) => remove_slot(&mut self.feed, viewer, |s| s.id == id),
            Key::Notifications(viewer) => {
                remove_slot(&mut self.notifications, viewer, |s| s.id == id);
            }
            Key::Post(post) => remove_slot(&mut self.posts, post, |s| s.slot.id == id),
        }
    }
}

/// One subscription's events, as its resolver streams them. Dropping it
/// unsubscribes, and uncounts what it had not yielded.
pub struct Subscription<T> {
    rx: Receiver<Notice<T>>,
    socket: Arc<SocketHandle>,
    key: Key,
    id: u64,
    subscribers: Arc<RwLock<Subscribers>>,
    ended: bool,
}

impl<T> Stream for Subscription<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(notice) => {
                self.socket.dequeue();
                match notice {
                    Notice::Item(item) => Poll::Ready(Some(item)),
                    Notice::End => {
                        self.ended = true;
                        Poll::Ready(None)
                    }
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        // Closed first: a send from now on fails, and its sender uncounts it.
        for _ in self.rx.close() {
            self.socket.dequeue();
        }
        write(&self.subscribers).remove(self.key, self.id);
        metrics::gauge!("live_subscriptions", "field" => self.key.field()).decrement(1.0);
    }
}

fn read(lock: &RwLock<Subscribers>) -> std::sync::RwLockReadGuard<'_, Subscribers> {
    // Nothing panics while holding it; recover rather than stop delivering.
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write(lock: &RwLock<Subscribers>) -> std::sync::RwLockWriteGuard<'_, Subscribers> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    pub fn new() -> Self {
        Self {
            tag: format!("{:016x}", rand::random::<u64>()),
            subscribers: Arc::default(),
            next_slot: AtomicU64::new(1),
            seen: Mutex::new(None),
            queue: OnceLock::new(),
            announce: tokio::sync::Notify::new(),
            payloads: Default::default(),
        }
    }

    /// Counts one payload sent: rendered for its subscription, or shared.
    pub fn count_payload(&self, shared: bool) {
        self.payloads[usize::from(shared)].fetch_add(1, Ordering::Relaxed);
        let how = if shared { "shared" } else { "rendered" };
        metrics::counter!("live_payloads_total", "how" => how).increment(1);
    }

    pub fn payloads(&self) -> Payloads {
        Payloads {
            rendered: self.payloads[0].load(Ordering::Relaxed),
            shared: self.payloads[1].load(Ordering::Relaxed),
        }
    }

    /// This instance's name in its PostgreSQL notifications: 16 hex digits.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Writes `events` within the caller's transaction (`event::write`);
    /// publish what it answers after the commit.
    pub async fn write(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        events: Vec<Event>,
    ) -> Result<Batch, AppError> {
        super::event::write(conn, events).await
    }

    /// Hands committed events to this instance's subscribers, each at most
    /// once (the relay may have read them already), and has the other
    /// instances told. Never waits.
    pub fn publish(&self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        self.take(batch.0.into_iter().map(|w| (w.id, Some(w.event))), "local");
        self.announce.notify_one();
    }

    /// Resolves once something was published since the last call.
    pub(super) async fn published(&self) {
        self.announce.notified().await;
    }

    /// Events the relay read, each handled unless seen before. A row of a
    /// kind this version does not know is claimed and skipped.
    pub(super) fn receive(&self, rows: &[live_event::Model]) {
        let events = rows.iter().map(|row| {
            let event = Event::from_row(row);
            if event.is_none() {
                tracing::debug!(id = row.id, kind = %row.kind, "live event of an unknown kind skipped");
            }
            (row.id, event)
        });
        self.take(events, "relay");
    }

    fn take(&self, events: impl Iterator<Item = (i64, Option<Event>)>, source: &'static str) {
        let Some(queue) = self.queue.get() else {
            return;
        };
        let now = Instant::now();
        // Held while queueing: the dispatcher gets events in claim order.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = 0u64;
        for (id, event) in events {
            if seen.as_mut().is_none_or(|s| s.claim(id, now))
                && let Some(event) = event
                && queue.send(event).is_ok()
            {
                taken += 1;
            }
        }
        metrics::counter!("live_events_total", "source" => source).increment(taken);
    }

    /// Starts tracking ids from `seen` (the relay, at start).
    pub(super) fn start_at(&self, seen: Seen) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(seen);
    }

    pub(super) fn is_started(&self) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Runs `f` on the ids seen (the relay's reads and give-ups); `None`
    /// before `start_at`.
    pub(super) fn with_seen<R>(&self, f: impl FnOnce(&mut Seen) -> R) -> Option<R> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(f)
    }

    /// Starts the dispatcher (once; the relay does, at start).
    pub(super) fn start_dispatch(&self, state: AppState) -> Option<tokio::task::JoinHandle<()>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.queue.set(tx).ok()?;
        Some(tokio::spawn(dispatch(state, rx)))
    }

    fn subscribe<T>(
        &self,
        key: Key,
        socket: Arc<SocketHandle>,
        add: impl FnOnce(&mut Subscribers, Slot<T>),
    ) -> Subscription<T> {
        let (tx, rx) = notices::queue();
        let id = self.next_slot.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            id,
            tx,
            socket: socket.clone(),
        };
        add(&mut write(&self.subscribers), slot);
        metrics::gauge!("live_subscriptions", "field" => key.field()).increment(1.0);
        Subscription {
            rx,
            socket,
            key,
            id,
            subscribers: self.subscribers.clone(),
            ended: false,
        }
    }

    /// How many subscriptions this instance holds, by field.
    pub fn listening(&self) -> Listening {
        let subs = read(&self.subscribers);
        Listening {
            feed: subs.feed.values().map(Vec::len).sum(),
            notifications: subs.notifications.values().map(Vec::len).sum(),
            posts: subs.posts.values().map(Vec::len).sum(),
        }
    }

    /// `feedAdded`: entries entering `viewer`'s feed from now on.
    pub fn feed(
        &self,
        viewer: Uuid,
        socket: Arc<SocketHandle>,
    ) -> Subscription<Arc<Shared<FeedEntry>>> {
        self.subscribe(Key::Feed(viewer), socket, |subs, slot| {
            subs.feed.entry(viewer).or_default().push(slot);
        })
    }

    /// `notificationChanged`: `viewer`'s groups as they are created or
    /// gain an actor, from now on.
    pub fn notifications(
        &self,
        viewer: Uuid,
        socket: Arc<SocketHandle>,
    ) -> Subscription<Arc<Group>> {
        self.subscribe(Key::Notifications(viewer), socket, |subs, slot| {
            subs.notifications.entry(viewer).or_default().push(slot);
        })
    }

    fn post(
        &self,
        post: Uuid,
        viewer: Option<Uuid>,
        socket: Arc<SocketHandle>,
    ) -> Subscription<Arc<Shared<PostWithAuthor>>> {
        self.subscribe(Key::Post(post), socket, |subs, slot| {
            subs.posts.entry(post).or_default().push(PostSlot {
                slot,
                viewer,
                author: None,
            });
        })
    }

    fn set_author(&self, post: Uuid, id: u64, author: Uuid) {
        if let Some(slots) = write(&self.subscribers).posts.get_mut(&post) {
            for s in slots.iter_mut().filter(|s| s.slot.id == id) {
                s.author = Some(author);
            }
        }
    }

    /// Whether some local subscription could want `event`.
    fn wants(&self, event: &Event) -> bool {
        let subs = read(&self.subscribers);
        match event {
            Event::Posted { .. } | Event::Reposted { .. } => !subs.feed.is_empty(),
            Event::Counted { post } | Event::PostDeleted { post } => subs.posts.contains_key(post),
            Event::AccountDeleted { .. } => !subs.posts.is_empty(),
            Event::Notified { recipient, .. } => subs.notifications.contains_key(recipient),
        }
    }

    /// The signed-in viewers of the local subscriptions to `post`.
    fn post_viewers(&self, post: Uuid) -> Vec<Uuid> {
        let subs = read(&self.subscribers);
        let mut viewers: Vec<Uuid> = subs
            .posts
            .get(&post)
            .into_iter()
            .flatten()
            .filter_map(|s| s.viewer)
            .collect();
        viewers.sort_unstable();
        viewers.dedup();
        viewers
    }

    /// The viewers with a local feed subscription.
    fn feed_viewers(&self) -> Vec<Uuid> {
        read(&self.subscribers).feed.keys().copied().collect()
    }

    /// Queues what `ready` holds to each subscription it reaches.
    fn deliver(&self, ready: Ready) {
        let subs = read(&self.subscribers);
        let mut sent = 0u64;
        let field = match ready {
            Ready::Nothing => return,
            Ready::Feed {
                entry,
                recipients,
                audience,
            } => {
                let about = entry.about();
                let mut to = |viewer: Uuid, slots: &Vec<Slot<Arc<Shared<FeedEntry>>>>| {
                    if may_reach(Some(viewer), about, &audience) {
                        for s in slots {
                            sent += u64::from(s.send(Notice::Item(entry.clone())));
                        }
                    }
                };
                // Walk the smaller side: a popular author's followers, or
                // this instance's feed subscribers.
                if recipients.len() > subs.feed.len() {
                    let recipients: HashSet<Uuid> = recipients.into_iter().collect();
                    for (viewer, slots) in subs.feed.iter() {
                        if recipients.contains(viewer) {
                            to(*viewer, slots);
                        }
                    }
                } else {
                    for viewer in recipients {
                        if let Some(slots) = subs.feed.get(&viewer) {
                            to(viewer, slots);
                        }
                    }
                }
                "feedAdded"
            }
            Ready::Post { post, change } => {
                for s in subs.posts.get(&post).into_iter().flatten() {
                    let notice = match &change {
                        Some((changed, audience)) => {
                            let about = About::Post {
                                author: &changed.author,
                            };
                            if !may_reach(s.viewer, about, audience) {
                                continue;
                            }
                            Notice::Item(changed.clone())
                        }
                        None => Notice::End,
                    };
                    sent += u64::from(s.slot.send(notice));
                }
                "postChanged"
            }
            Ready::AuthorGone { user } => {
                for s in subs.posts.values().flatten() {
                    if s.author == Some(user) {
                        sent += u64::from(s.slot.send(Notice::End));
                    }
                }
                "postChanged"
            }
            Ready::Notification {
                recipient,
                group,
                actor,
                audience,
            } => {
                let about = about_group(&group, actor);
                if may_reach(Some(recipient), about, &audience) {
                    for s in subs.notifications.get(&recipient).into_iter().flatten() {
                        sent += u64::from(s.send(Notice::Item(group.clone())));
                    }
                }
                "notificationChanged"
            }
        };
        metrics::counter!("live_events_delivered_total", "field" => field).increment(sent);
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

/// `postChanged` of the post `id`: its changes from now on, until it is
/// deleted. A malformed id, an unknown or deleted post, or one the viewer
/// may not see: `NOT_FOUND`.
pub async fn post_changes(
    state: &AppState,
    viewer: Option<Uuid>,
    id: &str,
    socket: Arc<SocketHandle>,
) -> Result<Subscription<Arc<Shared<PostWithAuthor>>>, AppError> {
    let id = Uuid::parse_str(id).map_err(|_| AppError::NotFound)?;
    // Listening first, then reading: a deletion that commits after the
    // read ends the stream; one before it answers NOT_FOUND.
    let changes = state.live().post(id, viewer, socket);
    let found = crate::service::thread::post_with_author(state, id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Later changes are filtered as they come (a block made meanwhile
    // stops them): see `filter`.
    if !visibility::may_see(state.db(), viewer, &found.author).await? {
        return Err(AppError::NotFound);
    }
    state
        .live()
        .set_author(id, changes.id, found.author.user_id);
    Ok(changes)
}

/// An event made ready for delivery: its data loaded, its recipients known.
enum Ready {
    Nothing,
    /// `recipients`: those with a local feed subscription.
    Feed {
        entry: Arc<Shared<FeedEntry>>,
        recipients: Vec<Uuid>,
        audience: Audience,
    },
    /// The post's new state (with its subscribers' audience), or `None`:
    /// it was deleted.
    Post {
        post: Uuid,
        change: Option<(Arc<Shared<PostWithAuthor>>, Audience)>,
    },
    AuthorGone {
        user: Uuid,
    },
    Notification {
        recipient: Uuid,
        group: Arc<Group>,
        actor: Uuid,
        audience: Audience,
    },
}

/// What a notification group that gained `actor` is about, for the filter.
fn about_group(group: &Group, actor: Uuid) -> About<'_> {
    About::Notification {
        actor,
        author: group.author.as_ref(),
    }
}

/// The dispatcher: events in the order they were claimed, each loaded
/// (up to [`LOAD_AHEAD`] at once) and delivered in that order.
async fn dispatch(state: AppState, rx: mpsc::UnboundedReceiver<Event>) {
    let events = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
    events
        .map(|event| {
            let state = state.clone();
            async move {
                match prepare(&state, event).await {
                    Ok(ready) => ready,
                    Err(e) => {
                        // A notice, not the record: clients read the lists.
                        tracing::warn!(?event, detail = %e.detail(), "live event dropped: its data could not be read");
                        Ready::Nothing
                    }
                }
            }
        })
        .buffered(LOAD_AHEAD)
        .for_each(|ready| {
            state.live().deliver(ready);
            std::future::ready(())
        })
        .await;
}

/// Loads what `event` shows, once for every local recipient; nothing when
/// no local subscription listens for it.
async fn prepare(state: &AppState, event: Event) -> Result<Ready, AppError> {
    let hub = state.live();
    if !hub.wants(&event) {
        return Ok(Ready::Nothing);
    }
    use crate::service::{interaction, notification::inbox, profile, thread};
    Ok(match event {
        Event::Posted { post, .. } => {
            let Some(found) = thread::post_with_author(state, post).await? else {
                return Ok(Ready::Nothing);
            };
            let entry = FeedEntry {
                key: found.post.id,
                post: found.post,
                author: found.author,
                reposted_by: None,
            };
            feed_ready(state, entry).await?
        }
        Event::Reposted { post, reposter } => {
            // The repost as it is now: undone meanwhile, nothing to show.
            let Some(repost) = interaction::live_repost(state, post, reposter).await? else {
                return Ok(Ready::Nothing);
            };
            let (found, by) = tokio::try_join!(
                thread::post_with_author(state, post),
                profile::by_id(state, reposter)
            )?;
            let (Some(found), Some(by)) = (found, by) else {
                return Ok(Ready::Nothing);
            };
            let entry = FeedEntry {
                key: repost.id,
                post: found.post,
                author: found.author,
                reposted_by: Some(by),
            };
            feed_ready(state, entry).await?
        }
        Event::Counted { post } => match thread::post_with_author(state, post).await? {
            Some(found) => {
                let viewers = hub.post_viewers(post);
                let about = About::Post {
                    author: &found.author,
                };
                let audience = filter::audience(state, about, &viewers).await?;
                Ready::Post {
                    post,
                    change: Some((Arc::new(Shared::new(found)), audience)),
                }
            }
            // Deleted since: its own event ends the streams.
            None => Ready::Nothing,
        },
        Event::PostDeleted { post } => Ready::Post { post, change: None },
        Event::AccountDeleted { user } => Ready::AuthorGone { user },
        Event::Notified {
            recipient,
            group,
            actor,
        } => match inbox::group(state, recipient, group).await? {
            Some(group) => {
                let about = about_group(&group, actor);
                let audience = filter::audience(state, about, &[recipient]).await?;
                Ready::Notification {
                    recipient,
                    group: Arc::new(group),
                    actor,
                    audience,
                }
            }
            None => Ready::Nothing,
        },
    })
}

/// The recipients of a feed entry on this instance: the account it comes
/// through (author or reposter) and those of its followers with a local
/// feed subscription, read one way or the other, whichever is smaller;
/// and their audience.
async fn feed_ready(state: &AppState, entry: FeedEntry) -> Result<Ready, AppError> {
    let via = entry.via();
    let local = state.live().feed_viewers();
    let followers = usize::try_from(via.follower_count).unwrap_or(0);
    let mut recipients = if followers == 0 {
        Vec::new()
    } else if followers <= local.len() {
        crate::service::follow::followers(state, via.user_id, None).await?
    } else {
        crate::service::follow::followers(state, via.user_id, Some(&local)).await?
    };
    recipients.push(via.user_id);
    // Only local subscribers are asked about (all followers when they
    // were read without `local`).
    if followers > 0 && followers <= local.len() {
        let local: HashSet<Uuid> = local.into_iter().collect();
        recipients.retain(|r| local.contains(r));
    }
    let audience = filter::audience(state, entry.about(), &recipients).await?;
    Ok(Ready::Feed {
        entry: Arc::new(Shared::new(entry)),
        recipients,
        audience,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket() -> Arc<SocketHandle> {
        Arc::new(SocketHandle::new())
    }

    #[tokio::test]
    async fn a_dropped_subscription_leaves_its_key_and_uncounts_what_waited() {
        let hub = Hub::new();
        let viewer = Uuid::now_v7();
        let sock = socket();
        let mut first = hub.notifications(viewer, sock.clone());
        let second = hub.notifications(viewer, sock.clone());
        let group = Arc::new(Group {
            id: Uuid::now_v7(),
            kind: crate::service::notification::NotificationKind::Follow,
            post: None,
            author: None,
            actor_count: 1,
            top_id: Uuid::now_v7(),
            read: false,
        });
        hub.deliver(Ready::Notification {
            recipient: viewer,
            group: group.clone(),
            actor: Uuid::now_v7(),
            audience: Audience::default(),
        });
        assert_eq!(first.next().await.map(|g| g.id), Some(group.id));
        drop(second);
        assert_eq!(read(&hub.subscribers).notifications[&viewer].len(), 1);
        hub.deliver(Ready::Notification {
            recipient: viewer,
            group,
            actor: Uuid::now_v7(),
            audience: Audience::default(),
        });
        drop(first);
        assert!(read(&hub.subscribers).notifications.is_empty());
        // Every event counted was uncounted: the whole bound is free again.
        for _ in 0..super::super::socket::MAX_QUEUED {
            assert!(sock.enqueue());
        }
    }

    #[tokio::test]
    async fn a_deletion_ends_the_post_stream() {
        let hub = Hub::new();
        let post = Uuid::now_v7();
        let mut changes = hub.post(post, None, socket());
        hub.deliver(Ready::Post { post, change: None });
        assert!(changes.next().await.is_none());
        assert!(changes.next().await.is_none(), "and stays ended");
    }

    #[test]
    fn an_entry_cursor_continues_below_the_entry() {
        let key = Uuid::now_v7();
        let cursor = FeedEntry {
            key,
            post: post::Model {
                id: key,
                author_id: Uuid::now_v7(),
                body: "x".into(),
                created_at: chrono::Utc::now(),
                in_reply_to_id: None,
                like_count: 0,
                repost_count: 0,
                reply_count: 0,
            },
            author: profile_model(),
            reposted_by: None,
        }
        .cursor();
        assert_eq!(cursor.key, key);
        assert!(cursor.snapshot >= key, "a valid feed cursor");
        assert_eq!(millis_of(cursor.snapshot), millis_of(key));
    }

    fn profile_model() -> profile::Model {
        profile::Model {
            user_id: Uuid::now_v7(),
            handle: "someone".into(),
            display_name: None,
            bio: None,
            post_count: 0,
            follower_count: 0,
            following_count: 0,
            locked: false,
            avatar_id: None,
            banner_id: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }
}
