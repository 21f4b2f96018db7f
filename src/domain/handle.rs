/// A profile's handle in canonical form: trimmed, ASCII lower-cased, 3 to 30
/// of `[a-z0-9_]`, not all digits (so it never reads as an id) and not a
/// reserved word. Stored and compared in this form on every database.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Handle(String);

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 30;

/// Names a handle may not take: they read as the service speaking, or as
/// one of the frontend's routes.
const RESERVED: &[&str] = &[
    "about",
    "abuse",
    "account",
    "accounts",
    "admin",
    "administrator",
    "anonymous",
    "api",
    "app",
    "auth",
    "billing",
    "blog",
    "contact",
    "dashboard",
    "delete",
    "explore",
    "feed",
    "graphql",
    "graphiql",
    "help",
    "home",
    "info",
    "legal",
    "login",
    "logout",
    "mail",
    "me",
    "moderator",
    "mod",
    "news",
    "noreply",
    "no_reply",
    "null",
    "official",
    "owner",
    "password",
    "postmaster",
    "privacy",
    "profile",
    "register",
    "reset",
    "root",
    "security",
    "settings",
    "signin",
    "signout",
    "signup",
    "sns",
    "sns_api",
    "staff",
    "status",
    "support",
    "system",
    "terms",
    "undefined",
    "user",
    "users",
    "verify",
    "webmaster",
    "www",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid handle")]
pub struct HandleError;

impl Handle {
    pub fn parse(raw: &str) -> Result<Self, HandleError> {
        let h = raw.trim().to_ascii_lowercase();
        let shaped = (MIN_LEN..=MAX_LEN).contains(&h.len())
            && h.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !h.bytes().all(|b| b.is_ascii_digit());
        if !shaped || RESERVED.contains(&h.as_str()) {
            return Err(HandleError);
        }
        Ok(Self(h))
    }

    /// A handle for an account that chose none: `user_` and ten random
    /// characters. Never derived from anything the account told us.
    pub fn random() -> Self {
        use rand::Rng as _;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let tail: String = (0..10)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Self(format!("user_{tail}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_trimmed_and_lower_cased() {
        assert_eq!(Handle::parse("  Alice_01 ").unwrap().as_str(), "alice_01");
    }

    #[test]
    fn shape_length_digits_and_reserved_words_are_refused() {
        for bad in [
            "ab",
            &"a".repeat(31),
            "al ice",
            "alice!",
            "ålice",
            "12345",
            "admin",
            "ADMIN",
            "graphql",
            "",
        ] {
            assert_eq!(Handle::parse(bad), Err(HandleError), "{bad:?}");
        }
        for good in ["abc", &"a".repeat(30), "123a", "_x_", "admin2"] {
            assert!(Handle::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn random_handles_are_valid_and_differ() {
        let a = Handle::random();
        assert_eq!(Handle::parse(a.as_str()).as_ref(), Ok(&a));
        assert_ne!(a, Handle::random());
    }
}
