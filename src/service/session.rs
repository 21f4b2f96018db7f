//! Sessions: opened by every sign-in, revoked by logout. A revocation is
//! written to the database first, then to this instance's cache.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use crate::auth::jwt::IssuedToken;
use crate::auth::{ClientInfo, Viewer};
use crate::entity::{session, user};
use crate::error::AppError;
use crate::state::AppState;

/// What a successful register or login hands back.
#[derive(Debug)]
pub struct SignedIn {
    pub user: user::Model,
    pub session: session::Model,
    pub access: IssuedToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The session of the token making the request.
    Current,
    /// Every other live session of the user.
    Others,
    /// Every live session of the user.
    All,
}

/// Inserts a new session for `user`, living `state.session_ttl()` from `now`.
pub async fn open(
    conn: &impl ConnectionTrait,
    state: &AppState,
    user: Uuid,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<session::Model, AppError> {
    let row = session::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(now + state.session_ttl()),
        revoked_at: Set(None),
        user_agent: Set(client.user_agent.clone()),
    };
    Ok(row.insert(conn).await?)
}

/// Signs an access token for a session just opened.
pub fn sign_in(
    state: &AppState,
    user: user::Model,
    session: session::Model,
) -> Result<SignedIn, AppError> {
    let access = state
        .jwt()
        .issue(user.id, session.id, session.last_used_at)?;
    Ok(SignedIn {
        user,
        session,
        access,
    })
}

/// Revokes the viewer's sessions in `scope`; answers how many were live.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id, ?scope))]
pub async fn revoke(state: &AppState, viewer: &Viewer, scope: Scope) -> Result<u64, AppError> {
    let now = crate::service::now();
    let mut targets = session::Entity::find()
        .select_only()
        .columns([session::Column::Id, session::Column::LastUsedAt])
        .filter(session::Column::UserId.eq(viewer.user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now));
    targets = match scope {
        Scope::Current => targets.filter(session::Column::Id.eq(viewer.session_id)),
        Scope::Others => targets.filter(session::Column::Id.ne(viewer.session_id)),
        Scope::All => targets,
    };
    let targets: Vec<(Uuid, DateTime<Utc>)> = targets.into_tuple().all(state.db()).await?;
    if targets.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = targets.iter().map(|(id, _)| *id).collect();
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
        .filter(session::Column::Id.is_in(ids))
        .filter(session::Column::RevokedAt.is_null())
        .exec(state.db())
        .await?;
    for (id, last_used) in targets {
        state
            .revocations()
            .revoke(id, state.tokens_outlive_until(last_used));
    }
    tracing::info!(revoked = result.rows_affected, "sessions revoked");
    Ok(result.rows_affected)
}

/// Fills the revocation cache from the database: every revoked session that
/// may still have an unexpired access token. Run at start, so that a
/// logged-out token stays dead across a restart.
pub async fn load_revocations(state: &AppState) -> Result<usize, AppError> {
    let now = Utc::now();
    // A session's last token was issued at its `last_used_at`.
    let oldest_live_issue = now - (state.tokens_outlive_until(now) - now);
    let rows: Vec<(Uuid, DateTime<Utc>)> = session::Entity::find()
        .select_only()
        .columns([session::Column::Id, session::Column::LastUsedAt])
        .filter(session::Column::RevokedAt.is_not_null())
        .filter(session::Column::LastUsedAt.gt(oldest_live_issue))
        .into_tuple()
        .all(state.db())
        .await?;
    let count = rows.len();
    for (id, last_used) in rows {
        state
            .revocations()
            .revoke(id, state.tokens_outlive_until(last_used));
    }
    Ok(count)
}
