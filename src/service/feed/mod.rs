//! The feed: a page of the entries of the viewer and of the profiles it
//! follows, newest first, each with its post's author and, for a repost,
//! the reposter; and the statements that read it.
//!
//! An entry is a post, keyed by its id, or a repost, keyed by the
//! repost's id (its moment; always after the post's). A post shows once,
//! at its newest entry. Paging keeps that while others repost and undo:
//! a feed's cursor carries, beside the last entry's key, the snapshot `S`
//! (the largest UUIDv7 of the millisecond its first page was read), and
//! every page reads the feed as of `S`: a repost made after `S` is neither
//! shown nor hides the post's older entries (else a post below the cursor
//! reposted meanwhile would be skipped), and a repost undone after `S`
//! still hides them, through its row kept with `removed_at` set (else a
//! post shown above the cursor by it would show again). Only live entries
//! are shown, so undoing, deleting or unfollowing takes entries away at
//! once. Known limits: a repost undone and made again after `S` has a new
//! id, so its old entry no longer hides the post's older ones; an undo in
//! the same second as `S` but before it still hides them (`removed_at` is
//! stored to the second); an undone repost's row goes after
//! [`UNDONE_REPOST_KEPT`], and a paging that outlives it forgets it.
//!
//! Blocks, mutes and locked authors are conditions of the statements, not
//! a filter after them, so a page stays full: a muted followee is not
//! among the authors ([`followees`]), and a repost shows only when the
//! viewer may see its post's author and does not mute it
//! ([`repost_shown`], with `safety::visibility`'s rule). Taking a muted
//! followee's or a hidden post's entries away keeps the rule above: what
//! is not shown hides only entries of its own post, not shown either.
//!
//! The statements are built with sea-query, which expresses all they use
//! (common tables with column lists, derived tables, correlated scalar
//! subqueries, `UNION`) and writes each backend's dialect: its quoting,
//! SQLite's `MAX` for `GREATEST`, PostgreSQL's `$n`. A value a page binds
//! is a [`Param`], named wherever a statement uses it, so a new condition
//! (a block, a mute) is one more clause with the params it needs. Building
//! a statement costs far more than binding one, so each backend's text is
//! built once and a page only binds (see [`bind`]).

mod bind;
pub mod cache;
pub mod remote;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use sea_orm::sea_query::{
    CommonTableExpression, Cond, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement,
    UnionType, WithClause,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    QueryFilter, QuerySelect, Statement, TransactionTrait,
};
use uuid::Uuid;

use self::bind::{Bindings, Param, Template};
use self::cache::{Current, Entry, KEPT_KEYS, Kept, Latest, PageKey, Since, Sources};
use super::page::{FeedCursor, FeedRequest, Page, PageRequest};
use super::safety::visibility;
use crate::auth::Viewer;
use crate::entity::{follow, mute, post, profile, repost};
use crate::error::AppError;
use crate::state::AppState;

/// An entry of a feed page: a post with its author's profile and, when the
/// entry is a repost, the reposter's, all read in the same statement. The
/// reposter is the viewer or a profile it followed when the page was read.
#[derive(Debug, Clone)]
pub struct FeedItem {
    pub post: post::Model,
    pub author: profile::Model,
    /// Whether the viewer followed the author when the page was read.
    pub author_followed: bool,
    pub reposted_by: Option<profile::Model>,
}

/// A page of the feed, each item keyed by its entry's key, and the
/// snapshot its cursors carry.
#[derive(Debug, Clone)]
pub struct FeedPage {
    pub page: Page<FeedItem>,
    pub snapshot: Uuid,
}

impl FeedPage {
    /// The cursor of the entry `key` of this page.
    pub fn cursor(&self, key: Uuid) -> FeedCursor {
        FeedCursor {
            key,
            snapshot: self.snapshot,
        }
    }
}

/// A page of the viewer's feed, newest entry first: one statement, two
/// when the newest posts hold too few of the viewer's entries (see
/// [`feed_statements`]).
pub async fn feed(
    state: &AppState,
    viewer: &Viewer,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<FeedPage, AppError> {
    let req = FeedRequest::parse(first, after)?;
    let cache = state.feed_cache();
    // Before a first page's snapshot: a write stamped at or below this
    // committed before it, so its entries are older than the snapshot.
    let read_at = cache.now();
    let snapshot = req
        .after
        .map_or_else(FeedCursor::snapshot_now, |a| a.snapshot);
    if !cache.keeps(snapshot) || !cache.caught_up().await {
        return read(state, viewer.user_id, req, snapshot, Authors::All).await;
    }
    let key = PageKey {
        viewer: viewer.user_id,
        first: req.first,
        after: req.after,
    };
    if let Some(kept) = cache.kept(&key).filter(|k| cache.keeps(k.snapshot)) {
        let sources = sources_of(state, viewer.user_id).await?;
        let kept = match cache.since(&key, &kept, &sources) {
            Since::Same => Some(kept),
            Since::Above => {
                let again = Arc::new(Kept {
                    read_at,
                    entries: kept.entries.clone(),
                    has_next: kept.has_next,
                    snapshot: kept.snapshot,
                });
                cache.keep_arc(key, again.clone());
                Some(again)
            }
            Since::Added(posts) => {
                let merged = take_in(
                    &kept,
                    &posts,
                    viewer.user_id,
                    req.first,
                    (read_at, snapshot),
                );
                let merged = Arc::new(merged);
                cache.keep_arc(key, merged.clone());
                Some(merged)
            }
            Since::Changed => None,
        };
        if let Some(kept) = kept
            && let Some(page) = hydrate(state, &kept).await?
        {
            cache.served_one();
            return Ok(page);
        }
    }
    // Read, and kept.
    let page = read(state, viewer.user_id, req, snapshot, Authors::Listed).await?;
    cache.keep(
        key,
        Kept {
            read_at,
            entries: page
                .page
                .items
                .iter()
                .map(|(key, item)| Entry::of(*key, item))
                .collect(),
            has_next: page.page.has_next,
            snapshot: page.snapshot,
        },
    );
    Ok(page)
}

/// A kept first page with the posts its sources added since (each `(post,
/// author)`), as the statements would read it at `read_at` with
/// `snapshot` (now's: a cursor's key may not pass its snapshot, and the
/// new posts are past the kept page's): the newest `first` of both, a
/// post once.
fn take_in(
    kept: &Kept,
    posts: &[(Uuid, Uuid)],
    viewer: Uuid,
    first: u64,
    (read_at, snapshot): (u64, Uuid),
) -> Kept {
    let mut entries: Vec<Entry> = kept.entries.clone();
    for &(post, author) in posts {
        if entries.iter().all(|e| e.key != post) {
            entries.push(Entry {
                key: post,
                post,
                author,
                author_followed: author != viewer,
                reposter: None,
            });
        }
    }
    entries.sort_unstable_by_key(|e| std::cmp::Reverse(e.key));
    let first = usize::try_from(first).unwrap_or(usize::MAX);
    let has_next = kept.has_next || entries.len() > first;
    entries.truncate(first);
    Kept {
        read_at,
        entries,
        has_next,
        snapshot,
    }
}

/// Which authors a page's window statement reads on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Authors {
    /// The viewer's follows, read in the statement.
    All,
    /// Those of the viewer's sources whose newest entry is in the window
    /// ([`recent_listed`]): with the cache's current stamps only (caught up
    /// with the other instances').
    Listed,
}

