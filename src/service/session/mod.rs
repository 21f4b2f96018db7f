//! Sessions: opened by every sign-in, kept alive by refresh (`refresh.rs`),
//! ended by logout, revokeSession, changePassword or detected refresh-token
//! theft (`revoke.rs`), deleted long after they ended (`prune.rs`).

mod prune;
mod refresh;
mod revoke;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

pub use prune::prune;
pub use refresh::{refresh, reissue};
pub use revoke::{
    REVOCATION_CHANNEL, announce_revocations, end_sessions_in, live_ids, live_ids_of_user,
    load_revocations, pull_revocations, revoke, revoke_ids, revoke_in, revoke_one,
    wake_other_instances,
};

use crate::auth::jwt::IssuedToken;
use crate::auth::refresh::RefreshToken;
use crate::auth::{Assurance, ClientInfo, Viewer};
use crate::entity::{refresh_token, session, user};
use crate::error::AppError;
use crate::state::{AppState, Policy};

/// What a successful register, login, refresh or password change hands back.
#[derive(Debug)]
pub struct SignedIn {
    pub user: user::Model,
    pub session: session::Model,
    pub access: IssuedToken,
    pub refresh: RefreshToken,
}

/// What a sign-in answers: a session, or (the first factor right, a second
/// one enrolled) a ticket that `verifyMfa` completes with a code.
#[derive(Debug)]
pub enum Authenticated {
    Session(Box<SignedIn>),
    /// The `mfaTicket`: single use, short-lived, bound to the account.
    MfaRequired(secrecy::SecretString),
}

impl From<SignedIn> for Authenticated {
    fn from(s: SignedIn) -> Self {
        Self::Session(Box::new(s))
    }
}

/// Which of the viewer's sessions a logout ends; the GraphQL `LogoutScope`
/// mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The session of the token making the request.
    Current,
    /// Every other live session of the user.
    Others,
    /// Every live session of the user.
    All,
}

/// A session as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: session::Model,
    pub current: bool,
}

/// Inserts a new session for `user`, at the level `assurance` proved, and
/// its first refresh token.
pub async fn open(
    conn: &impl ConnectionTrait,
    state: &AppState,
    user: Uuid,
    client: &ClientInfo,
    assurance: Assurance,
    now: DateTime<Utc>,
) -> Result<(session::Model, RefreshToken), AppError> {
    let row = session::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(now + state.policy().sessions.lifetime),
        revoked_at: Set(None),
        user_agent: Set(client.user_agent.clone()),
        aal: Set(assurance.aal_column()),
        amr: Set(assurance.column().to_owned()),
    };
    let session = row.insert(conn).await?;
    let token = state.refresh_keys().generate();
    store_refresh(conn, &token, session.id, now).await?;
    Ok((session, token))
}

/// Signs an access token for a session that was just opened or touched, at
/// the session's level.
pub fn sign_in(
    state: &AppState,
    user: user::Model,
    session: session::Model,
    refresh: RefreshToken,
) -> Result<SignedIn, AppError> {
    let access = state.jwt().issue(
        user.id,
        session.id,
        user.email_verified,
        Assurance::from_column(&session.amr),
        session.last_used_at,
    )?;
    Ok(SignedIn {
        user,
        session,
        access,
        refresh,
    })
}

