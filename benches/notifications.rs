//! The notification inbox at scale, for benches/notifications.sh: `seed`
//! writes into a fresh database (after migrating it) one account's inbox of
//! 100,000 notification events over the last 89 days, in groups of every
//! kind, with the accounts and posts they are about.
//!
//!   DATABASE_URL=sqlite:///tmp/inbox.db?mode=rwc cargo bench --bench notifications -- seed
//!   DATABASE_URL=… cargo bench --bench notifications -- safety on   # or off
//!   cargo test --bench notifications     # quick: a temporary SQLite file, 5,000 events
//!
//! `safety on` has the recipient mute and block a 40th of the actors each
//! and locks every tenth actor (benches/shared/safety.rs); `off` takes
//! them away, for runs with and without them on one seeded database.
//!
//! bench-0@example.com (password `correct-horse-battery`) is the recipient;
//! bench-1 … bench-2000 are the actors, a tenth of them followed by the
//! recipient (so `viewerFollows` answers both ways). Of the events: each
//! actor's follow (grouped per UTC day), 5% replies and 3% mentions (one
//! post by an actor each, one group each), and the rest likes (75%) and
//! reposts (25%) of the recipient's 500 posts, from 1 to 10 shares of them
//! a post. Only the inbox's own tables are seeded for them (no `post_like`,
//! `repost` or follow-of-the-recipient rows): the inbox reads no others.
//! SEED_EVENTS and SEED_ACTORS change the sizes.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{Context as _, ensure};
use argon2::password_hash::{PasswordHasher as _, SaltString};
use chrono::{DateTime, SubsecRound as _, Utc};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use sea_orm::sqlx::sqlite::SqliteSynchronous;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, Set, TransactionTrait,
};
use sns_api::entity::{
    follow, notification_event as event, notification_group as group, post, profile, user,
};
use uuid::Uuid;

#[path = "shared/safety.rs"]
mod safety;

const PASSWORD: &str = "correct-horse-battery";
const BATCH: usize = 1000;
const RNG_SEED: u64 = 22;
const DAY_MS: i64 = 86_400_000;
/// The recipient's posts, liked and reposted.
const POSTS: usize = 500;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let size = |name: &str, full_size: usize, quick: usize| -> anyhow::Result<usize> {
        match std::env::var(name) {
            Ok(v) => v.parse().with_context(|| format!("{name}={v:?}")),
            Err(_) => Ok(if full { full_size } else { quick }),
        }
    };
    let events = size("SEED_EVENTS", 100_000, 5_000)?;
    let actors = size("SEED_ACTORS", 2_000, 200)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let hash = password_hash()?;
    match args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str)
    {
        Some("seed") => {
            let url = std::env::var("DATABASE_URL").context("seed: set DATABASE_URL")?;
            runtime.block_on(seed(&url, events, actors, &hash))
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
        Some(other) => anyhow::bail!("unknown mode {other:?}: seed or safety"),
        None => {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("inbox.db").display()
            );
            runtime.block_on(async {
                seed(&url, events, actors, &hash).await?;
                set_safety(&url, true).await
            })
        }
    }
}

/// The recipient's blocks and mutes and the actors' locks (`on`), or none.
async fn set_safety(url: &str, on: bool) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait as _, QueryFilter as _, QuerySelect as _};
    let db = connect(url).await?;
    let recipient: Uuid = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Email.eq("bench-0@example.com"))
        .into_tuple()
        .one(&db)
        .await?
        .context("no bench-0@example.com: seed first")?;
    let (blocks, mutes, locked) = safety::set(&db, on, Some(recipient)).await?;
    let state = if on { "on" } else { "off" };
    println!("safety {state}: {blocks} blocks, {mutes} mutes, {locked} locked profiles");
    Ok(())
}

fn password_hash() -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    options.map_sqlx_sqlite_opts(|o| {
        o.synchronous(SqliteSynchronous::Off)
            .pragma("cache_size", "-1048576")
            .foreign_keys(true)
    });
    Ok(Database::connect(options).await?)
}

