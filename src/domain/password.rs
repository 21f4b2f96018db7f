use secrecy::{ExposeSecret as _, SecretString};
use unicode_normalization::UnicodeNormalization;

use super::Email;

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;
/// The local part of an email is looked for in the password only from this length on.
const MIN_LOCAL_PART: usize = 3;

/// A password as submitted to `login`: NFKC-normalised, otherwise unchecked
/// (the rules are for new passwords; an old account must still sign in).
#[derive(Clone, Debug)]
pub struct PasswordInput(SecretString);

/// A password that passed the rules for new passwords.
#[derive(Clone, Debug)]
pub struct NewPassword(SecretString);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("The password must be at least {MIN_CHARS} characters long.")]
    TooShort,
    #[error("The password must be at most {MAX_CHARS} characters long.")]
    TooLong,
    #[error("This password is too common or contains your email address; choose another.")]
    TooCommon,
}

fn normalise(raw: &str) -> String {
    raw.nfkc().collect()
}

impl PasswordInput {
    pub fn new(raw: &str) -> Self {
        Self(normalise(raw).into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl NewPassword {
    /// Applies the rules of the contract: 8 to 128 code points after NFKC,
    /// not on the common-password list, and not containing the email's local
    /// part (when the email is valid and that part has at least 3 characters).
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, PasswordError> {
        let normalised = normalise(raw);
        let chars = normalised.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        let lower = normalised.to_lowercase();
        if is_common(&normalised) || is_common(&lower) {
            return Err(PasswordError::TooCommon);
        }
        if let Some(email) = email {
            let local = email.local_part();
            if local.chars().count() >= MIN_LOCAL_PART && lower.contains(local) {
                return Err(PasswordError::TooCommon);
            }
        }
        Ok(Self(normalised.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// The `passwords` crate's list: about 100,000 leaked passwords.
fn is_common(candidate: &str) -> bool {
    passwords::analyzer::is_common_password(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("alice.smith@example.com").unwrap()
    }

    #[test]
    fn length_is_counted_in_code_points_after_nfkc() {
        assert_eq!(
            NewPassword::parse("Tr0ub4!", None).unwrap_err(),
            PasswordError::TooShort
        );
        // Eight code points of three bytes each: long enough.
        assert!(NewPassword::parse("日本語のパスワ一ド", None).is_ok());
        // U+FB01 (the "fi" ligature) becomes two letters under NFKC.
        let ligatures = "\u{FB01}".repeat(4);
        assert!(NewPassword::parse(&ligatures, None).is_ok());
        assert_eq!(
            NewPassword::parse(&"x".repeat(129), None).unwrap_err(),
            PasswordError::TooLong
        );
        assert!(NewPassword::parse(&"xq7".repeat(42), None).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for common in ["password", "12345678", "PASSWORD", "iloveyou", "qwertyuiop"] {
            assert_eq!(
                NewPassword::parse(common, None).unwrap_err(),
                PasswordError::TooCommon,
                "{common}"
            );
        }
    }

    #[test]
    fn the_email_local_part_is_refused_inside_the_password() {
        let e = email();
        assert_eq!(
            NewPassword::parse("xxALICE.SMITHxx", Some(&e)).unwrap_err(),
            PasswordError::TooCommon
        );
        assert!(NewPassword::parse("correct-horse-battery", Some(&e)).is_ok());
        // Local parts shorter than three characters are not looked for.
        let short = Email::parse("al@example.com").unwrap();
        assert!(NewPassword::parse("kal-el-of-krypton", Some(&short)).is_ok());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = NewPassword::parse("correct-horse-battery", None).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        assert!(!format!("{:?}", PasswordInput::new("hunter22")).contains("hunter"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_password_never_panics(raw in "\\PC{0,200}", local in "[a-z]{0,8}") {
            let email = Email::parse(&format!("{local}@example.com")).ok();
            if let Ok(p) = NewPassword::parse(&raw, email.as_ref()) {
                let n = p.expose().chars().count();
                proptest::prop_assert!((MIN_CHARS..=MAX_CHARS).contains(&n));
            }
        }
    }
}
