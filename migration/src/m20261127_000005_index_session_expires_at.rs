//! `ix_session_expires_at`: housekeeping finds sessions that expired long ago
//! (and deletes them) by this index, as it finds long-revoked ones by
//! `ix_session_revoked_at`.

use sea_orm_migration::prelude::*;

use crate::m20261127_000002_create_session::Session;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_session_expires_at")
                    .table(Session::Table)
                    .col(Session::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_session_expires_at")
                    .table(Session::Table)
                    .to_owned(),
            )
            .await
    }
}
