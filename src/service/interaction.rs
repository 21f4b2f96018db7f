//! Likes and reposts: one per (post, account), added and removed
//! idempotently, with the post's count and its author's notification
//! written in the same transaction.
//!
//! A like or repost first passes the guard (no block between the viewer and
//! the author; it locks both profiles). Every change then locks the post's
//! row (an update of its count), then touches the like or repost: so
//! concurrent likes of one post count exactly, a like and an unlike of one
//! pair cannot deadlock, and a post deleted meanwhile answers NOT_FOUND
//! with nothing written.
//!
//! An undone repost keeps its row, with `removed_at` set, for feeds being
//! paged (see `service::feed`); a repost again revives it as a new entry.
//! Live reposts are those with no `removed_at`.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::notification::{self, NotificationKind, Subject};
use super::page::{Kind, Page, PageRequest};
use super::problem::{Field, InputProblem, ProblemKind};
use super::safety::visibility;
use crate::auth::Viewer;
use crate::entity::{post, post_like, profile, repost};
use crate::error::AppError;
use crate::live::Event;
use crate::state::AppState;

fn not_found() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::NotFound,
        Some(Field::PostIdArgument),
    ))
}

/// What a mutation of this module does to the pair (post, viewer):
/// `like` (again: nothing changes), `unlike` (if it did), `repost` (the
/// repost enters the feeds of the viewer and its followers now), or
/// `unrepost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Like,
    Unlike,
    Repost,
    Unrepost,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Self::Like => "like",
            Self::Unlike => "unlike",
            Self::Repost => "repost",
            Self::Unrepost => "unrepost",
        }
    }

    fn count(self) -> post::Column {
        match self {
            Self::Like | Self::Unlike => post::Column::LikeCount,
            Self::Repost | Self::Unrepost => post::Column::RepostCount,
        }
    }

    fn kind(self) -> NotificationKind {
        match self {
            Self::Like | Self::Unlike => NotificationKind::Like,
            Self::Repost | Self::Unrepost => NotificationKind::Repost,
        }
    }
}

/// Applies `change` to the viewer and the post; answers the post as it is
/// now. A change that changed something writes its live events with it:
/// the post's counts, a repost's feed entry, the author's notification.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id, change = ?change))]
pub async fn apply(
    state: &AppState,
    viewer: &Viewer,
    post: &str,
    change: Change,
) -> Result<post::Model, AppError> {
    let post = Uuid::parse_str(post).map_err(|_| not_found())?;
    let user = viewer.user_id;
    // The author first, with a plain read (a post's author never changes),
    // outside the transaction: the guard locks the profiles before the
    // post's row (the locking protocol).
    let author: Uuid = post::Entity::find_by_id(post)
        .select_only()
        .column(post::Column::AuthorId)
        .into_tuple()
        .one(state.db())
        .await?
        .ok_or_else(not_found)?;
    let (post, changed) = super::tasks::to_completion_retrying(state, |state| async move {
        let txn = state.db().begin().await?;
        // Refused across a block (the guard locks both profiles, before
        // the post's row), and for a post the viewer may not see, or (a
        // repost) not share: taking back too, as the contract says.
        if let Err(e) = super::safety::guard::guard(&txn, user, author, Field::PostIdArgument).await
        {
            txn.rollback().await?;
            return Err(e);
        }
        // A post deleted since its author was read: NOT_FOUND.
        let Some(locked) = lock(&txn, post, change.count()).await? else {
            txn.rollback().await?;
            return Err(not_found());
        };
        // Read once the post is locked: on MySQL the first plain read fixes
        // the transaction's snapshot, and the notification's group must be
        // read as the like before this one left it.
        if let Err(e) = may_touch(&txn, user, author, change).await {
            txn.rollback().await?;
            return Err(e);
        }
        let delta = match change {
            Change::Like => add_like(&txn, post, user).await?,
            Change::Unlike => remove_like(&txn, post, user).await?,
            Change::Repost => add_repost(&txn, post, user).await?,
            Change::Unrepost => remove_repost(&txn, post, user).await?,
        };
        if delta == 0 {
            // Nothing to change: the row lock goes with the transaction.
            txn.rollback().await?;
            return Ok((locked, false));
        }
        add_to_count(&txn, post, change.count(), delta).await?;
        let subject = Subject::Post(post);
        let mut events = vec![Event::Counted { post }];
        if change == Change::Repost {
            events.push(Event::Reposted {
                post,
                reposter: user,
            });
        }
        if delta > 0 {
            events.extend(
                notification::record(&txn, locked.author_id, change.kind(), subject, user).await?,
            );
        } else {
            notification::retract(&txn, locked.author_id, change.kind(), subject, user).await?;
        }
        let post = post::Entity::find_by_id(post)
            .one(&txn)
            .await?
            .ok_or_else(not_found)?;
        let events = state.live().write(&txn, events).await?;
        txn.commit().await?;
        if matches!(change, Change::Repost | Change::Unrepost) {
            state.feed_cache().changed([user]).await;
        }
        if locked.author_id != user {
            // Its group gained or lost the actor.
            state.feed_cache().inbox_changed([locked.author_id]).await;
        }
        state.live().publish(events);
        Ok((post, true))
    })
    .await?;
    if changed {
        metrics::counter!("interactions_total", "change" => change.name()).increment(1);
    }
    Ok(post)
}

