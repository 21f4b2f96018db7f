//! The account lifecycle over mail: verifying the address, resetting a
//! forgotten password, changing the email, deleting the account; and what
//! operators do to an account (disable, end its sessions, delete).
//!
//! Every mail is written to the outbox in the transaction that issues its
//! token; no request waits on the mail server.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::mail_token::{self, Kind};
use super::problem::{Field, InputProblem, ProblemKind};
use super::session::{self, SignedIn};
use super::throttle;
use crate::auth::password::Verdict;
use crate::auth::{ClientInfo, Viewer};
use crate::domain::{Email, NewPassword, PasswordInput};
use crate::entity::{
    mail_token as token_row, refresh_token, revoked_session, session as session_row,
    throttle as throttle_row, user,
};
use crate::error::AppError;
use crate::mail::{self, messages, outbox};
use crate::state::AppState;

/// Tombstones written per statement when an account with many sessions goes.
const TOMBSTONE_BATCH: usize = 500;

fn invalid_token() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::InvalidToken,
        Some(Field::Token),
    ))
}

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
    let hash = mail_token::hash_of(token).ok_or_else(invalid_token)?;
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
/// One transaction that runs to completion.
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    state: &AppState,
    token: &str,
    new_password: &str,
    client: &ClientInfo,
) -> Result<SignedIn, AppError> {
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
        throttle_row::Entity::delete_many()
            .filter(throttle_row::Column::Key.is_in(throttle::account_keys(&user.email)))
            .exec(&txn)
            .await?;
        let (session, refresh) = session::open(&txn, &state, row.user_id, &client, now).await?;
        outbox::enqueue(&txn, messages::password_changed(&user.email), now).await?;
        let Some(user) = user::Entity::find_by_id(row.user_id).one(&txn).await? else {
            txn.rollback().await?;
            return Ok(None);
        };
        txn.commit().await?;
        session::announce_revocations(&state, &ended, now, revoked).await;
        // The address now counts as verified.
        super::user::announce_profile_change(&state, user.id).await;
        state.mail_wake().notify_one();
        Ok(Some((user, session, refresh)))
    })
    .await?;
    let Some((user, session, refresh)) = done else {
        return Err(invalid_token());
    };
    tracing::info!(user = %user.id, "password reset; every other session ended");
    session::sign_in(state, user, session, refresh)
}

/// Checks the viewer's current password for a sensitive change: a locked
/// account is RATE_LIMITED, a wrong password INVALID_CREDENTIALS (counted
/// as a failed login). Answers the account, or the problems found (with
/// `more`, the caller's own).
pub(super) async fn confirm_password(
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

/// Asks to move the viewer's account to `new_email`: a confirmation link to
/// the new address, a notice to the old one. Nothing changes until the link
/// is followed (`verify_email`).
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn change_email(
    state: &AppState,
    viewer: &Viewer,
    current_password: &str,
    new_email: &str,
) -> Result<(), AppError> {
    let new = Email::parse(new_email);
    let bad_email = new.is_err();
    let user = confirm_password(state, viewer, current_password, |_| {
        if bad_email {
            vec![InputProblem::new(
                ProblemKind::InvalidEmail,
                Some(Field::NewEmail),
            )]
        } else {
            Vec::new()
        }
    })
    .await?;
    let Ok(new) = new else {
        return Err(AppError::internal("an invalid email passed the check"));
    };
    let taken = || {
        AppError::input(InputProblem::new(
            ProblemKind::EmailTaken,
            Some(Field::NewEmail),
        ))
    };
    if new.as_str() == user.email || super::user::email_exists(state, &new).await? {
        return Err(taken());
    }
    if let Some(limited) = throttle::per_mail_address(state, new.as_str()).await? {
        return Err(AppError::input(limited));
    }
    super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let policy = state.mail();
        let txn = state.db().begin().await?;
        let token = mail_token::issue(
            &txn,
            user.id,
            Kind::ChangeEmail,
            Some(new.as_str()),
            policy.verification_ttl,
            now,
        )
        .await?;
        let link = mail::link(&policy.verify_url, &token);
        outbox::enqueue(&txn, messages::confirm_new_email(new.as_str(), &link), now).await?;
        outbox::enqueue(&txn, messages::email_change_requested(&user.email), now).await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(())
    })
    .await?;
    tracing::info!("email change requested");
    Ok(())
}

