//! Follow requests: how a locked profile is followed. `follow` writes one
//! (see `service::follow`); the owner lists them, approves one (it becomes
//! a follow) or rejects it; unlocking the profile approves them all. Each
//! answer takes the request's FOLLOW_REQUEST event out of the owner's inbox.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::block::no_such_handle;
use super::guard::{self, Mode};
use crate::auth::Viewer;
use crate::entity::{follow, follow_request, profile};
use crate::error::AppError;
use crate::service::notification::{self, NotificationKind};
use crate::service::page::{Kind, Page, PageRequest};
use crate::service::problem::Field;
use crate::state::AppState;

/// Accounts named in one statement's list at most.
const CHUNK: usize = 500;

/// A page of the requests to follow the viewer, newest first: the
/// requesters' profiles (two statements whatever the page size).
pub async fn page(
    state: &AppState,
    viewer: &Viewer,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<profile::Model>, AppError> {
    let req = PageRequest::parse(Kind::FollowRequest, first, after)?;
    let mut query = follow_request::Entity::find()
        .select_only()
        .column(follow_request::Column::Id)
        .column(follow_request::Column::RequesterId)
        .filter(follow_request::Column::TargetId.eq(viewer.user_id));
    if let Some(after) = req.after {
        query = query.filter(follow_request::Column::Id.lt(after));
    }
    let rows: Vec<(Uuid, Uuid)> = query
        .order_by_desc(follow_request::Column::Id)
        .limit(req.limit())
        .into_tuple()
        .all(state.db())
        .await?;
    crate::service::profile::page_of(state, req, rows).await
}

/// What the owner answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The request becomes a follow (no FOLLOW notification: the owner
    /// made it so).
    Approve,
    /// The request goes.
    Reject,
}

/// The viewer answers `handle`'s request to follow it. Answers the
/// requester's profile as it is now; no such request is NOT_FOUND.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id, answer = ?answer))]
pub async fn answer(
    state: &AppState,
    viewer: &Viewer,
    handle: &str,
    answer: Answer,
) -> Result<profile::Model, AppError> {
    let requester = crate::service::profile::by_handle(state, handle)
        .await?
        .ok_or_else(no_such_handle)?
        .user_id;
    let owner = viewer.user_id;
    if requester == owner {
        return Err(no_such_handle());
    }
    crate::service::tasks::to_completion_retrying(state, |state| async move {
        let txn = state.db().begin().await?;
        // Both rows exclusively: an approval writes both counts.
        guard::lock_in_order(
            &txn,
            &[(owner, Mode::Exclusive), (requester, Mode::Exclusive)],
        )
        .await?;
        let request: Option<Uuid> = follow_request::Entity::find()
            .select_only()
            .column(follow_request::Column::Id)
            .filter(follow_request::Column::RequesterId.eq(requester))
            .filter(follow_request::Column::TargetId.eq(owner))
            .into_tuple()
            .one(&txn)
            .await?;
        let Some(request) = request else {
            txn.rollback().await?;
            return Err(no_such_handle());
        };
        // A block deletes requests: one that stands is across none. Asked
        // anyway, so that no follow is ever made across a block.
        guard::guard(&txn, owner, requester, Field::HandleArgument).await?;
        follow_request::Entity::delete_by_id(request)
            .exec(&txn)
            .await?;
        if answer == Answer::Approve {
            approve_in(&txn, owner, &[requester]).await?;
        }
        notification::retract_kind(&txn, owner, NotificationKind::FollowRequest, requester).await?;
        txn.commit().await?;
        state.feed_cache().changed([owner, requester]).await;
        Ok(())
    })
    .await?;
    crate::service::profile::by_id(state, requester)
        .await?
        .ok_or_else(no_such_handle)
}

/// The accounts that ask to follow `owner` (one statement).
pub(crate) async fn requesters(
    conn: &impl ConnectionTrait,
    owner: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    Ok(follow_request::Entity::find()
        .select_only()
        .column(follow_request::Column::RequesterId)
        .filter(follow_request::Column::TargetId.eq(owner))
        .into_tuple()
        .all(conn)
        .await?)
}

/// Approves every pending request to follow `owner` (it unlocks its
/// profile), within the caller's transaction, which holds the rows of the
/// owner and the `requesters` it read: a statement per chunk, not per
/// request. The FOLLOW_REQUEST groups go whole.
/// Answers the requesters approved.
pub(crate) async fn approve_all(
    conn: &impl ConnectionTrait,
    owner: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    // A locking read: the requests as they are now, not as a snapshot
    // taken earlier in the transaction saw them (MySQL).
    let pending: Vec<Uuid> = follow_request::Entity::find()
        .select_only()
        .column(follow_request::Column::RequesterId)
        .filter(follow_request::Column::TargetId.eq(owner))
        .lock_exclusive()
        .into_tuple()
        .all(conn)
        .await?;
    if pending.is_empty() {
        return Ok(pending);
    }
    follow_request::Entity::delete_many()
        .filter(follow_request::Column::TargetId.eq(owner))
        .exec(conn)
        .await?;
    approve_in(conn, owner, &pending).await?;
    notification::forget_kind(conn, owner, NotificationKind::FollowRequest).await?;
    Ok(pending)
}

/// Makes `requesters` follow `owner` (those that do not already), counts
/// included, a statement per chunk.
async fn approve_in(
    conn: &impl ConnectionTrait,
    owner: Uuid,
    requesters: &[Uuid],
) -> Result<(), AppError> {
    let now = crate::service::clock::now();
    let mut added: i32 = 0;
    for chunk in requesters.chunks(CHUNK) {
        let following: Vec<Uuid> = follow::Entity::find()
            .select_only()
            .column(follow::Column::FollowerId)
            .filter(follow::Column::FolloweeId.eq(owner))
            .filter(follow::Column::FollowerId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        let new: Vec<Uuid> = chunk
            .iter()
            .copied()
            .filter(|r| !following.contains(r))
            .collect();
        if new.is_empty() {
            continue;
        }
        follow::Entity::insert_many(new.iter().map(|r| follow::ActiveModel {
            id: Set(Uuid::now_v7()),
            follower_id: Set(*r),
            followee_id: Set(owner),
            created_at: Set(now),
        }))
        .exec_without_returning(conn)
        .await?;
        profile::Entity::update_many()
            .col_expr(
                profile::Column::FollowingCount,
                Expr::col(profile::Column::FollowingCount).add(1),
            )
            .filter(profile::Column::UserId.is_in(new.iter().copied()))
            .exec(conn)
            .await?;
        added += i32::try_from(new.len()).map_err(AppError::internal)?;
    }
    if added > 0 {
        crate::service::profile::add_to_count(conn, owner, profile::Column::FollowerCount, added)
            .await?;
    }
    Ok(())
}

/// Locks the rows of `owner` and of the accounts in `others` exclusively,
/// a statement per chunk, in the order of their ids as far as one
/// statement's index scan keeps it (a deadlock with another writer is
/// retried by the caller's `to_completion_retrying`).
pub(crate) async fn lock_many(
    conn: &impl ConnectionTrait,
    owner: Uuid,
    others: &[Uuid],
) -> Result<(), AppError> {
    let mut all: Vec<Uuid> = others.iter().copied().chain([owner]).collect();
    all.sort();
    all.dedup();
    for chunk in all.chunks(CHUNK) {
        profile::Entity::update_many()
            .col_expr(
                profile::Column::FollowingCount,
                Expr::col(profile::Column::FollowingCount).add(0),
            )
            .filter(profile::Column::UserId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    Ok(())
}
