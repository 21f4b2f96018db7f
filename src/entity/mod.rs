//! SeaORM entities: table shapes only. The rules live in `service`.

pub mod block;
pub mod follow;
pub mod follow_request;
pub mod live_event;
pub mod mail_outbox;
pub mod mail_token;
pub mod mention;
pub mod mfa_ticket;
pub mod mute;
pub mod notification_event;
pub mod notification_group;
pub mod notification_seen;
pub mod passkey;
pub mod post;
pub mod post_like;
pub mod profile;
pub mod recovery_code;
pub mod refresh_token;
pub mod report;
pub mod repost;
pub mod revoked_session;
pub mod session;
pub mod throttle;
pub mod totp;
pub mod user;
pub mod webauthn_challenge;
