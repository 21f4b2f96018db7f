//! Uploads and where they are attached: an upload is processed on the
//! media pool, stored, and recorded unattached; a post (up to four, at
//! `createPost`) or the owner's profile (avatar, banner) takes it. An
//! object is deleted only through `media::deletion`, queued in the
//! transaction that drops its row: a deleted post's, a replaced or cleared
//! picture's, a deleted account's, and an upload never attached within a
//! day.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::problem::{Field, InputProblem, ProblemKind};
use crate::auth::Viewer;
use crate::domain::text::{self, MEDIA_ALT};
use crate::entity::media;
use crate::error::AppError;
use crate::media::{PoolError, Rejected};
use crate::state::AppState;

/// The most images on one post.
pub const MAX_PER_POST: usize = 4;
/// How long an upload may wait to be attached.
pub const UNATTACHED_TTL: chrono::Duration = chrono::Duration::hours(24);

/// Processes and stores the viewer's upload, with its alt text (blank:
/// none, at most 1,500 code points). Past `UPLOAD_LIMIT`, RATE_LIMITED; a
/// file that is no image we take, UNSUPPORTED_MEDIA; one too large in
/// pixels, MEDIA_TOO_LARGE; a full pool, SERVICE_UNAVAILABLE. Nothing is
/// left behind by a refusal: the row is written before the objects, and a
/// failed write removes the row and queues whatever was stored.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn upload(
    state: &AppState,
    viewer: &Viewer,
    file: std::fs::File,
    alt: Option<&str>,
) -> Result<media::Model, AppError> {
    let alt = match alt.map(|a| text::optional(a, MEDIA_ALT)) {
        None => None,
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            return Err(AppError::input(InputProblem::new(
                e.into(),
                Some(Field::AltArgument),
            )));
        }
    };
    let limit = state.policy().rate_limits.uploads;
    if let Some(retry) = super::throttle::hit(state, &upload_key(viewer.user_id), limit).await? {
        metrics::counter!("rate_limited_total", "limit" => "upload").increment(1);
        return Err(AppError::input(InputProblem::rate_limited(retry)));
    }
    let media = state.media();
    let processed = match media.pool().process(file, media.max_bytes()).await {
        Ok(Ok(p)) => p,
        Ok(Err(rejected)) => {
            let kind = match rejected {
                Rejected::Unsupported => ProblemKind::UnsupportedMedia,
                Rejected::TooLarge => ProblemKind::MediaTooLarge,
            };
            metrics::counter!("media_rejected_total", "why" => rejected_label(rejected))
                .increment(1);
            return Err(AppError::input(InputProblem::new(
                kind,
                Some(Field::FileArgument),
            )));
        }
        Err(PoolError::Busy) => return Err(AppError::Shed),
        Err(PoolError::Gone) => return Err(AppError::internal("media pool stopped")),
    };
    let id = Uuid::now_v7();
    let ext = processed.format.extension();
    let now = super::clock::now();
    let row = media::ActiveModel {
        id: Set(id),
        owner_id: Set(viewer.user_id),
        full_key: Set(format!("{id}.{ext}")),
        preview_key: Set(format!("{id}-preview.{ext}")),
        content_type: Set(processed.format.content_type().to_owned()),
        width: Set(processed.full.width as i32),
        height: Set(processed.full.height as i32),
        bytes: Set((processed.full.bytes.len() + processed.preview.bytes.len()) as i64),
        blurhash: Set(processed.blurhash),
        alt: Set(alt),
        post_id: Set(None),
        position: Set(None),
        created_at: Set(now),
        attached_at: Set(None),
    }
    .insert(state.db())
    .await?;
    let store = media.store();
    let content_type = processed.format.content_type();
    let stored = async {
        store
            .put(&row.full_key, processed.full.bytes, content_type)
            .await?;
        store
            .put(&row.preview_key, processed.preview.bytes, content_type)
            .await
    }
    .await;
    if let Err(e) = stored {
        tracing::warn!(error = %e, "storing an upload failed; its row is removed");
        forget_rows(state, vec![row]).await?;
        return Err(AppError::Unavailable(Box::new(e)));
    }
    // The account may have been deleted while the objects were written:
    // its deletion took the row and queued keys whose objects were not
    // there yet (a missing object counts as deleted). Queue them again; a
    // deletion after this read finds the objects in place.
    if media::Entity::find_by_id(row.id)
        .one(state.db())
        .await?
        .is_none()
    {
        // Its DELETE finds nothing; the keys are queued as for any row.
        forget_rows(state, vec![row]).await?;
        return Err(AppError::Unauthenticated);
    }
    metrics::counter!("media_uploaded_total").increment(1);
    Ok(row)
}

