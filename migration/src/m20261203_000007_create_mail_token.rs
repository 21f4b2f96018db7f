//! `mail_token`: the tokens that mail links carry (verify an address, reset a
//! password, confirm an email change). Only their SHA-256 is stored; a use
//! sets `used_at`, and so does a newer token of the same kind.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261127_000001_create_user::User;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut new_email = string_len_null(MailToken::NewEmail, 254);
        if backend == sea_orm::DatabaseBackend::MySql {
            new_email.extra("COLLATE utf8mb4_bin");
        }
        manager
            .create_table(
                Table::create()
                    .table(MailToken::Table)
                    .if_not_exists()
                    // Lower-case hex SHA-256.
                    .col(string_len(MailToken::Hash, 64).primary_key())
                    .col(uuid(MailToken::UserId))
                    // verify | reset | change_email
                    .col(string_len(MailToken::Kind, 16))
                    .col(new_email)
                    .col(crate::instant(MailToken::CreatedAt, backend))
                    .col(crate::instant(MailToken::ExpiresAt, backend))
                    .col(crate::instant_null(MailToken::UsedAt, backend))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mail_token_user")
                            .from(MailToken::Table, MailToken::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mail_token_user_kind")
                    .table(MailToken::Table)
                    .col(MailToken::UserId)
                    .col(MailToken::Kind)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailToken::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum MailToken {
    Table,
    Hash,
    UserId,
    Kind,
    NewEmail,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