/// A page of the viewer's feed read by its statements (see [`feed_statements`]).
async fn read(
    state: &AppState,
    viewer: Uuid,
    req: FeedRequest,
    snapshot: Uuid,
    authors: Authors,
) -> Result<FeedPage, AppError> {
    let window = state.feed_cache().window();
    let bindings = Bindings::new(viewer, req, window, snapshot);
    let listed = if authors == Authors::Listed && state.backend() == DbBackend::Sqlite {
        state.feed_cache().listed_read();
        Some(listed_authors(state, viewer, bindings.cursor(), req.limit()).await?)
    } else {
        None
    };
    let bounded = listed.as_ref().is_some_and(|l| l.bounded.is_some());
    let statements = Templates::of(state.backend()).bind(bindings, listed);
    let (rows, answered) = if state.backend() == DbBackend::Postgres {
        // Generic plans (see [`GENERIC_PLANS`]), for these statements only.
        let txn = state.db().begin().await?;
        txn.execute_unprepared(GENERIC_PLANS).await?;
        let rows = first_full(&txn, statements, req).await?;
        txn.commit().await?;
        rows
    } else {
        first_full(state.db(), statements, req).await?
    };
    if bounded && answered == 0 {
        state.feed_cache().bounded_read();
    }
    let items = rows
        .iter()
        .map(|row| {
            let key: Uuid = row.try_get("", ENTRY_ID)?;
            let followed: Option<Uuid> = row.try_get("", FOLLOWED_AUTHOR)?;
            // A post's own entry has no reposter: its columns are not read
            // (reading a null column is an error that names it).
            let reposter: Option<Uuid> = row.try_get("", REPOSTER_USER_ID)?;
            let item = FeedItem {
                post: post::Model::from_query_result(row, "")?,
                author: profile::Model::from_query_result(row, AUTHOR)?,
                author_followed: followed.is_some(),
                reposted_by: match reposter {
                    Some(_) => Some(profile::Model::from_query_result(row, REPOSTER)?),
                    None => None,
                },
            };
            Ok((key, item))
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    let page = Page::from_rows(
        PageRequest {
            first: req.first,
            after: None,
        },
        items,
    );
    Ok(FeedPage { page, snapshot })
}

/// PostgreSQL plans a prepared statement afresh for each of its first
/// five runs on a connection (a custom plan for the values bound), and
/// keeps doing so while a plan for any values looks costlier: the feed's
/// statements plan in 0.8 and 2 ms and run in 0.5 and 4. Kept pages leave
/// each connection few runs of them, so nearly every page read was
/// planned anew: on a fresh server the first page 3 of 50 viewers cost
/// the database 100 ms of CPU in all, 30 ms with one plan for any values
/// (made once per connection), which serves every viewer shape the
/// benchmark prices as well (docs/benchmarks.md, "Feed"). Set for the
/// reading transaction only: other statements keep the planner's choice.
const GENERIC_PLANS: &str = "SET LOCAL plan_cache_mode = force_generic_plan";

/// The rows of the first of `statements` that answers a full page, or of
/// the last one, and which one that was.
async fn first_full(
    db: &impl ConnectionTrait,
    statements: impl IntoIterator<Item = Statement>,
    req: FeedRequest,
) -> Result<(Vec<sea_orm::QueryResult>, usize), AppError> {
    let mut rows = Vec::new();
    let mut answered = 0;
    for (k, statement) in statements.into_iter().enumerate() {
        rows = db.query_all_raw(statement).await?;
        answered = k;
        // A full page from the newest posts is the page; a short one may
        // only mean that the window ended.
        if rows.len() as u64 == req.limit() {
            break;
        }
    }
    Ok((rows, answered))
}

/// A kept page with its posts and profiles read again (two statements by
/// primary key), or `None` when one of them went meanwhile (the page is
/// then read anew).
async fn hydrate(state: &AppState, kept: &Kept) -> Result<Option<FeedPage>, AppError> {
    let post_ids: Vec<Uuid> = kept.entries.iter().map(|e| e.post).collect();
    let mut profile_ids: Vec<Uuid> = kept
        .entries
        .iter()
        .flat_map(|e| std::iter::once(e.author).chain(e.reposter))
        .collect();
    profile_ids.sort_unstable();
    profile_ids.dedup();
    let (posts, profiles) = if post_ids.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let posts = post::Entity::find()
            .filter(post::Column::Id.is_in(post_ids))
            .all(state.db());
        let profiles = super::profile::by_ids(state, &profile_ids);
        let (posts, profiles) = tokio::join!(posts, profiles);
        (posts?, profiles?)
    };
    let posts: HashMap<Uuid, post::Model> = posts.into_iter().map(|p| (p.id, p)).collect();
    let profiles: HashMap<Uuid, profile::Model> =
        profiles.into_iter().map(|p| (p.user_id, p)).collect();
    let mut items = Vec::with_capacity(kept.entries.len());
    for entry in &kept.entries {
        let (Some(post), Some(author)) = (posts.get(&entry.post), profiles.get(&entry.author))
        else {
            return Ok(None);
        };
        let reposted_by = match entry.reposter {
            None => None,
            Some(id) => match profiles.get(&id) {
                Some(p) => Some(p.clone()),
                None => return Ok(None),
            },
        };
        items.push((
            entry.key,
            FeedItem {
                post: post.clone(),
                author: author.clone(),
                author_followed: entry.author_followed,
                reposted_by,
            },
        ));
    }
    Ok(Some(FeedPage {
        page: Page {
            items,
            has_next: kept.has_next,
        },
        snapshot: kept.snapshot,
    }))
}

/// The viewer's sources as a page over listed authors binds them (see
/// [`recent_listed`]).
struct Listed {
    /// Each source with its newest entry key, those with none left out (as
    /// [`listed_json`] binds them, if the window statement runs).
    window: Vec<(Uuid, Uuid)>,
    /// Where the sources' kept keys bound the page: its floor, and the
    /// sources whose newest entry is at or above it (a JSON array of ids).
    bounded: Option<(Uuid, String)>,
}

/// How many entry keys below the cursor, of the sources' kept ones, a
/// bounded page's floor leaves above it, in pages' rows: the page's own
/// and as many again, for entries that do not show (a hidden repost, an
/// undone one, a post shown at a newer entry).
const BOUNDED_PAGES: u64 = 2;

/// The viewer's sources with their newest entry keys, and the floor those
/// bound a page below `cursor` by, as [`recent_listed`] binds them. The
/// keys the cache does not hold are read ([`KEPT_KEYS`] of each account,
/// two index ranges) and kept for every viewer; so are more keys of the
/// sources whose kept ones all lie above the floor and below the cursor
/// (a frequent writer's: then its entries above the floor, uncounted, may
/// be far more than the page).
async fn listed_authors(
    state: &AppState,
    viewer: Uuid,
    cursor: Uuid,
    limit: u64,
) -> Result<Listed, AppError> {
    let sources = sources_of(state, viewer).await?;
    let cache = state.feed_cache();
    let (mut known, unknown) = cache.newest_entries(&sources.sources.ids);
    if !unknown.is_empty() {
        let read_at = cache.now();
        let read = newest_of(state.db(), &unknown, KEPT_KEYS).await?;
        cache.keep_newest(read_at, &read);
        known.extend(read);
    }
    let rows = usize::try_from(limit.saturating_mul(BOUNDED_PAGES)).unwrap_or(usize::MAX);
    let mut bounded = bound(&known, cursor, rows);
    let short: Vec<usize> = short_of(&known, bounded.as_ref().map(|b| b.0), cursor);
    if !short.is_empty() {
        let ids: Vec<Uuid> = short.iter().map(|&k| known[k].0).collect();
        let depth = short
            .iter()
            .map(|&k| known[k].1.keys.len())
            .max()
            .unwrap_or(0)
            .saturating_add(rows);
        let read_at = cache.now();
        let read = newest_of(state.db(), &ids, depth).await?;
        cache.keep_newest(read_at, &read);
        let at: HashMap<Uuid, usize> = short.into_iter().map(|k| (known[k].0, k)).collect();
        for (id, latest) in read {
            if let Some(&k) = at.get(&id) {
                known[k].1 = latest;
            }
        }
        bounded = bound(&known, cursor, rows);
    }
    Ok(Listed {
        window: known
            .iter()
            .filter_map(|(id, latest)| Some((*id, latest.newest()?)))
            .collect(),
        bounded: bounded
            .map(|(floor, authors)| (floor, hex_strings(authors.into_iter().map(|id| [id])))),
    })
}

/// The floor the sources' newest entry keys (`latest`) bound a page below
/// `cursor` by, and the sources with an entry at or above it: the
/// `rows`-th newest of their keys below the cursor, when they hold that
/// many. Their entries hold at least those keys, so the page's `rows`
/// newest entries are at or above it: a page of that many shown entries
/// read from those sources at or above the floor is the page (a source
/// whose keys are all above the cursor may have more below: it is listed,
/// its newest being above the floor). Keys of entries that do not show
/// only raise the floor, and a page read short is read again over the
/// window.
fn bound(latest: &[(Uuid, Latest)], cursor: Uuid, rows: usize) -> Option<(Uuid, Vec<Uuid>)> {
    let mut below: Vec<Uuid> = latest
        .iter()
        .flat_map(|(_, l)| l.keys.iter().copied().filter(|&k| k < cursor))
        .collect();
    if rows == 0 || below.len() < rows {
        return None;
    }
    let (_, &mut floor, _) = below.select_nth_unstable_by(rows - 1, |a, b| b.cmp(a));
    let authors = latest
        .iter()
        .filter(|(_, l)| l.newest().is_some_and(|k| k >= floor))
        .map(|(id, _)| *id)
        .collect();
    Some((floor, authors))
}

/// The positions of the sources in `latest` of which more keys would
/// raise the floor (or give one): those with older entries than their
/// kept keys, the oldest below the cursor and at or above the `floor`
/// (any, without one).
fn short_of(latest: &[(Uuid, Latest)], floor: Option<Uuid>, cursor: Uuid) -> Vec<usize> {
    latest
        .iter()
        .enumerate()
        .filter(|(_, (_, l))| {
            l.more
                && l.oldest()
                    .is_some_and(|k| k < cursor && floor.is_none_or(|f| k >= f))
        })
        .map(|(k, _)| k)
        .collect()
}

/// `[(author, newest entry key)]` as [`recent_listed`]'s JSON array: each
/// a string of the key's hex then the author's (upper case, as SQLite's
/// `hex`), so that a string compares as the key does with a floor's hex.
fn listed_json(authors: impl Iterator<Item = (Uuid, Uuid)>) -> String {
    hex_strings(authors.map(|(author, key)| [key, author]))
}

/// A JSON array of strings, each the upper-case hex of its ids one after
/// the other.
fn hex_strings<const N: usize>(items: impl Iterator<Item = [Uuid; N]>) -> String {
    let mut json = String::from("[");
    let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
    for (k, ids) in items.enumerate() {
        if k > 0 {
            json.push(',');
        }
        json.push('"');
        for id in ids {
            json.push_str(id.simple().encode_upper(&mut buf));
        }
        json.push('"');
    }
    json.push(']');
    json
}

/// SQLite: each account's newest post keys and repost keys, as many as
/// the two `LIMIT`s bind (an index range each), in one row: an account's
/// hex id, a colon, its keys' hex, comma-separated; a semicolon between
/// accounts (as [`FOLLOWEES_OF_SQLITE`], one row rather than one a source).
const NEWEST_OF_SQLITE: &str = r#"WITH "listed" ("id") AS (SELECT unhex("value") FROM json_each(?))
SELECT group_concat(hex("id") || ':'
  || coalesce((SELECT group_concat(hex("id")) FROM (SELECT "id" FROM "post" WHERE "author_id" = "listed"."id" ORDER BY "id" DESC LIMIT ?)), '') || ','
  || coalesce((SELECT group_concat(hex("id")) FROM (SELECT "id" FROM "repost" WHERE "user_id" = "listed"."id" ORDER BY "id" DESC LIMIT ?)), ''),
  ';')
FROM "listed""#;

/// The newest `depth` entry keys of each of `ids` (SQLite's statement).
async fn newest_of(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    depth: usize,
) -> Result<Vec<(Uuid, Latest)>, AppError> {
    let json = hex_strings(ids.iter().map(|&id| [id]));
    // One more of each: whether there are older ones.
    let each = i64::try_from(depth.saturating_add(1)).unwrap_or(i64::MAX);
    let all = one_text(
        db,
        NEWEST_OF_SQLITE,
        [json.into(), each.into(), each.into()],
    )
    .await?;
    let mut read = Vec::with_capacity(ids.len());
    for account in all.iter().flat_map(|a| a.split(';')) {
        let (id, keys) = account
            .split_once(':')
            .ok_or_else(|| AppError::internal("an account's keys without its id"))?;
        let id = Uuid::try_parse(id).map_err(AppError::internal)?;
        read.push((id, Latest::of(hex_uuids(keys)?, depth)));
    }
    Ok(read)
}

/// Whose writes can change the viewer's feed: the viewer and every
/// account it follows and does not mute (a muted followee's posts and
/// reposts neither show nor hide anything; a mute or an unmute stamps the
/// viewer). Kept per viewer until one of them is stamped.
async fn sources_of(state: &AppState, viewer: Uuid) -> Result<Current, AppError> {
    let cache = state.feed_cache();
    if let Some(sources) = cache.sources(viewer) {
        return Ok(sources);
    }
    let read_at = cache.now();
    let mut ids = if state.backend() == DbBackend::Sqlite {
        followees_sqlite(state.db(), viewer).await?
    } else {
        followees_of(state.db(), viewer).await?
    };
    ids.push(viewer);
    Ok(cache.keep_sources(viewer, Arc::new(Sources { read_at, ids })))
}

/// The profiles `viewer` follows and does not mute.
async fn followees_of(db: &impl ConnectionTrait, viewer: Uuid) -> Result<Vec<Uuid>, AppError> {
    Ok(follow::Entity::find()
        .select_only()
        .column(follow::Column::FolloweeId)
        .filter(follow::Column::FollowerId.eq(viewer))
        .filter(
            follow::Column::FolloweeId.not_in_subquery(
                Query::select()
                    .column(mute::Column::MutedId)
                    .from(mute::Entity)
                    .and_where(Expr::col(mute::Column::MuterId).eq(viewer))
                    .take(),
            ),
        )
        .into_tuple()
        .all(db)
        .await?)
}

/// SQLite: [`followees_of`]'s ids in one row, as comma-separated hex.
/// sqlx-sqlite hands rows from its connection's thread to the runtime
/// through a channel that wakes it: read as rows, a viewer's 200 follows
/// took half of a first read's context switches (51-56 a page, 20-25
/// without them).
const FOLLOWEES_OF_SQLITE: &str = r#"SELECT group_concat(hex("followee_id")) FROM "follow"
WHERE "follower_id" = ? AND "followee_id" NOT IN (SELECT "muted_id" FROM "mute" WHERE "muter_id" = ?)"#;

/// [`followees_of`] on SQLite, in one row ([`FOLLOWEES_OF_SQLITE`]).
async fn followees_sqlite(db: &impl ConnectionTrait, viewer: Uuid) -> Result<Vec<Uuid>, AppError> {
    let hex = one_text(db, FOLLOWEES_OF_SQLITE, [viewer.into(), viewer.into()]).await?;
    hex_uuids(hex.as_deref().unwrap_or_default())
}

/// The text of the one column of the one row a SQLite statement answers
/// (null when it is null).
async fn one_text<const N: usize>(
    db: &impl ConnectionTrait,
    sql: &str,
    values: [sea_orm::Value; N],
) -> Result<Option<String>, AppError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await?;
    Ok(row.map(|r| r.try_get_by_index(0)).transpose()?.flatten())
}

