use email_address::{EmailAddress, Options};

/// The longest address SMTP can carry (RFC 5321, 4.5.3.1.3).
const MAX_LEN: usize = 254;

/// An email address in canonical form: trimmed, syntax-checked (no DNS) and
/// lower-cased. Two addresses that differ only in case are the same account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct EmailError;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > MAX_LEN {
            return Err(EmailError);
        }
        // A social network mails its users: a bare host (`a@localhost`),
        // an IP literal or a `Name <a@b.c>` display form is not an address
        // a person signs up with.
        let options = Options {
            minimum_sub_domains: 2,
            allow_domain_literal: false,
            allow_display_text: false,
            ..Options::default()
        };
        let parsed = EmailAddress::parse_with_options(trimmed, options).map_err(|_| EmailError)?;
        Ok(Self(parsed.as_str().to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the last `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(local, _)| local)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let e = Email::parse("  Alice.Smith@Example.COM \n").unwrap();
        assert_eq!(e.as_str(), "alice.smith@example.com");
        assert_eq!(e.local_part(), "alice.smith");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "alice@",
            "alice@@example.com",
            "alice@localhost",
            "alice@[127.0.0.1]",
            "Alice <alice@example.com>",
            "a b@example.com",
            "alice@exa mple.com",
            "alice@-example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError));
    }

    #[test]
    fn unicode_addresses_are_accepted() {
        assert!(Email::parse("jürgen@münchen.de").is_ok());
    }

    proptest::proptest! {
        /// Any input: no panic; what is accepted is canonical and short enough.
        #[test]
        fn parsing_any_text_never_panics(raw in ".{0,300}") {
            if let Ok(e) = Email::parse(&raw) {
                proptest::prop_assert_eq!(e.as_str(), e.as_str().trim());
                proptest::prop_assert_eq!(e.as_str().to_lowercase(), e.as_str());
                proptest::prop_assert!(e.as_str().len() <= MAX_LEN);
                proptest::prop_assert!(e.as_str().contains('@'));
            }
        }
    }
}
