//! Attempt counters in the database, so that every instance sharing it
//! counts together: failed logins per submitted email (whether or not an
//! account exists), and sign-in attempts per client address. Fixed windows:
//! a key's window opens with its first hit and closes `window` later.
//!
//! Back-off: each lock of an account is a strike, remembered for a day, and
//! the n-th lock in a row lasts `window × 2^(n-1)` (at most a day), so a
//! patient guesser gets ever fewer tries while a user who waits once is
//! barely slowed.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
};

use super::problem::InputProblem;
use crate::auth::ClientInfo;
use crate::config::RateLimit;
use crate::entity::throttle;
use crate::error::AppError;
use crate::state::AppState;

pub fn login_key(email: &str) -> String {
    format!("login:{email}")
}

fn strike_key(email: &str) -> String {
    format!("strikes:{email}")
}

/// How long strikes are remembered, and the longest lock.
const STRIKE_MEMORY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

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
    let retry = hit(state, &ip_key(ip), state.policy().rate_limits.auth_per_ip).await?;
    if retry.is_some() {
        metrics::counter!("rate_limited_total", "limit" => "ip").increment(1);
        tracing::info!("sign-in attempts over the per-address limit");
    }
    Ok(retry.map(InputProblem::rate_limited))
}

/// Counts a mail to `address` (as submitted, whether or not an account has
/// it); `Some` (RATE_LIMITED) when it is over `RATE_LIMIT_MAIL` or a mail
/// went there less than a minute ago. The answer is the same for any
/// address, so it tells nothing about accounts.
pub async fn per_mail_address(
    state: &AppState,
    address: &str,
) -> Result<Option<InputProblem>, AppError> {
    let minute = RateLimit {
        count: 1,
        window: std::time::Duration::from_secs(60),
    };
    let recent = hit(state, &format!("mail-minute:{address}"), minute).await?;
    let window = hit(
        state,
        &format!("mail:{address}"),
        state.policy().rate_limits.mail,
    )
    .await?;
    let retry = recent.into_iter().chain(window).max();
    if retry.is_some() {
        metrics::counter!("rate_limited_total", "limit" => "mail").increment(1);
        tracing::info!("mail requests over the per-address limit");
    }
    Ok(retry.map(InputProblem::rate_limited))
}

/// What the failure counters say of an account (by submitted email).
pub enum Standing {
    /// No failure on record: nothing to forget after a success.
    Clean,
    /// Failures or strikes on record, not (or no longer) locked.
    Failing,
    /// Locked: RATE_LIMITED, with the seconds to wait.
    Locked(InputProblem),
}

/// The keys of an account's failure counter and strike counter.
pub fn account_keys(email: &str) -> [String; 2] {
    [login_key(email), strike_key(email)]
}

/// Reads an account's failure counters (one query) and tells whether it is
/// locked after failed logins.
pub async fn account_standing(state: &AppState, email: &str) -> Result<Standing, AppError> {
    let [login, strikes] = account_keys(email);
    let rows = throttle::Entity::find()
        .filter(throttle::Column::Key.is_in([login.as_str(), strikes.as_str()]))
        .all(state.db())
        .await?;
    let find = |key: &str| rows.iter().find(|r| r.key == key);
    Ok(standing(
        state.policy().rate_limits.login_failures,
        find(&login),
        find(&strikes),
        super::clock::now(),
    ))
}

/// What an account's failure counter and strike counter (as read, by
/// `account_keys`) say of it at `now`, under `limit` failures per window.
pub fn standing(
    limit: RateLimit,
    login: Option<&throttle::Model>,
    strikes: Option<&throttle::Model>,
    now: DateTime<Utc>,
) -> Standing {
    let Some(row) = login else {
        return if strikes.is_none() {
            Standing::Clean
        } else {
            Standing::Failing
        };
    };
    let strikes = match strikes {
        Some(s)
            if s.window_start + chrono::Duration::from_std(STRIKE_MEMORY).unwrap_or_default()
                > now =>
        {
            s.hits
        }
        _ => 1,
    };
    // 2^(strikes-1) windows, at most a day.
    let factor = 1u32 << u32::try_from(strikes.clamp(1, 11) - 1).unwrap_or(0);
    let lock = RateLimit {
        count: limit.count,
        window: limit.window.saturating_mul(factor).min(STRIKE_MEMORY),
    };
    match retry_after(row, limit.count.saturating_sub(1), lock, now) {
        Some(retry) => {
            metrics::counter!("rate_limited_total", "limit" => "account").increment(1);
            Standing::Locked(InputProblem::rate_limited(retry))
        }
        None => Standing::Failing,
    }
}

