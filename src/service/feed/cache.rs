//! Feed pages kept in memory, each served again until a write that can
//! change it: the database stays the record, and a page from memory is
//! the page the statements would read.
//!
//! What a page remembers is its entries (keys, posts, authors, reposters,
//! whether the viewer follows each author), not the rows: a hit reads the
//! page's posts and profiles again by primary key (two statements), so
//! counts, bodies and names are always current. What can change the
//! entries themselves is a write by one of the page's *sources*, the
//! viewer and the accounts it follows and does not mute:
//!
//! - a post, reply, repost, undone repost or deleted post changes its
//!   author's (a deleted post also its reposters'),
//! - a follow, unfollow, answered request, block, unblock, mute or unmute
//!   changes both accounts',
//! - a lock, unlock or deleted account changes every page ([`FeedCache::changed_all`]).
//!
//! Each write takes a number from one counter and stamps it on the
//! accounts it changed (after its commit). A page remembers the counter as
//! it was just before its statements ran, and is served only while none
//! of its sources (the viewer among them) carries a later stamp: so a
//! write that committed before the page was read is in it, and any later
//! one takes it out. Following 5,000 accounts makes that check 5,000 map
//! lookups (about 0.1 ms), never a statement.
//!
//! The stamps are kept for twice a page's lifetime ([`PAGE_TTL`]), longer
//! than any page they could concern. Pages of a feed first read more than
//! [`OLDEST_SNAPSHOT`] ago are never kept: housekeeping deletes the undone
//! reposts those pages depend on, without a write to stamp.
//!
//! With `REDIS_URL` every instance stamps the others' writes too (see
//! `remote`), before it serves a page from memory.
//!
//! Inbox pages (`notification::kept`) are kept here too, under the same
//! counter: a write to an account's notifications stamps its inbox alone
//! ([`FeedCache::inbox_changed`]), so a like tells the post's author's
//! inbox without retiring the feeds of its followers; an inbox page is
//! also retired by every stamp that retires its recipient's feed (a
//! follow, block or mute by or of the recipient, a change to all).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::FeedItem;
use super::remote::Remote;
use crate::service::notification::kept::{InboxKey, KeptInbox};
use crate::service::page::FeedCursor;

/// How long a page may be served from memory at most.
pub const PAGE_TTL: Duration = Duration::from_secs(600);

/// A page whose feed was first read longer ago than this is not kept (see
/// the module's comment): well inside `UNDONE_REPOST_KEPT`.
pub const OLDEST_SNAPSHOT: Duration = Duration::from_secs(30 * 60);

/// Most accounts one write stamps one by one; more stamp every page.
pub const MAX_STAMPED: usize = 1000;

/// How often the stamps older than twice [`PAGE_TTL`] are swept, in writes.
const SWEEP_EVERY: u64 = 4096;

/// Which page: whose, how long, after which cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub viewer: Uuid,
    pub first: u64,
    pub after: Option<FeedCursor>,
}

/// One entry of a kept page: what the page's statement chose, without the
/// rows it read.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub key: Uuid,
    pub post: Uuid,
    pub author: Uuid,
    pub author_followed: bool,
    pub reposter: Option<Uuid>,
}

impl Entry {
    pub fn of(key: Uuid, item: &FeedItem) -> Self {
        Self {
            key,
            post: item.post.id,
            author: item.post.author_id,
            author_followed: item.author_followed,
            reposter: item.reposted_by.as_ref().map(|p| p.user_id),
        }
    }
}

/// A kept page.
#[derive(Debug)]
pub struct Kept {
    /// The counter just before the page was read.
    pub read_at: u64,
    pub entries: Vec<Entry>,
    pub has_next: bool,
    pub snapshot: Uuid,
}

/// A viewer's sources as read at `read_at`.
#[derive(Debug)]
pub struct Sources {
    pub read_at: u64,
    pub ids: Vec<Uuid>,
}

/// A viewer's sources with the newest stamp among them now.
#[derive(Debug)]
pub struct Current {
    pub sources: Arc<Sources>,
    newest: u64,
}

/// How many of an account's newest entry keys are read for any viewer
/// (a page may read more of a frequent writer's: `feed::listed_authors`).
pub const KEPT_KEYS: usize = 4;

/// An account's newest entry keys (its posts and reposts, undone ones
/// too), newest first; `more`: it has older ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latest {
    pub keys: Vec<Uuid>,
    pub more: bool,
}

impl Latest {
    /// The newest `depth` of `keys`, an account's newest entries read
    /// (more than `depth` of them: it has older ones).
    pub fn of(mut keys: Vec<Uuid>, depth: usize) -> Self {
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.dedup();
        let more = keys.len() > depth;
        keys.truncate(depth);
        Self { keys, more }
    }

    /// Its newest entry's key (`None`: it has none).
    pub fn newest(&self) -> Option<Uuid> {
        self.keys.first().copied()
    }

    /// Its oldest key kept.
    pub fn oldest(&self) -> Option<Uuid> {
        self.keys.last().copied()
    }

    /// With `posts` made since (at most [`ADDED_KEPT`] of them).
    fn with(&self, posts: impl Iterator<Item = Uuid>) -> Self {
        let mut posts = posts.peekable();
        if posts.peek().is_none() {
            return self.clone();
        }
        let mut keys = self.keys.clone();
        keys.extend(posts);
        let mut latest = Self::of(keys, usize::MAX);
        latest.more |= self.more;
        latest
    }

