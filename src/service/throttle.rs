//! Attempt counters in the database, so that every instance sharing it
//! counts together: failed logins per submitted email (whether or not an
//! account exists), and sign-in attempts per client address. Fixed windows:
//! a key's window opens with its first hit and closes `window` later.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::InputProblem;
use crate::auth::ClientInfo;
use crate::config::RateLimit;
use crate::entity::throttle;
use crate::error::AppError;
use crate::state::AppState;

pub fn login_key(email: &str) -> String {
    format!("login:{email}")
}

pub fn ip_key(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

/// Counts a login, register or refresh attempt against the client's
/// address; `Some` (RATE_LIMITED) once the address is past its limit.
pub async fn per_ip(
    state: &AppState,
    client: &ClientInfo,
) -> Result<Option<InputProblem>, AppError> {
    let Some(ip) = client.ip else {
        return Ok(None);
    };
    let retry = hit(state, &ip_key(ip), state.policy().auth_per_ip).await?;
    if retry.is_some() {
        metrics::counter!("rate_limited_total", "limit" => "ip").increment(1);
        tracing::info!("sign-in attempts over the per-address limit");
    }
    Ok(retry.map(InputProblem::rate_limited))
}

/// Whether an account (by submitted email) is locked after failed logins.
pub async fn account_locked(
    state: &AppState,
    email: &str,
) -> Result<Option<InputProblem>, AppError> {
    let retry = locked_for(state, &login_key(email), state.policy().login_failures).await?;
    if retry.is_some() {
        metrics::counter!("rate_limited_total", "limit" => "account").increment(1);
    }
    Ok(retry.map(InputProblem::rate_limited))
}

/// Counts a failed login against the submitted email.
pub async fn login_failed(state: &AppState, email: &str) -> Result<(), AppError> {
    hit(state, &login_key(email), state.policy().login_failures).await?;
    Ok(())
}

/// Seconds until `key` may try again, if it is over `limit` now.
pub async fn locked_for(
    state: &AppState,
    key: &str,
    limit: RateLimit,
) -> Result<Option<u32>, AppError> {
    let Some(row) = throttle::Entity::find_by_id(key.to_owned())
        .one(state.db())
        .await?
    else {
        return Ok(None);
    };
    // Locked once the failures reach the limit.
    Ok(retry_after(
        &row,
        limit.count.saturating_sub(1),
        limit,
        super::now(),
    ))
}

/// Counts one hit for `key` (atomically, across instances) and answers the
/// seconds to wait if the key is now past `limit`.
pub async fn hit(state: &AppState, key: &str, limit: RateLimit) -> Result<Option<u32>, AppError> {
    let now = super::now();
    let window = chrono::Duration::from_std(limit.window).unwrap_or(chrono::Duration::MAX);
    let expired = now
        .checked_sub_signed(window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    for _ in 0..3 {
        // One statement, so that concurrent hits never lose a count. `hits`
        // comes before `window_start`: MySQL evaluates SET left to right.
        let stale = || Expr::col(throttle::Column::WindowStart).lte(expired);
        let updated = throttle::Entity::update_many()
            .col_expr(
                throttle::Column::Hits,
                Expr::case(stale(), 1)
                    .finally(Expr::col(throttle::Column::Hits).add(1))
                    .into(),
            )
            .col_expr(
                throttle::Column::WindowStart,
                Expr::case(stale(), now)
                    .finally(Expr::col(throttle::Column::WindowStart))
                    .into(),
            )
            .filter(throttle::Column::Key.eq(key))
            .exec(state.db())
            .await?;
        if updated.rows_affected == 0 {
            let row = throttle::ActiveModel {
                key: Set(key.to_owned()),
                hits: Set(1),
                window_start: Set(now),
            };
            match throttle::Entity::insert(row)
                .exec_without_returning(state.db())
                .await
            {
                Ok(_) => {}
                // Another instance inserted it first: count again as an update.
                Err(e)
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let row = throttle::Entity::find_by_id(key.to_owned())
            .one(state.db())
            .await?;
        // Refused once the hits go past the limit.
        return Ok(row.and_then(|row| retry_after(&row, limit.count, limit, now)));
    }
    Err(AppError::internal("throttle counter kept conflicting"))
}

/// Forgets `key` (a successful login clears its account's failures).
pub async fn clear(state: &AppState, key: &str) -> Result<(), AppError> {
    throttle::Entity::delete_many()
        .filter(throttle::Column::Key.eq(key))
        .exec(state.db())
        .await?;
    Ok(())
}

/// Seconds until the window of `row` ends, if it holds more than `allowed` hits.
fn retry_after(
    row: &throttle::Model,
    allowed: u32,
    limit: RateLimit,
    now: DateTime<Utc>,
) -> Option<u32> {
    let window = chrono::Duration::from_std(limit.window).ok()?;
    let ends = row.window_start + window;
    if row.hits <= i32::try_from(allowed).unwrap_or(i32::MAX) || ends <= now {
        return None;
    }
    let secs = Ord::max((ends - now).num_seconds(), 1);
    Some(u32::try_from(secs).unwrap_or(u32::MAX))
}

/// Deletes counters whose window ended: otherwise every email an attacker
/// makes up would leave a row behind. Answers how many went.
pub async fn prune(state: &AppState) -> Result<u64, AppError> {
    let policy = state.policy();
    let longest = policy.login_failures.window.max(policy.auth_per_ip.window);
    let cutoff =
        super::now() - chrono::Duration::from_std(longest).unwrap_or(chrono::Duration::days(1));
    let deleted = throttle::Entity::delete_many()
        .filter(throttle::Column::WindowStart.lt(cutoff))
        .exec(state.db())
        .await?;
    Ok(deleted.rows_affected)
}
