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

use super::cache::FeedCache;
use crate::state::AppState;

const CHANNEL: &str = "sns-api:feed";
const COUNTER: &str = "sns-api:feed:counter";

/// Takes the next number and publishes it with the payload, atomically.
const PUBLISH: &str = "local n = redis.call('INCR', KEYS[1]) \
     redis.call('PUBLISH', ARGV[1], n .. ' ' .. ARGV[2]) return n";

/// What "every page changed" is published as.
const ALL: &str = "*";

/// How long a read waits for Redis (the counter, or the messages up to
/// it) before it reads the page from the database instead.
const READ_WAIT: Duration = Duration::from_millis(100);

/// How long a write waits for its publication.
const WRITE_WAIT: Duration = Duration::from_secs(1);

pub struct Remote {
    client: redis::Client,
    conn: RwLock<Option<MultiplexedConnection>>,
    /// The number of the last message applied here.
    applied: AtomicU64,
    /// Subscribed, and every message since applied in order.
    in_sync: AtomicBool,
    /// A write of this instance could not be published.
    owes_all: AtomicBool,
    moved: tokio::sync::Notify,
}

impl Remote {
    pub fn new(client: redis::Client) -> Arc<Self> {
        Arc::new(Self {
            client,
            conn: RwLock::new(None),
            applied: AtomicU64::new(0),
            in_sync: AtomicBool::new(false),
            owes_all: AtomicBool::new(false),
            moved: tokio::sync::Notify::new(),
        })
    }

    fn conn(&self) -> Option<MultiplexedConnection> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether every write that answered before now is stamped here
    /// (waiting up to [`READ_WAIT`] for it).
    pub async fn caught_up(&self) -> bool {
        if !self.in_sync.load(Ordering::SeqCst) {
            return false;
        }
        let Some(mut conn) = self.conn() else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + READ_WAIT;
        let mut get = redis::cmd("GET");
        get.arg(COUNTER);
        let read = tokio::time::timeout_at(deadline, get.query_async::<Option<u64>>(&mut conn));
        let Ok(Ok(counter)) = read.await else {
            metrics::counter!("feed_cache_total", "outcome" => "bypassed").increment(1);
            return false;
        };
        let counter = counter.unwrap_or(0);
        loop {
            let moved = self.moved.notified();
            if self.applied.load(Ordering::SeqCst) >= counter {
                return self.in_sync.load(Ordering::SeqCst);
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                metrics::counter!("feed_cache_total", "outcome" => "bypassed").increment(1);
                return false;
            }
        }
    }

    /// Publishes a committed write's stamps (`None`: every page).
    pub async fn publish(&self, ids: Option<&[Uuid]>) {
        let payload = ids.map_or_else(
            || ALL.to_owned(),
            |ids| {
                ids.iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
        if !self.send(&payload).await {
            self.owes_all.store(true, Ordering::SeqCst);
            metrics::counter!("feed_cache_publish_failures_total").increment(1);
        }
    }

    async fn send(&self, payload: &str) -> bool {
        let Some(mut conn) = self.conn() else {
            return false;
        };
        let mut script = redis::cmd("EVAL");
        script
            .arg(PUBLISH)
            .arg(1)
            .arg(COUNTER)
            .arg(CHANNEL)
            .arg(payload);
        matches!(
            tokio::time::timeout(WRITE_WAIT, script.query_async::<u64>(&mut conn)).await,
            Ok(Ok(_))
        )
    }

    /// Applies one message: `NUMBER PAYLOAD`.
    fn apply(&self, cache: &FeedCache, message: &str) {
        let (number, payload) = message.split_once(' ').unwrap_or((message, ALL));
        let Ok(number) = number.parse::<u64>() else {
            cache.stamp_all();
            return;
        };
        let applied = self.applied.load(Ordering::SeqCst);
        if number <= applied {
            // Published before this subscription began: in the database
            // before every page kept since.
            return;
        }
        let ids: Option<Vec<Uuid>> = if number == applied + 1 && payload != ALL {
            payload
                .split(',')
                .map(|id| Uuid::parse_str(id).ok())
                .collect()
        } else {
            // A number skipped, or every page changed.
            None
        };
        match ids {
            Some(ids) => cache.stamp(ids),
            None => cache.stamp_all(),
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
        match subscribe(cache, &remote).await {
            Ok(()) => tracing::warn!("feed cache: the Redis subscription ended"),
            // The kind only: the message may quote the URL.
            Err(e) => tracing::warn!(kind = ?e.kind(), "feed cache: Redis unreachable"),
        }
        remote.lost(cache);
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe(cache: &FeedCache, remote: &Remote) -> redis::RedisResult<()> {
    let mut pubsub = remote.client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    let mut conn = remote.client.get_multiplexed_async_connection().await?;
    let counter: Option<u64> = redis::cmd("GET")
        .arg(COUNTER)
        .query_async(&mut conn)
        .await?;
    *remote.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(conn);
    // What was published before is in the database; nothing kept before
    // this moment is trusted.
    remote.applied.store(counter.unwrap_or(0), Ordering::SeqCst);
    cache.stamp_all();
    remote.in_sync.store(true, Ordering::SeqCst);
    remote.moved.notify_waiters();
    tracing::info!("feed cache: sharing stamps through Redis");
    if remote.owes_all.swap(false, Ordering::SeqCst) && !remote.send(ALL).await {
        remote.owes_all.store(true, Ordering::SeqCst);
    }
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload: String = message.get_payload()?;
        remote.apply(cache, &payload);
    }
    Ok(())
}