/// Deletes the viewer's account and all it owns after checking the
/// password; every session ends on every instance.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn delete_account(
    state: &AppState,
    viewer: &Viewer,
    current_password: &str,
) -> Result<(), AppError> {
    let user = confirm_password(state, viewer, current_password, |_| Vec::new()).await?;
    super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let txn = state.db().begin().await?;
        let ended = delete_in(&txn, user.id, now).await?;
        txn.commit().await?;
        let count = ended.len() as u64;
        session::announce_revocations(&state, &ended, now, count).await;
        state.profiles().invalidate(&user.id);
        Ok(())
    })
    .await?;
    tracing::info!("account deleted");
    metrics::counter!("accounts_deleted_total").increment(1);
    Ok(())
}

/// Deletes an account and everything it owns, within the caller's
/// transaction; answers its sessions that were live (now ended).
///
/// Other instances learn of revocations by reading recent `revoked_at`
/// stamps, which would go with the session rows: so each session's
/// revocation is kept as a tombstone (`revoked_session`) until no token of
/// it can be accepted, and the rows themselves go at once.
pub async fn delete_in(
    conn: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, AppError> {
    // A write first (see `write_reset_mail`): the live sessions are
    // revoked now, so each tombstone below carries its revocation time.
    let ended = end_sessions_in(conn, user, now).await?;
    let sessions: Vec<(Uuid, Option<DateTime<Utc>>)> = session_row::Entity::find()
        .select_only()
        .columns([session_row::Column::Id, session_row::Column::RevokedAt])
        .filter(session_row::Column::UserId.eq(user))
        .into_tuple()
        .all(conn)
        .await?;
    for chunk in sessions.chunks(TOMBSTONE_BATCH) {
        revoked_session::Entity::insert_many(chunk.iter().map(|(id, revoked_at)| {
            revoked_session::ActiveModel {
                id: Set(*id),
                revoked_at: Set(revoked_at.unwrap_or(now)),
            }
        }))
        .exec_without_returning(conn)
        .await?;
    }
    // Children first, not left to foreign keys: the same on every backend.
    refresh_token::Entity::delete_many()
        .filter(
            refresh_token::Column::SessionId.in_subquery(
                Query::select()
                    .column(session_row::Column::Id)
                    .from(session_row::Entity)
                    .and_where(session_row::Column::UserId.eq(user))
                    .to_owned(),
            ),
        )
        .exec(conn)
        .await?;
    session_row::Entity::delete_many()
        .filter(session_row::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    token_row::Entity::delete_many()
        .filter(token_row::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    super::profile::delete_in(conn, user).await?;
    user::Entity::delete_many()
        .filter(user::Column::Id.eq(user))
        .exec(conn)
        .await?;
    Ok(ended)
}

/// Ends every live session of `user` (within the caller's transaction);
/// answers their ids.
pub async fn end_sessions_in(
    conn: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, AppError> {
    // The UPDATE first, then the rows it stamped: a write before any read
    // (see `write_reset_mail`). A session revoked elsewhere in the
    // same second is answered too; announcing it twice is harmless.
    session_row::Entity::update_many()
        .col_expr(session_row::Column::RevokedAt, Expr::value(Some(now)))
        .filter(session_row::Column::UserId.eq(user))
        .filter(session_row::Column::RevokedAt.is_null())
        .filter(session_row::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?;
    Ok(session_row::Entity::find()
        .select_only()
        .column(session_row::Column::Id)
        .filter(session_row::Column::UserId.eq(user))
        .filter(session_row::Column::RevokedAt.eq(now))
        .into_tuple()
        .all(conn)
        .await?)
}

/// Disables (`Some(now)`) or enables (`None`) an account; answers whether it
/// exists. `updated_at` is set too, as by every change of the account's
/// standing (other instances' syncs read it; what `me` shows does not hold
/// the disabled state, and disabling ends the account's sessions).
pub async fn set_disabled(
    db: &DatabaseConnection,
    user: Uuid,
    disabled_at: Option<DateTime<Utc>>,
) -> Result<bool, AppError> {
    let updated = user::Entity::update_many()
        .col_expr(user::Column::DisabledAt, Expr::value(disabled_at))
        .col_expr(user::Column::UpdatedAt, Expr::value(super::clock::now()))
        .filter(user::Column::Id.eq(user))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}
