//! The inbox, read side: a page of an account's notification groups, the
//! newest actors of each, the unread count, the seen marker, and retention.
//!
//! A page read from the database costs two statements whatever its size
//! (one read from memory, `kept`, reads its posts and actors by key): one reads the groups
//! (newest `top_id` first, below the cursor) with the seen marker, each
//! group's post and, when the document asks for it, that post's author;
//! one reads the newest actors of all the page's groups with their
//! profiles and whether the viewer follows each. Both are built once a
//! shape and bound after that (`db::Shapes`), and their rows are read by
//! column position. The actors statement is a `UNION ALL` of one `LIMIT n` range per
//! group (an index range of `n` rows each in `ix_notification_event_group`),
//! so a group of 100,000 likes costs what a group of three does; a window
//! function (`ROW_NUMBER() OVER (PARTITION BY group_id …)`) would number
//! every event of every group of the page.
//!
//! What the recipient may not see is left out in the statements, so a
//! page stays full: a group about a post whose author's posts it may not
//! see (`safety::visibility`: a reply or mention by a locked author it does
//! not follow, or across a block), from the page and the unread count
//! alike; an actor blocked either way, from the actors.
//!
//! Time comes from the ids: a group's `createdAt` is the unix millisecond
//! its `top_id` (a UUIDv7) carries, and the seen marker is stored as the
//! largest UUIDv7 of its millisecond, so "read" (`top_id <= until_id`) is a
//! comparison of ids, exact to the millisecond on every backend.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, Func, IntoIden, JoinType, Order, Query, SelectStatement,
    SubQueryStatement, UnionType,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, Iterable, QueryFilter,
    QueryOrder, QueryResult, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::NotificationKind;
use super::kept::{InboxKey, KeptActors, KeptInbox};
use crate::auth::Viewer;
use crate::db::{self, Shapes, slot};
use crate::entity::{
    follow, notification_event as event, notification_group as group, notification_seen as seen,
    post, profile,
};
use crate::error::AppError;
use crate::service::page::{Kind, Page, PageRequest};
use crate::service::safety::visibility;
use crate::state::AppState;

/// The most actors a notification shows (`actors(first:)`).
pub const MAX_ACTORS: i32 = 100;
/// The unread count is exact up to this, and this beyond.
pub const UNREAD_CAP: u64 = 1000;
/// Groups deleted per statement by [`prune`].
const PRUNE_BATCH: u64 = 500;

const SEEN_UNTIL: &str = "seen_until";
const POST: &str = "post_";
const AUTHOR: &str = "author_";
const ACTOR: &str = "actor_";
const FOLLOWED: &str = "followed";

/// The inbox's statements, kept by their shape ([`Shapes`]): a page's
/// groups by its size, kinds and whether the authors come with it; one
/// group; the actors by the number of groups and of actors a group.
/// Their values: the viewer in slot 0; the cursor in slot 1 and the group
/// in slot 2 (groups); each group's id from slot 1 on (actors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    Groups {
        limit: u64,
        /// A bit a kind of [`NotificationKind::ALL`]; none: every kind.
        kinds: Option<u8>,
        authors: bool,
    },
    Group,
    Actors {
        groups: usize,
        n: u64,
    },
}

/// Clients use a handful of shapes, of the many possible (pages of 1 to
/// 100 groups, 64 sets of kinds, 0 to 100 actors).
static SHAPES: LazyLock<Shapes<Shape>> = LazyLock::new(|| Shapes::new(SHAPES_BYTES));
/// The most text and values the inbox's kept statements hold: a client
/// could ask for every shape there is, and the actors statement of 100
/// groups alone is about 70 KB.
const SHAPES_BYTES: u64 = 4 << 20;

/// One notification group as the inbox shows it.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: Uuid,
    pub kind: NotificationKind,
    /// LIKE/REPOST: the recipient's post; REPLY/MENTION: the reply or the
    /// mentioning post; FOLLOW: none.
    pub post: Option<post::Model>,
    /// The post's author, when read with the group: always by [`group`],
    /// by [`page`] when asked.
    pub author: Option<profile::Model>,
    pub actor_count: i32,
    /// The newest event's id.
    pub top_id: Uuid,
    /// At or before the recipient's seen marker.
    pub read: bool,
}

