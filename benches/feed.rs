//! The social graph at scale, for the feed benchmark (benches/feed.sh):
//! `seed` writes accounts, profiles, follows, posts (a tenth of them
//! replies), reposts and likes straight into the database `DATABASE_URL`
//! names (after migrating it), with every count exact; `explain` prints the plans of the very statements the server runs
//! for a feed page (`service::feed::feed_statements`), for page 1, page 3
//! and a sparse feed (the viewer following one account, rolled back after).
//!
//!   DATABASE_URL=sqlite:///tmp/feed.db?mode=rwc cargo bench --bench feed -- seed
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/feed cargo bench --bench feed -- explain
//!   DATABASE_URL=… cargo bench --bench feed -- safety on   # or off: benches/shared/safety.rs
//!   cargo test --bench feed      # quick: a temporary SQLite file, seed, check, explain, and
//!                                # explain again with blocks, mutes and locks
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
//! orders agree. The seed is one transaction: a failed one leaves nothing.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context as _, ensure};
use argon2::password_hash::{PasswordHasher as _, SaltString};
use chrono::{DateTime, SubsecRound as _, Utc};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use sea_orm::sqlx::sqlite::SqliteSynchronous;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
    TransactionTrait,
};
use sns_api::entity::{follow, post, post_like, profile, repost, user};
use sns_api::service::page::{FeedCursor, FeedRequest};
use uuid::Uuid;

#[path = "shared/safety.rs"]
mod safety;

/// The password of every seeded account.
pub const PASSWORD: &str = "correct-horse-battery";
/// Rows per INSERT: within every backend's limit on bound values (9 columns).
const BATCH: usize = 1000;
/// The same graph at every run.
const RNG_SEED: u64 = 15;

struct Sizes {
    accounts: usize,
    follows: usize,
    posts: usize,
}

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
        };
        ensure!(
            sizes.accounts >= 2 && sizes.follows < sizes.accounts,
            "SEED_FOLLOWS must be below SEED_ACCOUNTS (no one follows itself), and 2 accounts at least"
        );
        Ok(sizes)
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --bench feed` does not: quick.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let mode = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str);
    let sizes = Sizes::from_env(full)?;
    let runtime = tokio::runtime::Runtime::new()?;
    match mode {
        Some("seed") => {
            let url = std::env::var("DATABASE_URL").context("seed: set DATABASE_URL")?;
            // Argon2 before the runtime runs anything: never on its threads.
            let hash = password_hash()?;
            runtime.block_on(seed(&url, &sizes, &hash))
        }
        Some("explain") => {
            let url = std::env::var("DATABASE_URL").context("explain: set DATABASE_URL")?;
            runtime.block_on(explain(&url))
        }
        Some("safety") => {
            let url = std::env::var("DATABASE_URL").context("safety: set DATABASE_URL")?;
            let on = match args.iter().filter(|a| !a.starts_with('-')).nth(1) {
                Some(s) if s == "on" => true,
                Some(s) if s == "off" => false,
                _ => anyhow::bail!("safety on|off"),
            };
            runtime.block_on(set_safety(&url, on))
        }
        Some(other) => anyhow::bail!("unknown mode {other:?}: seed, explain or safety"),
        None => {
            // The quick run (CI): all of it on a temporary SQLite file.
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("feed.db").display());
            let hash = password_hash()?;
            runtime.block_on(async {
                seed(&url, &sizes, &hash).await?;
                explain(&url).await?;
                set_safety(&url, true).await?;
                explain(&url).await
            })
        }
    }
}

/// Writes the blocks, mutes and locks of `safety` (`on`), or takes them away.
async fn set_safety(url: &str, on: bool) -> anyhow::Result<()> {
    let db = connect(url, false).await?;
    let (blocks, mutes, locked) = safety::set(&db, on, None).await?;
    println!(
        "safety {}: {blocks} blocks, {mutes} mutes, {locked} locked profiles",
        if on { "on" } else { "off" }
    );
    Ok(())
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
    for (n, chunk) in accounts.chunks(BATCH).enumerate() {
        let rows = chunk.iter().enumerate().map(|(k, id)| {
            let i = n * BATCH + k;
            let at = instant(spread(60, 31 * DAY_MS, i, sizes.accounts));
            user::ActiveModel {
                id: Set(*id),
                email: Set(format!("bench-{i}@example.com")),
                password_hash: Set(hash.to_owned()),
                created_at: Set(at),
                updated_at: Set(at),
                email_verified: Set(true),
                disabled_at: Set(None),
            }
        });
        user::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        let rows = chunk.iter().enumerate().map(|(k, id)| {
            let i = n * BATCH + k;
            let at = instant(spread(60, 31 * DAY_MS, i, sizes.accounts));
            profile::ActiveModel {
                user_id: Set(*id),
                handle: Set(format!("bench_{i}")),
                display_name: Set(Some(format!("Bench Account {i}"))),
                bio: Set(Some(format!("Seeded account number {i}."))),
                post_count: Set(posts_of[i]),
                follower_count: Set(followers[i]),
                following_count: Set(sizes.follows as i32),
                locked: Set(false),
                avatar_id: Set(None),
                banner_id: Set(None),
                created_at: Set(at),
                updated_at: Set(at),
            }
        });
        profile::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
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

    if db.get_database_backend() == DbBackend::Postgres {
        // What autovacuum would do shortly after such a load: statistics for
        // the planner and the visibility map for index-only scans. (SQLite
        // gets nothing: the server never runs ANALYZE there either.)
        db.execute_unprepared("VACUUM ANALYZE").await?;
    }
    check(&db, sizes).await?;
    println!(
        "seeded {} accounts, {} follows, {} posts, {} reposts, {} likes on {:?} in {:.1} s \
         (accounts {:.1} s, follows {:.1} s, posts {:.1} s, reposts and likes {:.1} s, \
         vacuum and check {:.1} s)",
        sizes.accounts,
        n_edges,
        sizes.posts,
        reposts.len(),
        likes.len(),
        db.get_database_backend(),
        started.elapsed().as_secs_f64(),
        accounts_done.as_secs_f64(),
        (follows_done - accounts_done).as_secs_f64(),
        (posts_done - follows_done).as_secs_f64(),
        (interactions_done - posts_done).as_secs_f64(),
        (started.elapsed() - interactions_done).as_secs_f64(),
    );
    Ok(())
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
async fn check(db: &DatabaseConnection, sizes: &Sizes) -> anyhow::Result<()> {
    let (posts, follows) = (
        post::Entity::find().count(db).await?,
        follow::Entity::find().count(db).await?,
    );
    ensure!(posts == sizes.posts as u64, "{posts} posts seeded");
    ensure!(
        follows == (sizes.accounts * sizes.follows) as u64,
        "{follows} follows seeded"
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

/// The plan of the feed statement for the first seeded account's page 1 and
/// page 3 (after the last post of page 2), with the SQL as the server builds
/// it (placeholders, not values).
async fn explain(url: &str) -> anyhow::Result<()> {
    let db = connect(url, false).await?;
    let backend = db.get_database_backend();
    let viewer: Uuid = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Email.eq("bench-0@example.com"))
        .into_tuple()
        .one(&db)
        .await?
        .context("no bench-0@example.com: seed first")?;
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
