//! Accounts: registration, password sign-in and password change.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic,
    Iterable, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::problem::{Field, InputProblem, ProblemKind};
use super::session::{self, Authenticated, SignedIn};
use super::throttle;
use crate::auth::Assurance;
use crate::auth::password::{HashError, Verdict};
use crate::auth::{ClientInfo, Viewer};
use crate::domain::{Email, NewPassword, PasswordInput, Profile};
use crate::entity::{throttle as throttle_row, totp as totp_row, user};
use crate::error::AppError;
use crate::state::AppState;

/// Creates an account and its first session. Every problem with the input is
/// reported, not only the first.
#[tracing::instrument(skip_all)]
pub async fn register(
    state: &AppState,
    email: &str,
    password: &str,
    handle: Option<&str>,
    client: &ClientInfo,
) -> Result<SignedIn, AppError> {
    if let Some(limited) = throttle::per_ip(state, client).await? {
        return Err(AppError::input(limited));
    }
    let email = Email::parse(email);
    let password = NewPassword::parse(password, email.as_ref().ok());
    let mut problems = Vec::new();
    if email.is_err() {
        problems.push(InputProblem::new(
            ProblemKind::InvalidEmail,
            Some(Field::Email),
        ));
    }
    if let Err(e) = &password {
        problems.push(InputProblem::new((*e).into(), Some(Field::Password)));
    }
    let handle = super::profile::handle_for_new_account(state, handle).await?;
    if let Err(p) = &handle {
        problems.push(*p);
    }
    let (Ok(email), Ok(password), Ok(handle)) = (email, password, handle) else {
        return Err(AppError::Input(problems));
    };
    let taken = |p: Taken| {
        AppError::input(match p {
            Taken::Email => InputProblem::new(ProblemKind::EmailTaken, Some(Field::Email)),
            Taken::Handle => super::profile::handle_taken(),
        })
    };

    // Spare the hash when the answer is already known; the unique indexes
    // below settle races.
    if email_exists(state, &email).await? {
        return Err(taken(Taken::Email));
    }
    let hash = state.hasher().hash(password.expose()).await?;
    // The account, its first session and that session's refresh token are
    // written together or not at all (see `to_completion`). `Err`: the
    // email or the handle was taken in the meantime.
    let (client, email) = (client.clone(), email.into_string());
    let created = super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let txn = state.db().begin().await?;
        let inserted = user::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(email),
            password_hash: Set(hash),
            created_at: Set(now),
            updated_at: Set(now),
            email_verified: Set(false),
            disabled_at: Set(None),
        }
        .insert(&txn)
        .await;
        let user = match inserted {
            Ok(user) => user,
            Err(e) if super::db_error::is_unique_violation(&e) => {
                txn.rollback().await?;
                return Ok(Err(Taken::Email));
            }
            Err(e) => return Err(e.into()),
        };
        if super::profile::create_in(&txn, user.id, handle, now)
            .await?
            .is_none()
        {
            txn.rollback().await?;
            return Ok(Err(Taken::Handle));
        }
        let (session, refresh) =
            session::open(&txn, &state, user.id, &client, Assurance::Password, now).await?;
        super::verification::send_verification(&txn, &state, user.id, &user.email, true, now)
            .await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(Ok((user, session, refresh)))
    })
    .await?;
    let (user, session, refresh) = created.map_err(taken)?;
    tracing::info!(user = %user.id, "account registered");
    metrics::counter!("registrations_total").increment(1);
    session::sign_in(state, user, session, refresh)
}

/// What a unique index refused at registration.
enum Taken {
    Email,
    Handle,
}

