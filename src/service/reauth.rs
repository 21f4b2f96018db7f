//! Re-authentication: the viewer's current password, checked before a
//! sensitive change of its account and counted like a login.

use super::problem::{Field, InputProblem, ProblemKind};
use super::throttle;
use crate::auth::Viewer;
use crate::auth::password::Verdict;
use crate::domain::PasswordInput;
use crate::entity::user;
use crate::error::AppError;
use crate::state::AppState;

/// Checks the viewer's current password for a sensitive change: a locked
/// account is RATE_LIMITED, a wrong password INVALID_CREDENTIALS (counted
/// as a failed login). Answers the account, or the problems found (with
/// `more`, the caller's own).
pub(crate) async fn confirm_password(
    state: &AppState,
    viewer: &Viewer,
    current: &str,
    more: impl FnOnce(&user::Model) -> Vec<InputProblem>,
) -> Result<user::Model, AppError> {
    let Some(user) = super::user::find(state, viewer.user_id).await? else {
        return Err(AppError::Unauthenticated);
    };
    if let throttle::Standing::Locked(locked) =
        throttle::account_standing(state, &user.email).await?
    {
        return Err(AppError::input(locked));
    }
    let verdict = state
        .hasher()
        .verify(&PasswordInput::new(current), Some(&user.password_hash))
        .await?;
    let mut problems = Vec::new();
    if verdict == Verdict::Mismatch {
        throttle::login_failed(state, &user.email).await?;
        problems.push(InputProblem::new(
            ProblemKind::InvalidCredentials,
            Some(Field::CurrentPassword),
        ));
    }
    problems.extend(more(&user));
    if problems.is_empty() {
        Ok(user)
    } else {
        Err(AppError::Input(problems))
    }
}
