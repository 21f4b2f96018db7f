//! Sessions: opened by every sign-in, kept alive by refresh, ended by logout,
//! revokeSession, changePassword or detected refresh-token theft. A
//! revocation is written to the database first, then to this instance's
//! cache; other instances pull it (see `crate::sync`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use uuid::Uuid;

use super::{InputProblem, ProblemKind};
use crate::auth::jwt::IssuedToken;
use crate::auth::refresh::RefreshToken;
use crate::auth::{ClientInfo, Viewer};
use crate::entity::{refresh_token, session, user};
use crate::error::AppError;
use crate::state::AppState;

/// The PostgreSQL channel that wakes other instances after a revocation.
pub const REVOCATION_CHANNEL: &str = "sns_revocations";

/// A rotation chain longer than this is not followed (each step is one
/// refresh inside the reuse grace; a real client makes one or two).
const MAX_CHAIN: usize = 16;

/// What a successful register, login, refresh or password change hands back.
#[derive(Debug)]
pub struct SignedIn {
    pub user: user::Model,
    pub session: session::Model,
    pub access: IssuedToken,
    pub refresh: RefreshToken,
}

pub type Outcome = Result<SignedIn, Vec<InputProblem>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The session of the token making the request.
    Current,
    /// Every other live session of the user.
    Others,
    /// Every live session of the user.
    All,
}

/// A session as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: session::Model,
    pub current: bool,
}

/// Inserts a new session for `user` and its first refresh token.
pub async fn open(
    conn: &impl ConnectionTrait,
    state: &AppState,
    user: Uuid,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<(session::Model, RefreshToken), AppError> {
    let row = session::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(now + state.policy().session),
        revoked_at: Set(None),
        user_agent: Set(client.user_agent.clone()),
    };
    let session = row.insert(conn).await?;
    let token = state.refresh_keys().generate();
    store_refresh(conn, &token, session.id, now).await?;
    Ok((session, token))
}

/// Signs an access token for a session that was just opened or touched.
pub fn sign_in(
    state: &AppState,
    user: user::Model,
    session: session::Model,
    refresh: RefreshToken,
) -> Result<SignedIn, AppError> {
    let access = state
        .jwt()
        .issue(user.id, session.id, session.last_used_at)?;
    Ok(SignedIn {
        user,
        session,
        access,
        refresh,
    })
}

fn invalid_refresh() -> Result<Outcome, AppError> {
    metrics::counter!("refreshes_total", "outcome" => "invalid").increment(1);
    Ok(Err(vec![InputProblem::new(
        ProblemKind::InvalidRefreshToken,
        Some("refreshToken"),
    )]))
}

/// Exchanges a refresh token for a new access token and the next refresh
/// token of the same session.
///
/// - The current token rotates: its successor is stored, it is marked rotated.
/// - A token rotated at most `REFRESH_REUSE_GRACE` ago (two tabs racing)
///   answers what its rotation produced: the session's current token and a
///   fresh access token; nothing is revoked.
/// - A token rotated longer ago is reuse, the mark of a stolen token: the
///   whole session is revoked.
#[tracing::instrument(skip_all)]
pub async fn refresh(
    state: &AppState,
    raw: &str,
    client: &ClientInfo,
) -> Result<Outcome, AppError> {
    if let Some(limited) = super::throttle::per_ip(state, client).await? {
        return Ok(Err(vec![limited]));
    }
    let Some(presented) = RefreshToken::parse(raw) else {
        return invalid_refresh();
    };
    let db = state.db();
    let Some(row) = refresh_token::Entity::find_by_id(presented.hash())
        .one(db)
        .await?
    else {
        return invalid_refresh();
    };
    let now = super::now();
    let Some(session) = session::Entity::find_by_id(row.session_id).one(db).await? else {
        return invalid_refresh();
    };
    if session.revoked_at.is_some()
        || session.expires_at <= now
        || session.created_at + state.policy().session_max <= now
    {
        return invalid_refresh();
    }
    if let Some(rotated_at) = row.rotated_at
        && (now - rotated_at).to_std().unwrap_or_default() > state.policy().refresh_reuse_grace
    {
        tracing::warn!(
            session = %session.id, user = %session.user_id,
            "refresh token reuse detected: a rotated token came back after the grace window; session revoked"
        );
        metrics::counter!("refresh_reuse_detected_total").increment(1);
        revoke_ids(state, &[session.id]).await?;
        return invalid_refresh();
    }

    let head = if row.rotated_at.is_none() {
        rotate(state, &presented, session.id, now).await?
    } else {
        match chain_head(state, presented, session.id).await? {
            Some(head) => head,
            None => return invalid_refresh(),
        }
    };
    let Some(session) = touch(state, session, now).await? else {
        return invalid_refresh();
    };
    let Some(user) = user::Entity::find_by_id(session.user_id).one(db).await? else {
        return invalid_refresh();
    };
    tracing::info!(session = %session.id, "session refreshed");
    metrics::counter!("refreshes_total", "outcome" => "ok").increment(1);
    Ok(Ok(sign_in(state, user, session, head)?))
}

