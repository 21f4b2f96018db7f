//! `refresh_token`: every refresh token a session was ever given, by the
//! SHA-256 of its text (the text itself is never stored). The current one has
//! `rotated_at` NULL; a rotated one presented again after the reuse grace is
//! token theft, and revokes the session.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261127_000002_create_session::Session;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(RefreshToken::Table)
                    .if_not_exists()
                    // Lower-case hex SHA-256.
                    .col(string_len(RefreshToken::Hash, 64).primary_key())
                    .col(uuid(RefreshToken::SessionId))
                    .col(crate::instant(RefreshToken::CreatedAt, backend))
                    .col(crate::instant_null(RefreshToken::RotatedAt, backend))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_token_session")
                            .from(RefreshToken::Table, RefreshToken::SessionId)
                            .to(Session::Table, Session::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_refresh_token_session_id")
                    .table(RefreshToken::Table)
                    .col(RefreshToken::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshToken::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum RefreshToken {
    Table,
    Hash,
    SessionId,
    CreatedAt,
    RotatedAt,
}
