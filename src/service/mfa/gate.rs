//! The `aal2` gate of the sensitive mutations: with a second factor
//! enrolled (TOTP or a passkey), `changePassword`, `changeEmail`,
//! `deleteAccount`, `disableTotp`, `regenerateRecoveryCodes` and
//! `removePasskey` need a token of an `aal2` session (MFA_REQUIRED, without
//! a ticket, otherwise).

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query, SubQueryStatement};
use uuid::Uuid;

use crate::auth::{Aal, Viewer};
use crate::entity::{passkey, totp};
use crate::error::AppError;
use crate::service::problem::{InputProblem, ProblemKind};
use crate::state::AppState;

/// `Ok` when the viewer's token is `aal2`, or the account has no second
/// factor; MFA_REQUIRED otherwise.
pub async fn require_aal2(state: &AppState, viewer: &Viewer) -> Result<(), AppError> {
    if viewer.aal == Aal::Aal2 {
        return Ok(());
    }
    if has_factor(state.db(), viewer.user_id).await? {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::MfaRequired,
            None,
        )));
    }
    Ok(())
}

/// Whether `user` has TOTP on or any passkey: one statement, two indexed
/// counts (`SELECT (SELECT COUNT(*) FROM totp …) + (SELECT COUNT(*) FROM
/// passkey …)`), as a gate runs before every sensitive change.
async fn has_factor(conn: &impl ConnectionTrait, user: Uuid) -> Result<bool, AppError> {
    let count = |q: sea_orm::sea_query::SelectStatement| {
        Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(q)))
    };
    let totp = Query::select()
        .expr(Expr::col(Asterisk).count())
        .from(totp::Entity)
        .and_where(Expr::col(totp::Column::UserId).eq(user))
        .and_where(Expr::col(totp::Column::ConfirmedAt).is_not_null())
        .take();
    let passkeys = Query::select()
        .expr(Expr::col(Asterisk).count())
        .from(passkey::Entity)
        .and_where(Expr::col(passkey::Column::UserId).eq(user))
        .take();
    let query = Query::select()
        .expr_as(count(totp).add(count(passkeys)), "n")
        .take();
    let backend = conn.get_database_backend();
    let n: i64 = match conn.query_one_raw(backend.build(&query)).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(n > 0)
}
