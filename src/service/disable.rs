//! Disabling and enabling an account, which operators do
//! (`sns-api users disable|enable`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::user;
use crate::error::AppError;

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
