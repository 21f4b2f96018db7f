//! The rules: registration, sign-in, sessions. Services know nothing of
//! GraphQL; they answer domain outcomes and `AppError`s.

pub mod session;
pub mod throttle;
pub mod user;

use chrono::{DateTime, SubsecRound, Utc};

/// A problem with the input that the client should show to its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputProblem {
    pub kind: ProblemKind,
    /// The input field it is about (`email`, `password`), if one.
    pub field: Option<&'static str>,
    /// With `RateLimited`: seconds until the next attempt may succeed.
    pub retry_after: Option<u32>,
}

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
}

impl InputProblem {
    pub fn new(kind: ProblemKind, field: Option<&'static str>) -> Self {
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

/// Now, to the second: every backend stores it exactly (MySQL's `TIMESTAMP`
/// keeps no fraction), so what we return is what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}
