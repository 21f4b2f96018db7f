//! SeaORM entities: table shapes only. The rules live in `service`.

pub mod session;
pub mod user;
