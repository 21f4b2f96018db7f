//! An authenticator app (RFC 6238: SHA-1, 6 digits, 30 s steps, one step
//! either side): enrolling, confirming with a first code, disabling, and
//! checking a code once per time step.

use rand::RngCore as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionTrait,
};
use secrecy::{ExposeSecret as _, SecretString};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::entity::totp;
use crate::error::AppError;
use crate::mail::{messages, outbox};
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::service::{clock, db_error, tasks, throttle};
use crate::state::AppState;

const DIGITS: usize = 6;
const STEP_SECONDS: i64 = 30;
/// 160 bits, the length RFC 4226 recommends for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;

/// A new, not yet active, authenticator secret for the viewer to scan.
#[derive(Debug)]
pub struct Enrollment {
    /// The shared secret, base32 (RFC 4648, no padding).
    pub secret: SecretString,
    /// `otpauth://totp/<issuer>:<email>?secret=…&issuer=…` for a QR code.
    pub uri: SecretString,
}

/// Starts (or restarts) enrollment: a fresh secret, stored sealed and not
/// active until `confirm`. Refused while TOTP is on.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn enroll(state: &AppState, viewer: &Viewer) -> Result<Enrollment, AppError> {
    let Some(key) = state.factors().totp_key.clone() else {
        return Err(AppError::BadUserInput(
            "TOTP is not available on this server: its operator has not set \
             TOTP_ENCRYPTION_KEY."
                .to_owned(),
        ));
    };
    let user = crate::service::user::find(state, viewer.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if is_enabled(state, user.id).await? {
        return Err(already_on());
    }
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let sealed = key.seal(user.id, &secret);
    let app = TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS.unsigned_abs(),
        secret,
        Some(state.factors().issuer.clone()),
        user.email.clone(),
    );
    let enrollment = Enrollment {
        secret: app.get_secret_base32().into(),
        uri: app.get_url().into(),
    };
    let user = user.id;
    tasks::to_completion(state, move |state| store_pending(state, user, sealed)).await?;
    tracing::info!("TOTP enrollment started");
    Ok(enrollment)
}

