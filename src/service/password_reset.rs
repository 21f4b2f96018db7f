//! Resetting a forgotten password: the reset mail, asked for by address
//! and written in the background, and the new password set with its link.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use uuid::Uuid;

use super::mail_token::{self, Kind};
use super::problem::{Field, InputProblem, ProblemKind};
use super::session::{self, Authenticated};
use super::throttle;
use crate::auth::Assurance;
use crate::auth::ClientInfo;
use crate::auth::refresh::RefreshToken;
use crate::domain::{Email, NewPassword};
use crate::entity::{throttle as throttle_row, totp as totp_row, user};
use crate::error::AppError;
use crate::mail::{self, messages, outbox};
use crate::state::AppState;

/// How long after its answer a reset mail is written, at most: a random
/// delay, so that the write (on SQLite it holds the one writer for about a
/// millisecond) does not land on whatever request the same client sends
/// next, which would time it.
const RESET_MAIL_JITTER_MS: u64 = 1000;

/// Mails a reset link when `email` is an account's (and it is not
/// disabled). The answer, and the work done before it, are the same either
/// way: the per-address counters and one read of the account. A known
/// account's token and mail are then written by a background task (see
/// `write_reset_mail`), which the answer does not wait for, after a random
/// delay of up to `RESET_MAIL_JITTER_MS`.
#[tracing::instrument(skip_all)]
pub async fn request_password_reset(
    state: &AppState,
    email: &str,
    client: &ClientInfo,
) -> Result<(), AppError> {
    if let Some(limited) = throttle::per_ip(state, client).await? {
        return Err(AppError::input(limited));
    }
    let Ok(email) = Email::parse(email) else {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::InvalidEmail,
            Some(Field::Email),
        )));
    };
    if let Some(limited) = throttle::per_mail_address(state, email.as_str()).await? {
        return Err(AppError::input(limited));
    }
    let found: Option<(Uuid, Option<DateTime<Utc>>)> = user::Entity::find()
        .select_only()
        .columns([user::Column::Id, user::Column::DisabledAt])
        .filter(user::Column::Email.eq(email.as_str()))
        .into_tuple()
        .one(state.db())
        .await?;
    if let Some((user, None)) = found {
        let email = email.into_string();
        let delay = Duration::from_millis(rand::random_range(0..=RESET_MAIL_JITTER_MS));
        super::tasks::in_background(state, "password_reset_mail", delay, move |state| {
            write_reset_mail(state, user, email.clone())
        });
    }
    tracing::info!("password reset requested");
    Ok(())
}

/// The reset token of `user` and its mail to `email`, in one transaction;
/// then the mail worker is woken. Nothing when the account has meanwhile
/// gone, been disabled or moved to another address (the mail would go to an
/// address that is no longer the account's).
async fn write_reset_mail(state: AppState, user: Uuid, email: String) -> Result<(), AppError> {
    let now = super::clock::now();
    let policy = state.mail();
    let txn = state.db().begin().await?;
    // Writes first: on SQLite a transaction that reads before it writes
    // fails (SQLITE_BUSY_SNAPSHOT) when another connection wrote in
    // between. The older reset links end here, and stay valid if no new
    // one follows (the transaction is rolled back).
    mail_token::supersede(&txn, user, Some(Kind::Reset), now).await?;
    let still: Option<Uuid> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Id.eq(user))
        .filter(user::Column::Email.eq(email.as_str()))
        .filter(user::Column::DisabledAt.is_null())
        .into_tuple()
        .one(&txn)
        .await?;
    if still.is_none() {
        txn.rollback().await?;
        tracing::info!(%user, "reset mail not written: the account changed meanwhile");
        return Ok(());
    }
    let token = mail_token::issue(&txn, user, Kind::Reset, None, policy.reset_ttl, now).await?;
    let link = mail::link(&policy.reset_url, &token);
    outbox::enqueue(&txn, messages::reset_password(&email, &link), now).await?;
    txn.commit().await?;
    state.mail_wake().notify_one();
    tracing::debug!(%user, "reset mail written");
    Ok(())
}

