//! Follows: one edge per pair, added and removed idempotently, with the
//! counts of both profiles and the followee's FOLLOW notification kept in
//! the same transaction as the edge. A locked profile is asked instead (a
//! follow request, see `safety::requests`); neither happens across a block.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::notification::{self, NotificationKind, Subject};
use super::page::{Kind, Page, PageRequest};
use super::problem::{Field, InputProblem, ProblemKind};
use super::safety::guard::guard;
use crate::auth::Viewer;
use crate::entity::{follow, follow_request, profile};
use crate::error::AppError;
use crate::state::AppState;

fn not_found() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::NotFound,
        Some(Field::HandleArgument),
    ))
}

/// The profile a follow or unfollow is about: it exists and is not the viewer's.
async fn target(state: &AppState, viewer: &Viewer, handle: &str) -> Result<Uuid, AppError> {
    let target = super::profile::by_handle(state, handle)
        .await?
        .ok_or_else(not_found)?;
    if target.user_id == viewer.user_id {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::CannotFollowSelf,
            Some(Field::HandleArgument),
        )));
    }
    Ok(target.user_id)
}

/// A follow's outcome: the profile as it is now, and whether the follow
/// awaits its owner's approval (a locked profile).
#[derive(Debug)]
pub struct Followed {
    pub profile: profile::Model,
    pub requested: bool,
}

/// What a follow did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Followed,
    /// Followed already, or asked already: nothing changed.
    Unchanged {
        requested: bool,
    },
    Requested,
}

/// The viewer follows `handle` (again: nothing changes); a locked profile
/// gets a request instead (again: nothing changes either). Answers the
/// followed profile as it is now.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn follow(state: &AppState, viewer: &Viewer, handle: &str) -> Result<Followed, AppError> {
    let followee = target(state, viewer, handle).await?;
    let follower = viewer.user_id;
    let outcome = super::tasks::to_completion_retrying(state, |state| async move {
        let txn = state.db().begin().await?;
        // Both profiles first, in the order of their ids, before the
        // insert's foreign-key checks take shared locks on them (on MySQL,
        // two follows of one profile that each held a shared lock and then
        // asked for the write lock deadlocked); then no block between them.
        adjust_counts(&txn, follower, followee, 0).await?;
        guard(&txn, follower, followee, Field::HandleArgument).await?;
        let Some(locked) = profile::Entity::find_by_id(followee)
            .select_only()
            .column(profile::Column::Locked)
            .into_tuple::<bool>()
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Err(not_found());
        };
        let now = super::clock::now();
        if locked && !follows(&txn, follower, followee).await? {
            return request(&state, txn, follower, followee).await;
        }
        let inserted = follow::ActiveModel {
            id: Set(Uuid::now_v7()),
            follower_id: Set(follower),
            followee_id: Set(followee),
            created_at: Set(now),
        }
        .insert(&txn)
        .await;
        let events = match inserted {
            Ok(_) => {
                adjust_counts(&txn, follower, followee, 1).await?;
                notification::record(
                    &txn,
                    followee,
                    NotificationKind::Follow,
                    Subject::day_of(now),
                    follower,
                )
                .await?
                .into_iter()
                .collect()
            }
            Err(e) if super::db_error::is_unique_violation(&e) => {
                txn.rollback().await?;
                return Ok(Outcome::Unchanged { requested: false });
            }
            // The profile went (its account was deleted) since it was read.
            Err(e) if super::db_error::is_foreign_key_violation(&e) => {
                txn.rollback().await?;
                return Err(not_found());
            }
            Err(e) => return Err(e.into()),
        };
        let events = state.live().write(&txn, events).await?;
        txn.commit().await?;
        state.feed_cache().changed([follower, followee]).await;
        state.live().publish(events);
        Ok(Outcome::Followed)
    })
    .await?;
    match outcome {
        Outcome::Followed => metrics::counter!("follows_total").increment(1),
        Outcome::Requested => metrics::counter!("follow_requests_total").increment(1),
        Outcome::Unchanged { .. } => {}
    }
    let profile = super::profile::by_id(state, followee)
        .await?
        .ok_or_else(not_found)?;
    Ok(Followed {
        profile,
        requested: matches!(
            outcome,
            Outcome::Requested | Outcome::Unchanged { requested: true }
        ),
    })
}

/// Whether `follower` follows `followee` (within the caller's transaction).
async fn follows(
    conn: &impl ConnectionTrait,
    follower: Uuid,
    followee: Uuid,
) -> Result<bool, AppError> {
    Ok(follow::Entity::find()
        .select_only()
        .column(follow::Column::Id)
        .filter(follow::Column::FollowerId.eq(follower))
        .filter(follow::Column::FolloweeId.eq(followee))
        .into_tuple::<Uuid>()
        .one(conn)
        .await?
        .is_some())
}

/// The follow of a locked profile: a request (again: nothing changes) and
/// the owner's FOLLOW_REQUEST notification, grouped per UTC day. Commits
/// or rolls back `txn`, which holds both profiles.
async fn request(
    state: &AppState,
    txn: sea_orm::DatabaseTransaction,
    requester: Uuid,
    target: Uuid,
) -> Result<Outcome, AppError> {
    let now = super::clock::now();
    let inserted = follow_request::ActiveModel {
        id: Set(Uuid::now_v7()),
        requester_id: Set(requester),
        target_id: Set(target),
        created_at: Set(now),
    }
    .insert(&txn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if super::db_error::is_unique_violation(&e) => {
            txn.rollback().await?;
            return Ok(Outcome::Unchanged { requested: true });
        }
        Err(e) if super::db_error::is_foreign_key_violation(&e) => {
            txn.rollback().await?;
            return Err(not_found());
        }
        Err(e) => return Err(e.into()),
    }
    let events: Vec<_> = notification::record(
        &txn,
        target,
        NotificationKind::FollowRequest,
        Subject::day_of(now),
        requester,
    )
    .await?
    .into_iter()
    .collect();
    let events = state.live().write(&txn, events).await?;
    txn.commit().await?;
    state.feed_cache().inbox_changed([target]).await;
    state.live().publish(events);
    Ok(Outcome::Requested)
}

