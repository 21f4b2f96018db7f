//! The rules. Services know nothing of GraphQL; they answer domain values,
//! or an `AppError` (whose `Input` variant carries the problems a user
//! should see, `problem`).
//!
//! Accounts: `user` (register, login, change of password), `reauth` (the
//! current password before a sensitive change), `verification`,
//! `password_reset`, `email_change`, `deletion`, `disable`, `session`,
//! `throttle` (attempt counters), `mail_token`, `mfa` (second factors,
//! passkeys, the assurance of sessions). Each mail flow writes its
//! mail to the outbox in the transaction that issues its token; no request
//! waits on the mail server. The social graph: `profile`, `follow`, `post`,
//! `feed` (a viewer's feed and its statements), `page` (keyset pages).
//! Shared: `problem`, `db_error`, `clock`, `tasks` (work that outlives its
//! request).

pub mod clock;
pub mod db_error;
pub mod deletion;
pub mod disable;
pub mod email_change;
pub mod feed;
pub mod follow;
pub mod interaction;
pub mod lease;
pub mod mail_token;
pub mod media;
pub mod mfa;
pub mod notification;
pub mod page;
pub mod password_reset;
pub mod post;
pub mod problem;
pub mod profile;
mod reauth;
pub mod safety;
pub mod session;
pub mod tasks;
pub mod thread;
pub mod throttle;
pub mod user;
pub mod verification;