/// Comma-separated hex ids (`group_concat(hex(id))`), in their order.
fn hex_uuids(hex: &str) -> Result<Vec<Uuid>, AppError> {
    hex.split(',')
        .filter(|h| !h.is_empty())
        .map(|h| Uuid::try_parse(h).map_err(AppError::internal))
        .collect()
}

/// How long an undone repost keeps its row (`removed_at` set) before
/// housekeeping deletes it ([`purge_undone_reposts`]). While it is kept, a
/// feed being paged still knows that its post had that newer entry, and
/// does not show the post again below it. A feed paged from a first page
/// older than this loses that for reposts undone more than this ago: a
/// post it showed by such a repost may come again, at an older entry.
pub const UNDONE_REPOST_KEPT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes the rows of reposts undone more than [`UNDONE_REPOST_KEPT`] ago;
/// answers how many.
pub async fn purge_undone_reposts(state: &AppState) -> Result<u64, AppError> {
    let kept = chrono::TimeDelta::from_std(UNDONE_REPOST_KEPT).map_err(AppError::internal)?;
    let purged = repost::Entity::delete_many()
        .filter(repost::Column::RemovedAt.lt(super::clock::now() - kept))
        .exec(state.db())
        .await?;
    Ok(purged.rows_affected)
}

/// Posts a feed page looks for among the newest (below the cursor) before
/// it reads author by author.
pub const RECENT_WINDOW: u64 = 2000;

