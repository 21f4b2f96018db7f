//! Blocks and mutes, by handle, idempotent.
//!
//! A block undoes, in its own transaction, everything that ties the two
//! accounts: the follows both ways, pending follow requests, the likes and
//! live reposts each made of the other's posts, and each one's events in
//! the other's inbox, every count kept exact. It takes both profile rows
//! first (the locking protocol, see `guard`): a write across the two that
//! passed its guard has committed by then, and one that comes later finds
//! the block. Replies stay (the read paths hide them). A mute is a row and
//! nothing else: the muted account cannot tell.

use std::collections::BTreeSet;

use sea_orm::sea_query::{Cond, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::guard::{Mode, lock_in_order};
use crate::auth::Viewer;
use crate::entity::{block, follow, follow_request, mute, post, post_like, profile, repost};
use crate::error::AppError;
use crate::live::Event;
use crate::service::notification;
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::state::AppState;

/// Posts named in one statement's list at most.
const CHUNK: usize = 500;

pub(crate) fn no_such_handle() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::NotFound,
        Some(Field::HandleArgument),
    ))
}

/// The account `handle` names, which must not be the viewer's (`what`
/// names the refused act).
async fn other(
    state: &AppState,
    viewer: &Viewer,
    handle: &str,
    what: &str,
) -> Result<profile::Model, AppError> {
    let target = crate::service::profile::by_handle(state, handle)
        .await?
        .ok_or_else(no_such_handle)?;
    if target.user_id == viewer.user_id {
        return Err(AppError::BadUserInput(format!(
            "You cannot {what} yourself."
        )));
    }
    Ok(target)
}

/// The profile as it is now (its counts changed with the block).
async fn now(state: &AppState, id: Uuid) -> Result<profile::Model, AppError> {
    crate::service::profile::by_id(state, id)
        .await?
        .ok_or_else(no_such_handle)
}

/// The viewer blocks `handle` (again: nothing changes). Answers that profile.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn block(
    state: &AppState,
    viewer: &Viewer,
    handle: &str,
) -> Result<profile::Model, AppError> {
    let target = other(state, viewer, handle, "block").await?.user_id;
    let me = viewer.user_id;
    let added = crate::service::tasks::to_completion_retrying(state, |state| async move {
        let txn = state.db().begin().await?;
        lock_in_order(&txn, &[(me, Mode::Exclusive), (target, Mode::Exclusive)]).await?;
        // Every read until the posts are locked is a locking read: on MySQL
        // the first plain read fixes the snapshot that the inbox's reads
        // see, and it must show the likes that committed before the post
        // rows were taken.
        let exists = block::Entity::find()
            .select_only()
            .column(block::Column::Id)
            .filter(block::Column::BlockerId.eq(me))
            .filter(block::Column::BlockedId.eq(target))
            .lock_shared()
            .into_tuple::<Uuid>()
            .one(&txn)
            .await?
            .is_some();
        if exists {
            txn.rollback().await?;
            return Ok(false);
        }
        let inserted = block::ActiveModel {
            id: Set(Uuid::now_v7()),
            blocker_id: Set(me),
            blocked_id: Set(target),
            created_at: Set(crate::service::clock::now()),
        }
        .insert(&txn)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if crate::service::db_error::is_foreign_key_violation(&e) => {
                txn.rollback().await?;
                return Err(no_such_handle());
            }
            Err(e) => return Err(e.into()),
        }
        let mut counted = BTreeSet::new();
        for (actor, other) in [(me, target), (target, me)] {
            end_follow(&txn, actor, other).await?;
            follow_request::Entity::delete_many()
                .filter(follow_request::Column::RequesterId.eq(actor))
                .filter(follow_request::Column::TargetId.eq(other))
                .exec(&txn)
                .await?;
            counted.extend(unlike_all(&txn, actor, other).await?);
            counted.extend(unrepost_all(&txn, actor, other).await?);
        }
        // Then the inboxes: the groups about the posts whose likes and
        // reposts went, locked above; follows and requests of either
        // wait for the profiles.
        for (actor, other) in [(me, target), (target, me)] {
            notification::retract_actor(&txn, other, actor).await?;
        }
        let events = counted.into_iter().map(|post| Event::Counted { post });
        let events = state.live().write(&txn, events.collect()).await?;
        txn.commit().await?;
        state.feed_cache().changed([me, target]).await;
        state.live().publish(events);
        Ok(true)
    })
    .await?;
    if added {
        metrics::counter!("blocks_total").increment(1);
    }
    now(state, target).await
}

/// Ends `follower`'s follow of `followee`, if there is one, with both counts.
async fn end_follow(
    conn: &impl ConnectionTrait,
    follower: Uuid,
    followee: Uuid,
) -> Result<(), AppError> {
    let ended = follow::Entity::delete_many()
        .filter(follow::Column::FollowerId.eq(follower))
        .filter(follow::Column::FolloweeId.eq(followee))
        .exec(conn)
        .await?
        .rows_affected;
    if ended > 0 {
        for (id, column) in [
            (follower, profile::Column::FollowingCount),
            (followee, profile::Column::FollowerCount),
        ] {
            crate::service::profile::add_to_count(conn, id, column, -1).await?;
        }
    }
    Ok(())
}

/// The ids of `author`'s posts, as a subquery.
fn posts_of(author: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(post::Column::Id)
        .from(post::Entity)
        .and_where(post::Column::AuthorId.eq(author))
        .to_owned()
}

