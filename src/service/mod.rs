//! The rules: registration, sign-in, sessions. Services know nothing of
//! GraphQL; they answer domain values, or an `AppError` (whose `Input`
//! variant carries the problems a user should see).

pub mod account;
pub mod feed;
pub mod follow;
pub mod mail_token;
pub mod page;
pub mod post;
pub mod profile;
pub mod session;
pub mod throttle;
pub mod user;

use chrono::{DateTime, SubsecRound, Utc};

/// A problem with the input that the client should show to its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputProblem {
    pub kind: ProblemKind,
    /// The input field it is about, if one.
    pub field: Option<Field>,
    /// With `RateLimited`: seconds until the next attempt may succeed.
    pub retry_after: Option<u32>,
}

/// What is wrong; the GraphQL `UserErrorCode` mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    InvalidEmail,
    EmailTaken,
    PasswordTooShort,
    PasswordTooLong,
    PasswordTooCommon,
    InvalidCredentials,
    InvalidRefreshToken,
    RateLimited,
    /// A mail token that is unknown, expired, used or superseded.
    InvalidToken,
    /// The right password, for an account an operator disabled.
    AccountDisabled,
    /// Not 3-30 of `[a-z0-9_]`, all digits, or reserved.
    InvalidHandle,
    HandleTaken,
    TextTooLong,
    TextEmpty,
    CannotFollowSelf,
    /// No profile has that handle.
    NotFound,
}

/// The inputs a problem can be about; the API names them (`currentPassword`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    Password,
    CurrentPassword,
    NewPassword,
    RefreshToken,
    NewEmail,
    Token,
    Handle,
    DisplayName,
    Bio,
    Body,
    /// The `handle` argument of `follow`/`unfollow` (not an input object's).
    HandleArgument,
}

impl InputProblem {
    pub fn new(kind: ProblemKind, field: Option<Field>) -> Self {
        Self {
            kind,
            field,
            retry_after: None,
        }
    }

    pub fn rate_limited(retry_after: u32) -> Self {
        Self {
            kind: ProblemKind::RateLimited,
            field: None,
            retry_after: Some(retry_after.max(1)),
        }
    }
}

impl From<crate::domain::text::TextError> for ProblemKind {
    fn from(e: crate::domain::text::TextError) -> Self {
        use crate::domain::text::TextError;
        match e {
            TextError::Empty => Self::TextEmpty,
            TextError::TooLong => Self::TextTooLong,
        }
    }
}

/// Whether `e` is a unique-index violation (a row that exists already).
pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    use sea_orm::SqlErr;
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether `e` is a foreign-key violation (the row referred to is gone).
pub fn is_foreign_key_violation(e: &sea_orm::DbErr) -> bool {
    use sea_orm::SqlErr;
    matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_)))
}

impl From<crate::domain::PasswordError> for ProblemKind {
    fn from(e: crate::domain::PasswordError) -> Self {
        use crate::domain::PasswordError;
        match e {
            PasswordError::TooShort => Self::PasswordTooShort,
            PasswordError::TooLong => Self::PasswordTooLong,
            PasswordError::TooCommon => Self::PasswordTooCommon,
        }
    }
}

/// Now, to the second: every backend stores it exactly (MySQL's `TIMESTAMP`
/// keeps no fraction), so what we return is what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Runs `work` (a database transaction) in a task of its own and waits for
/// it. A request cut off mid-way (REQUEST_TIMEOUT, a client gone) drops its
/// future at any `.await`; a transaction dropped there half-done can leave
/// its connection out of the pool for good on MySQL (seen with a 2 ms
/// REQUEST_TIMEOUT). In its own task the transaction always commits or
/// rolls back; only its answer is lost. The task is tracked by the state, so
/// that shutdown waits for it before closing the pool.
pub async fn to_completion<T: Send + 'static>(
    state: &crate::state::AppState,
    work: impl Future<Output = Result<T, crate::error::AppError>> + Send + 'static,
) -> Result<T, crate::error::AppError> {
    use tracing::Instrument as _;
    state
        .tasks()
        .spawn(crate::db::counted(work.in_current_span()))
        .await
        .map_err(crate::error::AppError::internal)?
}

/// Attempts of a background write before it is given up: a database that
/// cannot serve for a moment (a full pool, SQLite busy) is tried again.
const BACKGROUND_ATTEMPTS: u32 = 3;

/// Runs `work` (a database transaction, built afresh for each attempt) in a
/// task tracked by the state, after `delay`, without waiting for it: the
/// request answers at once, shutdown waits for the task, and tests can
/// `settle` it. A database that cannot serve now is tried again
/// (`BACKGROUND_ATTEMPTS`, after 0.2 s, then 1 s). A failure is never lost
/// silently: it is logged at `error` with the error's message chain (which
/// holds no bound value) and counted in `background_writes_failed_total{task}`.
/// `task` names the write, for both.
pub fn in_background<F, Fut>(
    state: &crate::state::AppState,
    task: &'static str,
    delay: std::time::Duration,
    mut work: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), crate::error::AppError>> + Send + 'static,
{
    use tracing::Instrument as _;
    let run = async move {
        tokio::time::sleep(delay).await;
        let mut attempt = 1;
        loop {
            match work().await {
                Ok(()) => return,
                Err(crate::error::AppError::Unavailable(_)) if attempt < BACKGROUND_ATTEMPTS => {
                    let delay = if attempt == 1 { 200 } else { 1000 };
                    tracing::debug!(task, attempt, "background write: database busy; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::error!(task, attempt, detail = %e.detail(), "background write failed");
                    metrics::counter!("background_writes_failed_total", "task" => task)
                        .increment(1);
                    return;
                }
            }
        }
    };
    state.tasks().spawn(run.in_current_span());
}