/// The statements `feed` tries in turn for a page of `viewer`'s feed as it
/// was at `snapshot` (a first page's; a later page reads its cursor's),
/// each reading `req.limit()` entries at most (with their posts and
/// profiles, see [`with_profiles`]); the first full answer, or the last
/// answer, is the page. (Public so that benches/feed.rs explains the very
/// statements the server runs.)
///
/// Which entries the page holds: the `limit` newest below the cursor among
/// the viewer's and its followees' posts and reposts, each post at its
/// newest entry only ([`unhidden`]). Two ways to find them, measured in
/// docs/benchmarks.md ("Feed"):
///
/// 1. [`recent_scan`] or [`recent_seek`]: the entries from the newest
///    [`RECENT_WINDOW`] posts of everyone down. Cheap when the viewer
///    follows enough of those who post, and complete then: nothing outside
///    the window is newer than what is in it, so a full page from it is the
///    page.
/// 2. [`by_author`]: author by author, a bounded read each, for any feed.
pub fn feed_statements(
    backend: DbBackend,
    viewer: Uuid,
    req: FeedRequest,
    snapshot: Uuid,
) -> Vec<Statement> {
    feed_statements_in_window(backend, viewer, req, snapshot, RECENT_WINDOW)
}

/// [`feed_statements`] with another window (the tests make it small).
pub fn feed_statements_in_window(
    backend: DbBackend,
    viewer: Uuid,
    req: FeedRequest,
    snapshot: Uuid,
    window: u64,
) -> Vec<Statement> {
    Templates::of(backend)
        .bind(Bindings::new(viewer, req, window, snapshot), None)
        .collect()
}

/// SQLite's window statement over a list of authors with their newest
/// entry keys (`[(author, key)]`), as the server runs it when the cache
/// holds those keys: the same rows as [`feed_statements_in_window`]'s
/// first when the list holds every source of the viewer whose newest entry
/// is at or above the window's oldest post (public so that the tests run
/// it against the statements' answers).
pub fn listed_window_statement(
    viewer: Uuid,
    req: FeedRequest,
    snapshot: Uuid,
    window: u64,
    authors: &[(Uuid, Uuid)],
) -> Statement {
    let bindings = Bindings::new(viewer, req, window, snapshot);
    let listed = Listed {
        window: authors.to_vec(),
        bounded: None,
    };
    first_of(Templates::of(DbBackend::Sqlite).bind(bindings, Some(listed)))
}

/// SQLite's statement over `authors` from `floor` up (the tests').
pub fn bounded_statement(
    viewer: Uuid,
    req: FeedRequest,
    snapshot: Uuid,
    floor: Uuid,
    authors: &[Uuid],
) -> Statement {
    let bindings = Bindings::new(viewer, req, RECENT_WINDOW, snapshot);
    let listed = Listed {
        window: Vec::new(),
        bounded: Some((floor, hex_strings(authors.iter().map(|&id| [id])))),
    };
    first_of(Templates::of(DbBackend::Sqlite).bind(bindings, Some(listed)))
}

/// The first of a page's statements (there is always one, author by
/// author).
fn first_of(mut statements: impl Iterator<Item = Statement>) -> Statement {
    statements
        .next()
        .unwrap_or_else(|| unreachable!("a page has its statement author by author"))
}

/// The feed's statements for one backend, with their profiles joined.
struct Templates {
    recent: Template,
    by_author: Template,
    /// SQLite's window statement over listed authors ([`recent_listed`]).
    listed: Option<Template>,
    /// SQLite's statement over the authors above a floor their keys bound.
    bounded: Option<Template>,
}

impl Templates {
    fn of(backend: DbBackend) -> &'static Self {
        static SQLITE: LazyLock<Templates> = LazyLock::new(|| Templates::new(DbBackend::Sqlite));
        static POSTGRES: LazyLock<Templates> =
            LazyLock::new(|| Templates::new(DbBackend::Postgres));
        static MYSQL: LazyLock<Templates> = LazyLock::new(|| Templates::new(DbBackend::MySql));
        match backend {
            DbBackend::Sqlite => &SQLITE,
            DbBackend::Postgres => &POSTGRES,
            _ => &MYSQL,
        }
    }

    fn new(backend: DbBackend) -> Self {
        let recent = if backend == DbBackend::Sqlite {
            recent_seek()
        } else {
            recent_scan()
        };
        let sqlite = |bounded| {
            (backend == DbBackend::Sqlite)
                .then(|| Template::new(backend, &with_profiles(recent_listed(bounded))))
        };
        Self {
            recent: Template::new(backend, &with_profiles(recent)),
            by_author: Template::new(backend, &with_profiles(by_author(backend))),
            listed: sqlite(false),
            bounded: sqlite(true),
        }
    }

    /// The statement over the authors above the floor their keys bound,
    /// where `listed` has one; the window statement (over the `listed`
    /// authors where the backend has that form); then the one author by
    /// author: each bound only when asked for, as the one before came back
    /// short.
    fn bind(
        &'static self,
        bindings: Bindings,
        listed: Option<Listed>,
    ) -> impl Iterator<Item = Statement> {
        let (bounded, window) = match (&self.listed, &self.bounded, listed) {
            (Some(window), Some(bounded), Some(listed)) => (
                listed.bounded.map(|b| (bounded, b)),
                Some((window, listed.window)),
            ),
            _ => (None, None),
        };
        // The first always runs.
        let first = bounded.map(|(template, (floor, authors))| {
            template.bind(&bindings.clone().with_authors(authors).with_floor(floor))
        });
        let (for_window, for_rest) = (bindings.clone(), bindings);
        first
            .into_iter()
            .chain(std::iter::once_with(move || match window {
                Some((template, authors)) => {
                    template.bind(&for_window.with_authors(listed_json(authors.into_iter())))
                }
                None => self.recent.bind(&for_window),
            }))
            .chain(std::iter::once_with(move || self.by_author.bind(&for_rest)))
    }
}

/// The prefixes of the author's and the reposter's columns in a feed
/// statement's rows (no prefixed profile column may be named as a post
/// column or as one of the entry's: a unit test checks).
const AUTHOR: &str = "author_";
const REPOSTER: &str = "reposter_";

// The columns of an entry: its key (the post's id, or the repost's), its
// post, and the reposter (null on a post's own entry); and whether the
// viewer follows the author (the author's id, or null).
const ENTRY_ID: &str = "entry_id";
const POST_ID: &str = "post_id";
const REPOSTER_ID: &str = "reposter_id";
/// The reposter's profile's id among a row's columns (null on a post's own
/// entry).
const REPOSTER_USER_ID: &str = "reposter_user_id";
const FOLLOWED_AUTHOR: &str = "followed_author_id";

// The names the statements give their own tables and columns.
const AUTHORS: &str = "authors";
const AUTHOR_ID: &str = "author_id";
const FOUND: &str = "found";
const REACH: &str = "reach";
const FLOOR: &str = "floor";
const ID: &str = "id";
const TOPS: &str = "tops";
const TOP: &str = "top";
const BOUND: &str = "bound";
const PAGE: &str = "page";
const ENTRIES: &str = "entries";
const AUTHOR_PROFILE: &str = "author_profile";
const REPOSTER_PROFILE: &str = "reposter_profile";
/// The alias of a repost that may hide an entry.
const LATER: &str = "later";

/// Where a feed's entries come from: each followed author's posts, and
/// each one's reposts (ordered by `ix_post_author_id` and
/// `ix_repost_user_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Posts,
    Reposts,
}

impl Source {
    const BOTH: [Self; 2] = [Self::Posts, Self::Reposts];

