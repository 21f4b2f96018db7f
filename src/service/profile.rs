//! Profiles: the public face of an account. Made with the account (a chosen
//! handle or a random one), read by handle or id, edited by its owner.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use super::page::{Page, PageRequest};

use super::problem::{Field, InputProblem, ProblemKind};
use crate::auth::Viewer;
use crate::domain::Handle;
use crate::domain::text::{self, BIO, DISPLAY_NAME};
use crate::entity::{post, profile, repost};
use crate::error::AppError;
use crate::state::AppState;

pub fn handle_taken() -> InputProblem {
    InputProblem::new(ProblemKind::HandleTaken, Some(Field::Handle))
}

/// The handle an account asked for at registration, checked; or a random
/// one when it asked for none. A taken handle is a problem to report with
/// the others; the unique index settles races at the insert.
pub async fn handle_for_new_account(
    state: &AppState,
    requested: Option<&str>,
) -> Result<Result<Handle, InputProblem>, AppError> {
    let Some(raw) = requested else {
        return Ok(Ok(Handle::random()));
    };
    let Ok(handle) = Handle::parse(raw) else {
        return Ok(Err(InputProblem::new(
            ProblemKind::InvalidHandle,
            Some(Field::Handle),
        )));
    };
    if by_handle(state, handle.as_str()).await?.is_some() {
        return Ok(Err(handle_taken()));
    }
    Ok(Ok(handle))
}

