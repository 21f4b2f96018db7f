//! SeaORM entities: table shapes only. The rules live in `service`.

pub mod refresh_token;
pub mod session;
pub mod throttle;
pub mod user;
