//! `live_event`: the events that subscriptions carry, for the other
//! instances. A service writes its events in the transaction of the change
//! (so an event exists exactly when the change committed); every instance
//! reads the rows above the last id it has seen (`live::relay`), and
//! housekeeping deletes them after a few minutes. The id is a counter
//! (`AUTOINCREMENT` on SQLite, so an id is never reused once its row is
//! gone); `created_at` orders nothing, it only dates rows for the pruning.

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
                    .table(LiveEvent::Table)
                    .if_not_exists()
                    .col(big_pk_auto(LiveEvent::Id))
                    .col(string_len(LiveEvent::Kind, 16))
                    .col(uuid_null(LiveEvent::PostId))
                    .col(uuid_null(LiveEvent::ActorId))
                    .col(uuid_null(LiveEvent::RecipientId))
                    .col(uuid_null(LiveEvent::GroupId))
                    .col(crate::instant(LiveEvent::CreatedAt, backend))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_live_event_created_at")
                    .table(LiveEvent::Table)
                    .col(LiveEvent::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LiveEvent::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum LiveEvent {
    Table,
    Id,
    Kind,
    PostId,
    ActorId,
    RecipientId,
    GroupId,
    CreatedAt,
}
