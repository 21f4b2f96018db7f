//! `session`: one row per sign-in. Every access token names its session in
//! the `sid` claim; revoking the row (setting `revoked_at`) kills every token
//! of that session, on this instance at once and on the others through the
//! revocation cache.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261127_000001_create_user::User;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(Session::Table)
                    .if_not_exists()
                    .col(uuid(Session::Id).primary_key())
                    .col(uuid(Session::UserId))
                    .col(crate::instant(Session::CreatedAt, backend))
                    .col(crate::instant(Session::LastUsedAt, backend))
                    .col(crate::instant(Session::ExpiresAt, backend))
                    .col(crate::instant_null(Session::RevokedAt, backend))
                    .col(string_len_null(Session::UserAgent, 512))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_session_user")
                            .from(Session::Table, Session::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_session_user_id")
                    .table(Session::Table)
                    .col(Session::UserId)
                    .to_owned(),
            )
            .await?;
        // The revocation cache is filled at start from recently revoked rows.
        manager
            .create_index(
                Index::create()
                    .name("ix_session_revoked_at")
                    .table(Session::Table)
                    .col(Session::RevokedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Session::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Session {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    UserAgent,
}