/// Counts a failed login against the submitted email; the failure that
/// reaches the limit is a strike.
pub async fn login_failed(state: &AppState, email: &str) -> Result<(), AppError> {
    let limit = state.policy().rate_limits.login_failures;
    let row = bump(state, &login_key(email), limit.window).await?;
    if row.hits == i32::try_from(limit.count).unwrap_or(i32::MAX) {
        bump(state, &strike_key(email), STRIKE_MEMORY).await?;
        tracing::info!("account locked after repeated failed logins");
    }
    Ok(())
}

/// Forgets an account's failures and strikes after a successful login
/// (nothing to do, and no write, when `standing` saw none). `standing` was
/// read before the verify, so a failure recorded while this login waited
/// for its hash outlives the success; it ends with its window.
pub async fn login_succeeded(
    state: &AppState,
    email: &str,
    standing: &Standing,
) -> Result<(), AppError> {
    if matches!(standing, Standing::Clean) {
        return Ok(());
    }
    throttle::Entity::delete_many()
        .filter(throttle::Column::Key.is_in(account_keys(email)))
        .exec(state.db())
        .await?;
    Ok(())
}

/// Counts one hit for `key` (atomically, across instances) and answers the
/// seconds to wait if the key is now past `limit`.
pub async fn hit(state: &AppState, key: &str, limit: RateLimit) -> Result<Option<u32>, AppError> {
    let row = bump(state, key, limit.window).await?;
    // Refused once the hits go past the limit.
    Ok(retry_after(&row, limit.count, limit, super::clock::now()))
}

