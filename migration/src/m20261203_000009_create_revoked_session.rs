//! `revoked_session`: tombstones of sessions deleted with their account.
//! Other instances learn of revocations by reading recent `revoked_at`
//! stamps; a deleted session row would take its stamp with it, so its
//! revocation is kept here until no token of it can be accepted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(RevokedSession::Table)
                    .if_not_exists()
                    .col(uuid(RevokedSession::Id).primary_key())
                    .col(crate::instant(RevokedSession::RevokedAt, backend))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_revoked_session_revoked_at")
                    .table(RevokedSession::Table)
                    .col(RevokedSession::RevokedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RevokedSession::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum RevokedSession {
    Table,
    Id,
    RevokedAt,
}
