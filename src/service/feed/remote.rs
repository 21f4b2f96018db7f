//! The feed cache's stamps shared between instances through Redis
//! (`REDIS_URL`), so that each instance's kept pages answer as the
//! database does, whichever instance wrote.
//!
//! A write, after its commit and before its answer, runs one script on
//! Redis that takes the next number of a shared counter and publishes it
//! with the stamped accounts, in that order for every writer (a script
//! runs alone). Every instance is subscribed and stamps what it receives
//! locally, in order. Before a page is served from memory, the reader
//! reads the shared counter and waits until it has applied every message
//! up to it: so every write that had answered before the read began is
//! stamped here too, exactly as on one instance.
//!
//! Whenever that cannot be known (not subscribed yet, the subscription
//! lost, a number skipped, Redis slow to answer), pages are read from the
//! database and not kept, and every kept page is dropped: the cache is
//! only ever bypassed, never trusted blind. A write that could not be
//! published is published as "everything changed" once Redis is back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use super::cache::{FeedCache, Stamped};
use crate::state::AppState;

const CHANNEL: &str = "sns-api:feed";
const COUNTER: &str = "sns-api:feed:counter";

/// Takes the next number and publishes it with the payload, atomically.
const PUBLISH: &str = "local n = redis.call('INCR', KEYS[1]) \
     redis.call('PUBLISH', ARGV[1], n .. ' ' .. ARGV[2]) return n";

/// What "every page changed" is published as.
const ALL: &str = "*";

/// What a post's payload starts with (`+AUTHOR,POST`).
const POSTED: &str = "+";

/// What an inbox write's payload starts with (`!ID,ID…`, or `!*`: every inbox).
const INBOX: &str = "!";

/// How long a read waits for Redis (the counter, or the messages up to
/// it) before it reads the page from the database instead.
const READ_WAIT: Duration = Duration::from_millis(100);

/// How long a write waits for its publication.
const WRITE_WAIT: Duration = Duration::from_secs(1);

pub struct Remote {
    client: redis::Client,
    /// This instance's command connection's name in `CLIENT LIST`.
    name: String,
    conn: RwLock<Option<MultiplexedConnection>>,
    /// The number of the last message applied here.
    applied: AtomicU64,
    /// The counter when this subscription began: messages at or below it
    /// were published before, and are in the database already.
    baseline: AtomicU64,
    /// The latest clock (Unix ms) of a writer, from the messages applied.
    newest_clock: AtomicU64,
    /// Subscribed, and every message since applied in order.
    in_sync: AtomicBool,
    /// A write of this instance could not be published.
    owes_all: AtomicBool,
    moved: tokio::sync::Notify,
    /// Asks the subscription to start again (a command failed).
    restart: tokio::sync::Notify,
}

impl Remote {
    pub fn new(client: redis::Client) -> Arc<Self> {
        Arc::new(Self {
            client,
            name: format!("sns-api-feed-{}", Uuid::now_v7().simple()),
            conn: RwLock::new(None),
            applied: AtomicU64::new(0),
            baseline: AtomicU64::new(0),
            newest_clock: AtomicU64::new(0),
            in_sync: AtomicBool::new(false),
            owes_all: AtomicBool::new(false),
            moved: tokio::sync::Notify::new(),
            restart: tokio::sync::Notify::new(),
        })
    }

    /// The name this instance's command connection has in `CLIENT LIST`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn conn(&self) -> Option<MultiplexedConnection> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a first page with this snapshot holds every entry written
    /// by the instances heard from (whose clocks may run ahead of ours).
    pub fn before(&self, snapshot: Uuid) -> bool {
        let snapshot_ms = super::bind::instant_of(snapshot).timestamp_millis();
        self.newest_clock.load(Ordering::SeqCst) <= u64::try_from(snapshot_ms).unwrap_or(0)
    }

