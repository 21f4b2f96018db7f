//! The database schema, as an ordered list of SeaORM migrations.
//!
//! The server runs these at start; `src/main.rs` here is sea-orm-migration's
//! own CLI for running them by hand (`cargo run -p migration -- status`).

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_user;
mod m20261127_000002_create_session;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_user::Migration),
            Box::new(m20261127_000002_create_session::Migration),
        ]
    }
}