    /// The table's alias in the statements.
    fn alias(self) -> &'static str {
        match self {
            Self::Posts => "p",
            Self::Reposts => "r",
        }
    }

    /// The column of the entry's key (also the table's primary key).
    fn key(self) -> Expr {
        Expr::col((self.alias(), ID))
    }

    /// Whose entry it is: the author or the reposter.
    fn owner(self) -> Expr {
        match self {
            Self::Posts => Expr::col((self.alias(), post::Column::AuthorId)),
            Self::Reposts => Expr::col((self.alias(), repost::Column::UserId)),
        }
    }

    /// The entry's post.
    fn post(self) -> Expr {
        match self {
            Self::Posts => self.key(),
            Self::Reposts => Expr::col((self.alias(), repost::Column::PostId)),
        }
    }

    /// The CTE names of this source's tops and floors.
    fn named(self, name: &str) -> String {
        format!("{}_{name}", self.alias())
    }

    /// `FROM table AS alias WHERE` the entry is shown (live, and its
    /// post's newest entry); callers add what they select and where it
    /// lies. With `driver`, `FROM driver JOIN table AS alias` on the owner
    /// being the driver's `author_id`.
    fn shown(self, driver: Option<(&str, JoinType)>, hide: Hide) -> SelectStatement {
        let mut select = self.live_from(driver);
        if self == Self::Reposts {
            select.and_where(repost_shown(self.post()));
        }
        select
            .and_where(unhidden(self.post(), self.key(), hide))
            .take()
    }

    /// `FROM table AS alias WHERE` the entry is live (a repost not undone);
    /// with `driver`, `FROM driver JOIN table AS alias` on the owner being
    /// the driver's `author_id`.
    fn live_from(self, driver: Option<(&str, JoinType)>) -> SelectStatement {
        let mut select = Query::select();
        if let Some((table, _)) = driver {
            select.from(table.to_owned());
        }
        let on = |table: &str| self.owner().equals((table.to_owned(), AUTHOR_ID));
        match (self, driver) {
            (Self::Posts, None) => {
                select.from_as(post::Entity, self.alias());
            }
            (Self::Posts, Some((table, join))) => {
                select.join_as(join, post::Entity, self.alias(), on(table));
            }
            (Self::Reposts, None) => {
                select.from_as(repost::Entity, self.alias());
            }
            (Self::Reposts, Some((table, join))) => {
                select.join_as(join, repost::Entity, self.alias(), on(table));
            }
        }
        if let Some((table, _)) = driver {
            // Also in `WHERE`: a `CROSS JOIN` is written without its `ON`.
            select.and_where(on(table));
        }
        if self == Self::Reposts {
            select.and_where(Expr::col((self.alias(), repost::Column::RemovedAt)).is_null());
        }
        select
    }

    /// `select` with an entry's columns: key, post, reposter.
    fn with_columns(self, mut select: SelectStatement) -> SelectStatement {
        let reposter = match self {
            Self::Posts => Expr::value(Option::<Uuid>::None),
            Self::Reposts => self.owner(),
        };
        select
            .expr_as(self.key(), ENTRY_ID)
            .expr_as(self.post(), POST_ID)
            .expr_as(reposter, REPOSTER_ID)
            .take()
    }

    /// `SELECT key, post, reposter` of the live entries of the authors in
    /// `driver` (`CROSS JOIN`ed: SQLite keeps the authors outside, see
    /// `recent_seek`), not asking yet whether each is shown:
    /// [`recent_listed`] asks that of the newest only.
    fn live(self, driver: &str) -> SelectStatement {
        self.with_columns(self.live_from(Some((driver, JoinType::CrossJoin))))
    }

    /// `SELECT key, post, reposter` of the shown entries (see [`Self::shown`]).
    fn entries(self, driver: Option<(&str, JoinType)>, hide: Hide) -> SelectStatement {
        self.with_columns(self.shown(driver, hide))
    }

    /// The key of this source's newest shown entry of the author in
    /// `table.author_id` below the cursor; an `OFFSET` added to it reads
    /// that many shown entries further back.
    fn newest_below(self, table: &str) -> SelectStatement {
        self.shown(None, Hide::NotExists)
            .expr(self.key())
            .and_where(self.owner().equals((table.to_owned(), AUTHOR_ID)))
            .and_where(self.key().lt(Param::Cursor))
            .order_by_expr(self.key(), Order::Desc)
            .limit(1)
            .take()
    }
}

/// Whether the entry `key` of `post` is the post's newest entry in the
/// paged feed: no repost of it by the viewer or a followee is newer, at or
/// before the snapshot, and still there, or undone at or after the
/// snapshot (`RemovedSince`) and above the cursor. A newer entry above the
/// cursor was on an earlier page, so the post is not shown again; one made
/// after the snapshot, or undone below the cursor, is ignored, so the post
/// is not skipped either.
///
/// Two ways to write it, the same rows ([`Hide`]). Whose reposts hide:
/// [`Hiders`].
fn unhidden(post: Expr, key: Expr, hide: Hide) -> Expr {
    unhidden_by(post, key, hide, Hiders::Follows)
}

/// Whose reposts may hide an entry in [`unhidden`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hiders {
    /// The viewer and the profiles it follows and does not mute, as the
    /// tables hold them when the statement runs.
    Follows,
    /// The authors of the statement's `authors` table ([`recent_listed`]):
    /// the page is then the feed of those authors alone, so an author left
    /// out by a key read just before a write of its own neither shows nor
    /// hides anything, as if the write came after the page.
    Listed,
}

fn unhidden_by(post: Expr, key: Expr, hide: Hide, hiders: Hiders) -> Expr {
    let hider = Expr::col((LATER, repost::Column::UserId));
    let hider = match hiders {
        Hiders::Follows => is_author(hider),
        Hiders::Listed => Cond::all()
            .add(hider.in_subquery(Query::select().column(AUTHOR_ID).from(AUTHORS).take())),
    };
    let later = Query::select()
        .column((LATER, repost::Column::Id))
        .from_as(repost::Entity, LATER)
        .and_where(Expr::col((LATER, repost::Column::PostId)).eq(post))
        .and_where(Expr::col((LATER, repost::Column::Id)).gt(key))
        .and_where(Expr::col((LATER, repost::Column::Id)).lte(Param::Snapshot))
        .cond_where(
            Cond::any()
                .add(Expr::col((LATER, repost::Column::RemovedAt)).is_null())
                // Undone after the snapshot, and above the cursor: it was
                // on an earlier page. One below the cursor was never shown,
                // so it hides nothing (the post is not skipped).
                .add(
                    Cond::all()
                        .add(Expr::col((LATER, repost::Column::RemovedAt)).gte(Param::RemovedSince))
                        .add(Expr::col((LATER, repost::Column::Id)).gte(Param::Cursor)),
                ),
        )
        .cond_where(hider)
        .limit(1)
        .take();
    match hide {
        Hide::FirstIsNull => Expr::from(later).is_null(),
        Hide::NotExists => Expr::exists(later).not(),
    }
}

/// How [`unhidden`] is written. PostgreSQL plans `NOT EXISTS` as an
/// anti-join, which over a window's reposts hashes every repost (12 ms a
/// page on the benchmark's data), while "the first such repost is null"
/// stays one index seek an entry there (0.7 ms); but in the by-author
/// statement that form's estimates pass `jit_above_cost`, and compiling
/// it costs 50-650 ms, where `NOT EXISTS` runs in 10-24 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hide {
    FirstIsNull,
    NotExists,
}

/// `who` is the viewer or a profile it follows and does not mute (the
/// authors of [`followees`]). The mute is a probe of its own beside the
/// list of follows rather than inside it: inside, PostgreSQL counts the
/// list's anti-join again for every repost `unhidden` looks at, and the
/// window statement's estimate passes `jit_above_cost` (40 ms of JIT a
/// page, for 2 ms of work).
fn is_author(who: Expr) -> Cond {
    let followed = Query::select()
        .column(follow::Column::FolloweeId)
        .from(follow::Entity)
        .and_where(Expr::col(follow::Column::FollowerId).eq(Param::Viewer))
        .take();
    Cond::any().add(who.clone().eq(Param::Viewer)).add(
        Cond::all()
            .add(who.clone().in_subquery(followed))
            .add(visibility::mutes(Param::Viewer.into(), who).not()),
    )
}