/// The posts of `author` that `user` likes (one statement).
async fn liked_posts(
    conn: &impl ConnectionTrait,
    user: Uuid,
    author: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    Ok(post_like::Entity::find()
        .select_only()
        .column(post_like::Column::PostId)
        .filter(post_like::Column::UserId.eq(user))
        .filter(post_like::Column::PostId.in_subquery(posts_of(author)))
        .lock_exclusive()
        .into_tuple()
        .all(conn)
        .await?)
}

/// Takes back every like of `user` of the posts of `author`; answers the
/// posts whose count changed. The posts are read first: MariaDB cannot
/// update `post` through a subquery that reads it.
async fn unlike_all(
    conn: &impl ConnectionTrait,
    user: Uuid,
    author: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    let posts = liked_posts(conn, user, author).await?;
    for chunk in posts.chunks(CHUNK) {
        let ids = || chunk.iter().copied();
        post_like::Entity::delete_many()
            .filter(post_like::Column::UserId.eq(user))
            .filter(post_like::Column::PostId.is_in(ids()))
            .exec(conn)
            .await?;
        add_to_posts(conn, chunk, post::Column::LikeCount, -1).await?;
    }
    Ok(posts)
}

/// Ends every live repost by `user` of the posts of `author` as `unrepost`
/// does (the row stays, `removed_at` set, for feeds being paged); answers
/// the posts whose count changed.
async fn unrepost_all(
    conn: &impl ConnectionTrait,
    user: Uuid,
    author: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    let posts: Vec<Uuid> = repost::Entity::find()
        .select_only()
        .column(repost::Column::PostId)
        .filter(repost::Column::UserId.eq(user))
        .filter(repost::Column::RemovedAt.is_null())
        .filter(repost::Column::PostId.in_subquery(posts_of(author)))
        .lock_exclusive()
        .into_tuple()
        .all(conn)
        .await?;
    let now = crate::service::clock::now();
    for chunk in posts.chunks(CHUNK) {
        repost::Entity::update_many()
            .col_expr(repost::Column::RemovedAt, Expr::value(now))
            .filter(repost::Column::UserId.eq(user))
            .filter(repost::Column::PostId.is_in(chunk.iter().copied()))
            .filter(repost::Column::RemovedAt.is_null())
            .exec(conn)
            .await?;
        add_to_posts(conn, chunk, post::Column::RepostCount, -1).await?;
    }
    Ok(posts)
}

/// `column` of each of `posts`, by `delta` (one statement).
async fn add_to_posts(
    conn: &impl ConnectionTrait,
    posts: &[Uuid],
    column: post::Column,
    delta: i32,
) -> Result<(), AppError> {
    post::Entity::update_many()
        .col_expr(column, Expr::col(column).add(delta))
        .filter(post::Column::Id.is_in(posts.iter().copied()))
        .exec(conn)
        .await?;
    Ok(())
}

/// The viewer no longer blocks `handle` (if it did). The follows the block
/// ended do not come back.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn unblock(
    state: &AppState,
    viewer: &Viewer,
    handle: &str,
) -> Result<profile::Model, AppError> {
    let target = other(state, viewer, handle, "unblock").await?;
    block::Entity::delete_many()
        .filter(block::Column::BlockerId.eq(viewer.user_id))
        .filter(block::Column::BlockedId.eq(target.user_id))
        .exec(state.db())
        .await?;
    state
        .feed_cache()
        .changed([viewer.user_id, target.user_id])
        .await;
    now(state, target.user_id).await
}

/// The viewer mutes `handle` (again: nothing changes): a row, nothing else.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn mute(
    state: &AppState,
    viewer: &Viewer,
    handle: &str,
) -> Result<profile::Model, AppError> {
    let target = other(state, viewer, handle, "mute").await?;
    let inserted = mute::ActiveModel {
        id: Set(Uuid::now_v7()),
        muter_id: Set(viewer.user_id),
        muted_id: Set(target.user_id),
        created_at: Set(crate::service::clock::now()),
    }
    .insert(state.db())
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if crate::service::db_error::is_unique_violation(&e) => {}
        Err(e) if crate::service::db_error::is_foreign_key_violation(&e) => {
            return Err(no_such_handle());
        }
        Err(e) => return Err(e.into()),
    }
    state
        .feed_cache()
        .changed([viewer.user_id, target.user_id])
        .await;
    now(state, target.user_id).await
}

/// The viewer no longer mutes `handle` (if it did).
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn unmute(
    state: &AppState,
    viewer: &Viewer,
    handle: &str,
) -> Result<profile::Model, AppError> {
    let target = other(state, viewer, handle, "unmute").await?;
    mute::Entity::delete_many()
        .filter(mute::Column::MuterId.eq(viewer.user_id))
        .filter(mute::Column::MutedId.eq(target.user_id))
        .exec(state.db())
        .await?;
    state
        .feed_cache()
        .changed([viewer.user_id, target.user_id])
        .await;
    now(state, target.user_id).await
}

/// Removes an account's blocks, mutes and follow requests, either side
/// (its deletion, within that transaction).
pub(crate) async fn forget_account(
    conn: &impl ConnectionTrait,
    user: Uuid,
) -> Result<(), AppError> {
    block::Entity::delete_many()
        .filter(
            Cond::any()
                .add(block::Column::BlockerId.eq(user))
                .add(block::Column::BlockedId.eq(user)),
        )
        .exec(conn)
        .await?;
    mute::Entity::delete_many()
        .filter(
            Cond::any()
                .add(mute::Column::MuterId.eq(user))
                .add(mute::Column::MutedId.eq(user)),
        )
        .exec(conn)
        .await?;
    follow_request::Entity::delete_many()
        .filter(
            Cond::any()
                .add(follow_request::Column::RequesterId.eq(user))
                .add(follow_request::Column::TargetId.eq(user)),
        )
        .exec(conn)
        .await?;
    Ok(())
}