fn rejected_label(r: Rejected) -> &'static str {
    match r {
        Rejected::Unsupported => "unsupported",
        Rejected::TooLarge => "too_large",
    }
}

/// The key of an uploader's counter in `throttle`.
pub fn upload_key(user: Uuid) -> String {
    format!("upload:{user}")
}

/// Removes these rows and queues their objects, in one transaction, then
/// wakes the deletion worker.
async fn forget_rows(state: &AppState, rows: Vec<media::Model>) -> Result<(), AppError> {
    use sea_orm::TransactionTrait as _;
    let txn = state.db().begin().await?;
    forget_in(&txn, rows, super::clock::now()).await?;
    txn.commit().await?;
    state.media().deletion_wake().notify_one();
    Ok(())
}

/// Within the caller's transaction: deletes the rows and queues their
/// objects.
pub async fn forget_in(
    conn: &impl ConnectionTrait,
    rows: Vec<media::Model>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    // In batches: an account with thousands of images would pass the
    // databases' bound-value limits in one statement (SQLite's 32,766).
    for chunk in rows.chunks(FORGET_BATCH) {
        let ids: Vec<Uuid> = chunk.iter().map(|r| r.id).collect();
        media::Entity::delete_many()
            .filter(media::Column::Id.is_in(ids))
            .exec(conn)
            .await?;
        crate::media::deletion::enqueue(
            conn,
            chunk
                .iter()
                .flat_map(|r| [r.full_key.clone(), r.preview_key.clone()]),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Media rows forgotten per statement (twice as many keys queued).
const FORGET_BATCH: usize = 250;

/// The ids a `createPost` names, parsed: more than four is BAD_USER_INPUT;
/// a malformed one is NOT_FOUND on `["input", "mediaIds"]`.
pub fn parse_post_media(ids: &[&str]) -> Result<Vec<Uuid>, AppError> {
    if ids.len() > MAX_PER_POST {
        return Err(AppError::BadUserInput(format!(
            "A post has at most {MAX_PER_POST} images."
        )));
    }
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id).map_err(|_| {
                AppError::input(InputProblem::new(
                    ProblemKind::NotFound,
                    Some(Field::MediaIds),
                ))
            })
        })
        .collect()
}

/// Within `createPost`'s transaction: attaches the owner's unattached
/// uploads `ids` to `post`, in order. Any of them another's, attached or
/// unknown: NOT_FOUND on `["input", "mediaIds"]` (the caller rolls back,
/// so none stays attached).
///
/// One conditional write per id, each taking the row only if it is still
/// the owner's and free: two posts racing for one upload cannot both get
/// it, and no read can go stale between a check and the write. An id
/// named twice is NOT_FOUND too: the second write finds it attached.
pub async fn attach_to_post_in(
    conn: &impl ConnectionTrait,
    owner: Uuid,
    post: Uuid,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    for (position, id) in ids.iter().enumerate() {
        let taken = media::Entity::update_many()
            .col_expr(media::Column::PostId, Expr::value(Some(post)))
            .col_expr(media::Column::Position, Expr::value(Some(position as i16)))
            .col_expr(media::Column::AttachedAt, Expr::value(Some(now)))
            .filter(free_upload(owner, *id))
            .exec(conn)
            .await?
            .rows_affected;
        if taken != 1 {
            return Err(AppError::input(InputProblem::new(
                ProblemKind::NotFound,
                Some(Field::MediaIds),
            )));
        }
    }
    Ok(())
}

/// Within `updateProfile`'s transaction: marks the owner's unattached
/// upload `id` attached (a profile picture: no post). False when it is
/// another's, attached or unknown.
pub async fn attach_to_profile_in(
    conn: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let taken = media::Entity::update_many()
        .col_expr(media::Column::AttachedAt, Expr::value(Some(now)))
        .filter(free_upload(owner, id))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(taken == 1)
}

/// The row `id` while it is `owner`'s and attached to nothing.
fn free_upload(owner: Uuid, id: Uuid) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(media::Column::Id.eq(id))
        .add(media::Column::OwnerId.eq(owner))
        .add(media::Column::AttachedAt.is_null())
        .add(media::Column::PostId.is_null())
}

/// Within the caller's transaction: forgets the media of the post `post`
/// (being deleted). Answers whether any deletion was queued.
pub async fn forget_post_in(
    conn: &impl ConnectionTrait,
    post: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    forget_matching(
        conn,
        sea_orm::Condition::all().add(media::Column::PostId.eq(post)),
        now,
    )
    .await
}

