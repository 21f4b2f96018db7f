//! Housekeeping of ended sessions: deleted, with their refresh tokens, once
//! no token of theirs can be accepted and a day has passed.

use chrono::Utc;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entity::{refresh_token, revoked_session, session};
use crate::error::AppError;
use crate::state::AppState;

/// How long an ended session's row stays after the last moment any token of
/// it could be accepted: a day, to look into after the fact.
const ENDED_SESSIONS_KEPT: chrono::Duration = chrono::Duration::days(1);

/// Sessions, and refresh tokens, deleted per statement, so that a backlog
/// never holds the database (SQLite's one writer) for long. (A session can
/// hold thousands of tokens: its whole rotation chain.)
const PRUNE_BATCH: usize = 500;

/// Deletes sessions that ended (revoked, or expired) long enough ago that no
/// token of theirs can be accepted, with their refresh tokens; answers how
/// many sessions went. The revocation cache never needs these rows: it is
/// refilled with sessions revoked within an access token's lifetime, and a
/// refresh token of a deleted session is unknown, which answers the same
/// INVALID_REFRESH_TOKEN as ended.
pub async fn prune(state: &AppState) -> Result<u64, AppError> {
    let db = state.db();
    let now = Utc::now();
    // An access token outlives the moment its session ended by this much.
    let outlive = state.jwt().tokens_outlive_until(now) - now;
    let cutoff = now - outlive - ENDED_SESSIONS_KEPT;
    // Tombstones of deleted sessions: no token of theirs is accepted any more.
    revoked_session::Entity::delete_many()
        .filter(revoked_session::Column::RevokedAt.lt(now - outlive))
        .exec(db)
        .await?;
    let ended = Condition::any()
        .add(session::Column::RevokedAt.lt(cutoff))
        .add(session::Column::ExpiresAt.lt(cutoff));
    let mut pruned = 0;
    loop {
        let ids: Vec<Uuid> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(ended.clone())
            .limit(PRUNE_BATCH as u64)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(pruned);
        }
        // Tokens first, a batch at a time (not left to the foreign key's
        // cascade, which would take them all in one statement): a failure
        // part-way leaves ended sessions with fewer tokens, which the next
        // run finishes.
        loop {
            let hashes: Vec<String> = refresh_token::Entity::find()
                .select_only()
                .column(refresh_token::Column::Hash)
                .filter(refresh_token::Column::SessionId.is_in(ids.clone()))
                .limit(PRUNE_BATCH as u64)
                .into_tuple()
                .all(db)
                .await?;
            if hashes.is_empty() {
                break;
            }
            let gone = refresh_token::Entity::delete_many()
                .filter(refresh_token::Column::Hash.is_in(hashes))
                .exec(db)
                .await?;
            // None deleted: another instance is pruning the same rows.
            if gone.rows_affected == 0 {
                break;
            }
        }
        let full = ids.len() == PRUNE_BATCH;
        let gone = session::Entity::delete_many()
            .filter(session::Column::Id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected;
        pruned += gone;
        if gone == 0 || !full {
            return Ok(pruned);
        }
    }
}