    /// Whether every write that answered before now is stamped here
    /// (waiting up to [`READ_WAIT`] for it).
    pub async fn caught_up(&self) -> bool {
        let bypassed = || {
            metrics::counter!("feed_cache_total", "outcome" => "bypassed").increment(1);
            false
        };
        let Some(mut conn) = self.conn().filter(|_| self.in_sync.load(Ordering::SeqCst)) else {
            return bypassed();
        };
        let deadline = tokio::time::Instant::now() + READ_WAIT;
        let mut get = redis::cmd("GET");
        get.arg(COUNTER);
        let read = tokio::time::timeout_at(deadline, get.query_async::<Option<u64>>(&mut conn));
        let counter = match read.await {
            Ok(Ok(counter)) => counter.unwrap_or(0),
            Ok(Err(_)) => {
                self.failed();
                return bypassed();
            }
            Err(_) => return bypassed(),
        };
        if counter < self.applied.load(Ordering::SeqCst) {
            // The counter went back (flushed, evicted, another server):
            // numbers will repeat, so start again.
            self.failed();
            return bypassed();
        }
        loop {
            let moved = self.moved.notified();
            if !self.in_sync.load(Ordering::SeqCst) {
                return bypassed();
            }
            if self.applied.load(Ordering::SeqCst) >= counter {
                return true;
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return bypassed();
            }
        }
    }

    /// Publishes a committed post (see `FeedCache::posted`).
    pub async fn publish_post(self: &Arc<Self>, author: Uuid, post: Uuid) {
        self.send_owed(format!("{POSTED}{author},{post}")).await;
    }