impl Group {
    /// The moment of the group's newest event.
    pub fn created_at(&self) -> DateTime<Utc> {
        moment_of(self.top_id)
    }
}

/// One actor of a group, as the viewer sees it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub profile: profile::Model,
    pub viewer_follows: bool,
}

/// The kinds a page asks for: all of them, or these (none when empty).
#[derive(Debug, Clone, Copy)]
pub enum Kinds<'a> {
    All,
    Only(&'a [NotificationKind]),
}

/// A page of the viewer's groups, and what the cache keeps of it (none
/// with `FEED_CACHE` off): its actors are kept there as they are read.
pub struct InboxPage {
    pub page: Page<Group>,
    pub kept: Option<Arc<KeptInbox>>,
}

/// A page of the viewer's notification groups, newest first: one statement,
/// or from memory (see `kept`) the posts' by key. With `authors`, each
/// post's author's profile comes with it.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn page(
    state: &AppState,
    viewer: &Viewer,
    first: Option<i32>,
    after: Option<&str>,
    kinds: Kinds<'_>,
    authors: bool,
) -> Result<InboxPage, AppError> {
    let req = PageRequest::parse(Kind::Notification, first, after)?;
    let kinds = match kinds {
        Kinds::All => None,
        Kinds::Only(kinds) => Some(kinds_mask(kinds)),
    };
    if req.first == 0 || kinds == Some(0) {
        return Ok(InboxPage {
            page: Page::from_rows(req, Vec::new()),
            kept: None,
        });
    }
    let cache = state.feed_cache();
    if !(cache.is_on() && cache.caught_up().await) {
        let page = read(state, viewer.user_id, req, kinds, authors).await?;
        return Ok(InboxPage { page, kept: None });
    }
    let key = InboxKey {
        recipient: viewer.user_id,
        first: req.first,
        after: req.after,
        kinds,
    };
    if let Some(served) = from_memory(state, &key, authors).await? {
        return Ok(served);
    }
    // One read a page at a time: requests for a page being read wait for
    // it and take it from memory (unless a write retired it meanwhile),
    // instead of each running the same statements at once. They take it
    // after letting go, so that they do not wait for each other.
    let reading = cache.inbox_reading(key);
    let guard = reading.lock().await;
    if cache.inbox_kept(&key).is_some() {
        drop(guard);
        if let Some(served) = from_memory(state, &key, authors).await? {
            return Ok(served);
        }
        let page = read(state, viewer.user_id, req, kinds, authors).await?;
        return Ok(InboxPage { page, kept: None });
    }
    // Before the statement: a write stamped at or below this is in it.
    let read_at = cache.now();
    let page = read(state, viewer.user_id, req, kinds, authors).await?;
    let kept = Arc::new(KeptInbox::of(read_at, &page));
    cache.keep_inbox(key, Arc::clone(&kept));
    Ok(InboxPage {
        page,
        kept: Some(kept),
    })
}

/// The page `key` from memory, if kept and current.
async fn from_memory(
    state: &AppState,
    key: &InboxKey,
    authors: bool,
) -> Result<Option<InboxPage>, AppError> {
    let cache = state.feed_cache();
    let Some(kept) = cache.inbox_kept(key) else {
        return Ok(None);
    };
    let Some(page) = hydrate(state, &kept, authors).await? else {
        return Ok(None);
    };
    cache.inbox_served_one();
    Ok(Some(InboxPage {
        page,
        kept: Some(kept),
    }))
}

/// A page of groups by its statement.
async fn read(
    state: &AppState,
    viewer: Uuid,
    req: PageRequest,
    kinds: Option<u8>,
    authors: bool,
) -> Result<Page<Group>, AppError> {
    let limit = req.limit();
    let statement = SHAPES.statement(
        state.backend(),
        Shape::Groups {
            limit,
            kinds,
            authors,
        },
        || groups_statement(limit, kinds, authors),
        &[viewer.into(), req.after.unwrap_or(Uuid::max()).into()],
    )?;
    let rows = state.db().query_all_raw(statement).await?;
    let items = rows
        .iter()
        .map(|row| read_group(row, authors).map(|g| (g.top_id, g)))
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(Page::from_rows(req, items))
}