/// Writes the pending secret, replacing an earlier pending one; never a
/// confirmed one (enrolling raced with a confirmation: "already on").
async fn store_pending(state: AppState, user: Uuid, sealed: String) -> Result<(), AppError> {
    let now = clock::now();
    // Twice: an insert that lost to a concurrent enrollment's insert finds
    // that row pending the second time round, and replaces it.
    for _ in 0..2 {
        let replaced = totp::Entity::update_many()
            .col_expr(totp::Column::Secret, Expr::value(sealed.clone()))
            .col_expr(totp::Column::CreatedAt, Expr::value(now))
            .col_expr(totp::Column::LastStep, Expr::value(Option::<i64>::None))
            .filter(totp::Column::UserId.eq(user))
            .filter(totp::Column::ConfirmedAt.is_null())
            .exec(state.db())
            .await?;
        if replaced.rows_affected == 1 {
            return Ok(());
        }
        let inserted = totp::Entity::insert(totp::ActiveModel {
            user_id: Set(user),
            secret: Set(sealed.clone()),
            created_at: Set(now),
            confirmed_at: Set(None),
            last_step: Set(None),
        })
        .exec_without_returning(state.db())
        .await;
        match inserted {
            Ok(_) => return Ok(()),
            Err(e) if db_error::is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if is_enabled(&state, user).await? {
        Err(already_on())
    } else {
        Err(AppError::internal(
            "a pending TOTP row could not be written",
        ))
    }
}

fn already_on() -> AppError {
    AppError::BadUserInput("TOTP is already on; disable it first.".to_owned())
}

/// Activates the pending secret with its first code; answers the ten
/// recovery codes (shown once). A wrong code is INVALID_CODE.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn confirm(
    state: &AppState,
    viewer: &Viewer,
    code: &str,
) -> Result<super::recovery::RecoveryCodes, AppError> {
    // Turning TOTP on adds a factor: once a passkey exists, only an aal2
    // session may (see `passkey::finish_registration`).
    super::gate::require_aal2(state, viewer).await?;
    let user = crate::service::user::find(state, viewer.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if let throttle::Standing::Locked(locked) =
        throttle::account_standing(state, &user.email).await?
    {
        return Err(AppError::input(locked));
    }
    let pending = totp::Entity::find_by_id(user.id)
        .filter(totp::Column::ConfirmedAt.is_null())
        .one(state.db())
        .await?;
    let Some(pending) = pending else {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::NotAllowed,
            Some(Field::CodeArgument),
        )));
    };
    let secret = open(state, &pending)?;
    let step = matching_step(&secret, code, clock::now().timestamp());
    let wrong = || {
        AppError::input(InputProblem::new(
            ProblemKind::InvalidCode,
            Some(Field::CodeArgument),
        ))
    };
    let Some(step) = step else {
        throttle::login_failed(state, &user.email).await?;
        return Err(wrong());
    };
    let (id, email, sealed) = (user.id, user.email.clone(), pending.secret);
    let codes = tasks::to_completion(state, move |state| async move {
        let now = clock::now();
        let txn = state.db().begin().await?;
        // The secret checked is the one confirmed: an enrollment started
        // meanwhile replaced it, and this code is then no good.
        let confirmed = totp::Entity::update_many()
            .col_expr(totp::Column::ConfirmedAt, Expr::value(now))
            .col_expr(totp::Column::LastStep, Expr::value(step))
            .filter(totp::Column::UserId.eq(id))
            .filter(totp::Column::ConfirmedAt.is_null())
            .filter(totp::Column::Secret.eq(sealed))
            .filter(step_is_new(step))
            .exec(&txn)
            .await?;
        if confirmed.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        let codes = super::recovery::issue(&txn, id, now).await?;
        outbox::enqueue(&txn, messages::totp_enabled(&email), now).await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(Some(codes))
    })
    .await?;
    match codes {
        Some(codes) => {
            tracing::info!("TOTP turned on");
            Ok(codes)
        }
        // Another request confirmed with this very code first: a replay.
        None => {
            throttle::login_failed(state, &user.email).await?;
            Err(wrong())
        }
    }
}

/// Turns TOTP off (and drops the recovery codes), given the current
/// password and a code; needs `aal2`. Answers whether TOTP is still on.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn disable(
    state: &AppState,
    viewer: &Viewer,
    current_password: &str,
    code: &str,
) -> Result<bool, AppError> {
    super::gate::require_aal2(state, viewer).await?;
    let user =
        crate::service::reauth::confirm_password(state, viewer, current_password, |_| Vec::new())
            .await?;
    if !is_enabled(state, user.id).await? {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::NotAllowed,
            Some(Field::Code),
        )));
    }
    let (id, email) = (user.id, user.email.clone());
    let code = SecretString::from(code.to_owned());
    let removed = tasks::to_completion(state, move |state| async move {
        let now = clock::now();
        let txn = state.db().begin().await?;
        let code = code.expose_secret();
        let right = accept_code(&txn, &state, id, code).await?
            || super::recovery::consume(&txn, id, code).await?;
        if !right {
            txn.rollback().await?;
            return Ok(false);
        }
        totp::Entity::delete_by_id(id).exec(&txn).await?;
        super::recovery::delete_all(&txn, id).await?;
        outbox::enqueue(&txn, messages::totp_disabled(&email), now).await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(true)
    })
    .await?;
    if !removed {
        throttle::login_failed(state, &user.email).await?;
        return Err(AppError::input(InputProblem::new(
            ProblemKind::InvalidCode,
            Some(Field::Code),
        )));
    }
    tracing::info!("TOTP turned off");
    Ok(false)
}

/// Whether the account has TOTP on (confirmed).
pub async fn is_enabled(state: &AppState, user: Uuid) -> Result<bool, AppError> {
    let on = totp::Entity::find()
        .filter(totp::Column::UserId.eq(user))
        .filter(totp::Column::ConfirmedAt.is_not_null())
        .count(state.db())
        .await?;
    Ok(on > 0)
}

