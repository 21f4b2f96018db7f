//! The rules. Services know nothing of GraphQL; they answer domain values,
//! or an `AppError` (whose `Input` variant carries the problems a user
//! should see, `problem`).
//!
//! Accounts: `user` (register, login, change of password), `reauth` (the
//! current password before a sensitive change), `verification`,
//! `password_reset`, `email_change`, `deletion`, `disable`; `session`,
//! `throttle` (attempt counters), `mail_token`. The social graph: `profile`,
//! `follow`, `post`, `page` (keyset pages). Shared by all: `problem`,
//! `db_error`, `clock`, `tasks` (work that outlives its request).

pub mod account;
pub mod clock;
pub mod db_error;
pub mod follow;
pub mod mail_token;
pub mod page;
pub mod post;
pub mod problem;
pub mod profile;
pub mod session;
pub mod tasks;
pub mod throttle;
pub mod user;
