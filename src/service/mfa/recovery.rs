//! Recovery codes: ten per account, each single use, stored as keyed hashes.

use chrono::{DateTime, Utc};
use rand::RngCore as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait,
};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::entity::{recovery_code, user};
use crate::error::AppError;
use crate::mail::{messages, outbox};
use crate::service::problem::{InputProblem, ProblemKind};
use crate::state::AppState;

/// Codes issued at a time.
const COUNT: usize = 10;
/// Random bytes per code: 80 bits, 16 base32 characters.
const CODE_BYTES: usize = 10;
/// Separates these hashes from any other SHA-256 the service computes.
const DOMAIN: &[u8] = b"sns-api recovery code v1\0";

/// Codes shown once, never stored as they are.
#[derive(Debug)]
pub struct RecoveryCodes(pub Vec<SecretString>);

/// Replaces the account's recovery codes with ten new ones; needs `aal2`
/// and TOTP on.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn regenerate(state: &AppState, viewer: &Viewer) -> Result<RecoveryCodes, AppError> {
    super::gate::require_aal2(state, viewer).await?;
    if !super::totp::is_enabled(state, viewer.user_id).await? {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::NotAllowed,
            None,
        )));
    }
    let user = viewer.user_id;
    let codes = crate::service::tasks::to_completion(state, move |state| async move {
        let now = crate::service::clock::now();
        let txn = state.db().begin().await?;
        let codes = issue(&txn, user, now).await?;
        let email = email_of(&txn, user).await?;
        outbox::enqueue(&txn, messages::recovery_codes_regenerated(&email), now).await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(codes)
    })
    .await?;
    tracing::info!("recovery codes regenerated");
    Ok(codes)
}

/// Uses one of the account's recovery codes in `conn` (a transaction of the
/// caller's): `Ok(false)` when it is unknown or already used. When used, a
/// notice to the account is queued in `conn` too: the caller commits and
/// wakes the mail worker.
pub async fn consume(
    conn: &impl ConnectionTrait,
    user: Uuid,
    code: &str,
) -> Result<bool, AppError> {
    let Some(code) = normalise(code) else {
        return Ok(false);
    };
    let now = crate::service::clock::now();
    // One statement: of two requests racing with one code, one wins.
    let used = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(now))
        .filter(recovery_code::Column::UserId.eq(user))
        .filter(recovery_code::Column::Hash.eq(hash(user, &code)))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    if used.rows_affected != 1 {
        return Ok(false);
    }
    let left = recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(user))
        .filter(recovery_code::Column::UsedAt.is_null())
        .count(conn)
        .await?;
    let email = email_of(conn, user).await?;
    outbox::enqueue(conn, messages::recovery_code_used(&email, left), now).await?;
    tracing::info!(%user, left, "recovery code used");
    Ok(true)
}

/// Replaces the account's recovery codes with ten new ones in `conn` (a
/// transaction of the caller's) and answers them.
pub(crate) async fn issue(
    conn: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<RecoveryCodes, AppError> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    let mut codes = Vec::with_capacity(COUNT);
    let mut hashes = Vec::with_capacity(COUNT);
    while codes.len() < COUNT {
        let code = generate();
        let hashed = hash(user, &normalise(&code).unwrap_or_default());
        // Two equal codes in 80 bits will not happen; the unique key would
        // refuse them, so skip one rather than fail.
        if hashes.contains(&hashed) {
            continue;
        }
        hashes.push(hashed);
        codes.push(SecretString::from(code));
    }
    let rows = hashes.into_iter().map(|hashed| recovery_code::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        hash: Set(hashed),
        created_at: Set(now),
        used_at: Set(None),
    });
    recovery_code::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(RecoveryCodes(codes))
}

/// Deletes every recovery code of the account, in `conn`.
pub(crate) async fn delete_all(conn: &impl ConnectionTrait, user: Uuid) -> Result<(), AppError> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    Ok(())
}

async fn email_of(conn: &impl ConnectionTrait, user: Uuid) -> Result<String, AppError> {
    user::Entity::find_by_id(user)
        .one(conn)
        .await?
        .map(|u| u.email)
        .ok_or_else(|| AppError::internal("the account of a recovery code is gone"))
}

/// 80 random bits as lower-case base32, `xxxx-xxxx-xxxx-xxxx`.
fn generate() -> String {
    let mut bytes = [0u8; CODE_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let plain = base32::encode(base32::Alphabet::Rfc4648Lower { padding: false }, &bytes);
    plain
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

/// A code as typed, made comparable: lower case, without spaces or hyphens.
/// `None` when it cannot be one of ours (16 base32 characters).
fn normalise(code: &str) -> Option<String> {
    let plain: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ours = plain.len() == CODE_BYTES * 8 / 5
        && plain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    ours.then_some(plain)
}

/// SHA-256 over a domain label, the account and the code, in hex. A fast
/// hash is enough here, unlike for passwords: a code carries 80 random
/// bits, beyond any guessing from a leaked hash, and the account id salts
/// it so that one table of guesses cannot serve every account.
fn hash(user: Uuid, normalised: &str) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(DOMAIN)
            .chain_update(user.as_bytes())
            .chain_update(normalised.as_bytes())
            .finalize(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_four_groups_of_four_base32_characters() {
        let code = generate();
        let groups: Vec<_> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(groups.iter().all(|g| g.len() == 4));
        assert!(normalise(&code).is_some(), "{code}");
        assert_ne!(generate(), generate());
    }

    #[test]
    fn codes_are_normalised_before_hashing() {
        let user = Uuid::now_v7();
        let code = "abcd-efgh-ijkl-mn23";
        let typed = " ABCD EFGH-ijklmn23 ";
        assert_eq!(normalise(typed).as_deref(), Some("abcdefghijklmn23"));
        assert_eq!(
            hash(user, &normalise(code).unwrap()),
            hash(user, &normalise(typed).unwrap())
        );
        assert_ne!(
            hash(user, "abcdefghijklmn23"),
            hash(Uuid::now_v7(), "abcdefghijklmn23"),
            "another account hashes the same code otherwise"
        );
        assert_eq!(normalise("abcd-efgh-ijkl-mn2"), None, "too short");
        assert_eq!(
            normalise("abcd-efgh-ijkl-mn01"),
            None,
            "0 and 1 are not base32"
        );
        assert_eq!(normalise("123456"), None);
    }
}