/// Writes the profile of a new account, within the caller's transaction.
/// `Ok(None)`: the handle was taken meanwhile (the caller rolls back).
pub async fn create_in(
    conn: &impl ConnectionTrait,
    user: Uuid,
    handle: Handle,
    now: DateTime<Utc>,
) -> Result<Option<profile::Model>, AppError> {
    let inserted = profile::ActiveModel {
        user_id: Set(user),
        handle: Set(handle.into_string()),
        display_name: Set(None),
        bio: Set(None),
        post_count: Set(0),
        follower_count: Set(0),
        following_count: Set(0),
        locked: Set(false),
        avatar_id: Set(None),
        banner_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await;
    match inserted {
        Ok(p) => Ok(Some(p)),
        Err(e) if super::db_error::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The profile with this handle, in any case; a string that cannot be a
/// handle names none.
pub async fn by_handle(state: &AppState, handle: &str) -> Result<Option<profile::Model>, AppError> {
    let Ok(handle) = Handle::parse(handle) else {
        return Ok(None);
    };
    Ok(profile::Entity::find()
        .filter(profile::Column::Handle.eq(handle.as_str()))
        .one(state.db())
        .await?)
}

pub async fn by_id(state: &AppState, id: Uuid) -> Result<Option<profile::Model>, AppError> {
    Ok(profile::Entity::find_by_id(id).one(state.db()).await?)
}

/// The profiles of these accounts (one statement, in no order).
pub async fn by_ids(state: &AppState, ids: &[Uuid]) -> Result<Vec<profile::Model>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(profile::Entity::find()
        .filter(profile::Column::UserId.is_in(ids.iter().copied()))
        .all(state.db())
        .await?)
}

/// The page of profiles that `rows` (each a key and a profile's id, as
/// read with `req`) name, in their order: one statement. A row whose
/// profile went since it was read is left out.
pub async fn page_of(
    state: &AppState,
    req: PageRequest,
    rows: Vec<(Uuid, Uuid)>,
) -> Result<Page<profile::Model>, AppError> {
    let ids: Vec<Uuid> = rows.iter().map(|(_, id)| *id).collect();
    let mut profiles: std::collections::HashMap<Uuid, profile::Model> = by_ids(state, &ids)
        .await?
        .into_iter()
        .map(|p| (p.user_id, p))
        .collect();
    let page = Page::from_rows(req, rows);
    Ok(Page {
        items: page
            .items
            .into_iter()
            .filter_map(|(key, id)| profiles.remove(&id).map(|p| (key, p)))
            .collect(),
        has_next: page.has_next,
    })
}

/// What `updateProfile` may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfileChange<'a> {
    pub handle: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub bio: Option<&'a str>,
    /// Follows need approval; turning it off approves the pending requests.
    pub locked: Option<bool>,
    pub avatar: Option<PictureChange<'a>>,
    pub banner: Option<PictureChange<'a>>,
}

/// A new avatar or banner, or none.
#[derive(Debug, Clone, Copy)]
pub enum PictureChange<'a> {
    /// Removes the picture; its image is deleted.
    Clear,
    /// One of the viewer's unattached uploads (its id) takes the place;
    /// the previous image is deleted.
    Set(&'a str),
}

/// A parsed `PictureChange`: `None` clears.
type Picture = Option<Uuid>;

/// Applies the viewer's changes: every problem is reported, nothing is
/// written unless all of it is valid. Blank text clears a field.
///
/// A new avatar or banner must be one of the viewer's unattached uploads
/// (else NOT_FOUND on `avatarId` / `bannerId`; naming the current picture
/// again changes nothing); it is marked attached and the picture it
/// replaces is forgotten (its row removed, its objects queued for
/// deletion) in the transaction that writes the profile.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn update(
    state: &AppState,
    viewer: &Viewer,
    change: ProfileChange<'_>,
) -> Result<profile::Model, AppError> {
    let mut problems = Vec::new();
    let handle = match change.handle.map(Handle::parse) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => {
            problems.push(InputProblem::new(
                ProblemKind::InvalidHandle,
                Some(Field::Handle),
            ));
            None
        }
    };
    let mut text_field =
        |raw: Option<&str>, rules, field| match raw.map(|r| text::optional(r, rules)) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                problems.push(InputProblem::new(e.into(), Some(field)));
                None
            }
        };
    let display_name = text_field(change.display_name, DISPLAY_NAME, Field::DisplayName);
    let bio = text_field(change.bio, BIO, Field::Bio);
    let mut picture = |raw: Option<PictureChange<'_>>, field| match raw {
        None => None,
        Some(PictureChange::Clear) => Some(None),
        Some(PictureChange::Set(id)) => match Uuid::parse_str(id) {
            Ok(id) => Some(Some(id)),
            Err(_) => {
                problems.push(InputProblem::new(ProblemKind::NotFound, Some(field)));
                None
            }
        },
    };
    let avatar: Option<Picture> = picture(change.avatar, Field::AvatarId);
    let banner: Option<Picture> = picture(change.banner, Field::BannerId);
    let current = by_id(state, viewer.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if let Some(h) = &handle
        && h.as_str() != current.handle
        && by_handle(state, h.as_str()).await?.is_some()
    {
        problems.push(handle_taken());
    }
    if !problems.is_empty() {
        return Err(AppError::Input(problems));
    }
    // Only a change of the flag changes anyone's feed.
    let lock_changes = change.locked.is_some_and(|l| l != current.locked);
    let mut row: profile::ActiveModel = current.into();
    if let Some(h) = handle {
        row.handle = Set(h.into_string());
    }
    if let Some(v) = display_name {
        row.display_name = Set(v);
    }
    if let Some(v) = bio {
        row.bio = Set(v);
    }
    if let Some(locked) = change.locked {
        row.locked = Set(locked);
    }
    row.updated_at = Set(super::clock::now());
    if change.locked.is_none() && avatar.is_none() && banner.is_none() {
        // One statement: nothing to run to completion. The counts are not
        // in the update (only changed columns are written), so a follow
        // racing with this keeps its count.
        return match row.update(state.db()).await {
            Ok(p) => Ok(p),
            Err(e) if super::db_error::is_unique_violation(&e) => {
                Err(AppError::input(handle_taken()))
            }
            Err(e) => Err(e.into()),
        };
    }
    let (user, locked) = (viewer.user_id, change.locked);
    super::tasks::to_completion_retrying(state, |state| {
        let row = row.clone();
        async move {
            use sea_orm::TransactionTrait;
            // The requesters' rows with the owner's, before the flag
            // changes: unlocking makes them follows. Read before the
            // transaction (on SQLite a read before the first write would
            // make that write fail if another commits meanwhile); the
            // requests are read again under the locks.
            let pending = match locked {
                Some(_) => super::safety::requests::requesters(state.db(), user).await?,
                None => Vec::new(),
            };
            let txn = state.db().begin().await?;
            if locked.is_some() {
                super::safety::requests::lock_many(&txn, user, &pending).await?;
            }
            // The profile's row is written first and stays locked: the
            // pictures below are read under that lock, so two changes of
            // the avatar cannot both forget the same one.
            let mut updated = match row.update(&txn).await {
                Ok(p) => p,
                Err(e) if super::db_error::is_unique_violation(&e) => {
                    txn.rollback().await?;
                    return Err(AppError::input(handle_taken()));
                }
                Err(e) => return Err(e.into()),
            };
            let pictures = set_pictures_in(&txn, &mut updated, avatar, banner).await;
            let queued = match pictures {
                Ok(queued) => queued,
                Err(e) => {
                    txn.rollback().await?;
                    return Err(e);
                }
            };
            let approved = if locked.is_some() && !updated.locked {
                super::safety::requests::approve_all(&txn, user).await?
            } else {
                Vec::new()
            };
            txn.commit().await?;
            if queued {
                state.media().deletion_wake().notify_one();
            }
            if locked.is_some() {
                // Whether its replies and mentions show in inboxes, and
                // (unlocked) its pending requests answered. Asked, not
                // compared with the profile read before the transaction:
                // another update may have changed it since.
                state.feed_cache().inbox_changed_all().await;
            }
            if lock_changes {
                // Whose feeds change: those showing the account's posts
                // through reposts (their reposters' followers), and the
                // requesters who now follow it.
                let mut stamped = reposters_of_posts_by(&state, user).await?;
                stamped.extend(approved);
                stamped.push(user);
                state.feed_cache().changed(stamped).await;
            }
            if locked.is_some() {
                // The counts as approving left them.
                return by_id(&state, user).await?.ok_or(AppError::Unauthenticated);
            }
            Ok(updated)
        }
    })
    .await
}

