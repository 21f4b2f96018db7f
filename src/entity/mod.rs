//! SeaORM entities: table shapes only. The rules live in `service`.

pub mod follow;
pub mod live_event;
pub mod mail_outbox;
pub mod mail_token;
pub mod mention;
pub mod notification_event;
pub mod notification_group;
pub mod notification_seen;
pub mod post;
pub mod post_like;
pub mod profile;
pub mod refresh_token;
pub mod repost;
pub mod revoked_session;
pub mod session;
pub mod throttle;
pub mod user;
