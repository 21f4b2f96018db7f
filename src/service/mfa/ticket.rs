//! `mfaTicket`: a first factor that waits for its second; and `verifyMfa`,
//! which completes it (or, with a token instead, steps a session up).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use crate::auth::refresh::RefreshToken;
use crate::auth::{Assurance, ClientInfo, Viewer};
use crate::entity::{mfa_ticket, session as session_row};
use crate::error::AppError;
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::service::session::{self, Authenticated};
use crate::service::{clock, mail_token, tasks, throttle};
use crate::state::AppState;

/// How long a ticket waits for its second factor.
pub const TICKET_TTL: chrono::Duration = chrono::Duration::minutes(5);

/// What `verifyMfa` was given; exactly one of `code` and `recovery_code`.
pub struct Verification<'a> {
    pub ticket: Option<&'a str>,
    pub code: Option<&'a str>,
    pub recovery_code: Option<&'a str>,
}

/// The second factor given: a TOTP code or a recovery code, owned (it goes
/// into the task that runs the transaction) and never printed.
#[derive(Clone)]
pub(super) enum Factor {
    Code(SecretString),
    Recovery(SecretString),
}

impl Factor {
    /// Checks the factor in `conn` (the caller's transaction): a TOTP code is
    /// then used for its step, a recovery code for good.
    pub(super) async fn accept(
        &self,
        conn: &impl ConnectionTrait,
        state: &AppState,
        user: Uuid,
    ) -> Result<bool, AppError> {
        match self {
            Self::Code(code) => {
                super::totp::accept_code(conn, state, user, code.expose_secret()).await
            }
            Self::Recovery(code) => {
                super::recovery::consume(conn, user, code.expose_secret()).await
            }
        }
    }

    /// INVALID_CODE, about the field that was given.
    pub(super) fn invalid(&self) -> AppError {
        let field = match self {
            Self::Code(_) => Field::Code,
            Self::Recovery(_) => Field::RecoveryCode,
        };
        AppError::input(InputProblem::new(ProblemKind::InvalidCode, Some(field)))
    }
}

/// Writes a ticket for `user`, whose first factor (`amr`) was just proven,
/// in `conn`; answers the ticket, of which only the SHA-256 is stored.
pub async fn issue(
    conn: &impl ConnectionTrait,
    user: Uuid,
    amr: Assurance,
    now: DateTime<Utc>,
) -> Result<SecretString, AppError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let ticket = URL_SAFE_NO_PAD.encode(bytes);
    let hash = mail_token::hash_of(&ticket)
        .ok_or_else(|| AppError::internal("a fresh ticket does not parse"))?;
    mfa_ticket::Entity::insert(mfa_ticket::ActiveModel {
        hash: Set(hash),
        user_id: Set(user),
        amr: Set(amr.column().to_owned()),
        created_at: Set(now),
        expires_at: Set(now + TICKET_TTL),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(SecretString::from(ticket))
}

fn invalid_ticket() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::InvalidToken,
        Some(Field::Ticket),
    ))
}

/// Completes a sign-in (with a ticket) or steps the viewer's session up to
/// `aal2` (without one): answers fresh tokens.
pub async fn verify(
    state: &AppState,
    viewer: Option<&Viewer>,
    input: Verification<'_>,
    client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    let factor = match (input.code, input.recovery_code) {
        (Some(code), None) => Factor::Code(code.into()),
        (None, Some(code)) => Factor::Recovery(code.into()),
        _ => {
            return Err(AppError::BadUserInput(
                "Give exactly one of `code` and `recoveryCode`.".into(),
            ));
        }
    };
    match input.ticket {
        Some(ticket) => complete(state, ticket, factor, client).await,
        None => {
            let viewer = viewer.ok_or(AppError::Unauthenticated)?;
            super::step_up::step_up(state, viewer, factor).await
        }
    }
}