    /// The memory it takes in the map, about: the entry, the map's own
    /// slack and control bytes, and the keys.
    fn weight(&self) -> u64 {
        128 + 16 * self.keys.len() as u64
    }
}

/// An account's newest entry keys as read at `read_at`: no entry of the
/// account is newer while no stamp of it is later (see
/// [`FeedCache::newest_entries`]).
#[derive(Debug, Clone)]
struct Newest {
    read_at: u64,
    latest: Latest,
    when: Instant,
}

/// The newest entry keys kept, their weight, and when the expired ones
/// were last swept.
#[derive(Debug)]
struct NewestKeys {
    keys: HashMap<Uuid, Newest>,
    weight: u64,
    swept: Instant,
}

/// An account's latest writes.
#[derive(Debug)]
struct Stamp {
    /// Its latest write that changed entries otherwise than by adding a
    /// post (0: none kept).
    changed: u64,
    /// Its inbox's latest write (0: none kept).
    inbox: u64,
    /// Its latest posts, numbered: a page read before them can take them
    /// in instead of being read again.
    added: VecDeque<(u64, Uuid)>,
    /// Posts numbered at or below this were dropped from `added`.
    added_floor: u64,
    when: Instant,
}

/// What a write stamps on the accounts it names: their feed entries and
/// sources, or their inboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamped {
    Entries,
    Inbox,
}

/// How many of an account's latest posts a stamp keeps.
const ADDED_KEPT: usize = 16;

/// What became of a kept page's entries since it was read.
#[derive(Debug, PartialEq, Eq)]
pub enum Since {
    /// Nothing: the page is as it was.
    Same,
    /// Posts were added by these authors (post, author), newest last.
    Added(Vec<(Uuid, Uuid)>),
    /// Posts were added, all above the page's cursor: the page is as it
    /// was, and is kept again as read now (a stamp keeps an account's
    /// latest posts only, so a page checked as often as they come stays
    /// servable under an account posting several times a second).
    Above,
    /// Something else: the page must be read again.
    Changed,
}

/// The pages in memory and the stamps that retire them.
pub struct FeedCache {
    on: bool,
    counter: AtomicU64,
    /// Pages read at or before this are not served (every page changed).
    all_changed_at: AtomicU64,
    /// Every account's latest writes. The counter moves only under this
    /// lock's write side, so a reader holding its read side sees every
    /// stamp at or below the counter it read before.
    stamps: RwLock<HashMap<Uuid, Stamp>>,
    pages: moka::sync::Cache<PageKey, Arc<Kept>>,
    sources: moka::sync::Cache<Uuid, Arc<Sources>>,
    /// Accounts' newest entry keys, each served while no stamp of its
    /// account is later, for at most [`PAGE_TTL`] (the stamps that could
    /// retire it are kept twice as long); at most `newest_cap` bytes of
    /// them.
    newest: RwLock<NewestKeys>,
    newest_cap: u64,
    /// Pages read over the authors with their newest entry keys.
    listed_reads: AtomicU64,
    /// Of those, pages answered from the floor their keys bound.
    bounded_reads: AtomicU64,
    window: u64,
    /// Inbox pages read at or before this are not served.
    inbox_all_changed_at: AtomicU64,
    inbox: moka::sync::Cache<InboxKey, Arc<KeptInbox>>,
    /// A lock an inbox page being read (see `inbox::page`).
    inbox_reading: moka::sync::Cache<InboxKey, Arc<tokio::sync::Mutex<()>>>,
    remote: Option<Arc<Remote>>,
    /// Pages served from memory so far.
    served: AtomicU64,
    /// Inbox pages served from memory so far.
    inbox_served: AtomicU64,
}

impl std::fmt::Debug for FeedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedCache")
            .field("on", &self.on)
            .field("pages", &self.pages.entry_count())
            .finish_non_exhaustive()
    }
}