fn v7(rng: &mut StdRng, ms: i64) -> Uuid {
    let ms = u64::try_from(ms).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &rng.random()).into_uuid()
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .trunc_subsecs(0)
}

/// A group being built: its kind, subject, post and events (ms, actor).
struct Building {
    kind: &'static str,
    subject: String,
    post: Option<Uuid>,
    events: Vec<(i64, u32)>,
}

async fn seed(url: &str, events: usize, actors: usize, hash: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = connect(url).await?;
    sns_api::db::migrate(&db).await.context("migrating")?;
    let existing = profile::Entity::find().count(&db).await?;
    ensure!(
        existing == 0,
        "the database holds {existing} profiles: seed a fresh one"
    );
    ensure!(actors >= 10, "SEED_ACTORS: at least 10");
    let mut rng = StdRng::seed_from_u64(RNG_SEED);
    let now = Utc::now().timestamp_millis();
    let start = now - 89 * DAY_MS;
    let accounts: Vec<Uuid> = (0..=actors)
        .map(|i| v7(&mut rng, start - DAY_MS + i as i64))
        .collect();
    let viewer = accounts[0];

    // The recipient's posts, over the first half of the span.
    let mut posts: Vec<post::ActiveModel> = Vec::new();
    let own: Vec<(Uuid, i64)> = (0..POSTS)
        .map(|i| {
            let ms = start + (44 * DAY_MS) * i as i64 / POSTS as i64;
            (v7(&mut rng, ms), ms)
        })
        .collect();
    for (i, (id, ms)) in own.iter().enumerate() {
        posts.push(post_row(*id, viewer, format!("post {i}"), *ms, None));
    }

    let follows = actors.min(events);
    let replies = events * 5 / 100;
    let mentions = events * 3 / 100;
    let rest = events.saturating_sub(follows + replies + mentions);
    let likes = rest * 3 / 4;
    let reposts = rest - likes;
    let mut groups: Vec<Building> = Vec::new();

    // Follows, one per actor, grouped per UTC day.
    let mut days: BTreeMap<String, Vec<(i64, u32)>> = BTreeMap::new();
    for a in 1..=follows as u32 {
        let ms = rng.random_range(start..now);
        let day = instant(ms).format("%Y-%m-%d").to_string();
        days.entry(day).or_default().push((ms, a));
    }
    for (day, events) in days {
        groups.push(Building {
            kind: "FOLLOW",
            subject: day,
            post: None,
            events,
        });
    }
    // Replies and mentions: a post of an actor each.
    for (kind, n) in [("REPLY", replies), ("MENTION", mentions)] {
        for i in 0..n {
            let ms = rng.random_range(start..now);
            let actor = rng.random_range(1..=actors as u32);
            let id = v7(&mut rng, ms);
            let parent = (kind == "REPLY").then(|| own[i % POSTS].0);
            posts.push(post_row(
                id,
                accounts[actor as usize],
                format!("{kind} {i} @bench_0"),
                ms,
                parent,
            ));
            groups.push(Building {
                kind,
                subject: id.to_string(),
                post: Some(id),
                events: vec![(ms, actor)],
            });
        }
    }
    // Likes and reposts: 1 to 10 shares a post, each actor once a post.
    let shares: Vec<usize> = (0..POSTS).map(|i| i % 10 + 1).collect();
    let total: usize = shares.iter().sum();
    for (kind, n) in [("LIKE", likes), ("REPOST", reposts)] {
        let mut counts: Vec<usize> = shares.iter().map(|s| n * s / total).collect();
        let short = n - counts.iter().sum::<usize>();
        for c in counts.iter_mut().take(short) {
            *c += 1;
        }
        for (i, count) in counts.into_iter().enumerate() {
            if count == 0 {
                continue;
            }
            let count = count.min(actors);
            let (post, from) = own[i];
            let events = rand::seq::index::sample(&mut rng, actors, count)
                .into_iter()
                .map(|a| (rng.random_range(from..now), a as u32 + 1))
                .collect();
            groups.push(Building {
                kind,
                subject: post.to_string(),
                post: Some(post),
                events,
            });
        }
    }

    let txn = db.begin().await?;
    let rows = accounts
        .iter()
        .enumerate()
        .map(|(i, id)| user::ActiveModel {
            id: Set(*id),
            email: Set(format!("bench-{i}@example.com")),
            password_hash: Set(hash.to_owned()),
            created_at: Set(instant(start - DAY_MS)),
            updated_at: Set(instant(start - DAY_MS)),
            email_verified: Set(true),
            disabled_at: Set(None),
        });
    for chunk in rows.collect::<Vec<_>>().chunks(BATCH) {
        user::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    let followed = actors / 10;
    let rows = accounts
        .iter()
        .enumerate()
        .map(|(i, id)| profile::ActiveModel {
            user_id: Set(*id),
            handle: Set(format!("bench_{i}")),
            display_name: Set(Some(format!("Bench Account {i}"))),
            bio: Set(None),
            post_count: Set(0),
            follower_count: Set(i32::from(i > 0 && i <= followed)),
            following_count: Set(if i == 0 { followed as i32 } else { 0 }),
            locked: Set(false),
            avatar_id: Set(None),
            banner_id: Set(None),
            created_at: Set(instant(start - DAY_MS)),
            updated_at: Set(instant(start - DAY_MS)),
        });
    for chunk in rows.collect::<Vec<_>>().chunks(BATCH) {
        profile::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    let rows: Vec<_> = (1..=followed)
        .map(|a| follow::ActiveModel {
            id: Set(v7(&mut rng, start)),
            follower_id: Set(viewer),
            followee_id: Set(accounts[a]),
            created_at: Set(instant(start)),
        })
        .collect();
    for chunk in rows.chunks(BATCH) {
        follow::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    for chunk in posts.chunks(BATCH) {
        post::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    let (mut group_rows, mut event_rows) = (Vec::new(), Vec::new());
    let mut by_kind: HashMap<&str, (usize, usize)> = HashMap::new();
    for g in groups {
        let mut evs: Vec<(Uuid, u32)> = g
            .events
            .iter()
            .map(|&(ms, a)| (v7(&mut rng, ms), a))
            .collect();
        evs.sort();
        let Some(&(top, _)) = evs.last() else {
            continue;
        };
        let first_ms = g.events.iter().map(|e| e.0).min().unwrap_or(start);
        let id = v7(&mut rng, first_ms);
        let tally = by_kind.entry(g.kind).or_default();
        tally.0 += 1;
        tally.1 += evs.len();
        group_rows.push(group::ActiveModel {
            id: Set(id),
            recipient_id: Set(viewer),
            kind: Set(g.kind.to_owned()),
            subject: Set(g.subject),
            post_id: Set(g.post),
            top_id: Set(top),
            actor_count: Set(evs.len() as i32),
        });
        for (event_id, actor) in evs {
            event_rows.push(event::ActiveModel {
                id: Set(event_id),
                group_id: Set(id),
                actor_id: Set(accounts[actor as usize]),
            });
        }
    }
    for chunk in group_rows.chunks(BATCH) {
        group::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    for chunk in event_rows.chunks(BATCH) {
        event::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("VACUUM ANALYZE").await?;
    }
    let stored = event::Entity::find().count(&db).await?;
    ensure!(
        stored as usize == event_rows.len(),
        "{stored} events stored of {}",
        event_rows.len()
    );
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort();
    println!(
        "seeded {} events in {} groups ({}) for bench-0, {} actors, {} posts, on {:?} in {:.1} s",
        event_rows.len(),
        group_rows.len(),
        kinds
            .iter()
            .map(|(k, (g, e))| format!("{k}: {g} groups, {e} events"))
            .collect::<Vec<_>>()
            .join("; "),
        actors,
        posts.len(),
        db.get_database_backend(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn post_row(
    id: Uuid,
    author: Uuid,
    body: String,
    ms: i64,
    parent: Option<Uuid>,
) -> post::ActiveModel {
    post::ActiveModel {
        id: Set(id),
        author_id: Set(author),
        body: Set(body),
        created_at: Set(instant(ms)),
        in_reply_to_id: Set(parent),
        like_count: Set(0),
        repost_count: Set(0),
        reply_count: Set(0),
    }
}
