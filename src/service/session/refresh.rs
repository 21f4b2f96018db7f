//! Refresh: a refresh token is exchanged for a new access token and the next
//! refresh token of the same session, with rotation, a grace for racing tabs
//! and reuse detection.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{SignedIn, sign_in, store_refresh, touch};
use crate::auth::ClientInfo;
use crate::auth::refresh::RefreshToken;
use crate::entity::{refresh_token, session, user};
use crate::error::AppError;
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::state::AppState;

/// A rotation chain longer than this is not followed (each step is one
/// refresh inside the reuse grace; a real client makes one or two).
const MAX_CHAIN: usize = 16;

fn invalid_refresh() -> AppError {
    metrics::counter!("refreshes_total", "outcome" => "invalid").increment(1);
    AppError::input(InputProblem::new(
        ProblemKind::InvalidRefreshToken,
        Some(Field::RefreshToken),
    ))
}

/// Whether a token rotated at `rotated_at` and presented at `now` is reuse:
/// it came back after the grace that racing tabs get.
pub fn is_reuse(rotated_at: DateTime<Utc>, grace: std::time::Duration, now: DateTime<Utc>) -> bool {
    (now - rotated_at).to_std().unwrap_or_default() > grace
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
) -> Result<SignedIn, AppError> {
    if let Some(limited) = crate::service::throttle::per_ip(state, client).await? {
        return Err(AppError::input(limited));
    }
    let presented = RefreshToken::parse(raw).ok_or_else(invalid_refresh)?;
    let db = state.db();
    let row = refresh_token::Entity::find_by_id(presented.hash())
        .one(db)
        .await?
        .ok_or_else(invalid_refresh)?;
    let now = crate::service::clock::now();
    let session = session::Entity::find_by_id(row.session_id)
        .one(db)
        .await?
        .filter(|s| super::is_live(s, state.policy(), now))
        .ok_or_else(invalid_refresh)?;
    if let Some(rotated_at) = row.rotated_at
        && is_reuse(rotated_at, state.policy().sessions.reuse_grace, now)
    {
        tracing::warn!(
            session = %session.id, user = %session.user_id,
            "refresh token reuse detected: a rotated token came back after the grace window; session revoked"
        );
        metrics::counter!("refresh_reuse_detected_total").increment(1);
        super::revoke_ids(state, &[session.id]).await?;
        return Err(invalid_refresh());
    }

    let head = if row.rotated_at.is_none() {
        rotate(state, &presented, session.id, now).await?
    } else {
        chain_head(state, presented, session.id)
            .await?
            .ok_or_else(invalid_refresh)?
    };
    let session = touch(db, state.policy(), session, now)
        .await?
        .ok_or_else(invalid_refresh)?;
    let user = user::Entity::find_by_id(session.user_id)
        .one(db)
        .await?
        .ok_or_else(invalid_refresh)?;
    tracing::info!(session = %session.id, "session refreshed");
    metrics::counter!("refreshes_total", "outcome" => "ok").increment(1);
    sign_in(state, user, session, head)
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
        Ok(()) | Err(AppError::Conflict) => {}
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

/// After a password change: the session gets a new refresh token (every
/// earlier one is marked rotated) and is touched; `None` if it was revoked
/// meanwhile. Part of the caller's transaction.
pub async fn reissue(
    conn: &impl ConnectionTrait,
    state: &AppState,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<(session::Model, RefreshToken)>, AppError> {
    let Some(session) = session::Entity::find_by_id(session_id).one(conn).await? else {
        return Ok(None);
    };
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RotatedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::SessionId.eq(session.id))
        .filter(refresh_token::Column::RotatedAt.is_null())
        .exec(conn)
        .await?;
    let token = state.refresh_keys().generate();
    store_refresh(conn, &token, session.id, now).await?;
    Ok(touch(conn, state.policy(), session, now)
        .await?
        .map(|s| (s, token)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn a_rotated_token_is_reuse_only_after_the_grace() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let grace = Duration::from_secs(10);
        assert!(!is_reuse(t0, grace, t0), "the racing tab");
        assert!(!is_reuse(t0, grace, t0 + chrono::Duration::seconds(10)));
        assert!(is_reuse(t0, grace, t0 + chrono::Duration::seconds(11)));
        // A clock that went back never makes a token reuse.
        assert!(!is_reuse(t0, grace, t0 - chrono::Duration::seconds(60)));
    }
}
