//! `user.email_verified` and `user.disabled_at`: whether the address was
//! proven by a mail link, and when an operator disabled the account.
//! Accounts that exist before this migration start unverified.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261127_000001_create_user::User;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(User::Table)
                    .add_column(boolean(UserLifecycle::EmailVerified).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(User::Table)
                    .add_column(crate::instant_null(UserLifecycle::DisabledAt, backend))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [UserLifecycle::DisabledAt, UserLifecycle::EmailVerified] {
            manager
                .alter_table(
                    Table::alter()
                        .table(User::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum UserLifecycle {
    EmailVerified,
    DisabledAt,
}
