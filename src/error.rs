//! One error type for the services: expected problems with a mutation's input
//! (`Input`, shown to the user in the payload) and everything else, each
//! mapped to a top-level GraphQL error code of the contract. Internal detail
//! (its source chain) goes to the log once, under an id that the client sees
//! in `extensions.errorId`.

use async_graphql::ErrorExtensions as _;
use sea_orm::{DbErr, RuntimeErr};
use uuid::Uuid;

use crate::auth::password::HashError;
use crate::service::problem::InputProblem;

/// An error's cause, kept for the log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

const UNAVAILABLE: &str = "The service is busy or its database is unreachable; try again shortly.";

/// What went wrong. The `Display` of each variant is safe to show a client;
/// the detail lives only in `source()`.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Expected problems with the input, every one of them (not only the
    /// first). A mutation answers them in its payload's `errors`.
    #[error("The input was refused.")]
    Input(Vec<InputProblem>),
    #[error("Authentication required: the token is missing, invalid, expired or revoked.")]
    Unauthenticated,
    #[error("Not found, or not yours.")]
    Forbidden,
    /// A thing that is not there (or not visible to the viewer) where no
    /// payload can say so: a subscription to an unknown post.
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    BadUserInput(String),
    /// The database or the hash pool cannot serve now; the client may retry.
    #[error("{UNAVAILABLE}")]
    Unavailable(#[source] BoxError),
    /// Every hashing thread is busy and the queue full: load shedding, by
    /// design. Logged at debug only (a storm would flood the log); the
    /// metric `password_hash_rejected_total` counts these.
    #[error("{UNAVAILABLE}")]
    Shed,
    /// A unique key was already taken; callers that expect a race handle it,
    /// anywhere else it is a bug.
    #[error("Internal server error.")]
    Conflict,
    #[error("Internal server error.")]
    Internal(#[source] BoxError),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Input(_) | Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Unavailable(_) | Self::Shed => "SERVICE_UNAVAILABLE",
            Self::Conflict | Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    pub fn internal(detail: impl Into<BoxError>) -> Self {
        Self::Internal(detail.into())
    }

    /// The input problems alone, as an error.
    pub fn input(problem: InputProblem) -> Self {
        Self::Input(vec![problem])
    }

    /// What went wrong, for the log: the message and its causes' messages
    /// (never a `Debug` dump, which can hold a driver's bound values).
    pub fn detail(&self) -> String {
        chain(self)
    }
}

/// `e` and its causes, `: `-separated, for the log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The GraphQL error a client sees: the variant's safe message and its code;
/// for an internal error also an id, with the detail logged under it.
impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        Self::from(&e)
    }
}

/// As above, for an error shared by every field that waited on one batch
/// load (a DataLoader's error is cloned to each of them).
impl From<&AppError> for async_graphql::Error {
    fn from(e: &AppError) -> Self {
        let code = e.code();
        let mut error_id = None;
        match e {
            AppError::Unavailable(source) => {
                tracing::warn!(detail = %chain(source.as_ref()), "service unavailable");
            }
            AppError::Shed => {
                tracing::debug!("service unavailable: password hash queue is full");
            }
            AppError::Conflict | AppError::Internal(_) => {
                let id = Uuid::now_v7();
                let detail = match e {
                    AppError::Internal(source) => chain(source.as_ref()),
                    _ => "unexpected unique-key conflict".to_owned(),
                };
                tracing::error!(error_id = %id, detail = %detail, "internal error");
                error_id = Some(id.to_string());
            }
            _ => {}
        }
        async_graphql::Error::new(e.to_string()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(id) = &error_id {
                ext.set("errorId", id.as_str());
            }
        })
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        // A deadlock's victim was rolled back whole: running it again is
        // the remedy, so it is the client's to retry, not a bug.
        if is_unavailable(&e) || is_deadlock(&e) {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Internal(Box::new(e))
        }
    }
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Shed,
            e @ HashError::Internal(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<jsonwebtoken::errors::Error> for AppError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl AppError {
    /// Whether the database rolled this request's transaction back to
    /// break a deadlock (see [`is_deadlock`]).
    pub fn is_deadlock(&self) -> bool {
        match self {
            Self::Unavailable(e) | Self::Internal(e) => {
                e.downcast_ref::<DbErr>().is_some_and(is_deadlock)
            }
            _ => false,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_shows_a_generic_message_and_an_id_never_its_detail() {
        let e = AppError::from(DbErr::Custom(
            "near \"SELEC\": syntax error in /srv/x.db".into(),
        ));
        assert!(matches!(e, AppError::Internal(_)));
        assert!(
            std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("syntax error")),
            "the detail is kept as the source, for the log"
        );
        let g = async_graphql::Error::from(e);
        assert_eq!(g.message, "Internal server error.");
        let ext = g.extensions.expect("extensions");
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("INTERNAL_SERVER_ERROR"))
        );
        assert!(ext.get("errorId").is_some());
    }

    #[test]
    fn each_variant_keeps_its_contract_code() {
        let cases = [
            (AppError::Unauthenticated, "UNAUTHENTICATED"),
            (AppError::Forbidden, "FORBIDDEN"),
            (AppError::BadUserInput("x".into()), "BAD_USER_INPUT"),
            (AppError::Shed, "SERVICE_UNAVAILABLE"),
            (
                AppError::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
                "SERVICE_UNAVAILABLE",
            ),
        ];
        for (e, code) in cases {
            let g = async_graphql::Error::from(e);
            assert_eq!(
                g.extensions.and_then(|x| x.get("code").cloned()),
                Some(async_graphql::Value::from(code))
            );
        }
    }
}
