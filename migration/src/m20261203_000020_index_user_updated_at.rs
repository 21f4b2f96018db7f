//! `ix_user_updated_at`: every instance reads, each revocation sync, the
//! accounts changed recently (`updated_at` within the look-back) to drop
//! their cached profiles; this index keeps that a short range read.

use sea_orm_migration::prelude::*;

use crate::m20261127_000001_create_user::User;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_user_updated_at")
                    .table(User::Table)
                    .col(User::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_user_updated_at")
                    .table(User::Table)
                    .to_owned(),
            )
            .await
    }
}