/// Whether `user` may apply `change` to a post of `author`, past the
/// guard: only to a post it may see (else NOT_FOUND), and a locked
/// author's post is reposted by its author alone (NOT_ALLOWED). The
/// guard's share lock on the author's profile keeps `locked` as read
/// until the commit.
async fn may_touch(
    txn: &DatabaseTransaction,
    user: Uuid,
    author: Uuid,
    change: Change,
) -> Result<(), AppError> {
    if user == author {
        return Ok(());
    }
    let author = profile::Entity::find_by_id(author)
        .one(txn)
        .await?
        .ok_or_else(not_found)?;
    if !author.locked {
        return Ok(());
    }
    if !super::safety::visibility::may_see(txn, Some(user), &author).await? {
        return Err(not_found());
    }
    if change == Change::Repost {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::NotAllowed,
            Some(Field::PostIdArgument),
        )));
    }
    Ok(())
}

/// Locks the post's row (an update of `count` by nothing) and reads it;
/// none when there is no such post.
async fn lock(
    txn: &DatabaseTransaction,
    post: Uuid,
    count: post::Column,
) -> Result<Option<post::Model>, AppError> {
    add_to_count(txn, post, count, 0).await?;
    Ok(post::Entity::find_by_id(post).one(txn).await?)
}

/// `column` of the post, by `delta`.
async fn add_to_count(
    conn: &impl ConnectionTrait,
    post: Uuid,
    column: post::Column,
    delta: i32,
) -> Result<(), AppError> {
    post::Entity::update_many()
        .col_expr(column, Expr::col(column).add(delta))
        .filter(post::Column::Id.eq(post))
        .exec(conn)
        .await?;
    Ok(())
}

/// A row written by the viewer whose profile went since its token was
/// checked: the account is being deleted, and its token dies with it.
fn gone(e: sea_orm::DbErr) -> AppError {
    if super::db_error::is_foreign_key_violation(&e) {
        AppError::Unauthenticated
    } else {
        e.into()
    }
}

/// Answers 1 when the like is new, 0 when it was there.
async fn add_like(txn: &DatabaseTransaction, post: Uuid, user: Uuid) -> Result<i32, AppError> {
    if liked(txn, post, user).await? {
        return Ok(0);
    }
    post_like::ActiveModel {
        id: Set(Uuid::now_v7()),
        post_id: Set(post),
        user_id: Set(user),
        created_at: Set(super::clock::now()),
    }
    .insert(txn)
    .await
    .map_err(gone)?;
    Ok(1)
}

async fn liked(txn: &DatabaseTransaction, post: Uuid, user: Uuid) -> Result<bool, AppError> {
    Ok(post_like::Entity::find()
        .select_only()
        .column(post_like::Column::Id)
        .filter(post_like::Column::PostId.eq(post))
        .filter(post_like::Column::UserId.eq(user))
        .into_tuple::<Uuid>()
        .one(txn)
        .await?
        .is_some())
}

/// Answers -1 when a like went, 0 when there was none.
async fn remove_like(txn: &DatabaseTransaction, post: Uuid, user: Uuid) -> Result<i32, AppError> {
    let deleted = post_like::Entity::delete_many()
        .filter(post_like::Column::PostId.eq(post))
        .filter(post_like::Column::UserId.eq(user))
        .exec(txn)
        .await?;
    Ok(if deleted.rows_affected > 0 { -1 } else { 0 })
}

/// The viewer's repost row of the post, live or not.
async fn repost_row(
    txn: &DatabaseTransaction,
    post: Uuid,
    user: Uuid,
) -> Result<Option<repost::Model>, AppError> {
    Ok(repost::Entity::find()
        .filter(repost::Column::PostId.eq(post))
        .filter(repost::Column::UserId.eq(user))
        .one(txn)
        .await?)
}