/// Stores the successor of `token` and marks `token` rotated. Two refreshes
/// of the same token at once both derive the same successor; the second
/// insert finds it there, and both answer it.
async fn rotate(
    state: &AppState,
    token: &RefreshToken,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<RefreshToken, AppError> {
    let next = state.refresh_keys().next(token);
    match store_refresh(state.db(), &next, session, now).await {
        Ok(()) => {}
        Err(AppError::Conflict) => {}
        Err(e) => return Err(e),
    }
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RotatedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::Hash.eq(token.hash()))
        .filter(refresh_token::Column::RotatedAt.is_null())
        .exec(state.db())
        .await?;
    Ok(next)
}

/// Follows the rotations of `token` to the session's current token.
async fn chain_head(
    state: &AppState,
    mut token: RefreshToken,
    session: Uuid,
) -> Result<Option<RefreshToken>, AppError> {
    for _ in 0..MAX_CHAIN {
        token = state.refresh_keys().next(&token);
        match refresh_token::Entity::find_by_id(token.hash())
            .one(state.db())
            .await?
        {
            Some(row) if row.session_id == session && row.rotated_at.is_none() => {
                return Ok(Some(token));
            }
            Some(row) if row.session_id == session => continue,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

async fn store_refresh(
    conn: &impl ConnectionTrait,
    token: &RefreshToken,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let row = refresh_token::ActiveModel {
        hash: Set(token.hash()),
        session_id: Set(session),
        created_at: Set(now),
        rotated_at: Set(None),
    };
    match refresh_token::Entity::insert(row)
        .exec_without_returning(conn)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(AppError::Conflict)
        }
        Err(e) => Err(e.into()),
    }
}

/// Marks a session used now and extends it, unless it was revoked meanwhile
/// (then `None`): a token is never issued for a revoked session, which is
/// what lets a revocation be forgotten once its last token has expired.
async fn touch(
    state: &AppState,
    session: session::Model,
    now: DateTime<Utc>,
) -> Result<Option<session::Model>, AppError> {
    // Sliding, but never past the session's absolute limit.
    let expires_at =
        (now + state.policy().session).min(session.created_at + state.policy().session_max);
    let updated = session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .col_expr(session::Column::ExpiresAt, Expr::value(expires_at))
        .filter(session::Column::Id.eq(session.id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(state.db())
        .await?;
    Ok((updated.rows_affected == 1).then_some(session::Model {
        last_used_at: now,
        expires_at,
        ..session
    }))
}

/// After a password change: the viewer's session gets a new refresh token
/// (every earlier one is marked rotated) and is touched.
pub async fn reissue(
    state: &AppState,
    viewer: &Viewer,
) -> Result<Option<(session::Model, RefreshToken)>, AppError> {
    let now = super::now();
    let Some(session) = session::Entity::find_by_id(viewer.session_id)
        .one(state.db())
        .await?
    else {
        return Ok(None);
    };
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RotatedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::SessionId.eq(session.id))
        .filter(refresh_token::Column::RotatedAt.is_null())
        .exec(state.db())
        .await?;
    let token = state.refresh_keys().generate();
    store_refresh(state.db(), &token, session.id, now).await?;
    Ok(touch(state, session, now).await?.map(|s| (s, token)))
}

/// The viewer's live sessions, newest first.
pub async fn list(state: &AppState, viewer: &Viewer) -> Result<Vec<SessionView>, AppError> {
    let rows = session::Entity::find()
        .filter(session::Column::UserId.eq(viewer.user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(super::now()))
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .all(state.db())
        .await?;
    Ok(rows
        .into_iter()
        .map(|session| SessionView {
            current: session.id == viewer.session_id,
            session,
        })
        .collect())
}

/// Revokes the viewer's sessions in `scope`; answers how many were live.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id, ?scope))]
pub async fn revoke(state: &AppState, viewer: &Viewer, scope: Scope) -> Result<u64, AppError> {
    let mut targets = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(viewer.user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(super::now()));
    targets = match scope {
        Scope::Current => targets.filter(session::Column::Id.eq(viewer.session_id)),
        Scope::Others => targets.filter(session::Column::Id.ne(viewer.session_id)),
        Scope::All => targets,
    };
    let ids: Vec<Uuid> = targets.into_tuple().all(state.db()).await?;
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

/// Revokes sessions by id: the database first, then this instance's cache,
/// then (PostgreSQL) a notification that wakes the other instances.
pub async fn revoke_ids(state: &AppState, ids: &[Uuid]) -> Result<u64, AppError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let now = super::now();
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
        .filter(session::Column::Id.is_in(ids.iter().copied()))
        .filter(session::Column::RevokedAt.is_null())
        .exec(state.db())
        .await?;
    let until = state.tokens_outlive_until(now);
    for id in ids {
        state.revocations().revoke(*id, until);
    }
    if state.backend() == DatabaseBackend::Postgres
        && let Err(e) = state
            .db()
            .execute_unprepared(&format!("NOTIFY {REVOCATION_CHANNEL}"))
            .await
    {
        // The others still pull it at their next interval.
        tracing::warn!(error = %e, "revocation notify failed");
    }
    tracing::info!(revoked = result.rows_affected, "sessions revoked");
    metrics::counter!("sessions_revoked_total").increment(result.rows_affected);
    Ok(result.rows_affected)
}

/// How long an ended session's row stays after the last moment any token of
/// it could be accepted: a day, to look into after the fact.
const ENDED_SESSIONS_KEPT: chrono::Duration = chrono::Duration::days(1);

/// Sessions, and refresh tokens, deleted per statement, so that a backlog
/// never holds the database (SQLite's one writer) for long. (A session can
/// hold thousands of tokens: its whole rotation chain.)
const PRUNE_BATCH: usize = 500;

/// Deletes sessions that ended (revoked, or expired) long enough ago that no
/// token of theirs can be accepted, with their refresh tokens; answers how
/// many sessions went. The revocation cache never needs these rows: it is
/// refilled with sessions revoked within an access token's lifetime, and a
/// refresh token of a deleted session is unknown, which answers the same
/// INVALID_REFRESH_TOKEN as ended.
pub async fn prune(state: &AppState) -> Result<u64, AppError> {
    let db = state.db();
    let now = Utc::now();
    // An access token outlives the moment its session ended by this much.
    let outlive = state.tokens_outlive_until(now) - now;
    let cutoff = now - outlive - ENDED_SESSIONS_KEPT;
    let ended = Condition::any()
        .add(session::Column::RevokedAt.lt(cutoff))
        .add(session::Column::ExpiresAt.lt(cutoff));
    let mut pruned = 0;
    loop {
        let ids: Vec<Uuid> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(ended.clone())
            .limit(PRUNE_BATCH as u64)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(pruned);
        }
        // Tokens first, a batch at a time (not left to the foreign key's
        // cascade, which would take them all in one statement): a failure
        // part-way leaves ended sessions with fewer tokens, which the next
        // run finishes.
        loop {
            let hashes: Vec<String> = refresh_token::Entity::find()
                .select_only()
                .column(refresh_token::Column::Hash)
                .filter(refresh_token::Column::SessionId.is_in(ids.clone()))
                .limit(PRUNE_BATCH as u64)
                .into_tuple()
                .all(db)
                .await?;
            if hashes.is_empty() {
                break;
            }
            let gone = refresh_token::Entity::delete_many()
                .filter(refresh_token::Column::Hash.is_in(hashes))
                .exec(db)
                .await?;
            // None deleted: another instance is pruning the same rows.
            if gone.rows_affected == 0 {
                break;
            }
        }
        let full = ids.len() == PRUNE_BATCH;
        let gone = session::Entity::delete_many()
            .filter(session::Column::Id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected;
        pruned += gone;
        if gone == 0 || !full {
            return Ok(pruned);
        }
    }
}

/// Sessions revoked at or after `since`, with their revocation time.
pub async fn revoked_since(
    state: &AppState,
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, AppError> {
    Ok(session::Entity::find()
        .select_only()
        .columns([session::Column::Id, session::Column::RevokedAt])
        .filter(session::Column::RevokedAt.gte(since))
        .into_tuple::<(Uuid, Option<DateTime<Utc>>)>()
        .all(state.db())
        .await?
        .into_iter()
        .filter_map(|(id, at)| at.map(|at| (id, at)))
        .collect())
}

/// Puts every revocation since `since` into the cache; answers how many.
pub async fn pull_revocations(state: &AppState, since: DateTime<Utc>) -> Result<usize, AppError> {
    let rows = revoked_since(state, since).await?;
    let count = rows.len();
    for (id, revoked_at) in rows {
        state
            .revocations()
            .revoke(id, state.tokens_outlive_until(revoked_at));
    }
    Ok(count)
}

/// Fills the revocation cache from the database at start: every session
/// revoked recently enough to still have an unexpired access token. So a
/// logged-out token stays dead across a restart.
pub async fn load_revocations(state: &AppState) -> Result<usize, AppError> {
    let now = Utc::now();
    let window = state.tokens_outlive_until(now) - now;
    pull_revocations(state, now - window).await
}