/// Signs in with email and password. An unknown email, a wrong password and a
/// malformed password all answer the same, after the same work. With TOTP
/// on, the right password answers a ticket for `verifyMfa` instead of a
/// session.
#[tracing::instrument(skip_all)]
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    let Ok(email) = Email::parse(email) else {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::InvalidEmail,
            Some(Field::Email),
        )));
    };
    // A full hash queue refuses the attempt anyway: say so before any
    // database work, so that a storm of sign-ins costs little beyond the
    // hashes that run. (No password is checked, so nothing is counted.)
    if state.hasher().is_saturated() {
        return Err(HashError::Busy.into());
    }
    if let Some(limited) = throttle::per_ip(state, client).await? {
        return Err(AppError::input(limited));
    }
    // Locked accounts are refused before the password is even looked at, so
    // the right password during the lock is refused the same way.
    let ForLogin {
        user: found,
        standing,
        totp_on,
    } = find_for_login(state, &email).await?;
    if let throttle::Standing::Locked(locked) = standing {
        metrics::counter!("logins_total", "outcome" => "rate_limited").increment(1);
        return Err(AppError::input(locked));
    }
    let password = PasswordInput::new(password);
    let verdict = state
        .hasher()
        .verify(&password, found.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    let (user, needs_rehash) = match (found, verdict) {
        (Some(user), Verdict::Match { needs_rehash }) => (user, needs_rehash),
        _ => {
            tracing::info!("login refused: invalid credentials");
            metrics::counter!("logins_total", "outcome" => "invalid_credentials").increment(1);
            throttle::login_failed(state, email.as_str()).await?;
            return Err(AppError::input(InputProblem::new(
                ProblemKind::InvalidCredentials,
                None,
            )));
        }
    };
    if user.disabled_at.is_some() {
        tracing::info!(user = %user.id, "login refused: account disabled");
        metrics::counter!("logins_total", "outcome" => "disabled").increment(1);
        return Err(AppError::input(InputProblem::new(
            ProblemKind::AccountDisabled,
            None,
        )));
    }
    let user = if needs_rehash {
        rehash(state, user, &password).await
    } else {
        user
    };
    if totp_on {
        // The failure count stays until the second factor is right: else
        // whoever has the password could guess codes without end.
        let ticket = super::mfa::ticket::issue(
            state.db(),
            user.id,
            Assurance::Password,
            super::clock::now(),
        )
        .await?;
        tracing::info!(user = %user.id, "password right; second factor asked for");
        metrics::counter!("logins_total", "outcome" => "mfa_required").increment(1);
        return Ok(Authenticated::MfaRequired(ticket));
    }
    throttle::login_succeeded(state, email.as_str(), &standing).await?;
    // The session and its refresh token are written together or not at all.
    let (client, user_id) = (client.clone(), user.id);
    let (session, refresh) = super::tasks::to_completion(state, |state| async move {
        let txn = state.db().begin().await?;
        let opened = session::open(
            &txn,
            &state,
            user_id,
            &client,
            Assurance::Password,
            super::clock::now(),
        )
        .await?;
        txn.commit().await?;
        Ok(opened)
    })
    .await?;
    tracing::info!(user = %user.id, session = %session.id, "signed in");
    metrics::counter!("logins_total", "outcome" => "success").increment(1);
    Ok(session::sign_in(state, user, session, refresh)?.into())
}

/// Changes the viewer's password: checks the current one (a wrong one is
/// INVALID_CREDENTIALS), applies the rules to the new one, rehashes, ends
/// every other session and hands back fresh tokens for this one.
///
/// The new hash, the revocation of the other sessions and this session's new
/// refresh token are one transaction that runs to completion, followed in
/// the same task by the cache and the notification: a request cut off at
/// any point leaves either nothing changed or all of it.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn change_password(
    state: &AppState,
    viewer: &Viewer,
    current: &str,
    new: &str,
) -> Result<SignedIn, AppError> {
    super::mfa::gate::require_aal2(state, viewer).await?;
    // The current-password check of every sensitive change, with the rules
    // for the new password as this change's own problems.
    let mut parsed = None;
    let user = super::reauth::confirm_password(state, viewer, current, |user| {
        let email = Email::parse(&user.email).ok();
        match NewPassword::parse(new, email.as_ref()) {
            Ok(password) => {
                parsed = Some(password);
                Vec::new()
            }
            Err(e) => vec![InputProblem::new(e.into(), Some(Field::NewPassword))],
        }
    })
    .await?;
    let new = parsed.ok_or_else(|| AppError::internal("the new password was not parsed"))?;
    let hash = state.hasher().hash(new.expose()).await?;
    let (viewer, address) = (*viewer, user.email.clone());
    let changed = super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let txn = state.db().begin().await?;
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.clone()))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(viewer.user_id))
            .exec(&txn)
            .await?;
        let others = session::live_ids(&txn, &viewer, session::Scope::Others, now).await?;
        let revoked = session::revoke_in(&txn, &others, now).await?;
        // This session was revoked meanwhile: change nothing.
        let Some(reissued) = session::reissue(&txn, &state, viewer.session_id, now).await? else {
            txn.rollback().await?;
            return Ok(None);
        };
        crate::mail::outbox::enqueue(&txn, crate::mail::messages::password_changed(&address), now)
            .await?;
        txn.commit().await?;
        session::announce_revocations(&state, &others, now, revoked).await;
        state.mail_wake().notify_one();
        Ok(Some((reissued, hash, now)))
    })
    .await?;
    let Some(((session, refresh), hash, now)) = changed else {
        return Err(AppError::Unauthenticated);
    };
    tracing::info!("password changed; other sessions ended");
    let user = user::Model {
        password_hash: hash,
        updated_at: now,
        ..user
    };
    session::sign_in(state, user, session, refresh)
}

