//! Mail tokens: the secret in a mail link. 256 random bits, base64url; only
//! their SHA-256 is stored. A token is used once (one conditional UPDATE: of
//! two concurrent uses exactly one changes the row), and issuing one of a
//! kind ends the user's older unused ones of that kind.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::problem::{Field, InputProblem, ProblemKind};
use crate::entity::mail_token;
use crate::error::AppError;

/// Characters of an encoded token: 32 bytes in unpadded base64url.
const TOKEN_LEN: usize = 43;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Proves the account's address.
    Verify,
    /// Sets a new password.
    Reset,
    /// Moves the account to `new_email`.
    ChangeEmail,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
            Self::ChangeEmail => "change_email",
        }
    }
}

/// The answer to a token that cannot be used: unknown, expired, used or
/// superseded alike.
pub fn invalid() -> AppError {
    AppError::input(InputProblem::new(
        ProblemKind::InvalidToken,
        Some(Field::Token),
    ))
}

/// The hash a token is stored (and looked up) by, or `None` when the text
/// cannot be a token at all (wrong length or alphabet): no query for those.
pub fn hash_of(token: &str) -> Option<String> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    (bytes.len() == 32).then(|| hex::encode(Sha256::digest(token.as_bytes())))
}

/// Issues a token of `kind` for `user`, valid for `ttl`, within the caller's
/// transaction: the user's older unused tokens of that kind are marked used
/// (superseded) first. Answers the token, for the mail; it is never stored.
pub async fn issue(
    conn: &impl ConnectionTrait,
    user: Uuid,
    kind: Kind,
    new_email: Option<&str>,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    supersede(conn, user, Some(kind), now).await?;
    issue_for_new_account(conn, user, kind, new_email, ttl, now).await
}

/// As `issue`, for an account created in the caller's transaction: it has
/// no token to supersede. (On MySQL the supersede's UPDATE, matching no row,
/// locks the index gap at its end, and racing registrations deadlocked on it.)
pub async fn issue_for_new_account(
    conn: &impl ConnectionTrait,
    user: Uuid,
    kind: Kind,
    new_email: Option<&str>,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash =
        hash_of(&token).ok_or_else(|| AppError::internal("a fresh mail token does not parse"))?;
    mail_token::Entity::insert(mail_token::ActiveModel {
        hash: Set(hash),
        user_id: Set(user),
        kind: Set(kind.as_str().to_owned()),
        new_email: Set(new_email.map(str::to_owned)),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(token)
}

/// Marks the user's unused tokens (of `kind`, or of every kind) used.
pub async fn supersede(
    conn: &impl ConnectionTrait,
    user: Uuid,
    kind: Option<Kind>,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    let mut update = mail_token::Entity::update_many()
        .col_expr(mail_token::Column::UsedAt, Expr::value(Some(now)))
        .filter(mail_token::Column::UserId.eq(user))
        .filter(mail_token::Column::UsedAt.is_null());
    if let Some(kind) = kind {
        update = update.filter(mail_token::Column::Kind.eq(kind.as_str()));
    }
    Ok(update.exec(conn).await?.rows_affected)
}

/// The token behind `hash` if it is of one of `kinds` and still usable, without
/// using it (to check a request before its expensive part).
pub async fn peek(
    conn: &impl ConnectionTrait,
    hash: &str,
    kinds: &[Kind],
    now: DateTime<Utc>,
) -> Result<Option<mail_token::Model>, AppError> {
    Ok(mail_token::Entity::find_by_id(hash.to_owned())
        .filter(mail_token::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())))
        .filter(mail_token::Column::UsedAt.is_null())
        .filter(mail_token::Column::ExpiresAt.gt(now))
        .one(conn)
        .await?)
}

/// Uses the token behind `hash`: one conditional UPDATE, so that of two
/// concurrent uses exactly one answers the row (within the caller's
/// transaction, whose other writes then stand or fall with it).
pub async fn consume(
    conn: &impl ConnectionTrait,
    hash: &str,
    kinds: &[Kind],
    now: DateTime<Utc>,
) -> Result<Option<mail_token::Model>, AppError> {
    let used = mail_token::Entity::update_many()
        .col_expr(mail_token::Column::UsedAt, Expr::value(Some(now)))
        .filter(mail_token::Column::Hash.eq(hash))
        .filter(mail_token::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())))
        .filter(mail_token::Column::UsedAt.is_null())
        .filter(mail_token::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?;
    if used.rows_affected != 1 {
        return Ok(None);
    }
    Ok(mail_token::Entity::find_by_id(hash.to_owned())
        .one(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_shaped_like_a_token_has_a_hash() {
        let mut bytes = [7u8; 32];
        bytes[0] = 0xfb;
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_of(&token).expect("a token");
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, token);
        for bad in [
            "",
            "short",
            &"a".repeat(10_000),
            &format!("{}=", &token[..42]),
            &token.replace(|_| true, "+")[..43],
            "ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ",
        ] {
            assert_eq!(hash_of(bad), None, "{bad:?}");
        }
    }
}
