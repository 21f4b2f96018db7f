//! Who is asking: password hashing, tokens, authenticating a request's
//! token, the request's viewer and the revoked-session cache.

pub mod assurance;
pub mod authenticate;
pub mod hash_cost;
pub mod jwt;
pub mod password;
pub mod refresh;
pub mod revocation;
pub mod viewer;

pub use assurance::{Aal, Assurance};
pub use authenticate::{AuthError, authenticate, authenticate_with_expiry};
pub use viewer::{Auth, ClientInfo, Viewer};
