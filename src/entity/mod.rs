//! SeaORM entities: table shapes only. The rules live in `service`.

pub mod follow;
pub mod mail_outbox;
pub mod mail_token;
pub mod post;
pub mod profile;
pub mod refresh_token;
pub mod revoked_session;
pub mod session;
pub mod throttle;
pub mod user;
