//! Who is asking: password hashing, tokens, the request's viewer and the
//! revoked-session cache.

pub mod hash_cost;
pub mod jwt;
pub mod password;
pub mod refresh;
pub mod revocation;
pub mod viewer;

pub use viewer::{Auth, ClientInfo, Viewer};