/// Answers 1 when the repost is new (or revived), 0 when it was live.
async fn add_repost(txn: &DatabaseTransaction, post: Uuid, user: Uuid) -> Result<i32, AppError> {
    let now = super::clock::now();
    let revived = match repost_row(txn, post, user).await? {
        Some(row) if row.removed_at.is_none() => return Ok(0),
        // A new entry: a new id (its moment in feeds).
        Some(_) => {
            repost::Entity::update_many()
                .col_expr(repost::Column::Id, Expr::value(Uuid::now_v7()))
                .col_expr(repost::Column::CreatedAt, Expr::value(now))
                .col_expr(
                    repost::Column::RemovedAt,
                    Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
                )
                .filter(repost::Column::PostId.eq(post))
                .filter(repost::Column::UserId.eq(user))
                .filter(repost::Column::RemovedAt.is_not_null())
                .exec(txn)
                .await?
                .rows_affected
                > 0
        }
        None => false,
    };
    // None to revive (or the purge of undone reposts took it meanwhile).
    if !revived {
        repost::ActiveModel {
            id: Set(Uuid::now_v7()),
            post_id: Set(post),
            user_id: Set(user),
            created_at: Set(now),
            removed_at: Set(None),
        }
        .insert(txn)
        .await
        .map_err(gone)?;
    }
    Ok(1)
}

/// Answers -1 when a live repost ended, 0 when there was none.
async fn remove_repost(txn: &DatabaseTransaction, post: Uuid, user: Uuid) -> Result<i32, AppError> {
    let ended = repost::Entity::update_many()
        .col_expr(repost::Column::RemovedAt, Expr::value(super::clock::now()))
        .filter(repost::Column::PostId.eq(post))
        .filter(repost::Column::UserId.eq(user))
        .filter(repost::Column::RemovedAt.is_null())
        .exec(txn)
        .await?;
    Ok(if ended.rows_affected > 0 { -1 } else { 0 })
}

/// `user`'s live repost of `post`, if there is one (its id is the entry's
/// key in feeds).
pub async fn live_repost(
    state: &AppState,
    post: Uuid,
    user: Uuid,
) -> Result<Option<repost::Model>, AppError> {
    Ok(repost::Entity::find()
        .filter(repost::Column::PostId.eq(post))
        .filter(repost::Column::UserId.eq(user))
        .filter(repost::Column::RemovedAt.is_null())
        .one(state.db())
        .await?)
}

/// Which of `posts` `viewer` likes (one statement).
pub async fn liked_among(
    state: &AppState,
    viewer: Uuid,
    posts: &[Uuid],
) -> Result<Vec<Uuid>, AppError> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(post_like::Entity::find()
        .select_only()
        .column(post_like::Column::PostId)
        .filter(post_like::Column::UserId.eq(viewer))
        .filter(post_like::Column::PostId.is_in(posts.iter().copied()))
        .into_tuple()
        .all(state.db())
        .await?)
}

/// Which of `posts` `viewer` has a live repost of (one statement).
pub async fn reposted_among(
    state: &AppState,
    viewer: Uuid,
    posts: &[Uuid],
) -> Result<Vec<Uuid>, AppError> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(repost::Entity::find()
        .select_only()
        .column(repost::Column::PostId)
        .filter(repost::Column::UserId.eq(viewer))
        .filter(repost::Column::PostId.is_in(posts.iter().copied()))
        .filter(repost::Column::RemovedAt.is_null())
        .into_tuple()
        .all(state.db())
        .await?)
}

/// A page of the profiles that like `post`, newest like first, but those
/// that block `viewer` or that it blocks, left out before the `LIMIT` so
/// the page stays full (two statements whatever the page size).
pub async fn liked_by(
    state: &AppState,
    viewer: Option<Uuid>,
    post: Uuid,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<profile::Model>, AppError> {
    let req = PageRequest::parse(Kind::Like, first, after)?;
    let mut query = post_like::Entity::find()
        .select_only()
        .column(post_like::Column::Id)
        .column(post_like::Column::UserId)
        .filter(post_like::Column::PostId.eq(post))
        .filter(visibility::may_list(
            viewer.map(Expr::val),
            Expr::col((post_like::Entity, post_like::Column::UserId)),
        ));
    if let Some(after) = req.after {
        query = query.filter(post_like::Column::Id.lt(after));
    }
    let rows: Vec<(Uuid, Uuid)> = query
        .order_by_desc(post_like::Column::Id)
        .limit(req.limit())
        .into_tuple()
        .all(state.db())
        .await?;
    super::profile::page_of(state, req, rows).await
}