/// The viewer's live sessions, newest first.
pub async fn list(state: &AppState, viewer: &Viewer) -> Result<Vec<SessionView>, AppError> {
    let rows = session::Entity::find()
        .filter(session::Column::UserId.eq(viewer.user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(crate::service::clock::now()))
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .all(state.db())
        .await?;
    Ok(rows
        .into_iter()
        .map(|session| SessionView {
            current: session.id == viewer.session_id,
            session,
        })
        .collect())
}

/// Whether a session can still be refreshed at `now`: not revoked, not
/// expired, and within its absolute lifetime.
pub fn is_live(session: &session::Model, policy: &Policy, now: DateTime<Utc>) -> bool {
    session.revoked_at.is_none()
        && session.expires_at > now
        && session.created_at + policy.sessions.max_lifetime > now
}

/// When a session used at `now` expires: sliding, but never past its
/// absolute limit.
pub fn extended_expiry(
    session: &session::Model,
    policy: &Policy,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    (now + policy.sessions.lifetime).min(session.created_at + policy.sessions.max_lifetime)
}

/// Marks a session used now and extends it, unless it was revoked meanwhile
/// (then `None`): a token is never issued for a revoked session, which is
/// what lets a revocation be forgotten once its last token has expired.
async fn touch(
    conn: &impl ConnectionTrait,
    policy: &Policy,
    session: session::Model,
    now: DateTime<Utc>,
) -> Result<Option<session::Model>, AppError> {
    let expires_at = extended_expiry(&session, policy, now);
    let updated = session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .col_expr(session::Column::ExpiresAt, Expr::value(expires_at))
        .filter(session::Column::Id.eq(session.id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok((updated.rows_affected == 1).then_some(session::Model {
        last_used_at: now,
        expires_at,
        ..session
    }))
}

async fn store_refresh(
    conn: &impl ConnectionTrait,
    token: &RefreshToken,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let row = refresh_token::ActiveModel {
        hash: Set(token.hash()),
        session_id: Set(session),
        created_at: Set(now),
        rotated_at: Set(None),
    };
    match refresh_token::Entity::insert(row)
        .exec_without_returning(conn)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::service::db_error::is_unique_violation(&e) => Err(AppError::Conflict),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone as _;

    use super::*;

    fn policy() -> Policy {
        Policy {
            sessions: crate::config::Sessions {
                lifetime: Duration::from_secs(30 * 86400),
                max_lifetime: Duration::from_secs(90 * 86400),
                reuse_grace: Duration::from_secs(10),
                sync_interval: Duration::from_secs(1),
            },
            rate_limits: crate::config::RateLimits {
                login_failures: "10/15m".parse().unwrap(),
                auth_per_ip: "30/1m".parse().unwrap(),
                mail: "5/1h".parse().unwrap(),
                reports: "10/1h".parse().unwrap(),
                uploads: "30/1h".parse().unwrap(),
            },
            trusted_proxies: Vec::new(),
            notification_retention: Duration::from_secs(90 * 86400),
        }
    }

    fn session_at(created: DateTime<Utc>, expires: DateTime<Utc>) -> session::Model {
        session::Model {
            id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            created_at: created,
            last_used_at: created,
            expires_at: expires,
            revoked_at: None,
            user_agent: None,
            aal: 1,
            amr: "pwd".to_owned(),
        }
    }

    #[test]
    fn a_session_lives_until_it_expires_is_revoked_or_reaches_its_absolute_limit() {
        let p = policy();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let s = session_at(t0, t0 + chrono::Duration::days(30));
        assert!(is_live(&s, &p, t0 + chrono::Duration::days(29)));
        assert!(!is_live(&s, &p, t0 + chrono::Duration::days(30)), "expired");
        let revoked = session::Model {
            revoked_at: Some(t0),
            ..s.clone()
        };
        assert!(!is_live(&revoked, &p, t0 + chrono::Duration::seconds(1)));
        // Kept alive by use, yet never past 90 days from the sign-in.
        let extended = session_at(t0, t0 + chrono::Duration::days(100));
        assert!(is_live(&extended, &p, t0 + chrono::Duration::days(89)));
        assert!(!is_live(&extended, &p, t0 + chrono::Duration::days(90)));
    }

    #[test]
    fn use_slides_the_expiry_but_never_past_the_absolute_limit() {
        let p = policy();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let s = session_at(t0, t0 + chrono::Duration::days(30));
        let day10 = t0 + chrono::Duration::days(10);
        assert_eq!(
            extended_expiry(&s, &p, day10),
            day10 + chrono::Duration::days(30)
        );
        let day80 = t0 + chrono::Duration::days(80);
        assert_eq!(
            extended_expiry(&s, &p, day80),
            t0 + chrono::Duration::days(90)
        );
    }
}
