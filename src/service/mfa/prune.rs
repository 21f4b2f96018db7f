//! Housekeeping of the second factors: tickets and WebAuthn ceremonies that
//! expired unused.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entity::{mfa_ticket, webauthn_challenge};
use crate::error::AppError;
use crate::state::AppState;

/// Deletes the expired `mfa_ticket` and `webauthn_challenge` rows (nothing
/// reads them any more); answers how many went.
pub async fn prune(state: &AppState) -> Result<u64, AppError> {
    let now = crate::service::clock::now();
    let tickets = mfa_ticket::Entity::delete_many()
        .filter(mfa_ticket::Column::ExpiresAt.lte(now))
        .exec(state.db())
        .await?;
    let challenges = webauthn_challenge::Entity::delete_many()
        .filter(webauthn_challenge::Column::ExpiresAt.lte(now))
        .exec(state.db())
        .await?;
    Ok(tickets.rows_affected + challenges.rows_affected)
}