/// A kept page with its posts (and, with `authors`, their authors) read
/// again by key, in one statement; none when one of them is gone (the
/// page is then read again).
async fn hydrate(
    state: &AppState,
    kept: &KeptInbox,
    authors: bool,
) -> Result<Option<Page<Group>>, AppError> {
    let ids = db::padded(kept.groups.iter().filter_map(|g| g.post).collect());
    let mut posts: HashMap<Uuid, (post::Model, Option<profile::Model>)> = HashMap::new();
    if !ids.is_empty() {
        let mut q = Query::select();
        q.columns(post::Column::iter().map(|c| (post::Entity, c)))
            .from(post::Entity)
            .and_where(Expr::col((post::Entity, post::Column::Id)).is_in(ids));
        if authors {
            q.columns(profile::Column::iter().map(|c| (profile::Entity, c)))
                .join(
                    JoinType::LeftJoin,
                    profile::Entity,
                    Expr::col((profile::Entity, profile::Column::UserId))
                        .equals((post::Entity, post::Column::AuthorId)),
                );
        }
        let rows = state.db().query_all_raw(state.backend().build(&q)).await?;
        for row in &rows {
            let post = post_at(row, 0)?;
            let author = if authors {
                let id: Option<Uuid> =
                    row.try_get_by_index(post_columns() + profile::Column::UserId as usize)?;
                match id {
                    Some(_) => Some(profile_at(row, post_columns())?),
                    None => return Ok(None),
                }
            } else {
                None
            };
            posts.insert(post.id, (post, author));
        }
    }
    let mut items = Vec::with_capacity(kept.groups.len());
    for g in &kept.groups {
        let (post, author) = match g.post {
            None => (None, None),
            Some(id) => match posts.get(&id) {
                Some((post, author)) => (Some(post.clone()), author.clone()),
                None => return Ok(None),
            },
        };
        items.push((
            g.top_id,
            Group {
                id: g.id,
                kind: g.kind,
                post,
                author,
                actor_count: g.actor_count,
                top_id: g.top_id,
                read: g.read,
            },
        ));
    }
    Ok(Some(Page {
        items,
        has_next: kept.has_next,
    }))
}

/// One of `recipient`'s groups as the inbox shows it now, with its post's
/// author (one statement); none when it is gone.
pub async fn group(state: &AppState, recipient: Uuid, id: Uuid) -> Result<Option<Group>, AppError> {
    let statement = SHAPES.statement(
        state.backend(),
        Shape::Group,
        || {
            let mut select = groups_statement(1, None, true);
            select.and_where(Expr::col((group::Entity, group::Column::Id)).eq(slot(2)));
            select
        },
        &[recipient.into(), Uuid::max().into(), id.into()],
    )?;
    let row = state.db().query_one_raw(statement).await?;
    row.as_ref().map(|row| read_group(row, true)).transpose()
}

/// The bits of `kinds` in [`NotificationKind::ALL`].
fn kinds_mask(kinds: &[NotificationKind]) -> u8 {
    kinds.iter().fold(0, |mask, kind| {
        let bit = NotificationKind::ALL.iter().position(|k| k == kind);
        mask | bit.map_or(0, |b| 1 << b)
    })
}

// Where a row of [`groups_statement`] holds what: the group's columns,
// the seen marker, the post's, the author's (in their `Column::iter()`
// order, which is their declaration's, as the casts below count).
const GROUP_AT: usize = 0;
const SEEN_AT: usize = GROUP_AT + group_columns();
const POST_AT: usize = SEEN_AT + 1;
const AUTHOR_AT: usize = POST_AT + post_columns();

const fn group_columns() -> usize {
    group::Column::ActorCount as usize + 1
}

const fn post_columns() -> usize {
    post::Column::ReplyCount as usize + 1
}

