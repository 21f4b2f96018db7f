//! Proving an account's address: the verification mail (sent at
//! registration and on request) and following its link, or an email
//! change's link, which moves the account to its new address.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;

use super::mail_token::{self, Kind};
use super::problem::{Field, InputProblem, ProblemKind};
use super::throttle;
use crate::auth::{ClientInfo, Viewer};
use crate::entity::user;
use crate::error::AppError;
use crate::mail::{self, messages, outbox};
use crate::state::AppState;

/// Sends the verification mail (again) to the viewer's address; nothing
/// when it is already verified.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn request_email_verification(state: &AppState, viewer: &Viewer) -> Result<(), AppError> {
    let Some(user) = super::user::find(state, viewer.user_id).await? else {
        return Err(AppError::Unauthenticated);
    };
    if user.email_verified {
        return Ok(());
    }
    if let Some(limited) = throttle::per_mail_address(state, &user.email).await? {
        return Err(AppError::input(limited));
    }
    super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let txn = state.db().begin().await?;
        send_verification(&txn, &state, user.id, &user.email, false, now).await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(())
    })
    .await
}

/// Issues a verification token for `user` and writes its mail, within the
/// caller's transaction. `new_account`: the account was created in it.
pub async fn send_verification(
    conn: &impl ConnectionTrait,
    state: &AppState,
    user: Uuid,
    email: &str,
    new_account: bool,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let policy = state.mail();
    let ttl = policy.verification_ttl;
    let token = if new_account {
        mail_token::issue_for_new_account(conn, user, Kind::Verify, None, ttl, now).await?
    } else {
        mail_token::issue(conn, user, Kind::Verify, None, ttl, now).await?
    };
    let link = mail::link(&policy.verify_url, &token);
    outbox::enqueue(conn, messages::verify_email(email, &link), now).await
}

/// Follows a verification or email-change link: the address is verified,
/// or the account moves to its new address (verified). Answers the account.
#[tracing::instrument(skip_all)]
pub async fn verify_email(
    state: &AppState,
    token: &str,
    client: &ClientInfo,
) -> Result<user::Model, AppError> {
    if let Some(limited) = throttle::per_ip(state, client).await? {
        return Err(AppError::input(limited));
    }
    let hash = mail_token::hash_of(token).ok_or_else(mail_token::invalid)?;
    let outcome = super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let txn = state.db().begin().await?;
        let Some(row) =
            mail_token::consume(&txn, &hash, &[Kind::Verify, Kind::ChangeEmail], now).await?
        else {
            txn.rollback().await?;
            return Ok(Err(ProblemKind::InvalidToken));
        };
        let mut update = user::Entity::update_many()
            .col_expr(user::Column::EmailVerified, Expr::value(true))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(row.user_id));
        if let Some(new_email) = &row.new_email {
            update = update.col_expr(user::Column::Email, Expr::value(new_email.clone()));
        }
        match update.exec(&txn).await {
            Ok(_) => {}
            Err(e) if super::db_error::is_unique_violation(&e) => {
                // Taken since the change was asked for; the token stays unused.
                txn.rollback().await?;
                return Ok(Err(ProblemKind::EmailTaken));
            }
            Err(e) => return Err(e.into()),
        }
        if row.new_email.is_some() {
            // Every other link went to the old address: none of them works now.
            mail_token::supersede(&txn, row.user_id, None, now).await?;
        }
        let Some(user) = user::Entity::find_by_id(row.user_id).one(&txn).await? else {
            txn.rollback().await?;
            return Ok(Err(ProblemKind::InvalidToken));
        };
        txn.commit().await?;
        super::user::announce_profile_change(&state, user.id).await;
        Ok(Ok((user, row.new_email.is_some())))
    })
    .await?;
    match outcome {
        Ok((user, moved)) => {
            tracing::info!(user = %user.id, moved, "email verified");
            Ok(user)
        }
        Err(ProblemKind::EmailTaken) => Err(AppError::input(InputProblem::new(
            ProblemKind::EmailTaken,
            None,
        ))),
        Err(kind) => Err(AppError::input(InputProblem::new(kind, Some(Field::Token)))),
    }
}
