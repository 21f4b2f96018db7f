//! Threads: replies, the chain of posts above a reply, and @-mentions;
//! what a post's creation and deletion, and an account's deletion, write
//! and remove for them.
//!
//! A reply is a post with `in_reply_to_id` set, kept after its parent is
//! deleted; the parent's `reply_count` counts its live direct replies,
//! kept exact by the transactions that add and remove them (each locks the
//! parent's row with its update first). A post's `mention` rows are the
//! existing profiles its body mentions, in order of first mention.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, JoinType, Order, Query, SelectStatement,
    UnionType, WithClause,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::notification::{self, NotificationKind, Subject};
use super::page::{Kind, Page, PageRequest};
use super::safety::visibility;
use crate::domain::Handle;
use crate::entity::{mention, post, post_like, profile, repost};
use crate::error::AppError;
use crate::live::Event;
use crate::state::AppState;

/// The most posts `ancestors` answers: the nearest ones above a reply.
pub const MAX_ANCESTORS: usize = 40;
/// The most profiles one post's mentions notify.
pub const MAX_MENTIONS_NOTIFIED: usize = 10;
/// Parents whose reply count one statement lowers when an account goes.
const BATCH: usize = 500;

/// A post with its author's profile, read in the same statement.
#[derive(Debug, Clone)]
pub struct PostWithAuthor {
    pub post: post::Model,
    pub author: profile::Model,
}

/// The prefix of the author's columns beside a post's.
const AUTHOR: &str = "author_";

// ---------------------------------------------------------------- writes

/// Counts one more reply on `parent`, within the caller's transaction, and
/// answers the parent's author; `None` when there is no such post (never
/// was, or deleted meanwhile). The update comes first, so it holds the
/// parent's row: concurrent replies count exactly, and a deletion of the
/// parent waits for this transaction or has already removed the row.
pub(super) async fn add_reply(
    conn: &impl ConnectionTrait,
    parent: Uuid,
) -> Result<Option<Uuid>, AppError> {
    let counted = add_to_reply_count(conn, parent, 1).await?;
    if counted == 0 {
        return Ok(None);
    }
    Ok(post::Entity::find_by_id(parent)
        .select_only()
        .column(post::Column::AuthorId)
        .into_tuple()
        .one(conn)
        .await?)
}