/// A group from a row of [`groups_statement`], read by column position: by
/// name, each value's prefixed name was formatted and hashed (reading the
/// rows fell from 10% to 3.5% of the server's CPU a page, by `perf record`
/// on the server under `benches/notifications.sh`, SQLite).
fn read_group(row: &QueryResult, authors: bool) -> Result<Group, AppError> {
    use group::Column as G;
    let at = |c: G| GROUP_AT + c as usize;
    let kind: String = row.try_get_by_index(at(G::Kind))?;
    let kind = NotificationKind::parse(&kind)
        .ok_or_else(|| AppError::internal(format!("unknown notification kind {kind:?}")))?;
    let top_id: Uuid = row.try_get_by_index(at(G::TopId))?;
    let seen_until: Option<Uuid> = row.try_get_by_index(SEEN_AT)?;
    let post_id: Option<Uuid> = row.try_get_by_index(POST_AT + post::Column::Id as usize)?;
    let mut post = post_id.map(|_| post_at(row, POST_AT)).transpose()?;
    let mut author = None;
    if authors && post.is_some() {
        let author_id: Option<Uuid> =
            row.try_get_by_index(AUTHOR_AT + profile::Column::UserId as usize)?;
        // A post without its author's row is shown as no post.
        match author_id {
            Some(_) => author = Some(profile_at(row, AUTHOR_AT)?),
            None => post = None,
        }
    }
    Ok(Group {
        id: row.try_get_by_index(at(G::Id))?,
        kind,
        post,
        author,
        actor_count: row.try_get_by_index(at(G::ActorCount))?,
        top_id,
        read: seen_until.is_some_and(|until| top_id <= until),
    })
}

/// The post whose columns begin at `start` in `row` (in `Column::iter()` order).
fn post_at(row: &QueryResult, start: usize) -> Result<post::Model, DbErr> {
    use post::Column as C;
    let at = |c: C| start + c as usize;
    Ok(post::Model {
        id: row.try_get_by_index(at(C::Id))?,
        author_id: row.try_get_by_index(at(C::AuthorId))?,
        body: row.try_get_by_index(at(C::Body))?,
        created_at: row.try_get_by_index(at(C::CreatedAt))?,
        in_reply_to_id: row.try_get_by_index(at(C::InReplyToId))?,
        like_count: row.try_get_by_index(at(C::LikeCount))?,
        repost_count: row.try_get_by_index(at(C::RepostCount))?,
        reply_count: row.try_get_by_index(at(C::ReplyCount))?,
    })
}

/// The profile whose columns begin at `start` in `row` (in `Column::iter()` order).
fn profile_at(row: &QueryResult, start: usize) -> Result<profile::Model, DbErr> {
    use profile::Column as C;
    let at = |c: C| start + c as usize;
    Ok(profile::Model {
        user_id: row.try_get_by_index(at(C::UserId))?,
        handle: row.try_get_by_index(at(C::Handle))?,
        display_name: row.try_get_by_index(at(C::DisplayName))?,
        bio: row.try_get_by_index(at(C::Bio))?,
        post_count: row.try_get_by_index(at(C::PostCount))?,
        follower_count: row.try_get_by_index(at(C::FollowerCount))?,
        following_count: row.try_get_by_index(at(C::FollowingCount))?,
        locked: row.try_get_by_index(at(C::Locked))?,
        avatar_id: row.try_get_by_index(at(C::AvatarId))?,
        banner_id: row.try_get_by_index(at(C::BannerId))?,
        created_at: row.try_get_by_index(at(C::CreatedAt))?,
        updated_at: row.try_get_by_index(at(C::UpdatedAt))?,
    })
}

/// The alias of a group's post's author, joined by [`join_post`].
fn author() -> sea_orm::sea_query::DynIden {
    Alias::new("author").into_iden()
}

/// Joins each group's post, and that post's author as [`author`], to a
/// select from `notification_group`.
fn join_post(q: &mut SelectStatement) {
    q.join(
        JoinType::LeftJoin,
        post::Entity,
        Expr::col((post::Entity, post::Column::Id)).equals((group::Entity, group::Column::PostId)),
    )
    .join_as(
        JoinType::LeftJoin,
        profile::Entity,
        author(),
        Expr::col((author(), profile::Column::UserId))
            .equals((post::Entity, post::Column::AuthorId)),
    );
}

/// The groups `recipient` is shown (of a select with [`join_post`]): those
/// about no post, and those about a post whose author lets it see its
/// posts (LIKE, REPOST: its own; REPLY, MENTION: the actor's). The rule's
/// condition holds where the left join found no post, so it needs no `OR`
/// around it (which would keep PostgreSQL from planning it as anti-joins).
fn shown_to(recipient: Expr) -> Cond {
    visibility::may_see_posts(
        Some(recipient),
        Expr::col((post::Entity, post::Column::AuthorId)),
        Some(Expr::col((author(), profile::Column::Locked))),
    )
}

