//! Validated newtypes: a value of these types has passed its checks, so code
//! that takes one never checks again ("parse, don't validate").

mod email;
mod handle;
pub mod mention;
mod password;
mod profile;
pub mod text;

pub use email::{Email, EmailError};
pub use handle::{Handle, HandleError};
pub use password::{NewPassword, PasswordError, PasswordInput};
pub use profile::Profile;
