//! Deleting an account and all it owns, by its owner (with its password)
//! or by an operator; its sessions' revocations outlive the rows.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use super::reauth::confirm_password;
use super::session;
use crate::auth::Viewer;
use crate::entity::{
    mail_token as token_row, refresh_token, revoked_session, session as session_row, user,
};
use crate::error::AppError;
use crate::state::AppState;

/// Tombstones written per statement when an account with many sessions goes.
const TOMBSTONE_BATCH: usize = 500;

/// Deletes the viewer's account and all it owns after checking the
/// password; every session ends on every instance, and the `postChanged`
/// streams of its posts end.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn delete_account(
    state: &AppState,
    viewer: &Viewer,
    current_password: &str,
) -> Result<(), AppError> {
    super::mfa::gate::require_aal2(state, viewer).await?;
    let user = confirm_password(state, viewer, current_password, |_| Vec::new()).await?;
    super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let txn = state.db().begin().await?;
        let ended = delete_in(&txn, user.id, now).await?;
        let gone = vec![crate::live::Event::AccountDeleted { user: user.id }];
        let events = state.live().write(&txn, gone).await?;
        txn.commit().await?;
        // Its posts, reposts and follows leave every feed.
        state.feed_cache().changed_all().await;
        state.live().publish(events);
        // Its media's objects were queued with the rows.
        state.media().deletion_wake().notify_one();
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
/// transaction; answers its sessions that were live (now ended). Its media
/// rows go and their objects are queued for deletion (`profile::delete_in`);
/// the caller wakes the deletion worker after the commit.
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
    // A write first (see `password_reset::write_reset_mail`): the live
    // sessions are revoked now, so each tombstone below carries its
    // revocation time.
    let ended = session::end_sessions_in(conn, user, now).await?;
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
