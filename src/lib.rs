//! sns-api: the backend of a social network (accounts, sessions, mail flows,
//! profiles, follows, posts and a feed) over GraphQL, on SQLite, PostgreSQL
//! or MySQL/MariaDB.

pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod error;
pub mod graphql;
pub mod housekeeping;
pub mod http;
pub mod live;
pub mod mail;
pub mod media;
pub mod service;
pub mod state;
pub mod sync;
pub mod telemetry;

/// The schema's SDL as `sns-api schema` prints it (and `schema.graphql` holds).
pub fn sdl() -> String {
    graphql::build_schema(&config::Config::defaults().documents, None).sdl()
}
