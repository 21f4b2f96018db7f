//! Ending sessions: a revocation is written to the database first, then to
//! this instance's cache, and the subscription sockets of those sessions
//! close; other instances pull it (see `crate::sync`) and do the same, woken
//! at once on PostgreSQL by a notification.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::Scope;
use crate::auth::Viewer;
use crate::entity::{revoked_session, session};
use crate::error::AppError;
use crate::state::AppState;

/// The PostgreSQL channel that wakes other instances after a revocation (or
/// a change of what `me` shows: the same sync reads both).
pub const REVOCATION_CHANNEL: &str = "sns_revocations";

/// The ids of the user's live sessions in `scope` of `viewer`'s.
pub async fn live_ids(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, AppError> {
    let targets = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(viewer.user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now));
    let targets = match scope {
        Scope::Current => targets.filter(session::Column::Id.eq(viewer.session_id)),
        Scope::Others => targets.filter(session::Column::Id.ne(viewer.session_id)),
        Scope::All => targets,
    };
    Ok(targets.into_tuple().all(conn).await?)
}

/// The ids of every live session of `user`.
pub async fn live_ids_of_user(
    conn: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, AppError> {
    Ok(session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .into_tuple()
        .all(conn)
        .await?)
}

/// Ends every live session of `user` (within the caller's transaction);
/// answers their ids.
pub async fn end_sessions_in(
    conn: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, AppError> {
    // The UPDATE first, then the rows it stamped: a write before any read
    // (see `service::password_reset::write_reset_mail`). A session revoked
    // elsewhere in the same second is answered too; announcing it twice is
    // harmless.
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
        .filter(session::Column::UserId.eq(user))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?;
    Ok(session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user))
        .filter(session::Column::RevokedAt.eq(now))
        .into_tuple()
        .all(conn)
        .await?)
}

/// Revokes the viewer's sessions in `scope`; answers how many were live.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id, ?scope))]
pub async fn revoke(state: &AppState, viewer: &Viewer, scope: Scope) -> Result<u64, AppError> {
    let ids = live_ids(state.db(), viewer, scope, crate::service::clock::now()).await?;
    revoke_ids(state, &ids).await
}

/// Revokes one of the viewer's own sessions. Someone else's session and one
/// that does not exist answer alike (FORBIDDEN); an own session that already
/// ended answers 0, until housekeeping deletes it (`prune`: a day after its
/// last token expired), and then FORBIDDEN.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id, session = %id))]
pub async fn revoke_one(state: &AppState, viewer: &Viewer, id: Uuid) -> Result<u64, AppError> {
    let owned: Option<Uuid> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::UserId.eq(viewer.user_id))
        .into_tuple()
        .one(state.db())
        .await?;
    if owned.is_none() {
        return Err(AppError::Forbidden);
    }
    revoke_ids(state, &[id]).await
}

/// Revokes sessions by id: the database first (one statement), then this
/// instance's cache and the other instances.
pub async fn revoke_ids(state: &AppState, ids: &[Uuid]) -> Result<u64, AppError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let now = crate::service::clock::now();
    let revoked = revoke_in(state.db(), ids, now).await?;
    announce_revocations(state, ids, now, revoked).await;
    Ok(revoked)
}

/// Marks sessions revoked at `now`, within the caller's transaction when
/// `conn` is one; answers how many were still live. Once it commits,
/// `announce_revocations` tells the cache and the other instances.
pub async fn revoke_in(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
        .filter(session::Column::Id.is_in(ids.iter().copied()))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// After revocations committed at `revoked_at`: this instance's cache at
/// once, then (PostgreSQL) a notification that wakes the other instances;
/// they pull from the database at their next interval anyway.
pub async fn announce_revocations(
    state: &AppState,
    ids: &[Uuid],
    revoked_at: DateTime<Utc>,
    revoked: u64,
) {
    if ids.is_empty() {
        return;
    }
    let until = state.jwt().tokens_outlive_until(revoked_at);
    for id in ids {
        state.revocations().revoke(*id, until);
    }
    // After the cache: a socket that signs in from now on sees the revocation.
    state.sockets().end_sessions(ids);
    wake_other_instances(state).await;
    tracing::info!(revoked, "sessions revoked");
    metrics::counter!("sessions_revoked_total").increment(revoked);
}

/// PostgreSQL: a notification that wakes every instance's sync (see
/// `crate::sync`) now, after a revocation or a profile change committed.
/// Elsewhere nothing: the instances read both at their next interval.
pub async fn wake_other_instances(state: &AppState) {
    if state.backend() == DatabaseBackend::Postgres
        && let Err(e) = state
            .db()
            .execute_unprepared(&format!("NOTIFY {REVOCATION_CHANNEL}"))
            .await
    {
        tracing::warn!(error = %e, "revocation notify failed");
    }
}

/// Sessions revoked at or after `since`, with their revocation time: those
/// whose rows remain, and the tombstones of those deleted with their account.
pub async fn revoked_since(
    state: &AppState,
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, AppError> {
    let mut rows: Vec<(Uuid, DateTime<Utc>)> = session::Entity::find()
        .select_only()
        .columns([session::Column::Id, session::Column::RevokedAt])
        .filter(session::Column::RevokedAt.gte(since))
        .into_tuple::<(Uuid, Option<DateTime<Utc>>)>()
        .all(state.db())
        .await?
        .into_iter()
        .filter_map(|(id, at)| at.map(|at| (id, at)))
        .collect();
    rows.extend(
        revoked_session::Entity::find()
            .filter(revoked_session::Column::RevokedAt.gte(since))
            .all(state.db())
            .await?
            .into_iter()
            .map(|r| (r.id, r.revoked_at)),
    );
    Ok(rows)
}

/// Puts every revocation since `since` into the cache, and closes this
/// instance's sockets of those sessions; answers how many.
pub async fn pull_revocations(state: &AppState, since: DateTime<Utc>) -> Result<usize, AppError> {
    let rows = revoked_since(state, since).await?;
    let count = rows.len();
    for (id, revoked_at) in &rows {
        state
            .revocations()
            .revoke(*id, state.jwt().tokens_outlive_until(*revoked_at));
    }
    let ids: Vec<Uuid> = rows.into_iter().map(|(id, _)| id).collect();
    state.sockets().end_sessions(&ids);
    Ok(count)
}

/// Fills the revocation cache from the database at start: every session
/// revoked recently enough to still have an unexpired access token. So a
/// logged-out token stays dead across a restart.
pub async fn load_revocations(state: &AppState) -> Result<usize, AppError> {
    let now = Utc::now();
    let window = state.jwt().tokens_outlive_until(now) - now;
    pull_revocations(state, now - window).await
}
