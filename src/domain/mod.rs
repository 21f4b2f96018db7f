//! Validated newtypes: a value of these types has passed its checks, so code
//! that takes one never checks again ("parse, don't validate").

mod email;
mod password;

pub use email::{Email, EmailError};
pub use password::{NewPassword, PasswordError, PasswordInput};