/// How the transaction of a ticket's completion ended.
enum Completion {
    /// Used meanwhile (a racing call won) or expired.
    TicketGone,
    WrongCode,
    Opened(Box<(session_row::Model, RefreshToken)>),
}

/// Completes the sign-in that `ticket` waits for with its second factor.
#[tracing::instrument(skip_all)]
async fn complete(
    state: &AppState,
    ticket: &str,
    factor: Factor,
    client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    if let Some(limited) = throttle::per_ip(state, client).await? {
        return Err(AppError::input(limited));
    }
    let outcome = |o: &'static str| metrics::counter!("logins_total", "outcome" => o);
    let Some(hash) = mail_token::hash_of(ticket) else {
        outcome("invalid_ticket").increment(1);
        return Err(invalid_ticket());
    };
    let found = mfa_ticket::Entity::find_by_id(hash.clone())
        .filter(mfa_ticket::Column::ExpiresAt.gt(clock::now()))
        .one(state.db())
        .await?;
    let user = match found {
        Some(t) => crate::service::user::find(state, t.user_id).await?,
        None => None,
    };
    let Some(user) = user else {
        outcome("invalid_ticket").increment(1);
        return Err(invalid_ticket());
    };
    // The failed-login lock covers second factors too: past it, even the
    // right code waits.
    let standing = throttle::account_standing(state, &user.email).await?;
    if let throttle::Standing::Locked(locked) = standing {
        outcome("rate_limited").increment(1);
        return Err(AppError::input(locked));
    }
    if user.disabled_at.is_some() {
        outcome("disabled").increment(1);
        return Err(AppError::input(InputProblem::new(
            ProblemKind::AccountDisabled,
            None,
        )));
    }
    let (client, user_id, given) = (client.clone(), user.id, factor.clone());
    let done = tasks::to_completion(state, |state| async move {
        let now = clock::now();
        let txn = state.db().begin().await?;
        // The ticket goes first: of racing calls with one ticket, exactly
        // one deletes it, and only that one goes on to the code (a wrong
        // code rolls the deletion back, so a typo keeps the ticket).
        let deleted = mfa_ticket::Entity::delete_many()
            .filter(mfa_ticket::Column::Hash.eq(hash))
            .filter(mfa_ticket::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?;
        if deleted.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(Completion::TicketGone);
        }
        if !given.accept(&txn, &state, user_id).await? {
            txn.rollback().await?;
            return Ok(Completion::WrongCode);
        }
        let opened = session::open(
            &txn,
            &state,
            user_id,
            &client,
            Assurance::PasswordAndOtp,
            now,
        )
        .await?;
        txn.commit().await?;
        // A recovery code used mails the account.
        state.mail_wake().notify_one();
        Ok(Completion::Opened(Box::new(opened)))
    })
    .await?;
    match done {
        Completion::TicketGone => {
            outcome("invalid_ticket").increment(1);
            Err(invalid_ticket())
        }
        Completion::WrongCode => {
            tracing::info!(user = %user.id, "second factor refused");
            outcome("invalid_code").increment(1);
            throttle::login_failed(state, &user.email).await?;
            Err(factor.invalid())
        }
        Completion::Opened(opened) => {
            let (session, refresh) = *opened;
            throttle::login_succeeded(state, &user.email, &standing).await?;
            tracing::info!(user = %user.id, session = %session.id, "signed in with a second factor");
            outcome("success").increment(1);
            Ok(session::sign_in(state, user, session, refresh)?.into())
        }
    }
}

/// Deletes the tickets that expired unused (housekeeping): a ticket costs
/// nothing to abandon, so they must not pile up. Answers how many went.
pub async fn prune(state: &AppState) -> Result<u64, AppError> {
    let deleted = mfa_ticket::Entity::delete_many()
        .filter(mfa_ticket::Column::ExpiresAt.lte(clock::now()))
        .exec(state.db())
        .await?;
    Ok(deleted.rows_affected)
}