/// The `limit` newest groups below the cursor (slot 1) that the viewer
/// (slot 0) is shown, of the `kinds` (a mask, none: all), each with the
/// seen marker, its post and, with `authors`, the post's author: the
/// columns at [`GROUP_AT`], [`SEEN_AT`], [`POST_AT`], [`AUTHOR_AT`].
fn groups_statement(limit: u64, kinds: Option<u8>, authors: bool) -> SelectStatement {
    let author = author();
    let viewer = || Expr::val(slot(0));
    let mut q = Query::select();
    q.columns(group::Column::iter().map(|c| (group::Entity, c)))
        .expr_as(Expr::col((seen::Entity, seen::Column::UntilId)), SEEN_UNTIL);
    for c in post::Column::iter() {
        q.expr_as(
            Expr::col((post::Entity, c)),
            format!("{POST}{}", c.as_str()),
        );
    }
    if authors {
        for c in profile::Column::iter() {
            q.expr_as(
                Expr::col((author.clone(), c)),
                format!("{AUTHOR}{}", c.as_str()),
            );
        }
    }
    q.from(group::Entity).join(
        JoinType::LeftJoin,
        seen::Entity,
        Expr::col((seen::Entity, seen::Column::UserId))
            .equals((group::Entity, group::Column::RecipientId)),
    );
    join_post(&mut q);
    q.and_where(Expr::col((group::Entity, group::Column::RecipientId)).eq(viewer()))
        .cond_where(shown_to(viewer()))
        .and_where(Expr::col((group::Entity, group::Column::TopId)).lt(slot(1)));
    if let Some(mask) = kinds {
        let kinds = NotificationKind::ALL
            .into_iter()
            .enumerate()
            .filter(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, kind)| kind.as_str());
        q.and_where(Expr::col((group::Entity, group::Column::Kind)).is_in(kinds));
    }
    q.order_by((group::Entity, group::Column::TopId), Order::Desc)
        .limit(limit)
        .take()
}

/// `actors(first:)` as asked: 0 to [`MAX_ACTORS`].
pub fn actors_wanted(first: Option<i32>) -> Result<u64, AppError> {
    let first = first.unwrap_or(3);
    if !(0..=MAX_ACTORS).contains(&first) {
        return Err(AppError::BadUserInput(format!(
            "`first` of `actors` must be between 0 and {MAX_ACTORS}."
        )));
    }
    Ok(u64::try_from(first).unwrap_or(0))
}

/// The `n` newest actors of each of `groups`, newest first, with whether
/// `viewer` follows each, leaving out those that block it or that it
/// blocks (before each group's `LIMIT`): one statement for all the groups,
/// or, when `kept` (the groups' page in the cache) has them, their
/// profiles by key.
pub async fn actors(
    state: &AppState,
    viewer: Uuid,
    groups: &[Uuid],
    n: u64,
    kept: Option<&KeptInbox>,
) -> Result<HashMap<Uuid, Vec<Actor>>, AppError> {
    if n == 0 || groups.is_empty() {
        return Ok(HashMap::new());
    }
    let Some(cell) = kept
        .filter(|k| k.is_of(groups))
        .and_then(|k| k.actors_cell(n))
    else {
        return read_actors(state, viewer, groups, n).await;
    };
    // The first request reads them and keeps them for the page; the
    // others, at once or later, wait for that and read the profiles by key.
    let mut read = None;
    let kept = cell
        .get_or_try_init(|| async {
            let found = read_actors(state, viewer, groups, n).await?;
            let ids: KeptActors = found
                .iter()
                .map(|(group, actors)| {
                    let ids = actors
                        .iter()
                        .map(|a| (a.profile.user_id, a.viewer_follows))
                        .collect();
                    (*group, ids)
                })
                .collect();
            read = Some(found);
            Ok::<_, AppError>(Arc::new(ids))
        })
        .await?;
    if let Some(found) = read {
        return Ok(found);
    }
    match actors_by_key(state, kept).await? {
        Some(found) => Ok(found),
        None => read_actors(state, viewer, groups, n).await,
    }
}