/// Within the caller's transaction: forgets every media row `owner`
/// uploaded (an account being deleted): its posts' images, its profile
/// pictures and its uploads not yet attached. Answers whether any
/// deletion was queued.
pub async fn forget_owner_in(
    conn: &impl ConnectionTrait,
    owner: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    forget_matching(
        conn,
        sea_orm::Condition::all().add(media::Column::OwnerId.eq(owner)),
        now,
    )
    .await
}

/// Within the caller's transaction: forgets the profile picture `id` of
/// `owner` (replaced or cleared). Answers whether a deletion was queued.
pub async fn forget_picture_in(
    conn: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let picture = sea_orm::Condition::all()
        .add(media::Column::Id.eq(id))
        .add(media::Column::OwnerId.eq(owner))
        .add(media::Column::PostId.is_null());
    forget_matching(conn, picture, now).await
}

/// Within the caller's transaction: forgets the rows `condition` selects;
/// answers whether any deletion was queued.
async fn forget_matching(
    conn: &impl ConnectionTrait,
    condition: sea_orm::Condition,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let rows = media::Entity::find().filter(condition).all(conn).await?;
    let queued = !rows.is_empty();
    forget_in(conn, rows, now).await?;
    Ok(queued)
}

/// The media of these posts, each post's in order.
pub async fn of_posts(
    state: &AppState,
    posts: &[Uuid],
) -> Result<HashMap<Uuid, Vec<media::Model>>, AppError> {
    if posts.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = media::Entity::find()
        .filter(media::Column::PostId.is_in(posts.iter().copied()))
        .all(state.db())
        .await?;
    let mut by_post: HashMap<Uuid, Vec<media::Model>> = HashMap::new();
    for row in rows {
        if let Some(post) = row.post_id {
            by_post.entry(post).or_default().push(row);
        }
    }
    for list in by_post.values_mut() {
        list.sort_by_key(|m| m.position);
    }
    Ok(by_post)
}

/// The media rows with these ids.
pub async fn by_ids(state: &AppState, ids: &[Uuid]) -> Result<Vec<media::Model>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(media::Entity::find()
        .filter(media::Column::Id.is_in(ids.iter().copied()))
        .all(state.db())
        .await?)
}

/// Housekeeping: removes uploads never attached within `UNATTACHED_TTL`
/// and queues their objects, a batch per transaction; answers how many
/// went. An attach racing with this only takes a row still unattached
/// (`... WHERE attached_at IS NULL`), and so does this delete: a row goes
/// here or is attached there, never both. PostgreSQL and MariaDB lock the
/// picked rows (skipping those another instance is expiring); every
/// backend deletes only rows still unattached and queues only the objects
/// of rows it deleted.
pub async fn expire_unattached(state: &AppState, now: DateTime<Utc>) -> Result<u64, AppError> {
    use sea_orm::sea_query::{LockBehavior, LockType};
    use sea_orm::{DatabaseBackend, QueryOrder as _, QuerySelect as _, TransactionTrait as _};
    const BATCH: u64 = 100;
    let cutoff = now - UNATTACHED_TTL;
    let mut expired = 0;
    loop {
        let txn = state.db().begin().await?;
        let mut pick = media::Entity::find()
            .filter(media::Column::AttachedAt.is_null())
            .filter(media::Column::CreatedAt.lt(cutoff))
            .order_by_asc(media::Column::CreatedAt)
            .limit(BATCH);
        if txn.get_database_backend() != DatabaseBackend::Sqlite {
            pick = pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = pick.all(&txn).await?;
        if rows.is_empty() {
            txn.rollback().await?;
            break;
        }
        let picked = rows.len() as u64;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let deleted = media::Entity::delete_many()
            .filter(media::Column::Id.is_in(ids.iter().copied()))
            .filter(media::Column::AttachedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        let gone = if deleted == picked {
            rows
        } else {
            // Some were attached since they were read: keep their objects.
            let kept: std::collections::HashSet<Uuid> = media::Entity::find()
                .select_only()
                .column(media::Column::Id)
                .filter(media::Column::Id.is_in(ids))
                .into_tuple()
                .all(&txn)
                .await?
                .into_iter()
                .collect();
            rows.into_iter().filter(|r| !kept.contains(&r.id)).collect()
        };
        // The rows are gone already; `forget_in` queues their objects.
        forget_in(&txn, gone, now).await?;
        txn.commit().await?;
        state.media().deletion_wake().notify_one();
        expired += deleted;
        metrics::counter!("media_expired_total").increment(deleted);
        if picked < BATCH {
            break;
        }
    }
    Ok(expired)
}