/// `page` (the page's entries, newest first) with each entry's post, the
/// post's author's profile (its columns named with the prefix [`AUTHOR`]),
/// the reposter's ([`REPOSTER`], null on a post's own entry) and whether
/// the viewer follows the author. The page is a derived table with its own
/// `LIMIT`, so the joins read the page's rows only.
fn with_profiles(page: SelectStatement) -> SelectStatement {
    let mut select = Query::select();
    select
        .column((PAGE, ENTRY_ID))
        .columns(post::Column::iter().map(|c| (post::Entity, c)));
    for (prefix, table) in [(AUTHOR, AUTHOR_PROFILE), (REPOSTER, REPOSTER_PROFILE)] {
        for c in profile::Column::iter() {
            select.expr_as(Expr::col((table, c)), format!("{prefix}{}", c.as_str()));
        }
    }
    let followed = Query::select()
        .column(follow::Column::FolloweeId)
        .from(follow::Entity)
        .and_where(Expr::col(follow::Column::FollowerId).eq(Param::Viewer))
        .and_where(
            Expr::col(follow::Column::FolloweeId).equals((post::Entity, post::Column::AuthorId)),
        )
        .take();
    select
        .expr_as(Expr::from(followed), FOLLOWED_AUTHOR)
        .from_subquery(page, PAGE)
        .join(
            JoinType::InnerJoin,
            post::Entity,
            Expr::col((post::Entity, post::Column::Id)).equals((PAGE, POST_ID)),
        )
        .join_as(
            JoinType::InnerJoin,
            profile::Entity,
            AUTHOR_PROFILE,
            Expr::col((AUTHOR_PROFILE, profile::Column::UserId))
                .equals((post::Entity, post::Column::AuthorId)),
        )
        .join_as(
            JoinType::LeftJoin,
            profile::Entity,
            REPOSTER_PROFILE,
            Expr::col((REPOSTER_PROFILE, profile::Column::UserId)).equals((PAGE, REPOSTER_ID)),
        )
        .order_by((PAGE, ENTRY_ID), Order::Desc)
        .take()
}

/// The newest `Limit` of `entries` (a `UNION ALL` of [`Source::entries`]).
fn newest(entries: SelectStatement) -> SelectStatement {
    Query::select()
        .columns([ENTRY_ID, POST_ID, REPOSTER_ID])
        .from_subquery(entries, ENTRIES)
        .order_by(ENTRY_ID, Order::Desc)
        .limit(Param::Limit.marker())
        .take()
}

/// The window statement of PostgreSQL and MySQL: the entries from the
/// newest `Window` posts below the cursor down.
///
/// 1. `found`: the viewer's shown post entries among those posts, newest
///    `Limit` first. PostgreSQL walks its primary key backwards and keeps
///    the viewer's (MariaDB copies the window's rows first: a derived
///    table with a `LIMIT` is not merged).
/// 2. `reach`: how far down reposts can be on the page: to the `Limit`-th
///    of `found` when it is full (older ones lose to those), else to the
///    window's oldest post.
/// 3. The page: the newest `Limit` of `found` and the shown reposts from
///    `reach` to the cursor (a backwards walk of the repost key).
fn recent_scan() -> SelectStatement {
    let p = Source::Posts;
    let newest_posts = Query::select()
        .columns([post::Column::Id, post::Column::AuthorId])
        .from(post::Entity)
        .and_where(Expr::col(post::Column::Id).lt(Param::Cursor))
        .order_by(post::Column::Id, Order::Desc)
        .limit(Param::Window.marker())
        .take();
    let found = Query::select()
        .expr_as(p.key(), ENTRY_ID)
        .from_subquery(newest_posts, p.alias())
        .cond_where(is_author(p.owner()))
        .and_where(unhidden(p.post(), p.key(), Hide::FirstIsNull))
        .order_by((p.alias(), ID), Order::Desc)
        .limit(Param::Limit.marker())
        .take();
    let reach = Query::select()
        .expr(Func::coalesce([
            Expr::from(
                Query::select()
                    .column(ENTRY_ID)
                    .from(FOUND)
                    .order_by(ENTRY_ID, Order::Desc)
                    .limit(1)
                    .offset(Param::LastRow.marker())
                    .take(),
            ),
            Expr::from(window_floor()),
            Param::NoFloor.into(),
        ]))
        .take();
    let r = Source::Reposts;
    let reposts = r
        .entries(None, Hide::FirstIsNull)
        .cond_where(is_author(r.owner()))
        .and_where(r.key().lt(Param::Cursor))
        .and_where(
            r.key()
                .gte(Expr::from(Query::select().column(FLOOR).from(REACH).take())),
        )
        .take();
    let mut posts = Query::select()
        .columns([ENTRY_ID])
        .expr_as(Expr::col(ENTRY_ID), POST_ID)
        .expr_as(Expr::value(Option::<Uuid>::None), REPOSTER_ID)
        .from(FOUND)
        .take();
    newest(posts.union(UnionType::All, reposts).take())
        .with_cte(
            WithClause::new()
                .cte(cte(FOUND, &[ENTRY_ID], found))
                .cte(cte(REACH, &[FLOOR], reach))
                .to_owned(),
        )
        .take()
}

/// The id of the window's oldest post: the `Window`-th newest below the
/// cursor (on the key alone), or null when fewer are.
fn window_floor() -> SelectStatement {
    Query::select()
        .column(post::Column::Id)
        .from(post::Entity)
        .and_where(Expr::col(post::Column::Id).lt(Param::Cursor))
        .order_by(post::Column::Id, Order::Desc)
        .limit(1)
        .offset(Param::WindowLast.marker())
        .take()
}

/// SQLite's window statement: the same entries as [`recent_scan`]'s.
///
/// SQLite's key on `post.id` is an index apart from the rows, so walking it
/// costs a row lookup a post: here the window's oldest post (`floor`) is
/// found on the key alone, then each followed author's posts and reposts
/// from it up are read from `ix_post_author_id` and `ix_repost_user_id`
/// (two index seeks an author, and about `Window` entries in all).
fn recent_seek() -> SelectStatement {
    let floor_or_lowest = || {
        Expr::from(Func::coalesce([
            Expr::from(Query::select().column(ID).from(FLOOR).take()),
            Param::NoFloor.into(),
        ]))
    };
    // `CROSS JOIN`: SQLite keeps the authors outside. With an inner join
    // and the reposts' visibility condition it would rather walk every
    // live repost (`ix_repost_removed_at`) and look each one's reposter up
    // among the authors: 16 ms a page instead of about 1.
    let [mut posts, reposts] = Source::BOTH.map(|s| {
        s.entries(Some((AUTHORS, JoinType::CrossJoin)), Hide::FirstIsNull)
            .and_where(s.key().lt(Param::Cursor))
            .and_where(s.key().gte(floor_or_lowest()))
            .take()
    });
    newest(posts.union(UnionType::All, reposts).take())
        .with_cte(
            WithClause::new()
                .cte(cte(FLOOR, &[ID], window_floor()))
                .cte(authors())
                .to_owned(),
        )
        .take()
}

