//! `user`: one row per account. The email is stored in canonical form
//! (trimmed, lower-cased) so that a plain unique index enforces "one account
//! per address" on every backend.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // 254: the longest address SMTP can carry (RFC 5321 path limit).
        let mut email = string_len(User::Email, 254);
        if backend == sea_orm::DatabaseBackend::MySql {
            // MySQL's default collations fold accents and case
            // (`jürgen` = `jurgen`): distinct addresses would collide in the
            // unique index. Emails are already canonical; compare bytes.
            email.extra("COLLATE utf8mb4_bin");
        }
        manager
            .create_table(
                Table::create()
                    .table(User::Table)
                    .if_not_exists()
                    .col(uuid(User::Id).primary_key())
                    .col(email)
                    // An Argon2id PHC string is about 100 bytes; room for stronger parameters.
                    .col(string_len(User::PasswordHash, 255))
                    .col(crate::instant(User::CreatedAt, backend))
                    .col(crate::instant(User::UpdatedAt, backend))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_user_email")
                    .table(User::Table)
                    .col(User::Email)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(User::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum User {
    Table,
    Id,
    Email,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}
