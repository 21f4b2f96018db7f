//! The social graph at scale, for the feed benchmark (benches/feed.sh), and
//! the benchmark's own HTTP clients.
//!
//! `seed` writes accounts, profiles, follows, posts (a tenth of them
//! replies), reposts and likes straight into the database `DATABASE_URL`
//! names (after migrating it), with every count exact; then blocks, mutes
//! and locked profiles (benches/shared/safety.rs, over that graph); then the
//! accounts of the viewer shapes the benchmark prices beside the typical
//! viewer (see `seed_shapes`). `explain` prints the plans of the very
//! statements the server runs for a feed page
//! (`service::feed::feed_statements`), for page 1, page 3 and a sparse feed
//! (the viewer following one account, rolled back after). `unpost` deletes
//! what the celebrity posted in earlier runs: each run's feed is the seed's.
//!
//! Against a running server (`URL`, http://127.0.0.1:18082/graphql unless
//! set): `setup` signs the viewers of every shape in and writes, a file a
//! shape and page, a line a viewer of its token and the request of that
//! page (cursors found by paging), and times `register`; `load` sends one
//! such file's requests at a fixed rate, open loop; `poster` posts as the
//! celebrity at a fixed interval and checks that followers see its posts.
//!
//!   DATABASE_URL=sqlite:///tmp/feed.db?mode=rwc cargo bench --bench feed -- seed
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/feed cargo bench --bench feed -- explain
//!   DATABASE_URL=… cargo bench --bench feed -- unpost
//!   cargo bench --bench feed -- setup out=DIR [viewers=50] [back=400] [reposted_by=1]
//!   cargo bench --bench feed -- load file=DIR/typical-1 rate=1000 (duration=10 | count=N)
//!   cargo bench --bench feed -- poster dir=DIR stop=FILE [every_ms=200] [check_every=5]
//!   cargo test --bench feed      # quick: a temporary SQLite file, seed, check, explain
//!
//! Full size (under `cargo bench`): 10,000 accounts, each following 200
//! others, and 1,000,000 posts over the last 30 days; SEED_ACCOUNTS,
//! SEED_FOLLOWS and SEED_POSTS change them. Among the posts' moments come
//! reposts, one for every 9 posts (a tenth of the entries of a feed), each
//! of one of the 5,000 posts before it, a twentieth of them undone within
//! the last half hour (kept for feeds being paged); and a like for every
//! other post. Account N signs in as
//! bench-N@example.com with the password `correct-horse-battery` (one
//! Argon2id hash, computed once before the runtime starts, shared by all).
//! Post and follow ids are UUIDv7 built from their `created_at`, so the two
//! orders agree. The graph is one transaction, the safety rows a second and
//! the shapes a third: a failed seed leaves a database to drop, not reuse.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use argon2::password_hash::{PasswordHasher as _, SaltString};
use chrono::{DateTime, SubsecRound as _, Utc};
use futures_util::StreamExt as _;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::sqlite::SqliteSynchronous;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
    TransactionTrait,
};
use serde_json::{Value, json};
use sns_api::entity::{follow, post, post_like, profile, repost, user};
use sns_api::service::page::{FeedCursor, FeedRequest};
use uuid::Uuid;

#[path = "shared/safety.rs"]
mod safety;

/// The password of every seeded account.
pub const PASSWORD: &str = "correct-horse-battery";
/// Rows per INSERT: within every backend's limit on bound values (12 columns).
const BATCH: usize = 1000;
/// The same graph at every run.
const RNG_SEED: u64 = 15;

struct Sizes {
    accounts: usize,
    follows: usize,
    posts: usize,
    /// Followers of the celebrity: every seeded account, and light accounts
    /// (no posts, following only it) for the rest.
    celebrity_followers: usize,
    /// Accounts each "heavy" viewer follows.
    heavy_follows: usize,
}

/// Viewers following `heavy_follows` accounts each.
const HEAVY_VIEWERS: usize = 10;
/// Viewers following only the quiet account.
const QUIET_VIEWERS: usize = 10;
/// The quiet account's posts over the 30 days (page 3 exists).
const QUIET_POSTS: usize = 100;

impl Sizes {
    fn from_env(full: bool) -> anyhow::Result<Self> {
        let get = |name: &str, full_size: usize, quick: usize| -> anyhow::Result<usize> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .with_context(|| format!("{name}={v:?} is not a count")),
                Err(_) => Ok(if full { full_size } else { quick }),
            }
        };
        let sizes = Self {
            accounts: get("SEED_ACCOUNTS", 10_000, 300)?,
            follows: get("SEED_FOLLOWS", 200, 20)?,
            posts: get("SEED_POSTS", 1_000_000, 6_000)?,
            celebrity_followers: get("SEED_CELEBRITY_FOLLOWERS", 50_000, 1_000)?,
            heavy_follows: get("SEED_HEAVY_FOLLOWS", 5_000, 200)?,
        };
        ensure!(
            sizes.accounts >= 2 && sizes.follows < sizes.accounts,
            "SEED_FOLLOWS must be below SEED_ACCOUNTS (no one follows itself), and 2 accounts at least"
        );
        ensure!(
            sizes.celebrity_followers >= sizes.accounts,
            "SEED_CELEBRITY_FOLLOWERS must be SEED_ACCOUNTS at least (every seeded account follows the celebrity)"
        );
        ensure!(
            sizes.heavy_follows <= sizes.accounts,
            "SEED_HEAVY_FOLLOWS must be SEED_ACCOUNTS at most"
        );
        Ok(sizes)
    }
}