impl FeedCache {
    /// A cache of at most `mib` MiB of pages and source lists; `on: false`
    /// keeps nothing (every page is read from the database). With
    /// `redis`, the stamps are shared with every instance (see `remote`).
    pub fn new(on: bool, mib: u64, redis: Option<redis::Client>) -> Self {
        let bytes = mib.saturating_mul(1024 * 1024);
        // Pages and source lists share the budget: a viewer following
        // 5,000 accounts has an 80 KB list, a page is about 2 KB; inbox
        // pages take a quarter, accounts' newest entry keys an eighth.
        let inbox = moka::sync::Cache::builder()
            .max_capacity(bytes / 4)
            .weigher(|_, kept: &Arc<KeptInbox>| u32::try_from(kept.weight()).unwrap_or(u32::MAX))
            .time_to_live(PAGE_TTL)
            .build();
        let pages = moka::sync::Cache::builder()
            .max_capacity(bytes * 5 / 16)
            .weigher(|_, kept: &Arc<Kept>| {
                u32::try_from(128 + kept.entries.len() * size_of::<Entry>()).unwrap_or(u32::MAX)
            })
            .time_to_live(PAGE_TTL)
            .build();
        let sources = moka::sync::Cache::builder()
            .max_capacity(bytes * 5 / 16)
            .weigher(|_, s: &Arc<Sources>| {
                u32::try_from(64 + s.ids.len() * size_of::<Uuid>()).unwrap_or(u32::MAX)
            })
            .time_to_live(PAGE_TTL)
            .build();
        Self {
            on,
            counter: AtomicU64::new(1),
            all_changed_at: AtomicU64::new(0),
            stamps: RwLock::new(HashMap::new()),
            pages,
            sources,
            newest: RwLock::new(NewestKeys {
                keys: HashMap::new(),
                weight: 0,
                swept: Instant::now(),
            }),
            // An eighth of the budget (about 192 bytes an account with
            // its 4 keys: see `Latest::weight`).
            newest_cap: bytes / 8,
            listed_reads: AtomicU64::new(0),
            bounded_reads: AtomicU64::new(0),
            window: super::RECENT_WINDOW,
            inbox_all_changed_at: AtomicU64::new(0),
            inbox,
            inbox_reading: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(60))
                .build(),
            remote: redis.filter(|_| on).map(Remote::new),
            served: AtomicU64::new(0),
            inbox_served: AtomicU64::new(0),
        }
    }

    /// The newest posts a page's first statement looks among (see
    /// `feed_statements`): `RECENT_WINDOW`, or a test's.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// With another window (the tests make it small).
    pub fn with_window(self, window: u64) -> Self {
        Self { window, ..self }
    }

    pub fn remote(&self) -> Option<Arc<Remote>> {
        self.remote.clone()
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// How many pages were served from memory (as `feed_cache_total{outcome="hit"}`).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Whether pages may be served from memory and kept now: with
    /// `REDIS_URL`, once every write another instance had answered is
    /// stamped here too (else the page is read from the database).
    pub async fn caught_up(&self) -> bool {
        match &self.remote {
            None => true,
            Some(remote) => remote.caught_up().await,
        }
    }

    /// The counter now: taken before a page's statements run.
    pub fn now(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }

    /// Whether a page of a feed first read at `snapshot` may be kept: not
    /// when its feed was first read over [`OLDEST_SNAPSHOT`] ago (a cursor
    /// naming a later moment than now is kept: its pages change with
    /// writes like any other).
    pub fn keeps(&self, snapshot: Uuid) -> bool {
        let age = chrono::Utc::now() - super::bind::instant_of(snapshot);
        self.on && age.to_std().map_or(true, |age| age < OLDEST_SNAPSHOT)
    }

    /// The kept page `key`, whatever changed since (see [`Self::since`]).
    pub fn kept(&self, key: &PageKey) -> Option<Arc<Kept>> {
        if !self.on {
            return None;
        }
        self.pages.get(key)
    }

    /// What the viewer's `sources` (as they are now) wrote since the kept
    /// page `key` was read. Sources read after the page are as good as the
    /// page's own: had the viewer's follows changed in between, the viewer
    /// (always among its sources) would carry a later stamp. A stamp at or
    /// below `read_at` was taken after its write had committed and before
    /// the page's statements ran: the page has it.
    ///
    /// A new post changes no other entry (nothing reposted it yet, and a
    /// post's own entry hides nothing), and every source's post is shown
    /// (muted followees are not sources), so a first page takes it in; a
    /// page below a cursor is unchanged by one above the cursor.
    pub fn since(&self, key: &PageKey, kept: &Kept, sources: &Current) -> Since {
        let read_at = kept.read_at;
        let since = if sources.newest > read_at {
            Since::Changed
        } else {
            let stamps = self.stamps.read().unwrap_or_else(|e| e.into_inner());
            let mut added = Vec::new();
            let mut above = false;
            let mut since = Since::Same;
            for (author, stamp) in sources
                .sources
                .ids
                .iter()
                .filter_map(|id| stamps.get(id).map(|stamp| (*id, stamp)))
            {
                if stamp.added_floor > read_at {
                    since = Since::Changed;
                    break;
                }
                let new = stamp.added.iter().filter(|(at, _)| *at > read_at);
                for &(_, post) in new {
                    match key.after {
                        None => added.push((post, author)),
                        Some(cursor) if post < cursor.key => since = Since::Changed,
                        Some(_) => above = true,
                    }
                }
            }
            match since {
                Since::Same if !added.is_empty() => Since::Added(added),
                Since::Same if above => Since::Above,
                other => other,
            }
        };
        if since == Since::Changed {
            self.pages.invalidate(key);
            metrics::counter!("feed_cache_total", "outcome" => "changed").increment(1);
        }
        since
    }

    /// A kept page was served.
    pub fn served_one(&self) {
        metrics::counter!("feed_cache_total", "outcome" => "hit").increment(1);
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// The viewer's kept sources, if none of them changed since read.
    pub fn sources(&self, viewer: Uuid) -> Option<Current> {
        let kept = self.sources.get(&viewer)?;
        let current = self.current(kept);
        if current.newest <= current.sources.read_at {
            Some(current)
        } else {
            self.sources.invalidate(&viewer);
            None
        }
    }

    /// Sources just read, with their newest stamp; kept for the viewer
    /// when none was stamped while they were read.
    pub fn keep_sources(&self, viewer: Uuid, sources: Arc<Sources>) -> Current {
        let current = self.current(sources);
        if self.on && current.newest <= current.sources.read_at {
            self.sources.insert(viewer, current.sources.clone());
        }
        current
    }

    /// The newest stamp among `sources` (one read of the stamps).
    fn current(&self, sources: Arc<Sources>) -> Current {
        let all = self.all_changed_at.load(Ordering::SeqCst);
        let stamps = self.stamps.read().unwrap_or_else(|e| e.into_inner());
        let newest = sources
            .ids
            .iter()
            .filter_map(|id| stamps.get(id).map(|stamp| stamp.changed))
            .fold(all, u64::max);
        drop(stamps);
        Current { sources, newest }
    }

    /// The newest entry keys of each of `ids` known here and current
    /// (taking in the posts stamped since they were read), and the ids
    /// whose keys must be read (none known, or one of their writes since
    /// was not a post). Keys read at `read_at` hold while no stamp of
    /// their account is later: a write that commits after the keys'
    /// statement ran stamps its account after that, so a later stamp is
    /// how a newer entry shows.
    pub fn newest_entries(&self, ids: &[Uuid]) -> (Vec<(Uuid, Latest)>, Vec<Uuid>) {
        let (mut known, mut unknown) = (Vec::with_capacity(ids.len()), Vec::new());
        if !self.on {
            return (known, ids.to_vec());
        }
        let all = self.all_changed_at.load(Ordering::SeqCst);
        let newest = self.newest.read().unwrap_or_else(|e| e.into_inner());
        let stamps = self.stamps.read().unwrap_or_else(|e| e.into_inner());
        for &id in ids {
            let current = newest
                .keys
                .get(&id)
                .filter(|n| n.read_at >= all && n.when.elapsed() < PAGE_TTL)
                .and_then(|n| match stamps.get(&id) {
                    None => Some(n.latest.clone()),
                    Some(s) if s.changed > n.read_at || s.added_floor > n.read_at => None,
                    Some(s) => Some(
                        n.latest.with(
                            s.added
                                .iter()
                                .filter(|(at, _)| *at > n.read_at)
                                .map(|&(_, post)| post),
                        ),
                    ),
                });
            match current {
                Some(latest) => known.push((id, latest)),
                None => unknown.push(id),
            }
        }
        (known, unknown)
    }

    /// Keeps the newest entry keys just read, their statement having run
    /// after the counter was `read_at`.
    pub fn keep_newest(&self, read_at: u64, keys: &[(Uuid, Latest)]) {
        if !self.on || keys.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut newest = self.newest.write().unwrap_or_else(|e| e.into_inner());
        let adding: u64 = keys.iter().map(|(_, l)| l.weight()).sum();
        // Full: the expired keys go (at most once a minute); what still
        // does not fit is not kept, and is read again when next needed.
        if newest.weight + adding > self.newest_cap
            && now.duration_since(newest.swept) > Duration::from_secs(60)
        {
            newest
                .keys
                .retain(|_, n| now.duration_since(n.when) < PAGE_TTL);
            newest.weight = newest.keys.values().map(|n| n.latest.weight()).sum();
            newest.swept = now;
        }
        for (id, latest) in keys {
            let was = newest.keys.get(id).map_or(0, |n| n.latest.weight());
            // What does not fit leaves what was kept (current or not, as
            // the stamps tell).
            if newest.weight - was + latest.weight() > self.newest_cap {
                continue;
            }
            newest.weight = newest.weight - was + latest.weight();
            newest.keys.insert(
                *id,
                Newest {
                    read_at,
                    latest: latest.clone(),
                    when: now,
                },
            );
        }
    }

    /// A page was read over the authors with their newest entry keys.
    pub fn listed_read(&self) {
        self.listed_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// How many pages were read over the authors with their newest entry
    /// keys (SQLite's first reads, see `feed::read`).
    pub fn listed_reads(&self) -> u64 {
        self.listed_reads.load(Ordering::Relaxed)
    }

    /// A page was answered from the floor its authors' keys bound.
    pub fn bounded_read(&self) {
        self.bounded_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// How many pages were answered from the floor their authors' keys
    /// bound (see `feed::bound`).
    pub fn bounded_reads(&self) -> u64 {
        self.bounded_reads.load(Ordering::Relaxed)
    }

    /// Keeps a page just read from the database.
    pub fn keep(&self, key: PageKey, kept: Kept) {
        if self.on {
            metrics::counter!("feed_cache_total", "outcome" => "miss").increment(1);
        }
        self.keep_arc(key, Arc::new(kept));
    }

    pub fn keep_arc(&self, key: PageKey, kept: Arc<Kept>) {
        // A first page leaves out entries newer than its snapshot: one
        // written on an instance whose clock is ahead of this one's may be
        // stamped at or below `read_at` and still be newer. Such a page is
        // not kept.
        let skewed = key.after.is_none()
            && self
                .remote
                .as_ref()
                .is_some_and(|r| !r.before(kept.snapshot));
        if self.on && !skewed {
            self.pages.insert(key, kept);
        }
    }

    /// A committed write changed these accounts' entries or sources: called
    /// after the commit, before the write answers.
    pub async fn changed(&self, ids: impl IntoIterator<Item = Uuid>) {
        self.changed_of(Stamped::Entries, ids).await;
    }

    /// A committed write may have changed any page (a lock, a deleted
    /// account): none read before it is served.
    pub async fn changed_all(&self) {
        self.all_changed_of(Stamped::Entries).await;
    }

    /// A committed write changed these accounts' notifications (or seen
    /// markers): called after the commit, before the write answers.
    pub async fn inbox_changed(&self, ids: impl IntoIterator<Item = Uuid>) {
        self.changed_of(Stamped::Inbox, ids).await;
    }

    /// A committed write may have changed any inbox (a lock, retention).
    pub async fn inbox_changed_all(&self) {
        self.all_changed_of(Stamped::Inbox).await;
    }

    /// Stamps these accounts here and on the other instances.
    async fn changed_of(&self, of: Stamped, ids: impl IntoIterator<Item = Uuid>) {
        if !self.on {
            return;
        }
        let ids: Vec<Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return;
        }
        if ids.len() > MAX_STAMPED {
            // A post reposted by thousands: cheaper said as "every page".
            return self.all_changed_of(of).await;
        }
        self.stamp_of(of, ids.iter().copied());
        if let Some(remote) = &self.remote {
            remote.publish(of, Some(ids)).await;
        }
    }

    /// Retires every page (or inbox page) here and on the other instances.
    async fn all_changed_of(&self, of: Stamped) {
        if !self.on {
            return;
        }
        match of {
            Stamped::Entries => self.stamp_all(),
            Stamped::Inbox => self.stamp_inbox_all(),
        }
        if let Some(remote) = &self.remote {
            remote.publish(of, None).await;
        }
    }

    /// A committed post by `author`: called after the commit, before the
    /// post answers. Pages take it in rather than being read again.
    pub async fn posted(&self, author: Uuid, post: Uuid) {
        if !self.on {
            return;
        }
        self.stamp_post(author, post);
        if let Some(remote) = &self.remote {
            remote.publish_post(author, post).await;
        }
    }

    /// The kept inbox page `key`, if nothing that could change it was
    /// stamped since it was read: its recipient's inbox, its recipient's
    /// follows, blocks and mutes, or every page.
    pub fn inbox_kept(&self, key: &InboxKey) -> Option<Arc<KeptInbox>> {
        if !self.on {
            return None;
        }
        let kept = self.inbox.get(key)?;
        let all = self
            .all_changed_at
            .load(Ordering::SeqCst)
            .max(self.inbox_all_changed_at.load(Ordering::SeqCst));
        let stamps = self.stamps.read().unwrap_or_else(|e| e.into_inner());
        let newest = stamps
            .get(&key.recipient)
            .map_or(all, |s| all.max(s.changed).max(s.inbox));
        drop(stamps);
        if newest > kept.read_at {
            self.inbox.invalidate(key);
            metrics::counter!("inbox_cache_total", "outcome" => "changed").increment(1);
            return None;
        }
        Some(kept)
    }

    /// Keeps an inbox page just read from the database.
    pub fn keep_inbox(&self, key: InboxKey, kept: Arc<KeptInbox>) {
        if self.on {
            metrics::counter!("inbox_cache_total", "outcome" => "miss").increment(1);
            self.inbox.insert(key, kept);
        }
    }

    /// The lock that readers of the inbox page `key` take in turn.
    pub fn inbox_reading(&self, key: InboxKey) -> Arc<tokio::sync::Mutex<()>> {
        self.inbox_reading
            .get_with(key, || Arc::new(tokio::sync::Mutex::new(())))
    }

    /// A kept inbox page was served.
    pub fn inbox_served_one(&self) {
        metrics::counter!("inbox_cache_total", "outcome" => "hit").increment(1);
        self.inbox_served.fetch_add(1, Ordering::Relaxed);
    }

    /// How many inbox pages were served from memory.
    pub fn inbox_served(&self) -> u64 {
        self.inbox_served.load(Ordering::Relaxed)
    }

    /// Stamps these accounts' inboxes here.
    pub(crate) fn stamp_inbox(&self, ids: impl IntoIterator<Item = Uuid>) {
        self.stamp_of(Stamped::Inbox, ids);
    }

    /// Retires every inbox page kept here.
    pub(crate) fn stamp_inbox_all(&self) {
        self.with_next(|_, at, _| {
            self.inbox_all_changed_at.fetch_max(at, Ordering::SeqCst);
        });
        self.inbox.invalidate_all();
    }

    /// Stamps these accounts here.
    pub(crate) fn stamp(&self, ids: impl IntoIterator<Item = Uuid>) {
        self.stamp_of(Stamped::Entries, ids);
    }

    fn stamp_of(&self, of: Stamped, ids: impl IntoIterator<Item = Uuid>) {
        self.with_next(|stamps, at, now| {
            for id in ids {
                let stamp = stamps.entry(id).or_insert_with(|| Stamp::new(now));
                match of {
                    Stamped::Entries => stamp.changed = at,
                    Stamped::Inbox => stamp.inbox = at,
                }
                stamp.when = now;
            }
        });
    }

    /// Stamps a post by `author` here.
    pub(crate) fn stamp_post(&self, author: Uuid, post: Uuid) {
        self.with_next(|stamps, at, now| {
            let stamp = stamps.entry(author).or_insert_with(|| Stamp::new(now));
            stamp.when = now;
            stamp.added.push_back((at, post));
            if stamp.added.len() > ADDED_KEPT
                && let Some((dropped, _)) = stamp.added.pop_front()
            {
                stamp.added_floor = dropped;
            }
        });
    }

    /// Retires every page kept here (an account deleted by another
    /// process, learnt from the live relay, among others).
    pub(crate) fn stamp_all(&self) {
        self.with_next(|_, at, _| {
            self.all_changed_at.fetch_max(at, Ordering::SeqCst);
        });
        self.pages.invalidate_all();
        self.sources.invalidate_all();
        self.inbox.invalidate_all();
        let mut newest = self.newest.write().unwrap_or_else(|e| e.into_inner());
        newest.keys.clear();
        newest.weight = 0;
    }

    /// Runs `write` with the next number, under the stamps' write lock.
    fn with_next(&self, write: impl FnOnce(&mut HashMap<Uuid, Stamp>, u64, Instant)) {
        let now = Instant::now();
        let mut stamps = self.stamps.write().unwrap_or_else(|e| e.into_inner());
        let at = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        write(&mut stamps, at, now);
        if at.is_multiple_of(SWEEP_EVERY) {
            stamps.retain(|_, stamp| now.duration_since(stamp.when) < 2 * PAGE_TTL);
        }
    }
}

impl Stamp {
    fn new(now: Instant) -> Self {
        Self {
            changed: 0,
            inbox: 0,
            added: VecDeque::new(),
            added_floor: 0,
            when: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(read_at: u64) -> Kept {
        Kept {
            read_at,
            entries: Vec::new(),
            has_next: false,
            snapshot: FeedCursor::snapshot_now(),
        }
    }

    /// Whether the page `key` is served to a viewer with these sources.
    fn served(cache: &FeedCache, key: &PageKey, sources: &[Uuid]) -> bool {
        let sources = cache.current(Arc::new(Sources {
            read_at: cache.now(),
            ids: sources.to_vec(),
        }));
        cache
            .kept(key)
            .is_some_and(|kept| cache.since(key, &kept, &sources) == Since::Same)
    }

    fn key(viewer: Uuid) -> PageKey {
        PageKey {
            viewer,
            first: 20,
            after: None,
        }
    }

    #[test]
    fn a_page_is_served_until_one_of_its_sources_changes() {
        let cache = FeedCache::new(true, 8, None);
        let (viewer, followed, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let read_at = cache.now();
        cache.keep(key(viewer), kept(read_at));
        cache.stamp([other]);
        let sources = [viewer, followed];
        assert!(
            served(&cache, &key(viewer), &sources),
            "another account's write"
        );
        cache.stamp([followed]);
        assert!(
            !served(&cache, &key(viewer), &sources),
            "a followed account's write"
        );
        assert!(cache.kept(&key(viewer)).is_none(), "taken out once seen");
    }

    #[test]
    fn a_write_between_the_counter_and_the_keep_retires_the_page() {
        let cache = FeedCache::new(true, 8, None);
        let viewer = Uuid::now_v7();
        let read_at = cache.now();
        // Committed while the page's statement ran: the page may lack it.
        cache.stamp([viewer]);
        cache.keep(key(viewer), kept(read_at));
        assert!(!served(&cache, &key(viewer), &[viewer]));
        // Read after that write: kept.
        let read_at = cache.now();
        cache.keep(key(viewer), kept(read_at));
        assert!(served(&cache, &key(viewer), &[viewer]));
    }

    #[test]
    fn a_change_to_all_retires_every_page_and_source_list() {
        let cache = FeedCache::new(true, 8, None);
        let viewer = Uuid::now_v7();
        let read_at = cache.now();
        cache.keep(key(viewer), kept(read_at));
        cache.keep_sources(
            viewer,
            Arc::new(Sources {
                read_at,
                ids: vec![viewer],
            }),
        );
        cache.stamp_all();
        assert!(!served(&cache, &key(viewer), &[viewer]));
        assert!(cache.sources(viewer).is_none());
        // Even one kept again with the old counter.
        cache.keep(key(viewer), kept(read_at));
        assert!(!served(&cache, &key(viewer), &[viewer]));
    }

    #[test]
    fn sources_stamped_while_they_were_read_are_not_kept_nor_serve_an_older_page() {
        let cache = FeedCache::new(true, 8, None);
        let (viewer, followed) = (Uuid::now_v7(), Uuid::now_v7());
        let page_read_at = cache.now();
        cache.keep(key(viewer), kept(page_read_at));
        let read_at = cache.now();
        // The viewer follows someone while its sources are read.
        cache.stamp([viewer]);
        let current = cache.keep_sources(
            viewer,
            Arc::new(Sources {
                read_at,
                ids: vec![viewer, followed],
            }),
        );
        assert!(cache.sources(viewer).is_none());
        let kept = cache.kept(&key(viewer)).expect("kept");
        assert_eq!(cache.since(&key(viewer), &kept, &current), Since::Changed);
    }

    #[test]
    fn a_first_page_takes_in_new_posts_and_a_page_below_a_cursor_ignores_those_above_it() {
        let cache = FeedCache::new(true, 8, None);
        let (viewer, followed) = (Uuid::now_v7(), Uuid::now_v7());
        let sources = || {
            cache.current(Arc::new(Sources {
                read_at: cache.now(),
                ids: vec![viewer, followed],
            }))
        };
        let old_post = Uuid::now_v7();
        let first = key(viewer);
        let below = PageKey {
            after: Some(FeedCursor {
                key: Uuid::now_v7(),
                snapshot: FeedCursor::snapshot_now(),
            }),
            ..first
        };
        let read_at = cache.now();
        cache.keep(first, kept(read_at));
        cache.keep(below, kept(read_at));
        let new_post = Uuid::now_v7();
        cache.stamp_post(followed, new_post);
        let page = cache.kept(&first).unwrap();
        assert_eq!(
            cache.since(&first, &page, &sources()),
            Since::Added(vec![(new_post, followed)])
        );
        let page = cache.kept(&below).unwrap();
        assert_eq!(cache.since(&below, &page, &sources()), Since::Above);
        // A post whose id sorts below the cursor (written slowly): read again.
        cache.stamp_post(followed, old_post);
        assert_eq!(cache.since(&below, &page, &sources()), Since::Changed);
    }

    #[test]
    fn more_posts_than_a_stamp_keeps_make_the_page_read_again() {
        let cache = FeedCache::new(true, 8, None);
        let viewer = Uuid::now_v7();
        let read_at = cache.now();
        cache.keep(key(viewer), kept(read_at));
        for _ in 0..=ADDED_KEPT {
            cache.stamp_post(viewer, Uuid::now_v7());
        }
        let sources = cache.current(Arc::new(Sources {
            read_at: cache.now(),
            ids: vec![viewer],
        }));
        let page = cache.kept(&key(viewer)).unwrap();
        assert_eq!(cache.since(&key(viewer), &page, &sources), Since::Changed);
    }

    fn inbox_key(recipient: Uuid) -> InboxKey {
        InboxKey {
            recipient,
            first: 20,
            after: None,
            kinds: None,
        }
    }

    fn kept_inbox(cache: &FeedCache) -> Arc<KeptInbox> {
        let page = crate::service::page::Page {
            items: Vec::new(),
            has_next: false,
        };
        Arc::new(KeptInbox::of(cache.now(), &page))
    }

    #[test]
    fn an_inbox_page_is_served_until_its_recipient_is_stamped() {
        let cache = FeedCache::new(true, 8, None);
        let (recipient, follower, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let inbox = inbox_key(recipient);
        cache.keep_inbox(inbox, kept_inbox(&cache));
        // The feed of an account following the recipient is kept too.
        cache.keep(key(follower), kept(cache.now()));
        cache.stamp_inbox([other]);
        cache.stamp([other]);
        assert!(
            cache.inbox_kept(&inbox).is_some(),
            "another account's writes"
        );
        // A like of the recipient's post: its inbox, not its followers' feeds.
        cache.stamp_inbox([recipient]);
        assert!(cache.inbox_kept(&inbox).is_none(), "its inbox changed");
        assert!(
            served(&cache, &key(follower), &[follower, recipient]),
            "an inbox write retires no feed"
        );
        // A follow, block or mute by or of the recipient retires it too.
        cache.keep_inbox(inbox, kept_inbox(&cache));
        cache.stamp([recipient]);
        assert!(cache.inbox_kept(&inbox).is_none(), "its follows changed");
    }

    #[test]
    fn a_change_to_every_inbox_retires_inbox_pages_only() {
        let cache = FeedCache::new(true, 8, None);
        let recipient = Uuid::now_v7();
        let inbox = inbox_key(recipient);
        let old = kept_inbox(&cache);
        cache.keep_inbox(inbox, Arc::clone(&old));
        cache.keep(key(recipient), kept(cache.now()));
        cache.stamp_inbox_all();
        assert!(cache.inbox_kept(&inbox).is_none());
        assert!(served(&cache, &key(recipient), &[recipient]));
        // Even one kept again with the old counter.
        cache.keep_inbox(inbox, old);
        assert!(cache.inbox_kept(&inbox).is_none());
        // A change to every page retires inbox pages too.
        cache.keep_inbox(inbox, kept_inbox(&cache));
        cache.stamp_all();
        assert!(cache.inbox_kept(&inbox).is_none());
    }

    #[test]
    fn off_keeps_nothing() {
        let cache = FeedCache::new(false, 8, None);
        let viewer = Uuid::now_v7();
        cache.keep(key(viewer), kept(cache.now()));
        assert!(!served(&cache, &key(viewer), &[viewer]));
        cache.keep_inbox(inbox_key(viewer), kept_inbox(&cache));
        assert!(cache.inbox_kept(&inbox_key(viewer)).is_none());
        assert!(!cache.keeps(FeedCursor::snapshot_now()));
    }

    #[test]
    fn old_feeds_are_not_kept() {
        let cache = FeedCache::new(true, 8, None);
        assert!(cache.keeps(FeedCursor::snapshot_now()));
        let old = chrono::Utc::now() - chrono::TimeDelta::minutes(31);
        let ts =
            uuid::Timestamp::from_unix(uuid::NoContext, u64::try_from(old.timestamp()).unwrap(), 0);
        assert!(!cache.keeps(Uuid::new_v7(ts)));
    }

    fn keys(keys: &[Uuid]) -> Latest {
        Latest::of(keys.to_vec(), KEPT_KEYS)
    }

    #[test]
    fn an_accounts_keys_read_are_its_newest_few_and_whether_there_are_more() {
        let ids: Vec<Uuid> = (0..=KEPT_KEYS).map(|_| Uuid::now_v7()).collect();
        let all = Latest::of(ids.clone(), KEPT_KEYS);
        assert!(all.more);
        assert_eq!(all.keys, ids[1..].iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(all.newest(), ids.last().copied());
        let few = Latest::of(ids[..KEPT_KEYS].to_vec(), KEPT_KEYS);
        assert!(!few.more);
        assert_eq!(few.keys.len(), KEPT_KEYS);
        assert_eq!(Latest::of(Vec::new(), KEPT_KEYS).newest(), None);
        assert_eq!(all.oldest(), Some(ids[1]));
    }

    #[test]
    fn newest_entry_keys_hold_until_their_account_writes_other_than_a_post() {
        let cache = FeedCache::new(true, 8, None);
        let (author, quiet, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let top = Uuid::now_v7();
        let (known, unknown) = cache.newest_entries(&[author, quiet]);
        assert!(known.is_empty());
        assert_eq!(unknown, [author, quiet], "nothing read yet");
        let read_at = cache.now();
        cache.keep_newest(read_at, &[(author, keys(&[top])), (quiet, keys(&[]))]);
        cache.stamp([other]);
        let (known, unknown) = cache.newest_entries(&[author, quiet]);
        assert_eq!(
            known,
            [(author, keys(&[top])), (quiet, keys(&[]))],
            "another's write"
        );
        assert!(unknown.is_empty());

        // A post is taken in: the keys move up to it.
        let post = Uuid::now_v7();
        cache.stamp_post(author, post);
        assert_eq!(
            cache.newest_entries(&[author]).0,
            [(author, keys(&[post, top]))]
        );
        // Any other write (a repost, say) makes it unknown until read again.
        cache.stamp([author]);
        assert_eq!(cache.newest_entries(&[author]).1, [author]);
        // A write between the counter and the keep: not served.
        let read_at = cache.now();
        cache.stamp([quiet]);
        cache.keep_newest(read_at, &[(quiet, keys(&[]))]);
        assert_eq!(cache.newest_entries(&[quiet]).1, [quiet]);
        // Posts taken in beyond the keys read: all kept.
        let read_at = cache.now();
        cache.keep_newest(read_at, &[(author, keys(&[post]))]);
        let posts: Vec<Uuid> = (0..KEPT_KEYS).map(|_| Uuid::now_v7()).collect();
        for &p in &posts {
            cache.stamp_post(author, p);
        }
        let (known, _) = cache.newest_entries(&[author]);
        let mut newest: Vec<Uuid> = posts.iter().rev().copied().collect();
        newest.push(post);
        assert_eq!(
            known,
            [(
                author,
                Latest {
                    keys: newest,
                    more: false
                }
            )]
        );
        // More posts than a stamp keeps: unknown.
        let read_at = cache.now();
        cache.keep_newest(read_at, &[(author, keys(&[post]))]);
        for _ in 0..=ADDED_KEPT {
            cache.stamp_post(author, Uuid::now_v7());
        }
        assert_eq!(cache.newest_entries(&[author]).1, [author]);
        // A change to all: unknown, even kept again with an older counter.
        let read_at = cache.now();
        cache.keep_newest(read_at, &[(quiet, keys(&[]))]);
        cache.stamp_all();
        assert_eq!(cache.newest_entries(&[quiet]).1, [quiet]);
        cache.keep_newest(read_at, &[(quiet, keys(&[]))]);
        assert_eq!(cache.newest_entries(&[quiet]).1, [quiet]);
        // Off: nothing known.
        let off = FeedCache::new(false, 8, None);
        off.keep_newest(off.now(), &[(quiet, keys(&[]))]);
        assert_eq!(off.newest_entries(&[quiet]).1, [quiet]);
    }

    #[test]
    fn a_full_map_of_keys_refreshes_those_it_holds_and_takes_no_more() {
        // 1 MiB: an eighth at 144 bytes an account with one key, 910.
        let cache = FeedCache::new(true, 1, None);
        let key = Uuid::now_v7();
        let held: Vec<(Uuid, Latest)> = (0..910).map(|_| (Uuid::now_v7(), keys(&[key]))).collect();
        cache.keep_newest(cache.now(), &held);
        let (a, b) = (held[0].0, held[909].0);
        cache.stamp([a, b]);
        let newcomer = Uuid::now_v7();
        // Read again after the stamps, with one account more than fits.
        cache.keep_newest(
            cache.now(),
            &[
                (a, keys(&[key])),
                (newcomer, keys(&[key])),
                (b, keys(&[key])),
            ],
        );
        let (known, unknown) = cache.newest_entries(&[a, newcomer, b]);
        assert_eq!(known, [(a, keys(&[key])), (b, keys(&[key]))]);
        assert_eq!(unknown, [newcomer], "no room: read again when next needed");
        let held_now = cache
            .newest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .len();
        assert_eq!(held_now, 910);
        // Keys that outgrow the room left: those kept stay.
        let many: Vec<Uuid> = (0..8).map(|_| Uuid::now_v7()).collect();
        cache.keep_newest(cache.now(), &[(a, Latest::of(many, 8))]);
        assert_eq!(cache.newest_entries(&[a]).0, [(a, keys(&[key]))]);
        // A change to every page frees the room.
        cache.stamp_all();
        cache.keep_newest(cache.now(), &[(newcomer, keys(&[key]))]);
        assert_eq!(cache.newest_entries(&[newcomer]).0.len(), 1);
    }
}