/// Who reposted (or undid a repost of) a post of `author`'s: at most one
/// more than a write stamps one by one (more stamp every page anyway).
async fn reposters_of_posts_by(state: &AppState, author: Uuid) -> Result<Vec<Uuid>, AppError> {
    let posts = sea_orm::sea_query::Query::select()
        .column(post::Column::Id)
        .from(post::Entity)
        .and_where(Expr::col(post::Column::AuthorId).eq(author))
        .take();
    Ok(repost::Entity::find()
        .select_only()
        .column(repost::Column::UserId)
        .distinct()
        .filter(repost::Column::PostId.in_subquery(posts))
        .limit(super::feed::cache::MAX_STAMPED as u64 + 1)
        .into_tuple()
        .all(state.db())
        .await?)
}

/// Within `update`'s transaction, the profile's row locked and read as
/// `profile`: gives it the new avatar and banner (each `None`: unchanged),
/// attaching the new uploads and forgetting the pictures they replace.
/// Every upload that is not the owner's to attach is reported. Answers
/// whether a deletion was queued.
async fn set_pictures_in(
    conn: &impl ConnectionTrait,
    profile: &mut profile::Model,
    avatar: Option<Picture>,
    banner: Option<Picture>,
) -> Result<bool, AppError> {
    let now = super::clock::now();
    let owner = profile.user_id;
    let mut problems = Vec::new();
    let mut forget = Vec::new();
    let mut changed = false;
    for (wanted, slot, field) in [
        (avatar, &mut profile.avatar_id, Field::AvatarId),
        (banner, &mut profile.banner_id, Field::BannerId),
    ] {
        let Some(wanted) = wanted else { continue };
        if wanted == *slot {
            continue;
        }
        if let Some(new) = wanted
            && !super::media::attach_to_profile_in(conn, owner, new, now).await?
        {
            problems.push(InputProblem::new(ProblemKind::NotFound, Some(field)));
            continue;
        }
        forget.extend(*slot);
        *slot = wanted;
        changed = true;
    }
    if !problems.is_empty() {
        return Err(AppError::Input(problems));
    }
    if !changed {
        return Ok(false);
    }
    profile::Entity::update_many()
        .col_expr(profile::Column::AvatarId, Expr::value(profile.avatar_id))
        .col_expr(profile::Column::BannerId, Expr::value(profile.banner_id))
        .filter(profile::Column::UserId.eq(owner))
        .exec(conn)
        .await?;
    let mut queued = false;
    for old in forget {
        queued |= super::media::forget_picture_in(conn, owner, old, now).await?;
    }
    Ok(queued)
}

/// Adds `delta` to a count column of one profile, within the caller's
/// transaction (an atomic increment: exact however many run at once).
pub(super) async fn add_to_count(
    conn: &impl ConnectionTrait,
    user: Uuid,
    column: profile::Column,
    delta: i32,
) -> Result<(), AppError> {
    profile::Entity::update_many()
        .col_expr(column, Expr::col(column).add(delta))
        .filter(profile::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes an account's profile, its posts, its media (their objects queued
/// for deletion: wake the worker after the commit) and its follow edges both ways,
/// within the caller's transaction, after taking the account out of the
/// counts of the profiles on the other side of each edge and out of the
/// counts of the posts it liked, reposted or replied to (see
/// `thread::forget_account`).
pub async fn delete_in(conn: &impl ConnectionTrait, user: Uuid) -> Result<(), AppError> {
    use crate::entity::{follow, post};
    use sea_orm::sea_query::Query;
    // Lock the profile first: a follow of it that comes now waits on its
    // foreign key and then finds it gone, instead of adding an edge that
    // the counts below would miss.
    add_to_count(conn, user, profile::Column::FollowerCount, 0).await?;
    for (counted, this_side, other_side) in [
        (
            profile::Column::FollowerCount,
            follow::Column::FollowerId,
            follow::Column::FolloweeId,
        ),
        (
            profile::Column::FollowingCount,
            follow::Column::FolloweeId,
            follow::Column::FollowerId,
        ),
    ] {
        profile::Entity::update_many()
            .col_expr(counted, Expr::col(counted).sub(1))
            .filter(
                profile::Column::UserId.in_subquery(
                    Query::select()
                        .column(other_side)
                        .from(follow::Entity)
                        .and_where(this_side.eq(user))
                        .to_owned(),
                ),
            )
            .exec(conn)
            .await?;
    }
    // Its likes, reposts, replies and mentions, and its notifications.
    super::thread::forget_account(conn, user).await?;
    // All its images (its posts', its pictures, its uploads not attached):
    // the rows go with their objects queued, before the posts they name.
    super::media::forget_owner_in(conn, user, super::clock::now()).await?;
    // Children first, not left to foreign keys: the same on every backend.
    super::safety::block::forget_account(conn, user).await?;
    follow::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(follow::Column::FollowerId.eq(user))
                .add(follow::Column::FolloweeId.eq(user)),
        )
        .exec(conn)
        .await?;
    post::Entity::delete_many()
        .filter(post::Column::AuthorId.eq(user))
        .exec(conn)
        .await?;
    profile::Entity::delete_many()
        .filter(profile::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    Ok(())
}