/// The account of a signed-in viewer; `None` if it no longer exists.
pub async fn find(state: &AppState, id: Uuid) -> Result<Option<user::Model>, AppError> {
    Ok(user::Entity::find_by_id(id).one(state.db()).await?)
}

/// What `me` shows, from the profile cache when it can.
pub async fn profile(state: &AppState, id: Uuid) -> Result<Option<Profile>, AppError> {
    if let Some(p) = state.profiles().get(&id) {
        return Ok(Some(p));
    }
    let found = shown(user::Entity::find_by_id(id))
        .one(state.db())
        .await?
        .map(Profile::from);
    if let Some(p) = &found {
        state.profiles().insert(id, p.clone());
    }
    Ok(found)
}

/// The columns of `user` that `me` shows, as a row.
type Shown = (Uuid, String, DateTime<Utc>, bool);

impl From<Shown> for Profile {
    fn from((id, email, created_at, email_verified): Shown) -> Self {
        Profile {
            id,
            email: email.into(),
            created_at,
            email_verified,
        }
    }
}

/// `query` reading only the columns `me` shows.
fn shown(
    query: sea_orm::Select<user::Entity>,
) -> sea_orm::Selector<sea_orm::SelectGetableTuple<Shown>> {
    query
        .select_only()
        .columns([
            user::Column::Id,
            user::Column::Email,
            user::Column::CreatedAt,
            user::Column::EmailVerified,
        ])
        .into_tuple()
}

/// After a committed change of what `me` shows (the email, whether it is
/// verified): this instance's cached profile goes at once; the other
/// instances drop theirs at their next sync (`pull_profile_changes`), woken
/// at once on PostgreSQL. Every such change also sets `user.updated_at`,
/// which is what they read.
pub async fn announce_profile_change(state: &AppState, id: Uuid) {
    state.profiles().invalidate(&id);
    session::wake_other_instances(state).await;
}

/// Drops the cached profile of every account changed (`updated_at`) at or
/// after `since`, here or on another instance, where the copy differs from
/// the account as it is now; answers how many were read. An indexed range
/// (`ix_user_updated_at`). The sync reads a look-back window each time, so
/// a profile cached from a read that raced the change is dropped at a later
/// interval, while a copy that shows the account as it is stays (an account
/// changed a moment ago is not read again, each interval, by every `me`
/// that would find its copy gone). Contents are compared, not stamps: two
/// changes within one second (timestamps are stored to the second) still
/// tell apart.
pub async fn pull_profile_changes(
    state: &AppState,
    since: DateTime<Utc>,
) -> Result<usize, AppError> {
    let changed = shown(user::Entity::find().filter(user::Column::UpdatedAt.gte(since)))
        .all(state.db())
        .await?;
    let read = changed.len();
    for row in changed {
        let now = Profile::from(row);
        if state
            .profiles()
            .get(&now.id)
            .is_some_and(|cached| cached != now)
        {
            state.profiles().invalidate(&now.id);
        }
    }
    Ok(read)
}

/// What a login reads before the verify.
struct ForLogin {
    /// The account behind the email, if any.
    user: Option<user::Model>,
    /// What its failure counters say.
    standing: throttle::Standing,
    /// Whether it has TOTP on (confirmed).
    totp_on: bool,
}