/// Adds one to `key`'s count, starting a new window if the last one ended,
/// and answers the row. One upsert per hit, so concurrent hits (from any
/// instance) never lose a count; where the database has `RETURNING`
/// (SQLite, PostgreSQL) the row comes back from the same statement.
async fn bump(
    state: &AppState,
    key: &str,
    window: std::time::Duration,
) -> Result<throttle::Model, AppError> {
    let db = state.db();
    let now = super::clock::now();
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let expired = now
        .checked_sub_signed(window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // The existing row's columns, qualified: PostgreSQL and SQLite also see
    // the proposed row (`excluded`) in the update.
    let hits = || Expr::col((throttle::Entity, throttle::Column::Hits));
    let start = || Expr::col((throttle::Entity, throttle::Column::WindowStart));
    let stale = || start().lte(expired);
    // `hits` before `window_start`: MySQL evaluates SET left to right, so
    // `hits` must be computed from the old `window_start`.
    let on_conflict = OnConflict::column(throttle::Column::Key)
        .value(
            throttle::Column::Hits,
            Expr::case(stale(), 1).finally(hits().add(1)),
        )
        .value(
            throttle::Column::WindowStart,
            Expr::case(stale(), now).finally(start()),
        )
        .to_owned();
    if db.support_returning() {
        return Ok(upsert(key, now, on_conflict)
            .exec_with_returning(db)
            .await?);
    }
    // MySQL: the upsert's row lock, held until commit, keeps other hits out
    // until this one has read its own count (in a task of its own, so that a
    // cancelled request never drops the transaction half-done). Concurrent
    // upserts of a new key can deadlock in InnoDB; the one rolled back runs
    // again.
    let key = key.to_owned();
    super::tasks::to_completion(state, |state| async move {
        let db = state.db();
        for _ in 0..5 {
            let attempt = async {
                let txn = db.begin().await?;
                upsert(&key, now, on_conflict.clone())
                    .exec_without_returning(&txn)
                    .await?;
                let row = throttle::Entity::find_by_id(key.clone()).one(&txn).await?;
                txn.commit().await?;
                Ok::<_, sea_orm::DbErr>(row)
            };
            match attempt.await {
                Err(e) if crate::error::is_deadlock(&e) => continue,
                Ok(Some(row)) => return Ok(row),
                Ok(None) => {
                    return Err(AppError::internal("throttle row missing after its upsert"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::internal("throttle counter kept deadlocking"))
    })
    .await
}

/// One hit for `key`: a new row, or `on_conflict` applied to the existing one.
fn upsert(
    key: &str,
    now: DateTime<Utc>,
    on_conflict: OnConflict,
) -> sea_orm::Insert<throttle::ActiveModel> {
    throttle::Entity::insert(throttle::ActiveModel {
        key: Set(key.to_owned()),
        hits: Set(1),
        window_start: Set(now),
    })
    .on_conflict(on_conflict)
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

/// Deletes counters that no rule reads any more: otherwise every email an
/// attacker makes up would leave a row behind. Answers how many went. A
/// failed-login counter holds its account's lock, which back-off stretches
/// up to a day past the counter's window; so it stays as long as strikes do.
pub async fn prune(state: &AppState) -> Result<u64, AppError> {
    let now = super::clock::now();
    let cutoff = |d: std::time::Duration| {
        now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
    };
    let addresses = throttle::Entity::delete_many()
        .filter(throttle::Column::Key.like("ip:%"))
        .filter(
            throttle::Column::WindowStart.lt(cutoff(state.policy().rate_limits.auth_per_ip.window)),
        )
        .exec(state.db())
        .await?;
    let accounts = throttle::Entity::delete_many()
        .filter(throttle::Column::Key.not_like("ip:%"))
        .filter(throttle::Column::Key.not_like("report:%"))
        .filter(throttle::Column::WindowStart.lt(cutoff(STRIKE_MEMORY)))
        .exec(state.db())
        .await?;
    let reporters = throttle::Entity::delete_many()
        .filter(throttle::Column::Key.like("report:%"))
        .filter(throttle::Column::WindowStart.lt(cutoff(state.policy().rate_limits.reports.window)))
        .exec(state.db())
        .await?;
    Ok(addresses.rows_affected + accounts.rows_affected + reporters.rows_affected)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn row(key: &str, hits: i32, start: DateTime<Utc>) -> throttle::Model {
        throttle::Model {
            key: key.to_owned(),
            hits,
            window_start: start,
        }
    }

    fn locked_for(s: &Standing) -> Option<u32> {
        match s {
            Standing::Locked(p) => p.retry_after,
            _ => None,
        }
    }

    #[test]
    fn an_account_locks_at_the_limit_and_unlocks_when_the_window_ends() {
        let limit: RateLimit = "3/15m".parse().unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let at = |secs| t0 + chrono::Duration::seconds(secs);
        assert!(matches!(standing(limit, None, None, t0), Standing::Clean));
        let two = row("login:a@b.co", 2, t0);
        assert!(matches!(
            standing(limit, Some(&two), None, at(1)),
            Standing::Failing
        ));
        let three = row("login:a@b.co", 3, t0);
        assert_eq!(
            locked_for(&standing(limit, Some(&three), None, at(60))),
            Some(840)
        );
        assert!(matches!(
            standing(limit, Some(&three), None, at(900)),
            Standing::Failing
        ));
    }

    #[test]
    fn each_strike_doubles_the_lock_up_to_a_day_and_old_strikes_are_forgotten() {
        let limit: RateLimit = "3/15m".parse().unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let failures = row("login:a@b.co", 3, t0);
        let lock = |strikes: i32, struck: DateTime<Utc>| {
            let s = row("strikes:a@b.co", strikes, struck);
            locked_for(&standing(limit, Some(&failures), Some(&s), t0))
        };
        assert_eq!(lock(1, t0), Some(900));
        assert_eq!(lock(2, t0), Some(1800));
        assert_eq!(lock(3, t0), Some(3600));
        assert_eq!(lock(20, t0), Some(86_400), "never longer than a day");
        let long_ago = t0 - chrono::Duration::days(2);
        assert_eq!(lock(5, long_ago), Some(900), "strikes older than a day");
    }

    #[test]
    fn a_window_refuses_only_past_its_allowance_and_only_while_open() {
        let limit: RateLimit = "30/1m".parse().unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let at = |secs| t0 + chrono::Duration::seconds(secs);
        assert_eq!(retry_after(&row("ip:x", 30, t0), 30, limit, at(1)), None);
        assert_eq!(
            retry_after(&row("ip:x", 31, t0), 30, limit, at(1)),
            Some(59)
        );
        assert_eq!(retry_after(&row("ip:x", 31, t0), 30, limit, at(60)), None);
        // The last moment rounds up to a whole second, never to zero.
        let late = t0 + chrono::Duration::milliseconds(59_500);
        assert_eq!(retry_after(&row("ip:x", 31, t0), 30, limit, late), Some(1));
    }
}
