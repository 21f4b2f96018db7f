//! `throttle`: attempt counters shared by every instance: failed logins per
//! submitted email, and sign-in attempts per client address. One row a key,
//! a fixed window each.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut key = string_len(Throttle::Key, 300);
        key.primary_key();
        if backend == sea_orm::DatabaseBackend::MySql {
            // Keys hold emails: compare bytes, as `user.email` does.
            key.extra("COLLATE utf8mb4_bin");
        }
        manager
            .create_table(
                Table::create()
                    .table(Throttle::Table)
                    .if_not_exists()
                    // `login:<email>` or `ip:<address>`; 254 + prefix.
                    .col(key)
                    .col(integer(Throttle::Hits))
                    .col(crate::instant(Throttle::WindowStart, backend))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Throttle::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Throttle {
    Table,
    Key,
    Hits,
    WindowStart,
}