/// Adds `delta` to `post`'s reply count; answers the rows changed.
async fn add_to_reply_count(
    conn: &impl ConnectionTrait,
    post: Uuid,
    delta: i32,
) -> Result<u64, AppError> {
    Ok(post::Entity::update_many()
        .col_expr(
            post::Column::ReplyCount,
            Expr::col(post::Column::ReplyCount).add(delta),
        )
        .filter(post::Column::Id.eq(post))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Stores what a new post's body mentions and notifies: the parent's
/// author of a reply (REPLY), and the first [`MAX_MENTIONS_NOTIFIED`]
/// profiles it mentions other than its author (MENTION; the parent's
/// author, told of the reply already, is not told again). Within the
/// post's transaction. Answers the notifications' events.
pub(super) async fn record_new_post(
    conn: &impl ConnectionTrait,
    post: &post::Model,
    parent_author: Option<Uuid>,
    mentioned: &[Handle],
) -> Result<Vec<Event>, AppError> {
    let mut events = Vec::new();
    if let Some(parent_author) = parent_author {
        events.extend(
            notification::record(
                conn,
                parent_author,
                NotificationKind::Reply,
                Subject::Post(post.id),
                post.author_id,
            )
            .await?,
        );
    }
    let profiles = existing_in_order(conn, mentioned).await?;
    if profiles.is_empty() {
        return Ok(events);
    }
    mention::Entity::insert_many(
        profiles
            .iter()
            .map(|(position, profile)| mention::ActiveModel {
                post_id: Set(post.id),
                profile_id: Set(*profile),
                position: Set(*position),
            }),
    )
    .exec_without_returning(conn)
    .await?;
    let notified = profiles
        .iter()
        .map(|(_, profile)| *profile)
        .filter(|p| *p != post.author_id)
        .take(MAX_MENTIONS_NOTIFIED)
        .filter(|p| Some(*p) != parent_author);
    for profile in notified {
        events.extend(
            notification::record(
                conn,
                profile,
                NotificationKind::Mention,
                Subject::Post(post.id),
                post.author_id,
            )
            .await?,
        );
    }
    Ok(events)
}

/// The profiles these handles name (one statement), in the order of
/// `handles`, each with its place among them (0 for the first); handles
/// of no profile are left out.
async fn existing_in_order(
    conn: &impl ConnectionTrait,
    handles: &[Handle],
) -> Result<Vec<(i32, Uuid)>, AppError> {
    if handles.is_empty() {
        return Ok(Vec::new());
    }
    let found: HashMap<String, Uuid> = profile::Entity::find()
        .select_only()
        .columns([profile::Column::Handle, profile::Column::UserId])
        .filter(profile::Column::Handle.is_in(handles.iter().map(Handle::as_str)))
        .into_tuple::<(String, Uuid)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    Ok((0..)
        .zip(
            handles
                .iter()
                .filter_map(|h| found.get(h.as_str()).copied()),
        )
        .collect())
}

/// Removes what hangs on a post being deleted, within its transaction:
/// its likes and reposts (every row), its mentions, the notifications
/// about it; and one reply fewer on its parent, when that still exists.
/// Its own replies stay. Answers whose notifications went.
pub(super) async fn forget_post(
    conn: &impl ConnectionTrait,
    post: &post::Model,
) -> Result<Vec<Uuid>, AppError> {
    post_like::Entity::delete_many()
        .filter(post_like::Column::PostId.eq(post.id))
        .exec(conn)
        .await?;
    repost::Entity::delete_many()
        .filter(repost::Column::PostId.eq(post.id))
        .exec(conn)
        .await?;
    mention::Entity::delete_many()
        .filter(mention::Column::PostId.eq(post.id))
        .exec(conn)
        .await?;
    let notified = notification::forget_posts(conn, &[post.id]).await?;
    if let Some(parent) = post.in_reply_to_id {
        add_to_reply_count(conn, parent, -1).await?;
    }
    Ok(notified)
}

/// Removes what an account being deleted has done and what hangs on its
/// posts, within the deletion's transaction, before its posts go: its
/// likes and reposts (each post it liked or live-reposted counts one
/// fewer), its notifications, one reply fewer on each post of another
/// account it replied to, the likes, reposts and mentions of its posts,
/// and its mentions in the posts of others.
pub(super) async fn forget_account(
    conn: &impl ConnectionTrait,
    user: Uuid,
) -> Result<(), AppError> {
    // One like and one repost per (post, account): one fewer each. The
    // subqueries read other tables than the one updated (which MariaDB
    // requires).
    post::Entity::update_many()
        .col_expr(
            post::Column::LikeCount,
            Expr::col(post::Column::LikeCount).sub(1),
        )
        .filter(
            post::Column::Id.in_subquery(
                Query::select()
                    .column(post_like::Column::PostId)
                    .from(post_like::Entity)
                    .and_where(post_like::Column::UserId.eq(user))
                    .to_owned(),
            ),
        )
        .exec(conn)
        .await?;
    post::Entity::update_many()
        .col_expr(
            post::Column::RepostCount,
            Expr::col(post::Column::RepostCount).sub(1),
        )
        .filter(
            post::Column::Id.in_subquery(
                Query::select()
                    .column(repost::Column::PostId)
                    .from(repost::Entity)
                    .and_where(repost::Column::UserId.eq(user))
                    .and_where(repost::Column::RemovedAt.is_null())
                    .to_owned(),
            ),
        )
        .exec(conn)
        .await?;
    post_like::Entity::delete_many()
        .filter(post_like::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    repost::Entity::delete_many()
        .filter(repost::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    notification::forget_account(conn, user).await?;

    // Its replies to posts of others: their parents count fewer. A parent
    // cannot be updated with a subquery reading `post` on MariaDB, so the
    // parents are read first, and updated by how many they lose.
    let replied: Vec<(Uuid, i64)> = post::Entity::find()
        .select_only()
        .column(post::Column::InReplyToId)
        .column_as(post::Column::Id.count(), "replies")
        .filter(post::Column::AuthorId.eq(user))
        .filter(post::Column::InReplyToId.is_not_null())
        .group_by(post::Column::InReplyToId)
        .into_tuple()
        .all(conn)
        .await?;
    let mut by_count: BTreeMap<i64, Vec<Uuid>> = BTreeMap::new();
    for (parent, replies) in replied {
        by_count.entry(replies).or_default().push(parent);
    }
    for (replies, parents) in by_count {
        let delta = i32::try_from(replies).map_err(AppError::internal)?;
        for chunk in parents.chunks(BATCH) {
            post::Entity::update_many()
                .col_expr(
                    post::Column::ReplyCount,
                    Expr::col(post::Column::ReplyCount).sub(delta),
                )
                .filter(post::Column::Id.is_in(chunk.iter().copied()))
                .filter(post::Column::AuthorId.ne(user))
                .exec(conn)
                .await?;
        }
    }

    // What hangs on its posts, and its mentions in those of others.
    let own_posts = || {
        Query::select()
            .column(post::Column::Id)
            .from(post::Entity)
            .and_where(post::Column::AuthorId.eq(user))
            .to_owned()
    };
    post_like::Entity::delete_many()
        .filter(post_like::Column::PostId.in_subquery(own_posts()))
        .exec(conn)
        .await?;
    repost::Entity::delete_many()
        .filter(repost::Column::PostId.in_subquery(own_posts()))
        .exec(conn)
        .await?;
    mention::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(mention::Column::PostId.in_subquery(own_posts()))
                .add(mention::Column::ProfileId.eq(user)),
        )
        .exec(conn)
        .await?;
    Ok(())
}

// ----------------------------------------------------------------- reads

/// A page of `parent`'s direct replies that `viewer` (none: anonymous)
/// may see, oldest first, each with its author (one statement: the others
/// are left out before the `LIMIT`, so the page stays full).
pub async fn replies(
    state: &AppState,
    viewer: Option<Uuid>,
    parent: Uuid,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<PostWithAuthor>, AppError> {
    let req = PageRequest::parse(Kind::Reply, first, after)?;
    let mut select = with_author();
    select.from(post::Entity);
    join_author(&mut select);
    select
        .and_where(Expr::col((post::Entity, post::Column::InReplyToId)).eq(parent))
        .cond_where(author_seen_by(viewer));
    if let Some(after) = req.after {
        select.and_where(Expr::col((post::Entity, post::Column::Id)).gt(after));
    }
    select
        .order_by((post::Entity, post::Column::Id), Order::Asc)
        .limit(req.limit());
    let rows = state.db().query_all(&select).await?;
    let items = rows
        .iter()
        .map(|row| read_with_author(row).map(|item| (item.post.id, item)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(req, items))
}

/// The post with this id and its author's profile (one statement).
pub async fn post_with_author(
    state: &AppState,
    id: Uuid,
) -> Result<Option<PostWithAuthor>, AppError> {
    let mut select = with_author();
    select.from(post::Entity);
    join_author(&mut select);
    select.and_where(Expr::col((post::Entity, post::Column::Id)).eq(id));
    let row = state.db().query_one(&select).await?;
    Ok(row.as_ref().map(read_with_author).transpose()?)
}

/// The [`MAX_ANCESTORS`] nearest posts above `post`, farthest first, each
/// with its author: from the thread's root when the thread is no deeper.
/// The chain stops at a deleted post. Those `viewer` (none: anonymous) may
/// not see are left out of the answer, but the walk goes on through them
/// (they still count among the 40), so the visible posts above a hidden
/// one keep their place. One statement, a recursive common table walking
/// up from the parent with a depth counter; none for a post that replies
/// to nothing.
pub async fn ancestors(
    state: &AppState,
    viewer: Option<Uuid>,
    post: &post::Model,
) -> Result<Vec<PostWithAuthor>, AppError> {
    let Some(parent) = post.in_reply_to_id else {
        return Ok(Vec::new());
    };
    let chain = Alias::new("chain");
    let (id, up, hops) = (Alias::new("id"), Alias::new("up"), Alias::new("hops"));
    let mut start = Query::select()
        .column(post::Column::Id)
        .column(post::Column::InReplyToId)
        .expr(Expr::val(1))
        .from(post::Entity)
        .and_where(Expr::col(post::Column::Id).eq(parent))
        .to_owned();
    let step = Query::select()
        .column((post::Entity, post::Column::Id))
        .column((post::Entity, post::Column::InReplyToId))
        .expr(Expr::col((chain.clone(), hops.clone())).add(1))
        .from(chain.clone())
        .join(
            JoinType::InnerJoin,
            post::Entity,
            Expr::col((post::Entity, post::Column::Id)).equals((chain.clone(), up.clone())),
        )
        .and_where(Expr::col((chain.clone(), hops.clone())).lt(MAX_ANCESTORS as i32))
        .to_owned();
    let walk = CommonTableExpression::new()
        .query(start.union(UnionType::All, step).to_owned())
        .table_name(chain.clone())
        .columns([id.clone(), up, hops.clone()])
        .to_owned();
    let mut select = with_author();
    select.from(chain.clone()).join(
        JoinType::InnerJoin,
        post::Entity,
        Expr::col((post::Entity, post::Column::Id)).equals((chain.clone(), id)),
    );
    join_author(&mut select);
    select
        .cond_where(author_seen_by(viewer))
        .order_by((chain, hops), Order::Desc);
    let query = select.with(WithClause::new().recursive(true).cte(walk).to_owned());
    let rows = state.db().query_all(&query).await?;
    Ok(rows
        .iter()
        .map(read_with_author)
        .collect::<Result<Vec<_>, _>>()?)
}

/// The profiles each of these posts mentions, in order of first mention,
/// but those that block `viewer` or that it blocks (one statement); every
/// post asked has an entry.
pub async fn mentions_of(
    state: &AppState,
    viewer: Option<Uuid>,
    posts: &[Uuid],
) -> Result<HashMap<Uuid, Vec<profile::Model>>, AppError> {
    let mut found: HashMap<Uuid, Vec<profile::Model>> =
        posts.iter().map(|p| (*p, Vec::new())).collect();
    if posts.is_empty() {
        return Ok(found);
    }
    const MENTIONED_IN: &str = "mentioned_in";
    let select = Query::select()
        .columns(profile::Column::iter().map(|c| (profile::Entity, c)))
        .expr_as(
            Expr::col((mention::Entity, mention::Column::PostId)),
            Alias::new(MENTIONED_IN),
        )
        .from(mention::Entity)
        .join(
            JoinType::InnerJoin,
            profile::Entity,
            Expr::col((profile::Entity, profile::Column::UserId))
                .equals((mention::Entity, mention::Column::ProfileId)),
        )
        .and_where(
            Expr::col((mention::Entity, mention::Column::PostId)).is_in(posts.iter().copied()),
        )
        .cond_where(visibility::may_list(
            viewer.map(Expr::val),
            Expr::col((mention::Entity, mention::Column::ProfileId)),
        ))
        .order_by((mention::Entity, mention::Column::PostId), Order::Asc)
        .order_by((mention::Entity, mention::Column::Position), Order::Asc)
        .to_owned();
    for row in state.db().query_all(&select).await? {
        let post: Uuid = row.try_get("", MENTIONED_IN)?;
        let profile = profile::Model::from_query_result(&row, "")?;
        found.entry(post).or_default().push(profile);
    }
    Ok(found)
}

/// The rule for a statement of [`with_author`]: the post's author (joined
/// by [`join_author`]) lets `viewer` see its posts.
fn author_seen_by(viewer: Option<Uuid>) -> sea_orm::Condition {
    visibility::may_see_posts(
        viewer.map(Expr::val),
        Expr::col((post::Entity, post::Column::AuthorId)),
        Some(Expr::col((profile::Entity, profile::Column::Locked))),
    )
}

/// A select of `post`'s columns and its author's (named with [`AUTHOR`]);
/// the caller adds its `FROM` and joins `post`, then [`join_author`].
fn with_author() -> SelectStatement {
    let mut select = Query::select();
    select.columns(post::Column::iter().map(|c| (post::Entity, c)));
    for c in profile::Column::iter() {
        select.expr_as(
            Expr::col((profile::Entity, c)),
            Alias::new(format!("{AUTHOR}{}", c.as_str())),
        );
    }
    select
}

/// Joins each post's author, for [`with_author`]'s columns.
fn join_author(select: &mut SelectStatement) {
    select.join(
        JoinType::InnerJoin,
        profile::Entity,
        Expr::col((profile::Entity, profile::Column::UserId))
            .equals((post::Entity, post::Column::AuthorId)),
    );
}

fn read_with_author(row: &sea_orm::QueryResult) -> Result<PostWithAuthor, sea_orm::DbErr> {
    Ok(PostWithAuthor {
        post: post::Model::from_query_result(row, "")?,
        author: profile::Model::from_query_result(row, AUTHOR)?,
    })
}