/// `key=value` arguments after the mode.
fn options(args: &[String]) -> HashMap<&str, &str> {
    args.iter().filter_map(|a| a.split_once('=')).collect()
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --bench feed` does not: quick.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let mode = args
        .iter()
        .find(|a| !a.starts_with('-') && !a.contains('='))
        .map(String::as_str);
    let opts = options(&args);
    let sizes = Sizes::from_env(full)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let database_url = || std::env::var("DATABASE_URL").context("set DATABASE_URL");
    let server_url =
        std::env::var("URL").unwrap_or_else(|_| "http://127.0.0.1:18082/graphql".to_owned());
    match mode {
        Some("seed") => {
            let url = database_url()?;
            // Argon2 before the runtime runs anything: never on its threads.
            let hash = password_hash()?;
            runtime.block_on(seed(&url, &sizes, &hash))
        }
        Some("explain") => runtime.block_on(explain(&database_url()?)),
        Some("unpost") => runtime.block_on(unpost(&database_url()?)),
        Some("setup") => runtime.block_on(client::setup(&server_url, &sizes, &opts)),
        Some("load") => runtime.block_on(client::load(&server_url, &opts)),
        Some("poster") => runtime.block_on(client::poster(&server_url, &opts)),
        Some(other) => {
            bail!("unknown mode {other:?}: seed, explain, unpost, setup, load or poster")
        }
        None => {
            // The quick run (CI): all of it on a temporary SQLite file.
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("feed.db").display());
            let hash = password_hash()?;
            runtime.block_on(async {
                seed(&url, &sizes, &hash).await?;
                explain(&url).await
            })
        }
    }
}

/// An Argon2id PHC string of PASSWORD under the server's default parameters.
fn password_hash() -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// One connection, so that SQLite's seeding pragmas hold for the transaction.
async fn connect(url: &str, seeding: bool) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    // As the server's connections (src/db.rs): `explain` shows no JIT.
    options.map_sqlx_postgres_opts(|o| o.options([("jit", "off")]));
    if seeding {
        // Nothing to lose if the machine stops mid-seed: the seed starts over.
        options.map_sqlx_sqlite_opts(|o| {
            o.synchronous(SqliteSynchronous::Off)
                .pragma("cache_size", "-1048576")
                .foreign_keys(true)
        });
    }
    Ok(Database::connect(options).await?)
}

/// A UUIDv7 of the millisecond `ms`, random within it.
fn v7(rng: &mut StdRng, ms: i64) -> Uuid {
    let ms = u64::try_from(ms).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &rng.random()).into_uuid()
}

/// The instant of a millisecond, to the second as the server stores them.
fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .trunc_subsecs(0)
}

const DAY_MS: i64 = 86_400_000;

async fn seed(url: &str, sizes: &Sizes, hash: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = connect(url, true).await?;
    sns_api::db::migrate(&db).await.context("migrating")?;
    let existing = profile::Entity::find().count(&db).await?;
    ensure!(
        existing == 0,
        "the database already holds {existing} profiles: seed a fresh one"
    );
    let mut rng = StdRng::seed_from_u64(RNG_SEED);
    let now_ms = Utc::now().timestamp_millis();
    // Accounts made 60 to 31 days ago, follows 31 to 30 days ago, posts over
    // the last 30 days (to a minute ago); each kind in increasing time.
    let spread = |from_days: i64, to_days_ms: i64, i: usize, n: usize| {
        let (from, to) = (now_ms - from_days * DAY_MS, now_ms - to_days_ms);
        from + (to - from) * i as i64 / n.max(1) as i64
    };

    let accounts: Vec<Uuid> = (0..sizes.accounts)
        .map(|i| v7(&mut rng, spread(60, 31 * DAY_MS, i, sizes.accounts)))
        .collect();

    // Follows: `follows` distinct others each, in random order, in time
    // order one account after another (as when a new account follows
    // suggestions): the id and (follower, ...) indexes grow at their end,
    // which keeps the seed quick.
    let mut edges: Vec<(u32, u32)> = Vec::with_capacity(sizes.accounts * sizes.follows);
    for a in 0..sizes.accounts {
        for b in rand::seq::index::sample(&mut rng, sizes.accounts - 1, sizes.follows) {
            let b = if b >= a { b + 1 } else { b };
            edges.push((a as u32, b as u32));
        }
    }
    let n_edges = edges.len();
    let mut followers = vec![0i32; sizes.accounts];
    for &(_, b) in &edges {
        followers[b as usize] += 1;
    }

    // Posts: strictly increasing milliseconds (about 2.6 s apart at full
    // size), each by a random author; one in ten replies to one of the
    // 1,000 posts before it.
    let (first_post, last_post) = (now_ms - 30 * DAY_MS, now_ms - 60_000);
    let step = ((last_post - first_post) / sizes.posts.max(1) as i64).max(1);
    let authors: Vec<u32> = (0..sizes.posts)
        .map(|_| rng.random_range(0..sizes.accounts as u32))
        .collect();
    let mut posts_of = vec![0i32; sizes.accounts];
    for &a in &authors {
        posts_of[a as usize] += 1;
    }
    let post_ms: Vec<i64> = (0..sizes.posts)
        .map(|i| first_post + step * i as i64 + rng.random_range(0..(step / 2).max(1)))
        .collect();
    let post_ids: Vec<Uuid> = post_ms.iter().map(|&ms| v7(&mut rng, ms)).collect();
    let parents: Vec<Option<usize>> = (0..sizes.posts)
        .map(|i| {
            (i > 0 && rng.random_range(0..10) == 0)
                .then(|| i - 1 - rng.random_range(0..i.min(1000)))
        })
        .collect();
    let mut replies = vec![0i32; sizes.posts];
    for p in parents.iter().flatten() {
        replies[*p] += 1;
    }
    // Reposts and likes, each in the second half of a post's step (after
    // that post, so ids and moments agree), of one of the posts before.
    let mut reposted = std::collections::HashSet::new();
    let mut reposts = Vec::new(); // (id, post, account, removed at)
    let mut liked = std::collections::HashSet::new();
    let mut likes = Vec::new(); // (id, post, account)
    let (mut repost_counts, mut like_counts) = (vec![0i32; sizes.posts], vec![0i32; sizes.posts]);
    for (i, &at) in post_ms.iter().enumerate().skip(1) {
        let ms = at + step / 2 + rng.random_range(0..(step / 2).max(1));
        if rng.random_range(0..9) == 0 {
            let p = i - 1 - rng.random_range(0..i.min(5000));
            let a = rng.random_range(0..sizes.accounts as u32);
            if reposted.insert((p, a)) {
                let removed = (rng.random_range(0..20) == 0)
                    .then(|| instant(now_ms - rng.random_range(0..1_800_000)));
                if removed.is_none() {
                    repost_counts[p] += 1;
                }
                reposts.push((v7(&mut rng, ms), p, a, removed));
            }
        }
        if rng.random_range(0..2) == 0 {
            let p = i - 1 - rng.random_range(0..i.min(5000));
            let a = rng.random_range(0..sizes.accounts as u32);
            if liked.insert((p, a)) {
                like_counts[p] += 1;
                likes.push((v7(&mut rng, ms + 1), p, a));
            }
        }
    }

    let txn = db.begin().await?;
    let rows: Vec<NewAccount> = accounts
        .iter()
        .enumerate()
        .map(|(i, &id)| NewAccount {
            id,
            key: i.to_string(),
            at: instant(spread(60, 31 * DAY_MS, i, sizes.accounts)),
            posts: posts_of[i],
            followers: followers[i],
            following: sizes.follows as i32,
        })
        .collect();
    insert_accounts(&txn, &rows, hash).await?;
    let accounts_done = started.elapsed();

    for (n, chunk) in edges.chunks(BATCH).enumerate() {
        let mut rows = Vec::with_capacity(chunk.len());
        for (k, &(a, b)) in chunk.iter().enumerate() {
            let ms = spread(31, 30 * DAY_MS, n * BATCH + k, n_edges);
            rows.push(follow::ActiveModel {
                id: Set(v7(&mut rng, ms)),
                follower_id: Set(accounts[a as usize]),
                followee_id: Set(accounts[b as usize]),
                created_at: Set(instant(ms)),
            });
        }
        follow::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    let follows_done = started.elapsed();

    for (n, chunk) in authors.chunks(BATCH).enumerate() {
        let mut rows = Vec::with_capacity(chunk.len());
        for (k, &a) in chunk.iter().enumerate() {
            let i = n * BATCH + k;
            rows.push(post::ActiveModel {
                id: Set(post_ids[i]),
                author_id: Set(accounts[a as usize]),
                body: Set(body(&mut rng, i, a)),
                created_at: Set(instant(post_ms[i])),
                in_reply_to_id: Set(parents[i].map(|p| post_ids[p])),
                like_count: Set(like_counts[i]),
                repost_count: Set(repost_counts[i]),
                reply_count: Set(replies[i]),
            });
        }
        post::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    let posts_done = started.elapsed();
    let at = |id: Uuid| {
        let (secs, nanos) = id.get_timestamp().map_or((0, 0), |t| t.to_unix());
        instant(secs as i64 * 1000 + i64::from(nanos / 1_000_000))
    };
    for chunk in reposts.chunks(BATCH) {
        let rows = chunk
            .iter()
            .map(|&(id, p, a, removed)| repost::ActiveModel {
                id: Set(id),
                post_id: Set(post_ids[p]),
                user_id: Set(accounts[a as usize]),
                created_at: Set(at(id)),
                removed_at: Set(removed),
            });
        repost::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    for chunk in likes.chunks(BATCH) {
        let rows = chunk.iter().map(|&(id, p, a)| post_like::ActiveModel {
            id: Set(id),
            post_id: Set(post_ids[p]),
            user_id: Set(accounts[a as usize]),
            created_at: Set(at(id)),
        });
        post_like::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    let interactions_done = started.elapsed();

    // Blocks, mutes and locks over the graph as seeded so far (the shapes'
    // accounts stay out of them: their amounts are those of the graph).
    let (blocks, mutes, locked) = safety::set(&db, true, None).await?;
    let safety_done = started.elapsed();
    let shapes = seed_shapes(&db, sizes, hash, &mut rng, now_ms, &accounts, &followers).await?;
    let shapes_done = started.elapsed();

    if db.get_database_backend() == DbBackend::Postgres {
        // What autovacuum would do shortly after such a load: statistics for
        // the planner and the visibility map for index-only scans. (SQLite
        // gets nothing: the server never runs ANALYZE there either.)
        db.execute_unprepared("VACUUM ANALYZE").await?;
    }
    check(
        &db,
        (sizes.posts + shapes.posts) as u64,
        (n_edges + shapes.follows) as u64,
    )
    .await?;
    println!(
        "seeded {} accounts, {} follows, {} posts, {} reposts, {} likes, {blocks} blocks, \
         {mutes} mutes, {locked} locked profiles, and for the shapes {} accounts, {} follows, \
         {} posts on {:?} in {:.1} s (accounts {:.1} s, follows {:.1} s, posts {:.1} s, \
         reposts and likes {:.1} s, safety {:.1} s, shapes {:.1} s, vacuum and check {:.1} s)",
        sizes.accounts,
        n_edges,
        sizes.posts,
        reposts.len(),
        likes.len(),
        shapes.accounts,
        shapes.follows,
        shapes.posts,
        db.get_database_backend(),
        started.elapsed().as_secs_f64(),
        accounts_done.as_secs_f64(),
        (follows_done - accounts_done).as_secs_f64(),
        (posts_done - follows_done).as_secs_f64(),
        (interactions_done - posts_done).as_secs_f64(),
        (safety_done - interactions_done).as_secs_f64(),
        (shapes_done - safety_done).as_secs_f64(),
        (started.elapsed() - shapes_done).as_secs_f64(),
    );
    Ok(())
}

/// One account's user and profile rows: `key` names it
/// (`bench-{key}@example.com`, handle `bench_{key}` with `_` for `-`).
struct NewAccount {
    id: Uuid,
    key: String,
    at: DateTime<Utc>,
    posts: i32,
    followers: i32,
    following: i32,
}

async fn insert_accounts(
    txn: &impl ConnectionTrait,
    accounts: &[NewAccount],
    hash: &str,
) -> anyhow::Result<()> {
    for chunk in accounts.chunks(BATCH) {
        let rows = chunk.iter().map(|a| user::ActiveModel {
            id: Set(a.id),
            email: Set(format!("bench-{}@example.com", a.key)),
            password_hash: Set(hash.to_owned()),
            created_at: Set(a.at),
            updated_at: Set(a.at),
            email_verified: Set(true),
            disabled_at: Set(None),
        });
        user::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
        let rows = chunk.iter().map(|a| profile::ActiveModel {
            user_id: Set(a.id),
            handle: Set(format!("bench_{}", a.key.replace('-', "_"))),
            display_name: Set(Some(format!("Bench Account {}", a.key))),
            bio: Set(Some(format!("Seeded account number {}.", a.key))),
            post_count: Set(a.posts),
            follower_count: Set(a.followers),
            following_count: Set(a.following),
            locked: Set(false),
            avatar_id: Set(None),
            banner_id: Set(None),
            created_at: Set(a.at),
            updated_at: Set(a.at),
        });
        profile::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// What `seed_shapes` added.
struct Shapes {
    accounts: usize,
    follows: usize,
    posts: usize,
}

/// The accounts of the viewer shapes, in one transaction:
/// - `bench-heavy-J` (J < 10): each follows `heavy_follows` random seeded
///   accounts (5,000);
/// - `bench-quiet`: 100 posts over the 30 days, followed by
///   `bench-quiet-viewer-J` (J < 10), who follow no one else;
/// - `bench-celebrity`: no posts yet (it posts while the benchmark runs),
///   followed by every seeded account and by `bench-light-K` accounts (no
///   posts, following only it) up to `celebrity_followers` (50,000).
///
/// `followers` are the seeded accounts' follower counts as written.
async fn seed_shapes(
    db: &DatabaseConnection,
    sizes: &Sizes,
    hash: &str,
    rng: &mut StdRng,
    now_ms: i64,
    seeded: &[Uuid],
    followers: &[i32],
) -> anyhow::Result<Shapes> {
    let lights = sizes.celebrity_followers - seeded.len();
    // Made from 32 days ago, a tenth of a second apart; following from 30
    // days and an hour ago to 30 days ago (before every post); each kind in
    // increasing time.
    let mut made = 0;
    let mut account = |key: String, posts: usize, followers: usize, following: usize| {
        made += 1;
        let ms = now_ms - 32 * DAY_MS + made * 100;
        NewAccount {
            id: v7(rng, ms),
            key,
            at: instant(ms),
            posts: posts as i32,
            followers: followers as i32,
            following: following as i32,
        }
    };
    let celebrity = account("celebrity".into(), 0, sizes.celebrity_followers, 0);
    let quiet = account("quiet".into(), QUIET_POSTS, QUIET_VIEWERS, 0);
    let heavy: Vec<NewAccount> = (0..HEAVY_VIEWERS)
        .map(|j| account(format!("heavy-{j}"), 0, 0, sizes.heavy_follows))
        .collect();
    let quiet_viewers: Vec<NewAccount> = (0..QUIET_VIEWERS)
        .map(|j| account(format!("quiet-viewer-{j}"), 0, 0, 1))
        .collect();
    let light: Vec<NewAccount> = (0..lights)
        .map(|k| account(format!("light-{k}"), 0, 0, 1))
        .collect();

    // (follower, followee)
    let mut edges: Vec<(Uuid, Uuid)> = Vec::new();
    edges.extend(seeded.iter().map(|&a| (a, celebrity.id)));
    edges.extend(light.iter().map(|a| (a.id, celebrity.id)));
    let mut heavy_followers = vec![0i32; seeded.len()];
    for h in &heavy {
        for b in rand::seq::index::sample(rng, seeded.len(), sizes.heavy_follows) {
            heavy_followers[b] += 1;
            edges.push((h.id, seeded[b]));
        }
    }
    edges.extend(quiet_viewers.iter().map(|a| (a.id, quiet.id)));

    let (first_post, last_post) = (now_ms - 30 * DAY_MS, now_ms - 60_000);
    let step = (last_post - first_post) / QUIET_POSTS as i64;
    let quiet_posts: Vec<(Uuid, i64)> = (0..QUIET_POSTS)
        .map(|k| {
            let ms = first_post + step * k as i64 + rng.random_range(0..step / 2);
            (v7(rng, ms), ms)
        })
        .collect();

    let txn = db.begin().await?;
    let mut all = vec![celebrity, quiet];
    let quiet_id = all[1].id;
    all.extend(heavy);
    all.extend(quiet_viewers);
    all.extend(light);
    insert_accounts(&txn, &all, hash).await?;
    let n_edges = edges.len();
    for (n, chunk) in edges.chunks(BATCH).enumerate() {
        let mut rows = Vec::with_capacity(chunk.len());
        for (k, &(a, b)) in chunk.iter().enumerate() {
            let ms = now_ms - 30 * DAY_MS - 3_600_000
                + 3_600_000 * (n * BATCH + k) as i64 / n_edges as i64;
            rows.push(follow::ActiveModel {
                id: Set(v7(rng, ms)),
                follower_id: Set(a),
                followee_id: Set(b),
                created_at: Set(instant(ms)),
            });
        }
        follow::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    let rows: Vec<post::ActiveModel> = quiet_posts
        .iter()
        .enumerate()
        .map(|(k, &(id, ms))| {
            let mut text = body(rng, k, 0);
            text.replace_range(..text.find(':').unwrap_or(0), &format!("Quiet post {k}"));
            post::ActiveModel {
                id: Set(id),
                author_id: Set(quiet_id),
                body: Set(text),
                created_at: Set(instant(ms)),
                in_reply_to_id: Set(None),
                like_count: Set(0),
                repost_count: Set(0),
                reply_count: Set(0),
            }
        })
        .collect();
    post::Entity::insert_many(rows)
        .exec_without_returning(&txn)
        .await?;
    // The seeded accounts' counts: each follows the celebrity now, and some
    // are followed by the heavy viewers (one UPDATE per new count).
    let mut by_count: HashMap<i32, Vec<Uuid>> = HashMap::new();
    for (i, &id) in seeded.iter().enumerate() {
        by_count
            .entry(followers[i] + heavy_followers[i])
            .or_default()
            .push(id);
    }
    for (count, ids) in by_count {
        for chunk in ids.chunks(BATCH) {
            profile::Entity::update_many()
                .col_expr(profile::Column::FollowerCount, Expr::value(count))
                .col_expr(
                    profile::Column::FollowingCount,
                    Expr::value(sizes.follows as i32 + 1),
                )
                .filter(profile::Column::UserId.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(Shapes {
        accounts: all.len(),
        follows: n_edges,
        posts: QUIET_POSTS,
    })
}

/// A post's text: 40 to 200 characters of plain words.
fn body(rng: &mut StdRng, i: usize, author: u32) -> String {
    const WORDS: &[&str] = &[
        "the", "feed", "morning", "coffee", "river", "train", "garden", "music", "quiet", "city",
        "light", "rain", "weekend", "book", "walk", "tea", "window", "bridge", "market", "song",
    ];
    let mut text = format!("Post {i} by bench_{author}:");
    let len = rng.random_range(40..=200);
    while text.len() < len {
        text.push(' ');
        text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    text
}

/// The seeded rows and every profile's counts are as they must be.
async fn check(db: &DatabaseConnection, want_posts: u64, want_follows: u64) -> anyhow::Result<()> {
    let (posts, follows) = (
        post::Entity::find().count(db).await?,
        follow::Entity::find().count(db).await?,
    );
    ensure!(
        posts == want_posts,
        "{posts} posts seeded, not {want_posts}"
    );
    ensure!(
        follows == want_follows,
        "{follows} follows seeded, not {want_follows}"
    );
    // A profile whose stored count differs from its rows.
    let mismatches = |count: &str, table: &str, key: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM profile p WHERE p.{count} <> \
             (SELECT COUNT(*) FROM {table} x WHERE x.{key} = p.user_id)"
        )
    };
    for (count, table, key) in [
        ("post_count", "post", "author_id"),
        ("follower_count", "follow", "followee_id"),
        ("following_count", "follow", "follower_id"),
    ] {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                mismatches(count, table, key),
            ))
            .await?
            .context("a count answers one row")?;
        let wrong: i64 = row.try_get("", "n")?;
        ensure!(wrong == 0, "{wrong} profiles have a wrong {count}");
    }
    // A post whose stored count differs from its rows (live reposts only).
    for (count, table, key, live) in [
        ("reply_count", "post", "in_reply_to_id", ""),
        ("like_count", "post_like", "post_id", ""),
        (
            "repost_count",
            "repost",
            "post_id",
            " AND x.removed_at IS NULL",
        ),
    ] {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT COUNT(*) AS n FROM post p WHERE p.{count} <> \
                     (SELECT COUNT(*) FROM {table} x WHERE x.{key} = p.id{live})"
                ),
            ))
            .await?
            .context("a count answers one row")?;
        let wrong: i64 = row.try_get("", "n")?;
        ensure!(wrong == 0, "{wrong} posts have a wrong {count}");
    }
    // Ids in the order of their instants (to the second, as stored).
    let newest: Vec<post::Model> = post::Entity::find()
        .order_by_desc(post::Column::Id)
        .limit(1000)
        .all(db)
        .await?;
    ensure!(
        newest
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "post ids and created_at disagree"
    );
    Ok(())
}

/// The id of the seeded account signing in as `email`.
async fn seeded(email: &str, db: &DatabaseConnection) -> anyhow::Result<Uuid> {
    user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Email.eq(email))
        .into_tuple()
        .one(db)
        .await?
        .with_context(|| format!("no {email}: seed first"))
}

/// Deletes the celebrity's posts (with their likes, reposts and mentions,
/// by the foreign keys) and sets its count back to none. A kept database
/// otherwise gains 5 posts a second of every run, and after about 2,000
/// they fill the window of newest posts: the viewers that do not follow
/// the celebrity then read by author, and a later build would be priced on
/// another feed than an earlier one.
async fn unpost(url: &str) -> anyhow::Result<()> {
    let db = connect(url, false).await?;
    let celebrity = seeded("bench-celebrity@example.com", &db).await?;
    let txn = db.begin().await?;
    let gone = post::Entity::delete_many()
        .filter(post::Column::AuthorId.eq(celebrity))
        .exec(&txn)
        .await?
        .rows_affected;
    profile::Entity::update_many()
        .col_expr(profile::Column::PostCount, Expr::value(0))
        .filter(profile::Column::UserId.eq(celebrity))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    println!("unposted {gone} posts of the celebrity");
    Ok(())
}

/// The plan of the feed statement for the first seeded account's page 1 and
/// page 3 (after the last post of page 2), with the SQL as the server builds
/// it (placeholders, not values). On PostgreSQL the plan shown is for the
/// values bound; the server runs one plan for any values
/// (`service::feed`'s `GENERIC_PLANS`), which `EXPLAIN` here cannot show.
async fn explain(url: &str) -> anyhow::Result<()> {
    let db = connect(url, false).await?;
    let backend = db.get_database_backend();
    let viewer = seeded("bench-0@example.com", &db).await?;
    let snapshot = FeedCursor::snapshot_now();
    let page = |after: Option<Uuid>| FeedRequest {
        first: 20,
        after: after.map(|key| FeedCursor { key, snapshot }),
    };
    let feed = |req| sns_api::service::feed::feed_statements(backend, viewer, req, snapshot);
    // The 40th entry of the feed: page 3 starts after it. (The last
    // statement reads any feed whole.)
    let two_pages = db
        .query_all_raw(
            feed(FeedRequest {
                first: 39,
                after: None,
            })
            .pop()
            .context("no feed statement")?,
        )
        .await?;
    let after = match two_pages.last() {
        Some(row) => Some(row.try_get::<Uuid>("", "entry_id")?),
        None => None,
    };
    let prefix = prefix_for(backend);
    for (name, req) in [("page 1", page(None)), ("page 3", page(after))] {
        explain_page(&db, prefix, name, feed(req), req, name == "page 1").await?;
    }
    // A sparse feed, where a newest-first walk of every post is at its
    // worst: the same viewer following one account and with no posts of
    // its own, in a transaction rolled back afterwards.
    let txn = db.begin().await?;
    let kept: Option<Uuid> = follow::Entity::find()
        .select_only()
        .column(follow::Column::FolloweeId)
        .filter(follow::Column::FollowerId.eq(viewer))
        .order_by_asc(follow::Column::FolloweeId)
        .into_tuple()
        .one(&txn)
        .await?;
    follow::Entity::delete_many()
        .filter(follow::Column::FollowerId.eq(viewer))
        .filter(follow::Column::FolloweeId.ne(kept.context("the viewer follows no one")?))
        .exec(&txn)
        .await?;
    post::Entity::delete_many()
        .filter(post::Column::AuthorId.eq(viewer))
        .exec(&txn)
        .await?;
    let req = page(None);
    explain_page(
        &txn,
        prefix,
        "one account followed, page 1",
        feed(req),
        req,
        false,
    )
    .await?;
    txn.rollback().await?;
    Ok(())
}

/// How `backend` is asked for a plan (with its run time where it can).
fn prefix_for(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => "EXPLAIN QUERY PLAN",
        DbBackend::Postgres => "EXPLAIN (ANALYZE, BUFFERS)",
        _ => "EXPLAIN",
    }
}

/// Each statement of one page (also those the server skips after a full
/// page): its rows, then its plan.
async fn explain_page(
    db: &impl ConnectionTrait,
    prefix: &str,
    name: &str,
    statements: Vec<Statement>,
    req: FeedRequest,
    print_sql: bool,
) -> anyhow::Result<()> {
    let tried = statements.len();
    for (k, statement) in statements.into_iter().enumerate() {
        if print_sql {
            println!(
                "feed statement {} of {tried} ({:?}):\n  {}\n",
                k + 1,
                db.get_database_backend(),
                statement.sql
            );
        }
        // Once unmeasured, so the plan is of warm caches as under load.
        let rows = db.query_all_raw(statement.clone()).await?.len();
        let explained = Statement {
            sql: format!("{prefix} {}", statement.sql),
            ..statement
        };
        println!(
            "{prefix}, {name}, statement {} of {tried} ({rows} rows of {}):",
            k + 1,
            req.limit()
        );
        for line in plan_lines(db, explained).await? {
            println!("  {line}");
        }
        println!();
    }
    Ok(())
}

async fn plan_lines(
    db: &impl ConnectionTrait,
    explained: Statement,
) -> anyhow::Result<Vec<String>> {
    let rows = db.query_all_raw(explained).await?;
    if db.get_database_backend() != DbBackend::Sqlite {
        return rows
            .iter()
            .map(|r| Ok(r.try_get_by_index::<String>(0)?))
            .collect();
    }
    // SQLite: (id, parent, notused, detail) rows, a tree by parent.
    let mut depth: HashMap<i64, usize> = HashMap::new();
    let mut lines = Vec::new();
    for r in rows {
        let (id, parent): (i64, i64) = (r.try_get("", "id")?, r.try_get("", "parent")?);
        let detail: String = r.try_get("", "detail")?;
        let d = depth.get(&parent).map_or(0, |d| d + 1);
        depth.insert(id, d);
        lines.push(format!("{}{detail}", "  ".repeat(d)));
    }
    Ok(lines)
}

/// The benchmark's clients of a running server (`URL`): sign-ins and
/// cursors at setup, the open-loop load, the celebrity's posts.
mod client {
    use super::*;
    use axum::body::Bytes;

    /// A page or post that takes longer is counted bad.
    const TIMEOUT: Duration = Duration::from_secs(10);
    /// A sign-in at setup may queue behind others for the password hash.
    const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
    /// Sign-ins and paging at setup in parallel (the server hashes a
    /// password on each core).
    const PARALLEL: usize = 4;
    /// Registrations timed at setup, one at a time.
    const REGISTERS: usize = 20;

    fn http(timeout: Duration) -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .build()?)
    }

    /// One GraphQL request; its `data`, or an error naming what failed.
    async fn gql(
        http: &reqwest::Client,
        url: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut req = http
            .post(url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let answer: Value = req.send().await?.json().await?;
        if let Some(errors) = answer.get("errors") {
            bail!("{query}: {errors}");
        }
        Ok(answer["data"].clone())
    }

    /// The benchmark's page: 20 entries with their authors, the cursor and
    /// `pageInfo` (and `repostedBy`, for builds that have it).
    pub fn page_request(after: Option<&str>, reposted_by: bool) -> String {
        let edge = if reposted_by {
            "cursor repostedBy { handle displayName } "
        } else {
            "cursor "
        };
        let selection = format!(
            "edges {{ {edge}node {{ id body createdAt author {{ handle displayName viewerFollows }} }} }} \
             pageInfo {{ hasNextPage endCursor }}"
        );
        match after {
            None => json!({ "query": format!("{{ feed(first: 20) {{ {selection} }} }}") }),
            Some(cursor) => json!({
                "query": format!("query($after: String) {{ feed(first: 20, after: $after) {{ {selection} }} }}"),
                "variables": { "after": cursor },
            }),
        }
        .to_string()
    }

    async fn login(http: &reqwest::Client, url: &str, key: &str) -> anyhow::Result<String> {
        let data = gql(
            http,
            url,
            None,
            "mutation($i: LoginInput!) { login(input: $i) { accessToken errors { code } } }",
            json!({ "i": { "email": format!("bench-{key}@example.com"), "password": PASSWORD } }),
        )
        .await?;
        data["login"]["accessToken"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("bench-{key} cannot sign in: {}", data["login"]["errors"]))
    }

    /// The cursor after `pages` pages of 20 of `token`'s feed, paged as a
    /// client does; an error if the feed ends before the page after them.
    async fn cursor_after(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        pages: usize,
    ) -> anyhow::Result<String> {
        let mut after: Option<String> = None;
        for n in 0..pages {
            let data = gql(
                http,
                url,
                Some(token),
                "query($a: String) { feed(first: 20, after: $a) { pageInfo { hasNextPage endCursor } } }",
                json!({ "a": after }),
            )
            .await?;
            let info = &data["feed"]["pageInfo"];
            ensure!(
                info["hasNextPage"].as_bool() == Some(true),
                "a viewer's feed ends on page {}: no page {}",
                n + 1,
                pages + 1
            );
            after = info["endCursor"].as_str().map(str::to_owned);
        }
        after.context("no cursor")
    }

    fn percentile(sorted: &[f64], q: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[k - 1]
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    /// Signs in each shape's viewers and writes `out/SHAPE-PAGE` files (a
    /// line a viewer: token, a tab, the page's request): typical (pages 1,
    /// 3 and 50), heavy, quiet and back (pages 1 and 3; back's two pages by
    /// different viewers, none among the others), `out/celebrity` (its
    /// token) and `out/register.json` (`register` timed one at a time).
    pub async fn setup(url: &str, sizes: &Sizes, opts: &HashMap<&str, &str>) -> anyhow::Result<()> {
        let out = PathBuf::from(opts.get("out").context("setup: out=DIR")?);
        let count = |name: &str, default: usize| -> anyhow::Result<usize> {
            opts.get(name).map_or(Ok(default), |v| {
                v.parse().with_context(|| format!("{name}={v}"))
            })
        };
        let viewers = count("viewers", 50)?;
        let back = count("back", 400)?;
        let reposted_by = opts.get("reposted_by") != Some(&"0");
        std::fs::create_dir_all(&out)?;
        let http = http(SETUP_TIMEOUT)?;

        let register = time_registers(&http, url).await?;
        std::fs::write(out.join("register.json"), register.to_string())?;

        let stride = (sizes.accounts / viewers.max(1)).max(1);
        let typical: Vec<String> = (0..viewers).map(|k| (k * stride).to_string()).collect();
        ensure!(
            viewers * stride <= sizes.accounts,
            "{viewers} viewers among {} accounts",
            sizes.accounts
        );
        let taken: HashSet<usize> = (0..viewers).map(|k| k * stride).collect();
        // Distinct accounts spread over all (7919 is prime, so coprime with
        // any count it does not divide).
        let others: Vec<String> = (0..sizes.accounts)
            .map(|j| (j * 7919 + 13) % sizes.accounts)
            .filter(|i| !taken.contains(i))
            .take(2 * back)
            .map(|i| i.to_string())
            .collect();
        ensure!(others.len() == 2 * back, "too few accounts for back={back}");
        let heavy: Vec<String> = (0..HEAVY_VIEWERS).map(|j| format!("heavy-{j}")).collect();
        let quiet: Vec<String> = (0..QUIET_VIEWERS)
            .map(|j| format!("quiet-viewer-{j}"))
            .collect();

        // (file, viewers, pages before it)
        let plan: Vec<(&str, &[String], usize)> = vec![
            ("typical-1", &typical, 0),
            ("typical-3", &typical, 2),
            ("typical-50", &typical, 49),
            ("heavy-1", &heavy, 0),
            ("heavy-3", &heavy, 2),
            ("quiet-1", &quiet, 0),
            ("quiet-3", &quiet, 2),
            ("back-1", &others[..back], 0),
            ("back-3", &others[back..], 2),
        ];
        let mut keys: Vec<&str> = plan
            .iter()
            .flat_map(|(_, v, _)| v.iter().map(String::as_str))
            .collect();
        keys.push("celebrity");
        keys.sort_unstable();
        keys.dedup();
        let tokens: HashMap<&str, String> = futures_util::stream::iter(keys)
            .map(|key| {
                let http = &http;
                async move { Ok::<_, anyhow::Error>((key, login(http, url, key).await?)) }
            })
            .buffer_unordered(PARALLEL)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        std::fs::write(out.join("celebrity"), &tokens["celebrity"])?;

        for (file, keys, pages) in plan {
            let lines: Vec<String> = futures_util::stream::iter(keys)
                .map(|key| {
                    let (http, token) = (&http, tokens[key.as_str()].as_str());
                    async move {
                        let after = match pages {
                            0 => None,
                            n => Some(
                                cursor_after(http, url, token, n)
                                    .await
                                    .with_context(|| format!("{file}: bench-{key}"))?,
                            ),
                        };
                        Ok::<_, anyhow::Error>(format!(
                            "{token}\t{}\n",
                            page_request(after.as_deref(), reposted_by)
                        ))
                    }
                })
                .buffered(PARALLEL)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<anyhow::Result<_>>()?;
            std::fs::write(out.join(file), lines.concat())?;
        }
        println!("{register}");
        Ok(())
    }

    /// `register` of new accounts, one at a time: the latency class a write
    /// of the celebrity must stay within.
    async fn time_registers(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
        let run = Uuid::now_v7().simple().to_string();
        let mut times = Vec::with_capacity(REGISTERS);
        for k in 0..REGISTERS {
            let started = Instant::now();
            let data = gql(
                http,
                url,
                None,
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken errors { code } } }",
                json!({ "i": {
                    "email": format!("bench-register-{run}-{k}@example.com"),
                    "password": "a long enough bench password 9",
                } }),
            )
            .await?;
            ensure!(
                data["register"]["accessToken"].is_string(),
                "register: {}",
                data["register"]["errors"]
            );
            times.push(ms(started.elapsed()));
        }
        times.sort_by(f64::total_cmp);
        Ok(
            json!({ "n": times.len(), "p50": percentile(&times, 0.5), "p99": percentile(&times, 0.99) }),
        )
    }

    /// A file of `token\trequest` lines.
    fn requests(file: &Path) -> anyhow::Result<Vec<(String, Bytes)>> {
        let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
        let lines: Vec<_> = text
            .lines()
            .map(|l| {
                let (token, body) = l.split_once('\t').context("a line: token, tab, request")?;
                Ok((format!("Bearer {token}"), Bytes::from(body.to_owned())))
            })
            .collect::<anyhow::Result<_>>()?;
        ensure!(!lines.is_empty(), "{}: no viewers", file.display());
        Ok(lines)
    }

    /// Whether an answer is a good page: 200 without `"errors"`.
    async fn good(answer: reqwest::Result<reqwest::Response>) -> Option<Bytes> {
        let answer = answer.ok()?;
        if answer.status() != reqwest::StatusCode::OK {
            return None;
        }
        let body = answer.bytes().await.ok()?;
        (!body.windows(8).any(|w| w == b"\"errors\"")).then_some(body)
    }

    /// Open loop: request i at t0 + i / rate, by viewer i mod N (the lines
    /// of `file`), whatever the answers before it; its latency from that
    /// scheduled moment to the whole answer. Prints {sent, ok, bad, served
    /// (good pages a second over the schedule, or until the last answer if
    /// later), p50, p99, max (ms)}. `count` requests, or `duration` s of
    /// them.
    pub async fn load(url: &str, opts: &HashMap<&str, &str>) -> anyhow::Result<()> {
        let get = |name: &str| -> anyhow::Result<Option<f64>> {
            opts.get(name)
                .map(|v| v.parse::<f64>().with_context(|| format!("{name}={v}")))
                .transpose()
        };
        let lines = requests(Path::new(opts.get("file").context("load: file=")?))?;
        let rate = get("rate")?.context("load: rate=")?;
        ensure!(rate > 0.0, "rate=0");
        let n = match (get("count")?, get("duration")?) {
            (Some(c), _) => c as usize,
            (None, Some(d)) => (d * rate).round() as usize,
            (None, None) => bail!("load: count= or duration="),
        };
        let http = http(TIMEOUT)?;
        let url: Arc<str> = url.into();
        let t0 = tokio::time::Instant::now() + Duration::from_millis(20);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let at = t0 + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(at).await;
            let (token, body) = lines[i % lines.len()].clone();
            let req = http
                .post(&*url)
                .header("authorization", token)
                .header("content-type", "application/json")
                .body(body);
            tasks.spawn(async move {
                let ok = good(req.send().await).await.is_some();
                let done = tokio::time::Instant::now();
                (done - at, ok, done)
            });
        }
        let (mut times, mut bad, mut last) = (Vec::with_capacity(n), 0, t0);
        while let Some(r) = tasks.join_next().await {
            let (latency, ok, done) = r?;
            times.push(ms(latency));
            bad += usize::from(!ok);
            last = last.max(done);
        }
        times.sort_by(f64::total_cmp);
        let span = (n as f64 / rate).max((last - t0).as_secs_f64());
        println!(
            "{}",
            json!({
                "sent": n, "ok": n - bad, "bad": bad,
                "served": (n - bad) as f64 / span,
                "p50": percentile(&times, 0.5), "p99": percentile(&times, 0.99),
                "max": times.last().copied().unwrap_or(f64::NAN),
            })
        );
        Ok(())
    }

    /// Posts as the celebrity (`dir/celebrity`) every `every_ms` (200), open
    /// loop, until the file `stop` exists; after every `check_every`-th (5)
    /// post, one of the typical viewers (`dir/typical-1`, in turn) reads its
    /// page 1 every 10 ms until the post is there (for 5 s at most). Prints
    /// {posts, bad, p50, p99, max (createPost, ms), checks, worst_ms (post
    /// answered to seen), late (over 1 s), missed}; with `each=FILE`, a
    /// line a post there: its scheduled moment (Unix s), latency (ms), 1 if
    /// it was posted.
    pub async fn poster(url: &str, opts: &HashMap<&str, &str>) -> anyhow::Result<()> {
        let dir = PathBuf::from(opts.get("dir").context("poster: dir=")?);
        let stop = PathBuf::from(opts.get("stop").context("poster: stop=")?);
        let num = |name: &str, default: u64| -> anyhow::Result<u64> {
            opts.get(name).map_or(Ok(default), |v| {
                v.parse().with_context(|| format!("{name}={v}"))
            })
        };
        let every = Duration::from_millis(num("every_ms", 200)?.max(1));
        let check_every = num("check_every", 5)?.max(1);
        let token = format!(
            "Bearer {}",
            std::fs::read_to_string(dir.join("celebrity"))?.trim()
        );
        let viewers = Arc::new(requests(&dir.join("typical-1"))?);
        let http = http(TIMEOUT)?;
        let url: Arc<str> = url.into();
        let run = Uuid::now_v7().simple().to_string();
        let t0 = tokio::time::Instant::now();
        let wall0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        let mut posts = tokio::task::JoinSet::new();
        let mut i: u64 = 0;
        while !stop.exists() {
            let at = t0 + every * i as u32;
            tokio::time::sleep_until(at).await;
            let req = http
                .post(&*url)
                .header("authorization", token.clone())
                .json(&json!({
                    "query": "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } errors { code } } }",
                    "variables": { "i": { "body": format!("Celebrity post {i} of run {run}") } },
                }));
            let check = i.is_multiple_of(check_every).then(|| {
                let k = (i / check_every) as usize % viewers.len();
                (http.clone(), url.clone(), viewers[k].clone())
            });
            posts.spawn(async move {
                let answer = req.send().await;
                let done = tokio::time::Instant::now();
                let id = match answer {
                    Ok(a) if a.status() == reqwest::StatusCode::OK => {
                        a.json::<Value>().await.ok().and_then(|v| {
                            v["data"]["createPost"]["post"]["id"]
                                .as_str()
                                .map(str::to_owned)
                        })
                    }
                    _ => None,
                };
                let seen = match (&id, check) {
                    (Some(id), Some((http, url, (token, body)))) => {
                        Some(seen_after(&http, &url, &token, body, id, done).await)
                    }
                    _ => None,
                };
                (
                    (wall0 + (at - t0)).as_secs_f64(),
                    done - at,
                    id.is_some(),
                    seen,
                )
            });
            i += 1;
        }
        let (mut times, mut bad, mut delays, mut missed) = (Vec::new(), 0, Vec::new(), 0);
        let mut each = String::new();
        while let Some(r) = posts.join_next().await {
            let (at, latency, ok, seen) = r?;
            each.push_str(&format!("{at:.3} {:.3} {}\n", ms(latency), u8::from(ok)));
            times.push(ms(latency));
            bad += usize::from(!ok);
            match seen {
                Some(Some(d)) => delays.push(ms(d)),
                Some(None) => missed += 1,
                None => {}
            }
        }
        if let Some(file) = opts.get("each") {
            std::fs::write(file, each)?;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{}",
            json!({
                "posts": times.len(), "bad": bad,
                "p50": percentile(&times, 0.5), "p99": percentile(&times, 0.99),
                "max": times.last().copied().unwrap_or(f64::NAN),
                "checks": delays.len() + missed,
                "worst_ms": delays.iter().copied().fold(0.0, f64::max),
                "late": delays.iter().filter(|&&d| d > 1000.0).count(),
                "missed": missed,
            })
        );
        Ok(())
    }

    /// How long after `since` the viewer's page 1 shows post `id`; None if
    /// not within 5 s.
    async fn seen_after(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        body: Bytes,
        id: &str,
        since: tokio::time::Instant,
    ) -> Option<Duration> {
        let needle = format!("\"{id}\"");
        while since.elapsed() < Duration::from_secs(5) {
            let answer = http
                .post(url)
                .header("authorization", token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            let now = tokio::time::Instant::now();
            if let Some(page) = good(answer).await
                && page.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                return Some(now - since);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }
}
