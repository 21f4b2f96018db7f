//! Step-up: `verifyMfa` with a token and no ticket raises that session to
//! `aal2` with a TOTP or recovery code, and answers fresh tokens for it.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::ticket::Factor;
use crate::auth::refresh::RefreshToken;
use crate::auth::{Assurance, Viewer};
use crate::entity::session as session_row;
use crate::error::AppError;
use crate::service::problem::{InputProblem, ProblemKind};
use crate::service::session::{self, Authenticated};
use crate::service::{clock, tasks, throttle};
use crate::state::AppState;

/// How the step-up's transaction ended.
enum Outcome {
    WrongCode,
    /// The session was revoked meanwhile.
    Gone,
    Raised(Box<(session_row::Model, RefreshToken)>),
}

/// Raises the viewer's session to `aal2` with `factor`: the same session,
/// a new refresh token, and an access token at the new level. A wrong code
/// counts as a failed login; an account without TOTP cannot step up this way.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub(super) async fn step_up(
    state: &AppState,
    viewer: &Viewer,
    factor: Factor,
) -> Result<Authenticated, AppError> {
    let Some(user) = crate::service::user::find(state, viewer.user_id).await? else {
        return Err(AppError::Unauthenticated);
    };
    if !super::totp::is_enabled(state, user.id).await? {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::NotAllowed,
            None,
        )));
    }
    let standing = throttle::account_standing(state, &user.email).await?;
    if let throttle::Standing::Locked(locked) = standing {
        return Err(AppError::input(locked));
    }
    let (session_id, user_id, given) = (viewer.session_id, user.id, factor.clone());
    let done = tasks::to_completion(state, |state| async move {
        let now = clock::now();
        let txn = state.db().begin().await?;
        // The write first (on SQLite a transaction that reads before it
        // writes can fail when another connection wrote in between). A
        // passkey session is `aal2` already and keeps its `hwk`.
        let stepped = Assurance::PasswordAndOtp;
        session_row::Entity::update_many()
            .col_expr(session_row::Column::Aal, Expr::value(stepped.aal_column()))
            .col_expr(session_row::Column::Amr, Expr::value(stepped.column()))
            .filter(session_row::Column::Id.eq(session_id))
            .filter(session_row::Column::RevokedAt.is_null())
            .filter(session_row::Column::Amr.ne(Assurance::Passkey.column()))
            .exec(&txn)
            .await?;
        if !given.accept(&txn, &state, user_id).await? {
            txn.rollback().await?;
            return Ok(Outcome::WrongCode);
        }
        let Some(reissued) = session::reissue(&txn, &state, session_id, now).await? else {
            txn.rollback().await?;
            return Ok(Outcome::Gone);
        };
        txn.commit().await?;
        // A recovery code used mails the account.
        state.mail_wake().notify_one();
        Ok(Outcome::Raised(Box::new(reissued)))
    })
    .await?;
    match done {
        Outcome::WrongCode => {
            tracing::info!("step-up refused: wrong second factor");
            throttle::login_failed(state, &user.email).await?;
            Err(factor.invalid())
        }
        Outcome::Gone => Err(AppError::Unauthenticated),
        Outcome::Raised(raised) => {
            let (session, refresh) = *raised;
            throttle::login_succeeded(state, &user.email, &standing).await?;
            tracing::info!(session = %session.id, "session stepped up to aal2");
            metrics::counter!("step_ups_total").increment(1);
            Ok(session::sign_in(state, user, session, refresh)?.into())
        }
    }
}