/// Kept actors with their profiles read again by key (one statement); none
/// when one of them is gone.
async fn actors_by_key(
    state: &AppState,
    kept: &KeptActors,
) -> Result<Option<HashMap<Uuid, Vec<Actor>>>, AppError> {
    let mut ids: Vec<Uuid> = kept.values().flatten().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let profiles: HashMap<Uuid, profile::Model> =
        crate::service::profile::by_ids(state, &db::padded(ids))
            .await?
            .into_iter()
            .map(|p| (p.user_id, p))
            .collect();
    let mut found = HashMap::with_capacity(kept.len());
    for (group, actors) in kept {
        let mut shown = Vec::with_capacity(actors.len());
        for (id, viewer_follows) in actors {
            let Some(profile) = profiles.get(id) else {
                return Ok(None);
            };
            shown.push(Actor {
                profile: profile.clone(),
                viewer_follows: *viewer_follows,
            });
        }
        found.insert(*group, shown);
    }
    Ok(Some(found))
}

/// The actors by their statement (see [`actors`]).
async fn read_actors(
    state: &AppState,
    viewer: Uuid,
    groups: &[Uuid],
    n: u64,
) -> Result<HashMap<Uuid, Vec<Actor>>, AppError> {
    let mut found: HashMap<Uuid, Vec<Actor>> = HashMap::with_capacity(groups.len());
    let values: Vec<_> = std::iter::once(viewer)
        .chain(groups.iter().copied())
        .map(Into::into)
        .collect();
    let statement = SHAPES.statement(
        state.backend(),
        Shape::Actors {
            groups: groups.len(),
            n,
        },
        || actors_statement(groups.len(), n),
        &values,
    )?;
    let rows = state.db().query_all_raw(statement).await?;
    let mut read = rows
        .iter()
        .map(|row| {
            let group: Uuid = row.try_get_by_index(0)?;
            let event: Uuid = row.try_get_by_index(1)?;
            let followed: Option<Uuid> = row.try_get_by_index(2)?;
            let actor = Actor {
                profile: profile_at(row, 3)?,
                viewer_follows: followed.is_some(),
            };
            Ok((group, event, actor))
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    read.sort_by_key(|&(_, event, _)| std::cmp::Reverse(event));
    for (group, _, actor) in read {
        found.entry(group).or_default().push(actor);
    }
    Ok(found)
}

/// `SELECT group, event, follow, profile… FROM (newest n of group 1 UNION
/// ALL newest n of group 2 …)` joined to the actors' profiles and the
/// viewer's follows of them, for `groups` groups (the viewer in slot 0,
/// the groups from slot 1 on).
fn actors_statement(groups: usize, n: u64) -> SelectStatement {
    let viewer = || Expr::val(slot(0));
    // Each range is a derived table of its own: SQLite allows no `LIMIT`
    // on a member of a compound select.
    let range = |i: usize| {
        let newest = Query::select()
            .columns([
                event::Column::Id,
                event::Column::GroupId,
                event::Column::ActorId,
            ])
            .from(event::Entity)
            .and_where(Expr::col(event::Column::GroupId).eq(slot(1 + i)))
            .cond_where(visibility::may_list(
                Some(viewer()),
                Expr::col((event::Entity, event::Column::ActorId)),
            ))
            .order_by(event::Column::Id, Order::Desc)
            .limit(n)
            .take();
        Query::select()
            .columns([
                event::Column::Id,
                event::Column::GroupId,
                event::Column::ActorId,
            ])
            .from_subquery(newest, Alias::new(format!("r{i}")))
            .take()
    };
    let mut union = range(0);
    for i in 1..groups {
        union.union(UnionType::All, range(i));
    }
    let newest = Alias::new("newest").into_iden();
    let mut q = Query::select();
    q.column((newest.clone(), event::Column::GroupId))
        .column((newest.clone(), event::Column::Id))
        .expr_as(Expr::col((follow::Entity, follow::Column::Id)), FOLLOWED);
    for c in profile::Column::iter() {
        q.expr_as(
            Expr::col((profile::Entity, c)),
            format!("{ACTOR}{}", c.as_str()),
        );
    }
    q.from_subquery(union, newest.clone())
        .join(
            JoinType::InnerJoin,
            profile::Entity,
            Expr::col((profile::Entity, profile::Column::UserId))
                .equals((newest.clone(), event::Column::ActorId)),
        )
        .join(
            JoinType::LeftJoin,
            follow::Entity,
            Expr::col((follow::Entity, follow::Column::FollowerId))
                .eq(viewer())
                .and(
                    Expr::col((follow::Entity, follow::Column::FolloweeId))
                        .equals((newest, event::Column::ActorId)),
                ),
        )
        .take()
}

/// How many of the groups `user` is shown are unread: exact up to
/// [`UNREAD_CAP`], then that. One statement.
pub async fn unread_count(state: &AppState, user: Uuid) -> Result<i32, AppError> {
    unread_count_on(state.db(), state.backend(), user).await
}

async fn unread_count_on(
    conn: &impl ConnectionTrait,
    backend: sea_orm::DbBackend,
    user: Uuid,
) -> Result<i32, AppError> {
    let marker = Query::select()
        .column(seen::Column::UntilId)
        .from(seen::Entity)
        .and_where(Expr::col(seen::Column::UserId).eq(user))
        .take();
    let mut unread = Query::select();
    unread
        .column((group::Entity, group::Column::Id))
        .from(group::Entity);
    join_post(&mut unread);
    unread
        .and_where(Expr::col((group::Entity, group::Column::RecipientId)).eq(user))
        .and_where(
            Expr::col((group::Entity, group::Column::TopId)).gt(Func::coalesce([
                Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(marker))),
                Expr::value(Uuid::nil()),
            ])),
        )
        .cond_where(shown_to(Expr::val(user)))
        .limit(UNREAD_CAP);
    let count = Query::select()
        .expr_as(Expr::col(sea_orm::sea_query::Asterisk).count(), "n")
        .from_subquery(unread, Alias::new("unread"))
        .take();
    let row = conn
        .query_one_raw(db::with_literal_counts(backend, &count))
        .await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

/// Moves `viewer`'s seen marker to `until` (`now` when `until` is later),
/// never back; answers the unread count after it.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn mark_seen(
    state: &AppState,
    viewer: &Viewer,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<i32, AppError> {
    let until_id = last_id_of(Ord::min(until, now));
    let user = viewer.user_id;
    let db = state.db();
    // The row, if it is not there yet (a concurrent insert wins quietly),
    // then forward only: each statement is atomic, so racing calls leave
    // the latest `until` of them.
    seen::Entity::insert(seen::ActiveModel {
        user_id: Set(user),
        until_id: Set(until_id),
    })
    .on_conflict_do_nothing_on([seen::Column::UserId])
    .exec(db)
    .await?;
    seen::Entity::update_many()
        .col_expr(seen::Column::UntilId, Expr::value(until_id))
        .filter(seen::Column::UserId.eq(user))
        .filter(seen::Column::UntilId.lt(until_id))
        .exec(db)
        .await?;
    // Its groups' `read`.
    state.feed_cache().inbox_changed([user]).await;
    unread_count(state, user).await
}

/// Deletes the groups whose newest event is older than the retention
/// (`NOTIFICATION_RETENTION`), events first, [`PRUNE_BATCH`] groups a
/// transaction; answers how many groups went.
pub async fn prune(state: &AppState, now: DateTime<Utc>) -> Result<u64, AppError> {
    let retention = chrono::Duration::from_std(state.policy().notification_retention)
        .unwrap_or(chrono::Duration::MAX);
    let cutoff = now
        .checked_sub_signed(retention)
        .map_or(Uuid::nil(), first_id_of);
    let mut pruned = 0;
    loop {
        let txn = state.db().begin().await?;
        // Locked (PostgreSQL, MySQL) until they are gone: an event joining
        // one of them meanwhile waits, then finds it gone and starts a new
        // group (see `record`).
        let ids: Vec<Uuid> = group::Entity::find()
            .select_only()
            .column(group::Column::Id)
            .filter(group::Column::TopId.lt(cutoff))
            .order_by_asc(group::Column::TopId)
            .limit(PRUNE_BATCH)
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(pruned);
        }
        event::Entity::delete_many()
            .filter(event::Column::GroupId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        let gone = group::Entity::delete_many()
            .filter(group::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        if gone > 0 {
            state.feed_cache().inbox_changed_all().await;
        }
        pruned += gone;
        if (ids.len() as u64) < PRUNE_BATCH {
            return Ok(pruned);
        }
    }
}

/// The unix millisecond a UUIDv7 carries, as a moment (the epoch for an
/// id of another version, which the inbox never writes).
pub fn moment_of(id: Uuid) -> DateTime<Utc> {
    let ms = id
        .get_timestamp()
        .map(|t| {
            let (secs, nanos) = t.to_unix();
            i64::try_from(secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000)
                .saturating_add(i64::from(nanos / 1_000_000))
        })
        .unwrap_or(0);
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn millis(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

/// The largest UUIDv7 of `at`'s millisecond: every event of that
/// millisecond or before has an id at or below it.
pub fn last_id_of(at: DateTime<Utc>) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(millis(at), &[0xff; 10]).into_uuid()
}

/// The smallest UUIDv7 of `at`'s millisecond.
fn first_id_of(at: DateTime<Utc>) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(millis(at), &[0; 10]).into_uuid()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn an_id_of_a_millisecond_lies_between_its_first_and_last_ids() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap()
            + chrono::Duration::milliseconds(123);
        let next = at + chrono::Duration::milliseconds(1);
        let id = uuid::Builder::from_unix_timestamp_millis(millis(at), &[0x5a; 10]).into_uuid();
        assert!(first_id_of(at) <= id && id <= last_id_of(at));
        assert!(last_id_of(at) < first_id_of(next));
        assert!(last_id_of(at - chrono::Duration::milliseconds(1)) < id);
        assert_eq!(moment_of(id), at);
        assert_eq!(moment_of(last_id_of(at)), at);
        assert_eq!(last_id_of(at).get_version_num(), 7);
    }

    #[test]
    fn actors_wanted_is_bounded() {
        assert_eq!(actors_wanted(None).unwrap(), 3);
        assert_eq!(actors_wanted(Some(0)).unwrap(), 0);
        assert_eq!(actors_wanted(Some(100)).unwrap(), 100);
        assert!(actors_wanted(Some(101)).is_err());
        assert!(actors_wanted(Some(-1)).is_err());
    }

    #[test]
    fn the_actors_statement_reads_a_bounded_range_per_group() {
        let q = actors_statement(3, 3);
        for backend in [
            sea_orm::DbBackend::Sqlite,
            sea_orm::DbBackend::Postgres,
            sea_orm::DbBackend::MySql,
        ] {
            let sql = backend.build(&q).sql;
            assert_eq!(sql.matches("UNION ALL").count(), 2, "{sql}");
            assert_eq!(sql.matches("LIMIT").count(), 3, "{sql}");
        }
    }

    #[test]
    fn a_groups_row_is_read_where_the_statement_puts_each_column() {
        // The positions `read_group` reads by are those of the columns the
        // statement selects, in their order.
        let sql = sea_orm::DbBackend::Sqlite
            .build(&groups_statement(20, None, true))
            .sql;
        let selected = &sql[..sql.find(" FROM ").unwrap()];
        let names: Vec<&str> = selected
            .split(", ")
            .map(|c| c.rsplit(' ').next().unwrap().trim_matches('"'))
            .map(|c| c.rsplit('.').next().unwrap().trim_matches('"'))
            .collect();
        assert_eq!(names[GROUP_AT + group::Column::TopId as usize], "top_id");
        assert_eq!(names[GROUP_AT + group::Column::Kind as usize], "kind");
        assert_eq!(names[SEEN_AT], SEEN_UNTIL);
        for c in post::Column::iter() {
            assert_eq!(names[POST_AT + c as usize], format!("{POST}{}", c.as_str()));
        }
        for c in profile::Column::iter() {
            assert_eq!(
                names[AUTHOR_AT + c as usize],
                format!("{AUTHOR}{}", c.as_str())
            );
        }
        assert_eq!(names.len(), AUTHOR_AT + profile::Column::iter().count());
        let without = sea_orm::DbBackend::Sqlite
            .build(&groups_statement(20, None, false))
            .sql;
        let selected_without = &without[..without.find(" FROM ").unwrap()];
        assert!(!selected_without.contains("\"author\"."), "{without}");
        let actors = sea_orm::DbBackend::Sqlite
            .build(&actors_statement(2, 3))
            .sql;
        let selected = &actors[..actors.find(" FROM ").unwrap()];
        for c in profile::Column::iter() {
            let name = format!("{ACTOR}{}", c.as_str());
            let position = selected
                .split(", ")
                .position(|col| col.ends_with(&format!("\"{name}\"")));
            assert_eq!(position, Some(3 + c as usize), "{name}");
        }
    }
}