/// Checks `code` against the account's active secret and, when right,
/// records its time step in `conn` (a transaction of the caller's) so that
/// it is accepted once: `Ok(false)` for a wrong code, a replay of a step
/// already used, or an older one.
pub async fn accept_code(
    conn: &impl ConnectionTrait,
    state: &AppState,
    user: Uuid,
    code: &str,
) -> Result<bool, AppError> {
    let Some(code) = shape(code) else {
        return Ok(false);
    };
    let active = totp::Entity::find_by_id(user)
        .filter(totp::Column::ConfirmedAt.is_not_null())
        .one(conn)
        .await?;
    let Some(active) = active else {
        return Ok(false);
    };
    let secret = open(state, &active)?;
    let Some(step) = matching_step(&secret, &code, clock::now().timestamp()) else {
        return Ok(false);
    };
    // One statement: the same step twice, or an older one after a newer
    // one, updates nothing, and of two requests racing with one code only
    // one updates the row.
    let recorded = totp::Entity::update_many()
        .col_expr(totp::Column::LastStep, Expr::value(step))
        .filter(totp::Column::UserId.eq(user))
        .filter(totp::Column::ConfirmedAt.is_not_null())
        .filter(step_is_new(step))
        .exec(conn)
        .await?;
    Ok(recorded.rows_affected == 1)
}

/// `last_step IS NULL OR last_step < step`.
fn step_is_new(step: i64) -> Condition {
    Condition::any()
        .add(totp::Column::LastStep.is_null())
        .add(totp::Column::LastStep.lt(step))
}

/// The stored secret, opened. One that does not open (another key, altered
/// bytes) is the operator's problem, not a wrong code.
fn open(state: &AppState, row: &totp::Model) -> Result<Vec<u8>, AppError> {
    let Some(key) = &state.factors().totp_key else {
        tracing::error!(user = %row.user_id, "a TOTP secret is stored but no key is configured");
        return Err(AppError::internal(
            "a TOTP secret is stored but TOTP_ENCRYPTION_KEY is not set",
        ));
    };
    key.open(row.user_id, &row.secret).map_err(|e| {
        tracing::error!(user = %row.user_id, "the stored TOTP secret does not decrypt");
        AppError::internal(e)
    })
}

/// A code as typed, without spaces: `None` unless it is six ASCII digits.
fn shape(code: &str) -> Option<String> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// The time step (of the one before `unix_seconds`'s, its own, and the one
/// after) whose code `code` is, compared in constant time.
fn matching_step(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let code = shape(code)?;
    // No skew here: each step is checked on its own, to know which matched.
    let app = TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECONDS.unsigned_abs(),
        secret.to_vec(),
        None,
        String::new(),
    );
    let now = unix_seconds.div_euclid(STEP_SECONDS);
    (now - 1..=now + 1)
        .find(|step| u64::try_from(step * STEP_SECONDS).is_ok_and(|at| app.check(&code, at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 seed; its 8-digit codes end in these 6.
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn the_rfc_6238_vectors_match_their_own_step_only() {
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (2_000_000_000, "279037"),
        ] {
            let step = t / STEP_SECONDS;
            assert_eq!(matching_step(SEED, code, t), Some(step), "at {t}");
            assert_eq!(matching_step(SEED, code, t + STEP_SECONDS), Some(step));
            assert_eq!(matching_step(SEED, code, t - STEP_SECONDS), Some(step));
            assert_eq!(matching_step(SEED, code, t + 2 * STEP_SECONDS), None);
            assert_eq!(matching_step(SEED, code, t - 2 * STEP_SECONDS), None);
        }
    }

    #[test]
    fn codes_are_six_digits_spaces_aside() {
        assert_eq!(matching_step(SEED, " 287 082 ", 59), Some(1));
        assert_eq!(shape("28708"), None);
        assert_eq!(shape("2870822"), None);
        assert_eq!(shape("28708a"), None);
        assert_eq!(
            shape("２８７０８２"),
            None,
            "full-width digits are not ASCII"
        );
    }
}