/// Sets a new password with a reset token: every session of the account
/// ends (on every instance), its failed-login count is cleared, its address
/// counts as verified, a notice is mailed, and a new session is answered.
/// With TOTP on, a ticket for `verifyMfa` is answered instead
/// (MFA_REQUIRED), and the count stays until the second factor is right.
/// One transaction that runs to completion.
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    state: &AppState,
    token: &str,
    new_password: &str,
    client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    if let Some(limited) = throttle::per_ip(state, client).await? {
        return Err(AppError::input(limited));
    }
    let hash = mail_token::hash_of(token);
    // The rules of the new password need the account's email; a token that
    // cannot be used is reported together with the password's problems.
    let row = match &hash {
        Some(h) => mail_token::peek(state.db(), h, &[Kind::Reset], super::clock::now()).await?,
        None => None,
    };
    let user = match &row {
        Some(r) => super::user::find(state, r.user_id).await?,
        None => None,
    };
    let email = user.as_ref().and_then(|u| Email::parse(&u.email).ok());
    let new = NewPassword::parse(new_password, email.as_ref());
    let mut problems = Vec::new();
    if user.is_none() {
        problems.push(InputProblem::new(
            ProblemKind::InvalidToken,
            Some(Field::Token),
        ));
    }
    if let Err(e) = &new {
        problems.push(InputProblem::new((*e).into(), Some(Field::NewPassword)));
    }
    let (Some(user), Some(hash), Ok(new)) = (user, hash, new) else {
        return Err(AppError::Input(problems));
    };
    if user.disabled_at.is_some() {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::AccountDisabled,
            None,
        )));
    }
    let password_hash = state.hasher().hash(new.expose()).await?;
    let client = client.clone();
    let done = super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let txn = state.db().begin().await?;
        let Some(row) = mail_token::consume(&txn, &hash, &[Kind::Reset], now).await? else {
            txn.rollback().await?;
            return Ok(None);
        };
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
            .col_expr(user::Column::EmailVerified, Expr::value(true))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(row.user_id))
            .exec(&txn)
            .await?;
        let ended = session::live_ids_of_user(&txn, row.user_id, now).await?;
        let revoked = session::revoke_in(&txn, &ended, now).await?;
        let totp_on = totp_row::Entity::find_by_id(row.user_id)
            .filter(totp_row::Column::ConfirmedAt.is_not_null())
            .one(&txn)
            .await?
            .is_some();
        // With TOTP on, the count of failures (wrong codes among them) is
        // cleared only by the second factor: else each reset mail would buy
        // a mailbox's holder a fresh round of code guesses.
        if !totp_on {
            throttle_row::Entity::delete_many()
                .filter(throttle_row::Column::Key.is_in(throttle::account_keys(&user.email)))
                .exec(&txn)
                .await?;
        }
        outbox::enqueue(&txn, messages::password_changed(&user.email), now).await?;
        let Some(user) = user::Entity::find_by_id(row.user_id).one(&txn).await? else {
            txn.rollback().await?;
            return Ok(None);
        };
        // An email alone never opens a session: with TOTP on, the second
        // factor is asked for as at login.
        let opened = if totp_on {
            let ticket =
                super::mfa::ticket::issue(&txn, row.user_id, Assurance::Password, now).await?;
            Opened::Ticket(ticket)
        } else {
            let (session, refresh) =
                session::open(&txn, &state, row.user_id, &client, Assurance::Password, now).await?;
            Opened::Session(Box::new((session, refresh)))
        };
        txn.commit().await?;
        session::announce_revocations(&state, &ended, now, revoked).await;
        // The address now counts as verified.
        super::user::announce_profile_change(&state, user.id).await;
        state.mail_wake().notify_one();
        Ok(Some((user, opened)))
    })
    .await?;
    let Some((user, opened)) = done else {
        return Err(mail_token::invalid());
    };
    tracing::info!(user = %user.id, "password reset; every session ended");
    match opened {
        Opened::Ticket(ticket) => Ok(Authenticated::MfaRequired(ticket)),
        Opened::Session(s) => {
            let (session, refresh) = *s;
            Ok(session::sign_in(state, user, session, refresh)?.into())
        }
    }
}

/// What a reset opens: a session, or a ticket waiting for the second factor.
enum Opened {
    Session(Box<(crate::entity::session::Model, RefreshToken)>),
    Ticket(secrecy::SecretString),
}