    /// Publishes a committed write's stamps (`None`: every page, or every
    /// inbox).
    pub async fn publish(self: &Arc<Self>, of: Stamped, ids: Option<Vec<Uuid>>) {
        let prefix = match of {
            Stamped::Entries => "",
            Stamped::Inbox => INBOX,
        };
        let ids = ids.map_or_else(
            || ALL.to_owned(),
            |ids| {
                ids.iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
        self.send_owed(format!("{prefix}{ids}")).await;
    }

    /// Sends a payload on a task of its own (a request cut off meanwhile
    /// does not cut it off), owing "every page" until it is sent.
    async fn send_owed(self: &Arc<Self>, payload: String) {
        let remote = self.clone();
        let sent = tokio::spawn(async move {
            // Owed until sent: paid by the next subscription if not.
            remote.owes_all.store(true, Ordering::SeqCst);
            if remote.send(&payload).await {
                remote.owes_all.store(false, Ordering::SeqCst);
            } else {
                metrics::counter!("feed_cache_publish_failures_total").increment(1);
                remote.failed();
            }
        });
        let _ = sent.await;
    }

    async fn send(&self, payload: &str) -> bool {
        let Some(mut conn) = self.conn() else {
            return false;
        };
        let clock = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let mut script = redis::cmd("EVAL");
        script
            .arg(PUBLISH)
            .arg(1)
            .arg(COUNTER)
            .arg(CHANNEL)
            .arg(format!("{clock} {payload}"));
        matches!(
            tokio::time::timeout(WRITE_WAIT, script.query_async::<u64>(&mut conn)).await,
            Ok(Ok(_))
        )
    }

    /// A command failed: stop trusting the cache and subscribe again
    /// (the connection does not come back by itself).
    fn failed(&self) {
        self.in_sync.store(false, Ordering::SeqCst);
        self.moved.notify_waiters();
        self.restart.notify_one();
    }

    /// Applies one message: `NUMBER CLOCK PAYLOAD`.
    fn apply(&self, cache: &FeedCache, message: &str) {
        let mut parts = message.splitn(3, ' ');
        let number = parts.next().and_then(|n| n.parse::<u64>().ok());
        let clock = parts.next().and_then(|c| c.parse::<u64>().ok());
        let payload = parts.next().unwrap_or(ALL);
        let (Some(number), Some(clock)) = (number, clock) else {
            cache.stamp_all();
            return;
        };
        if number <= self.baseline.load(Ordering::SeqCst) {
            // Published before this subscription began: in the database
            // before every page kept since.
            return;
        }
        self.newest_clock.fetch_max(clock, Ordering::SeqCst);
        let applied = self.applied.load(Ordering::SeqCst);
        let (kind, body) = if let Some(body) = payload.strip_prefix(POSTED) {
            (Some(POSTED), body)
        } else if let Some(body) = payload.strip_prefix(INBOX) {
            (Some(INBOX), body)
        } else {
            (None, payload)
        };
        // A number skipped or repeated: every page changed.
        let in_order = number == applied + 1;
        let ids: Option<Vec<Uuid>> = if in_order && body != ALL {
            body.split(',').map(|id| Uuid::parse_str(id).ok()).collect()
        } else {
            None
        };
        match (kind, ids.as_deref()) {
            (Some(POSTED), Some(&[author, post])) => cache.stamp_post(author, post),
            (Some(INBOX), Some(ids)) => cache.stamp_inbox(ids.iter().copied()),
            (Some(INBOX), None) if in_order && body == ALL => cache.stamp_inbox_all(),
            (None, Some(ids)) => cache.stamp(ids.iter().copied()),
            _ => cache.stamp_all(),
        }
        self.applied.store(number, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Stops trusting the cache until subscribed again.
    fn lost(&self, cache: &FeedCache) {
        self.in_sync.store(false, Ordering::SeqCst);
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = None;
        cache.stamp_all();
        self.moved.notify_waiters();
    }
}

/// Keeps this instance subscribed to the other instances' stamps, for as
/// long as the server runs (nothing to do without `REDIS_URL`).
pub async fn run(state: AppState) {
    let cache = state.feed_cache();
    let Some(remote) = cache.remote() else {
        return;
    };
    let mut wait = Duration::from_millis(100);
    while !state.is_shutting_down() {
        let began = tokio::time::Instant::now();
        match subscribe(cache, &remote).await {
            Ok(why) => tracing::warn!(why, "feed cache: subscribing to Redis again"),
            // The kind only: the message may quote the URL.
            Err(e) => tracing::warn!(kind = ?e.kind(), "feed cache: Redis unreachable"),
        }
        remote.lost(cache);
        if began.elapsed() > Duration::from_secs(10) {
            wait = Duration::from_millis(100);
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// How often a subscription checks that its messages keep up with the
/// counter, and how long they may lag before it starts again (a
/// connection that went silent).
const WATCH_EVERY: Duration = Duration::from_secs(1);
const LAG_LIMIT: Duration = Duration::from_secs(3);

/// One subscription, until it ends or must start again (answers why).
async fn subscribe(cache: &FeedCache, remote: &Remote) -> redis::RedisResult<&'static str> {
    let connect = Duration::from_secs(5);
    let timed_out = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let mut pubsub = tokio::time::timeout(connect, remote.client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    pubsub.subscribe(CHANNEL).await?;
    let mut conn = tokio::time::timeout(connect, remote.client.get_multiplexed_async_connection())
        .await
        .map_err(|_| timed_out())??;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(&remote.name)
        .query_async::<()>(&mut conn)
        .await?;
    let counter = get_counter(&mut conn).await?;
    *remote.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
    // What was published before is in the database; nothing kept before
    // this moment is trusted.
    remote.baseline.store(counter, Ordering::SeqCst);
    remote.applied.store(counter, Ordering::SeqCst);
    cache.stamp_all();
    if remote.owes_all.load(Ordering::SeqCst) {
        if !remote.send(ALL).await {
            return Ok("a write's stamps could not be published");
        }
        remote.owes_all.store(false, Ordering::SeqCst);
    }
    remote.in_sync.store(true, Ordering::SeqCst);
    remote.moved.notify_waiters();
    tracing::info!("feed cache: sharing stamps through Redis");
    let mut messages = pubsub.on_message();
    let mut watch = tokio::time::interval(WATCH_EVERY);
    let mut lagging: Option<(u64, tokio::time::Instant)> = None;
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return Ok("the subscription ended");
                };
                let payload: String = message.get_payload()?;
                remote.apply(cache, &payload);
            }
            () = remote.restart.notified() => return Ok("a command failed"),
            _ = watch.tick() => {
                let counter = get_counter(&mut conn).await?;
                let applied = remote.applied.load(Ordering::SeqCst);
                if counter < applied {
                    return Ok("the counter went back");
                }
                lagging = match lagging {
                    _ if counter <= applied => None,
                    Some((at, since)) if at == applied => {
                        if since.elapsed() > LAG_LIMIT {
                            return Ok("messages stopped arriving");
                        }
                        Some((at, since))
                    }
                    _ => Some((applied, tokio::time::Instant::now())),
                };
            }
        }
    }
}

async fn get_counter(conn: &mut MultiplexedConnection) -> redis::RedisResult<u64> {
    let mut get = redis::cmd("GET");
    get.arg(COUNTER);
    let counter = tokio::time::timeout(WRITE_WAIT, get.query_async::<Option<u64>>(conn))
        .await
        .map_err(|_| {
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
        })??;
    Ok(counter.unwrap_or(0))
}