/// [`recent_seek`] over a list of authors (`Authors`, see
/// [`listed_json`]): each source of the viewer with its newest entry key,
/// of which only those whose key is at or above the window's floor are
/// read (the others have no entry there); two index seeks an author read,
/// as in [`recent_seek`], but for the authors who wrote since the floor
/// only. Only their reposts hide an entry ([`Hiders::Listed`]): any repost
/// newer than an entry in the window is at or above the floor, so its
/// author is listed whenever the keys are current; a key read just
/// before its author's write leaves that write out of the page whole
/// (not its repost shown and the post it hides lost with it), as if it
/// came after the page. And whether an entry is shown (the newest entry of its post, a
/// repost the viewer may see) is asked of the newest entries only, in
/// order, until the page is full, not of every entry in the window: a
/// subquery with a `LIMIT` is neither merged into the query around it nor
/// given its conditions by SQLite, so its rows come sorted, and those
/// that pass are the page's.
///
/// `bounded`: the same from `Floor` up, over the authors listed (ids
/// alone) as having an entry there ([`bound`]), without the window: the
/// floor is where the sources' kept keys put the page's lowest entry, so
/// far fewer authors than the window's are read, and its oldest post is
/// not sought. The same argument holds: any repost newer than an entry
/// at or above the floor is at or above it too.
fn recent_listed(bounded: bool) -> SelectStatement {
    const LISTED: &str = "listed";
    const CANDIDATES: &str = "candidates";
    let floor_or_lowest = || {
        if bounded {
            return Expr::from(Param::Floor);
        }
        Expr::from(Func::coalesce([
            Expr::from(Query::select().column(ID).from(FLOOR).take()),
            Param::NoFloor.into(),
        ]))
    };
    let value = || Expr::col((LISTED, "value"));
    let mut authors = Query::select()
        .from_function(Func::cust("json_each").arg(Param::Authors), LISTED)
        .take();
    if bounded {
        authors.expr(Func::cust("unhex").arg(value()));
    } else {
        // Each string is the key's hex then the author's: at or above the
        // floor's hex exactly when the key is at or above the floor.
        authors
            .expr(Func::cust("unhex").arg(Func::cust("substr").arg(value()).arg(33)))
            .and_where(
                value().gte(Expr::from(
                    Query::select()
                        .expr(Func::cust("hex").arg(floor_or_lowest()))
                        .take(),
                )),
            );
    }
    let [mut posts, reposts] = Source::BOTH.map(|s| {
        s.live(AUTHORS)
            .and_where(s.key().lt(Param::Cursor))
            .and_where(s.key().gte(floor_or_lowest()))
            .take()
    });
    let candidates = Query::select()
        .columns([ENTRY_ID, POST_ID, REPOSTER_ID])
        .from_subquery(posts.union(UnionType::All, reposts).take(), ENTRIES)
        .order_by(ENTRY_ID, Order::Desc)
        .limit(Param::NoLimit.marker())
        .take();
    let col = |c: &'static str| Expr::col((CANDIDATES, c));
    let mut with = WithClause::new();
    if !bounded {
        with.cte(cte(FLOOR, &[ID], window_floor()));
    }
    with.cte(cte(AUTHORS, &[AUTHOR_ID], authors));
    Query::select()
        .columns([ENTRY_ID, POST_ID, REPOSTER_ID])
        .from_subquery(candidates, CANDIDATES)
        .and_where(unhidden_by(
            col(POST_ID),
            col(ENTRY_ID),
            Hide::FirstIsNull,
            Hiders::Listed,
        ))
        .cond_where(
            Cond::any()
                .add(col(REPOSTER_ID).is_null())
                .add(repost_shown(col(POST_ID))),
        )
        .limit(Param::Limit.marker())
        .with_cte(with)
        .take()
}

/// The page read author by author, for any feed. `Limit` is one more than
/// the page (the extra row tells whether a next page follows). A source
/// is one author's posts, or its reposts; only shown entries count.
///
/// 1. `tops`: each source's newest entry below the cursor (an index seek).
/// 2. `bound`: the `Limit`-th newest of those. At least `Limit` entries are
///    at or above it (those tops), so the page lies at or above it too, and
///    only the `Limit` sources whose top reaches it can be on the page.
///    Fewer than `Limit` sources with entries: no bound (`NoFloor`).
/// 3. `p_floors`, `r_floors`: no source holds more than `Limit` entries of
///    the page, so each remaining source's floor is the later of the bound
///    and its own `Limit`-th newest entry below the cursor.
/// 4. The page: each remaining source's entries from its floor to the
///    cursor (a range of its index), newest `Limit` first.
///
/// Two seeks an author for its tops, then for at most `Limit` sources a
/// seek and at most `Limit` shown entries each, however long the authors'
/// histories.
fn by_author(backend: DbBackend) -> SelectStatement {
    // SQLite would rather walk every repost below the cursor than seek
    // each remaining reposter's: its `CROSS JOIN` keeps the floors outside.
    let driven = if backend == DbBackend::Sqlite {
        JoinType::CrossJoin
    } else {
        JoinType::InnerJoin
    };
    let tops = {
        let mut select = Query::select();
        select.column(AUTHOR_ID).from(AUTHORS);
        for s in Source::BOTH {
            select.expr(s.newest_below(AUTHORS));
        }
        select.take()
    };
    let top_of = |s: Source| s.named(TOP);
    let every_top = {
        let [mut p, r] = Source::BOTH.map(|s| {
            Query::select()
                .expr_as(Expr::col(top_of(s)), TOP)
                .from(TOPS)
                .take()
        });
        p.union(UnionType::All, r).take()
    };
    let bound = Query::select()
        .column(TOP)
        .from_subquery(every_top, "every_top")
        .and_where(Expr::col(TOP).is_not_null())
        .order_by(TOP, Order::Desc)
        .limit(1)
        .offset(Param::LastRow.marker())
        .take();
    let bound_or_lowest = || {
        Expr::from(Func::coalesce([
            Expr::from(Query::select().column(FLOOR).from(BOUND).take()),
            Param::NoFloor.into(),
        ]))
    };
    let mut with = WithClause::new();
    with.cte(authors())
        .cte(cte(TOPS, &[AUTHOR_ID, "p_top", "r_top"], tops))
        .cte(cte(BOUND, &[FLOOR], bound));
    let [mut posts, reposts] = Source::BOTH.map(|s| {
        let own_floor = Func::coalesce([
            Expr::from(s.newest_below(TOPS).offset(Param::LastRow.marker()).take()),
            Param::NoFloor.into(),
        ]);
        let floors = Query::select()
            .column(AUTHOR_ID)
            .expr(Func::greatest([own_floor.into(), bound_or_lowest()]))
            .from(TOPS)
            .and_where(Expr::col(top_of(s)).gte(bound_or_lowest()))
            .take();
        let floors_name = s.named("floors");
        with.cte(cte_named(floors_name.clone(), &[AUTHOR_ID, FLOOR], floors));
        s.entries(Some((&floors_name, driven)), Hide::NotExists)
            .and_where(s.key().gte(Expr::col((floors_name.clone(), FLOOR))))
            .and_where(s.key().lt(Param::Cursor))
            .take()
    });
    newest(posts.union(UnionType::All, reposts).take())
        .with_cte(with.to_owned())
        .take()
}

/// The ids of the profiles the viewer follows and does not mute: a muted
/// followee's posts and reposts leave the feed, and so its reposts hide no
/// other entry either ([`unhidden`] asks the same of [`is_author`]).
fn followees() -> SelectStatement {
    let followee = || Expr::col((follow::Entity, follow::Column::FolloweeId));
    Query::select()
        .expr(followee())
        .from(follow::Entity)
        .and_where(Expr::col((follow::Entity, follow::Column::FollowerId)).eq(Param::Viewer))
        .and_where(visibility::mutes(Param::Viewer.into(), followee()).not())
        .take()
}

/// Whether a repost of `post` may be shown to the viewer: the viewer may
/// see the post's author (`visibility`'s rule: no block either way, and a
/// locked author only for its followers) and does not mute it. A one-row
/// seek of the post's key, then the pair indexes.
///
/// Only reposts need it. A post's own entry is the viewer's or a
/// followee's, and the viewer may always see those: a block ends the
/// follows both ways and no follow is made across one (`block` deletes
/// them, `safety::guard` refuses a follow, both under the profiles'
/// locks), and a locked followee's posts are for its followers, the
/// viewer among them. A muted followee is not among the authors at all.
///
/// The condition depends on the post alone, so an entry it takes away
/// takes every entry of that post away: a hidden repost may still hide
/// its post's older entries in [`unhidden`], which has nothing left to
/// hide then, and needs no such condition of its own.
fn repost_shown(post: Expr) -> Expr {
    const VIS_POST: &str = "vis_post";
    let author = || Expr::col((VIS_POST, post::Column::AuthorId));
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from_as(post::Entity, VIS_POST)
            .and_where(Expr::col((VIS_POST, post::Column::Id)).eq(post))
            .cond_where(visibility::may_see_posts(
                Some(Param::Viewer.into()),
                author(),
                None,
            ))
            .and_where(visibility::mutes(Param::Viewer.into(), author()).not())
            .take(),
    )
}

/// `authors(author_id)`: the profiles the viewer follows, and the viewer.
fn authors() -> CommonTableExpression {
    let authors = followees()
        .union(
            UnionType::Distinct,
            Query::select().expr(Param::Viewer).take(),
        )
        .take();
    cte(AUTHORS, &[AUTHOR_ID], authors)
}