/// The viewer no longer follows `handle` (if it did). Answers that profile.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn unfollow(
    state: &AppState,
    viewer: &Viewer,
    handle: &str,
) -> Result<profile::Model, AppError> {
    let followee = target(state, viewer, handle).await?;
    let follower = viewer.user_id;
    super::tasks::to_completion_retrying(state, |state| async move {
        let txn = state.db().begin().await?;
        let deleted = follow::Entity::delete_many()
            .filter(follow::Column::FollowerId.eq(follower))
            .filter(follow::Column::FolloweeId.eq(followee))
            .exec(&txn)
            .await?;
        if deleted.rows_affected > 0 {
            adjust_counts(&txn, follower, followee, -1).await?;
            notification::retract_follow(&txn, followee, follower).await?;
        }
        // A request not answered yet is withdrawn. Read, then deleted by
        // its key: a delete that finds nothing takes a gap lock on MySQL.
        let pending: Option<Uuid> = follow_request::Entity::find()
            .select_only()
            .column(follow_request::Column::Id)
            .filter(follow_request::Column::RequesterId.eq(follower))
            .filter(follow_request::Column::TargetId.eq(followee))
            .into_tuple()
            .one(&txn)
            .await?;
        if let Some(pending) = pending {
            follow_request::Entity::delete_by_id(pending)
                .exec(&txn)
                .await?;
            notification::retract_kind(&txn, followee, NotificationKind::FollowRequest, follower)
                .await?;
        }
        txn.commit().await?;
        state.feed_cache().changed([follower, followee]).await;
        Ok(())
    })
    .await?;
    super::profile::by_id(state, followee)
        .await?
        .ok_or_else(not_found)
}

/// `following_count` of the follower and `follower_count` of the followee,
/// locked in the order of their ids, so that A following B while B follows
/// A cannot deadlock.
async fn adjust_counts(
    conn: &impl ConnectionTrait,
    follower: Uuid,
    followee: Uuid,
    delta: i32,
) -> Result<(), AppError> {
    use super::profile::add_to_count;
    let mut updates = [
        (follower, profile::Column::FollowingCount),
        (followee, profile::Column::FollowerCount),
    ];
    updates.sort_by_key(|(id, _)| *id);
    for (id, column) in updates {
        add_to_count(conn, id, column, delta).await?;
    }
    Ok(())
}

/// Which of `followees` the viewer follows (one statement).
pub async fn followed_among(
    state: &AppState,
    viewer: Uuid,
    followees: &[Uuid],
) -> Result<Vec<Uuid>, AppError> {
    if followees.is_empty() {
        return Ok(Vec::new());
    }
    Ok(follow::Entity::find()
        .select_only()
        .column(follow::Column::FolloweeId)
        .filter(follow::Column::FollowerId.eq(viewer))
        .filter(follow::Column::FolloweeId.is_in(followees.iter().copied()))
        .into_tuple()
        .all(state.db())
        .await?)
}

/// Followers of `followee` named in a list at most this long per statement.
const AMONG_CHUNK: usize = 500;

/// Who follows `followee`: all of its followers, or only those among
/// `among` (an index range of `ix_follow_followee_id` either way; `among`
/// in chunks).
pub async fn followers(
    state: &AppState,
    followee: Uuid,
    among: Option<&[Uuid]>,
) -> Result<Vec<Uuid>, AppError> {
    let query = || {
        follow::Entity::find()
            .select_only()
            .column(follow::Column::FollowerId)
            .filter(follow::Column::FolloweeId.eq(followee))
    };
    let Some(among) = among else {
        return Ok(query().into_tuple().all(state.db()).await?);
    };
    let mut found = Vec::new();
    for chunk in among.chunks(AMONG_CHUNK) {
        let some: Vec<Uuid> = query()
            .filter(follow::Column::FollowerId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(state.db())
            .await?;
        found.extend(some);
    }
    Ok(found)
}

/// Which side of the edges a page lists.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    /// The profiles following this one.
    Followers,
    /// The profiles this one follows.
    Following,
}

/// A page of a profile's followers or following, newest edge first (two
/// statements whatever the page size).
pub async fn page(
    state: &AppState,
    of: Uuid,
    direction: Direction,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<profile::Model>, AppError> {
    let req = PageRequest::parse(Kind::Follow, first, after)?;
    let rows = edges(state, of, direction, req).await?;
    super::profile::page_of(state, req, rows).await
}

/// The edges of a page: (edge id, the profile on the other side).
async fn edges(
    state: &AppState,
    of: Uuid,
    direction: Direction,
    req: PageRequest,
) -> Result<Vec<(Uuid, Uuid)>, AppError> {
    let (this_side, other_side) = match direction {
        Direction::Followers => (follow::Column::FolloweeId, follow::Column::FollowerId),
        Direction::Following => (follow::Column::FollowerId, follow::Column::FolloweeId),
    };
    let mut query = follow::Entity::find()
        .select_only()
        .column(follow::Column::Id)
        .column(other_side)
        .filter(this_side.eq(of));
    if let Some(after) = req.after {
        query = query.filter(follow::Column::Id.lt(after));
    }
    Ok(query
        .order_by_desc(follow::Column::Id)
        .limit(req.limit())
        .into_tuple()
        .all(state.db())
        .await?)
}
