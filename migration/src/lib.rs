//! The database schema, as an ordered list of SeaORM migrations.
//!
//! The server runs these at start; `src/main.rs` here is sea-orm-migration's
//! own CLI for running them by hand (`cargo run -p migration -- status`).

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_user;
mod m20261127_000002_create_session;
mod m20261127_000003_create_refresh_token;
mod m20261127_000004_create_throttle;
mod m20261127_000005_index_session_expires_at;
mod m20261203_000006_user_lifecycle;
mod m20261203_000007_create_mail_token;
mod m20261203_000008_create_mail_outbox;
mod m20261203_000009_create_revoked_session;
mod m20261203_000010_create_social;
mod m20261203_000020_index_user_updated_at;
mod m20261205_000030_create_interactions;
mod m20261206_000040_create_live_event;
mod m20261207_000050_create_safety;
mod m20261208_000060_create_mfa;
mod m20261209_000070_create_media;

pub struct Migrator;

/// A UTC instant, NOT NULL. MySQL gets `DATETIME` (UTC by convention: the
/// driver sets the session time zone to +00:00) because its `TIMESTAMP` ends
/// in 2038; PostgreSQL gets `timestamptz`; SQLite stores RFC 3339 text.
pub(crate) fn instant<T: IntoIden>(col: T, backend: sea_orm::DatabaseBackend) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match backend {
        sea_orm::DatabaseBackend::MySql => def.date_time(),
        _ => def.timestamp_with_time_zone(),
    };
    def.not_null().take()
}

/// As `instant`, but NULL allowed.
pub(crate) fn instant_null<T: IntoIden>(col: T, backend: sea_orm::DatabaseBackend) -> ColumnDef {
    let mut def = instant(col, backend);
    def.null().take()
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_user::Migration),
            Box::new(m20261127_000002_create_session::Migration),
            Box::new(m20261127_000003_create_refresh_token::Migration),
            Box::new(m20261127_000004_create_throttle::Migration),
            Box::new(m20261127_000005_index_session_expires_at::Migration),
            Box::new(m20261203_000006_user_lifecycle::Migration),
            Box::new(m20261203_000007_create_mail_token::Migration),
            Box::new(m20261203_000008_create_mail_outbox::Migration),
            Box::new(m20261203_000009_create_revoked_session::Migration),
            Box::new(m20261203_000010_create_social::Migration),
            Box::new(m20261203_000020_index_user_updated_at::Migration),
            Box::new(m20261205_000030_create_interactions::Migration),
            Box::new(m20261206_000040_create_live_event::Migration),
            Box::new(m20261207_000050_create_safety::Migration),
            Box::new(m20261208_000060_create_mfa::Migration),
            Box::new(m20261209_000070_create_media::Migration),
        ]
    }
}
