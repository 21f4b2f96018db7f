//! One error type for everything that is not an expected outcome of a
//! mutation (those are `UserError`s in the payload). Each variant maps to a
//! top-level GraphQL error code of the contract; internal detail goes to the
//! log once, under an id that the client sees in `extensions.errorId`.

use async_graphql::ErrorExtensions as _;
use sea_orm::{DbErr, RuntimeErr};
use uuid::Uuid;

use crate::auth::password::HashError;

const UNAVAILABLE: &str = "The service is busy or its database is unreachable; try again shortly.";

/// What went wrong, beyond a mutation's expected outcomes.
///
/// It deliberately has no `Display`: async-graphql turns any `Display` type
/// into an error without extensions, and `?` in a resolver must keep the code.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated,
    Forbidden,
    BadUserInput(String),
    /// The database or the hash pool cannot serve now; the client may retry.
    Unavailable(String),
    /// Every hashing thread is busy and the queue full: load shedding, by
    /// design. Logged at debug only (a storm would flood the log); the
    /// metric `password_hash_rejected_total` counts these.
    Shed,
    /// A unique key was already taken; callers that expect a race handle it,
    /// anywhere else it is a bug.
    Conflict,
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::Unavailable(_) | Self::Shed => "SERVICE_UNAVAILABLE",
            Self::Conflict | Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// The GraphQL error a client sees: a safe message and the code; for an
    /// internal error a generic message and an id, with the detail logged.
    pub fn to_graphql(&self) -> async_graphql::Error {
        let message = match self {
            Self::Unauthenticated => {
                "Authentication required: the token is missing, invalid, expired or revoked."
                    .to_owned()
            }
            Self::Forbidden => "Not found, or not yours.".to_owned(),
            Self::BadUserInput(m) => m.clone(),
            Self::Unavailable(detail) => {
                tracing::warn!(detail = %detail, "service unavailable");
                UNAVAILABLE.to_owned()
            }
            Self::Shed => {
                tracing::debug!("service unavailable: password hash queue is full");
                UNAVAILABLE.to_owned()
            }
            Self::Conflict | Self::Internal(_) => {
                let detail = match self {
                    Self::Internal(d) => d.as_str(),
                    _ => "unexpected unique-key conflict",
                };
                let id = Uuid::now_v7();
                tracing::error!(error_id = %id, detail = %detail, "internal error");
                return async_graphql::Error::new("Internal server error.").extend_with(|_, e| {
                    e.set("code", "INTERNAL_SERVER_ERROR");
                    e.set("errorId", id.to_string());
                });
            }
        };
        let code = self.code();
        async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        e.to_graphql()
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        if is_unavailable(&e) {
            Self::Unavailable(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Shed,
            HashError::Internal(detail) => Self::Internal(detail),
        }
    }
}

impl From<jsonwebtoken::errors::Error> for AppError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        Self::Internal(format!("signing a token: {e}"))
    }
}

/// A transaction the database rolled back to break a deadlock or a
/// serialization conflict (SQLSTATE 40001 / 40P01): running it again is the
/// remedy.
pub fn is_deadlock(e: &DbErr) -> bool {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
            matches!(&**s, sea_orm::sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("40001" | "40P01")))
        }
        _ => false,
    }
}

/// Errors that mean "the database cannot serve now" rather than "this
/// statement is wrong": no connection, a lost connection, a full pool, or a
/// SQLite file locked past the busy timeout.
fn is_unavailable(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
            use sea_orm::sqlx::Error as S;
            match &**s {
                S::Io(_)
                | S::PoolTimedOut
                | S::PoolClosed
                | S::WorkerCrashed
                | S::Tls(_)
                | S::Protocol(_) => true,
                S::Database(db) => {
                    // SQLITE_BUSY (5) and SQLITE_LOCKED (6); PostgreSQL
                    // admin shutdown / cannot connect now (57P01..57P03).
                    matches!(
                        db.code().as_deref(),
                        Some("5" | "6" | "57P01" | "57P02" | "57P03")
                    )
                }
                _ => false,
            }
        }
        _ => false,
    }
}