/// The common table `name(columns...) AS (query)`.
fn cte(
    name: &'static str,
    columns: &[&'static str],
    query: SelectStatement,
) -> CommonTableExpression {
    cte_named(name.to_owned(), columns, query)
}

fn cte_named(
    name: String,
    columns: &[&'static str],
    query: SelectStatement,
) -> CommonTableExpression {
    CommonTableExpression::new()
        .query(query)
        .table_name(name)
        .columns(columns.iter().copied())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_floor_is_the_rows_th_newest_kept_key_below_the_cursor() {
        let k: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
        let (a, b, c, d) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let cursor = k[10];
        let latest = vec![
            // Its newest above the cursor, with more below: listed.
            (a, Latest::of(vec![k[11], k[9], k[4]], 3)),
            (b, Latest::of(vec![k[8], k[7], k[6]], 3)),
            // Nothing at or above the floor: not listed.
            (c, Latest::of(vec![k[2], k[1], k[0]], 3)),
            (d, Latest::of(Vec::new(), 3)),
        ];
        // Below the cursor, newest first: 9, 8, 7, 6, 4, 2, …; the 5th is 4.
        assert_eq!(bound(&latest, cursor, 5), Some((k[4], vec![a, b])));
        assert_eq!(bound(&latest, cursor, 6), Some((k[2], vec![a, b, c])));
        assert_eq!(bound(&latest, cursor, 10), None, "too few keys");
        assert_eq!(bound(&latest, k[0], 1), None, "none below the cursor");
    }

    #[test]
    fn more_keys_are_read_of_sources_whose_kept_ones_all_lie_above_the_floor() {
        let k: Vec<Uuid> = (0..8).map(|_| Uuid::now_v7()).collect();
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut frequent = Latest::of(vec![k[6], k[5], k[4]], 3);
        frequent.more = true;
        let latest = vec![
            (a, frequent),
            // All read: nothing more to find.
            (b, Latest::of(vec![k[3], k[2]], 3)),
            (c, Latest::of(vec![k[7], k[1], k[0]], 2)),
        ];
        assert!(latest[2].1.more);
        assert_eq!(short_of(&latest, Some(k[4]), k[7]), [0]);
        assert_eq!(short_of(&latest, Some(k[5]), k[7]), Vec::<usize>::new());
        // Without a floor, any with more below the cursor.
        assert_eq!(short_of(&latest, None, k[7]), [0, 2]);
        // Its keys all at or above the cursor: more newest keys may not
        // reach below it.
        assert_eq!(short_of(&latest, None, k[1]), Vec::<usize>::new());
    }

    /// A value written into a statement's text (an id as a string literal,
    /// say) would not be bound by name, and on SQLite a text literal never
    /// equals an id stored as a blob.
    #[test]
    fn every_value_of_a_feed_statement_is_a_placeholder_bound_by_name() {
        let viewer = Uuid::now_v7();
        let snapshot = FeedCursor::snapshot_now();
        let req = FeedRequest {
            first: 20,
            after: Some(FeedCursor {
                key: Uuid::now_v7(),
                snapshot,
            }),
        };
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            let templates = Templates::of(backend);
            let mut pairs: Vec<(&Template, Statement)> = [&templates.recent, &templates.by_author]
                .into_iter()
                .zip(feed_statements(backend, viewer, req, snapshot))
                .collect();
            if backend == DbBackend::Sqlite {
                let listed = [(viewer, snapshot)];
                pairs.push((
                    templates.listed.as_ref().unwrap(),
                    listed_window_statement(viewer, req, snapshot, RECENT_WINDOW, &listed),
                ));
                pairs.push((
                    templates.bounded.as_ref().unwrap(),
                    bounded_statement(viewer, req, snapshot, snapshot, &[viewer]),
                ));
            }
            for (template, statement) in pairs {
                let sql = template.sql();
                assert!(!sql.contains('\''), "{backend:?}: a literal in {sql}");
                // A marker written as a number, not turned into a placeholder.
                assert!(
                    !sql.contains(&(u64::MAX - 9).to_string()[..12]),
                    "{backend:?}: a marker left in {sql}"
                );
                let values = statement.values.map_or(0, |v| v.0.len());
                if backend == DbBackend::Postgres {
                    let numbers: BTreeSet<usize> = sql
                        .split('$')
                        .skip(1)
                        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
                        .collect();
                    assert_eq!(numbers, (1..=values).collect(), "{backend:?}: {sql}");
                } else {
                    assert_eq!(sql.matches('?').count(), values, "{backend:?}: {sql}");
                }
                assert!(values > 0, "{backend:?}: {sql}");
            }
        }
    }

    #[test]
    fn a_feed_rows_profile_columns_are_named_apart_from_its_other_columns() {
        for prefix in [AUTHOR, REPOSTER] {
            for c in profile::Column::iter() {
                let named = format!("{prefix}{}", c.as_str());
                assert!(
                    post::Column::iter().all(|p| p.as_str() != named)
                        && ![ENTRY_ID, FOLLOWED_AUTHOR].contains(&named.as_str()),
                    "profile column {} would read as {named}",
                    c.as_str()
                );
            }
        }
    }

    /// An in-memory SQLite database with the columns the one-row reads use.
    async fn keys_db() -> sea_orm::DatabaseConnection {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        for table in [
            "CREATE TABLE post (id BLOB PRIMARY KEY, author_id BLOB NOT NULL)",
            "CREATE TABLE repost (id BLOB PRIMARY KEY, user_id BLOB NOT NULL)",
            "CREATE TABLE follow (follower_id BLOB NOT NULL, followee_id BLOB NOT NULL)",
            "CREATE TABLE mute (muter_id BLOB NOT NULL, muted_id BLOB NOT NULL)",
        ] {
            db.execute_unprepared(table).await.unwrap();
        }
        db
    }

    async fn insert(db: &sea_orm::DatabaseConnection, table: &str, a: Uuid, b: Uuid) {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("INSERT INTO {table} VALUES (?, ?)"),
            [a.into(), b.into()],
        ))
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn each_accounts_newest_keys_are_read_in_one_row() {
        let db = keys_db().await;
        let (busy, poster, reposter, silent) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let mut busy_keys = Vec::new();
        for k in 0..3 * KEPT_KEYS {
            let key = Uuid::now_v7();
            let table = if k % 2 == 0 { "post" } else { "repost" };
            insert(&db, table, key, busy).await;
            busy_keys.push(key);
        }
        let post = Uuid::now_v7();
        insert(&db, "post", post, poster).await;
        let repost = Uuid::now_v7();
        insert(&db, "repost", repost, reposter).await;

        let read = newest_of(&db, &[busy, poster, reposter, silent], KEPT_KEYS)
            .await
            .unwrap();
        let read: HashMap<Uuid, Latest> = read.into_iter().collect();
        assert_eq!(read.len(), 4, "{read:?}");
        let newest: Vec<Uuid> = busy_keys.iter().rev().take(KEPT_KEYS).copied().collect();
        assert_eq!(read[&busy].keys, newest, "posts and reposts, newest first");
        assert!(read[&busy].more);
        assert_eq!(read[&poster].keys, [post]);
        assert_eq!(read[&reposter].keys, [repost]);
        assert!(!read[&poster].more && !read[&reposter].more);
        assert_eq!(read[&silent], Latest::default());
        assert!(newest_of(&db, &[], KEPT_KEYS).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_viewers_followees_are_read_in_one_row_without_the_muted() {
        let db = keys_db().await;
        let (viewer, other) = (Uuid::now_v7(), Uuid::now_v7());
        let followed: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        for &f in &followed {
            insert(&db, "follow", viewer, f).await;
        }
        insert(&db, "follow", other, viewer).await;
        insert(&db, "mute", viewer, followed[1]).await;
        insert(&db, "mute", other, followed[2]).await;

        let mut read = followees_sqlite(&db, viewer).await.unwrap();
        read.sort_unstable();
        let mut other_backends = followees_of(&db, viewer).await.unwrap();
        other_backends.sort_unstable();
        assert_eq!(read, other_backends, "the query the other backends run");
        let mut expected: Vec<Uuid> = followed
            .iter()
            .copied()
            .filter(|&f| f != followed[1])
            .collect();
        expected.sort_unstable();
        assert_eq!(read, expected);
        assert!(followees_sqlite(&db, followed[0]).await.unwrap().is_empty());
    }
}