/// A login's one read before the verify: the account behind `email` (if
/// any), whether it has TOTP on, and what its failure counters say, in one
/// query. Every statement a login makes is a round trip (on SQLite, to a
/// connection thread and back) and a second one as sqlx pings the
/// connection on its way back to the pool; each wakes threads that preempt
/// the hashing threads.
async fn find_for_login(state: &AppState, email: &Email) -> Result<ForLogin, AppError> {
    // SELECT <user as u_…>, t.user_id AS t_on, <failures as l_…>, <strikes as s_…>
    // FROM (SELECT 1) base LEFT JOIN user LEFT JOIN totp t
    //   LEFT JOIN throttle l LEFT JOIN throttle s
    let keys = throttle::account_keys(email.as_str());
    let counters = ["l", "s"];
    let mut query = Query::select();
    query.from_subquery(
        Query::select().expr(Expr::val(1)).to_owned(),
        Alias::new("base"),
    );
    for c in user::Column::iter() {
        query.expr_as(
            Expr::col((user::Entity, c)),
            Alias::new(format!("u_{}", c.as_str())),
        );
    }
    query.left_join(
        user::Entity,
        Expr::col((user::Entity, user::Column::Email)).eq(email.as_str()),
    );
    let totp = Alias::new("t");
    query.expr_as(
        Expr::col((totp.clone(), totp_row::Column::UserId)),
        Alias::new("t_on"),
    );
    query.join_as(
        sea_orm::JoinType::LeftJoin,
        totp_row::Entity,
        totp.clone(),
        Expr::col((totp.clone(), totp_row::Column::UserId))
            .equals((user::Entity, user::Column::Id))
            .and(Expr::col((totp, totp_row::Column::ConfirmedAt)).is_not_null()),
    );
    for (name, key) in counters.into_iter().zip(keys) {
        let table = Alias::new(name);
        for c in throttle_row::Column::iter() {
            query.expr_as(
                Expr::col((table.clone(), c)),
                Alias::new(format!("{name}_{}", c.as_str())),
            );
        }
        query.join_as(
            sea_orm::JoinType::LeftJoin,
            throttle_row::Entity,
            table.clone(),
            Expr::col((table, throttle_row::Column::Key)).eq(key),
        );
    }
    let db = state.db();
    let row = db
        .query_one_raw(db.get_database_backend().build(&query))
        .await?
        .ok_or_else(|| AppError::internal("the login lookup answered no row"))?;
    // All NULL (nothing joined) is `None`; any other decoding error is an
    // error, never a missing row (which would open a lock, or refuse all).
    let user = Option::<user::Model>::from_query_result(&row, "u_")?;
    let totp_on = row.try_get::<Option<Uuid>>("", "t_on")?.is_some();
    let login = Option::<throttle_row::Model>::from_query_result(&row, "l_")?;
    let strikes = Option::<throttle_row::Model>::from_query_result(&row, "s_")?;
    let standing = throttle::standing(
        state.policy().rate_limits.login_failures,
        login.as_ref(),
        strikes.as_ref(),
        super::clock::now(),
    );
    Ok(ForLogin {
        user,
        standing,
        totp_on,
    })
}

pub async fn email_exists(state: &AppState, email: &Email) -> Result<bool, AppError> {
    let found: Option<Uuid> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Email.eq(email.as_str()))
        .into_tuple()
        .one(state.db())
        .await?;
    Ok(found.is_some())
}

/// Upgrades a hash made with weaker parameters. A failure here must not fail
/// the sign-in: the old hash still works, and the next login tries again.
async fn rehash(state: &AppState, user: user::Model, password: &PasswordInput) -> user::Model {
    let hash = match state.hasher().hash(password.expose()).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(user = %user.id, error = %e, "rehash skipped");
            return user;
        }
    };
    let now = super::clock::now();
    let updated = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash.clone()))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user.id))
        .exec(state.db())
        .await;
    match updated {
        Ok(_) => {
            tracing::info!(user = %user.id, "password rehashed with current parameters");
            user::Model {
                password_hash: hash,
                updated_at: now,
                ..user
            }
        }
        Err(e) => {
            tracing::warn!(user = %user.id, error = ?AppError::from(e), "rehash not stored");
            user
        }
    }
}
