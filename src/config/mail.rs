//! The mail group: where mail goes and from whom (each parsed once, when the
//! configuration is), the links and lifetimes the mail flows apply, and how
//! the outbox worker delivers.

use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use lettre::message::Mailbox;

use super::{Parsed, parse_duration};
use crate::mail::{Transport, parse_from};

#[derive(Debug, Clone, Args)]
pub struct Mail {
    /// Where mail goes: `smtp://host:port` (plain), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465`, or `file://DIR` (one `.eml` file each).
    #[arg(long = "mail-url", env = "MAIL_URL", value_name = "MAIL_URL", default_value = "file://sns-mail", value_parser = Parsed(Transport::from_str), global = true, hide_env_values = true)]
    pub transport: Transport,

    /// The `From` of every mail.
    #[arg(
        long = "mail-from",
        env = "MAIL_FROM",
        value_name = "MAIL_FROM",
        default_value = "sns-api <no-reply@localhost>",
        value_parser = Parsed(parse_from),
        global = true
    )]
    pub from: Mailbox,

    /// The link of a verification mail; `{token}` is replaced by the token.
    #[arg(
        long = "mail-verify-url",
        env = "MAIL_VERIFY_URL",
        value_name = "MAIL_VERIFY_URL",
        default_value = "http://localhost:5173/verify-email?token={token}",
        global = true
    )]
    pub verify_url: String,

    /// The link of a password-reset mail; `{token}` is replaced by the token.
    #[arg(
        long = "mail-reset-url",
        env = "MAIL_RESET_URL",
        value_name = "MAIL_RESET_URL",
        default_value = "http://localhost:5173/reset-password?token={token}",
        global = true
    )]
    pub reset_url: String,

    /// Lifetime of an email verification (or email change) link.
    #[arg(long = "email-verification-ttl", env = "EMAIL_VERIFICATION_TTL", value_name = "EMAIL_VERIFICATION_TTL", default_value = "24h", value_parser = parse_duration, global = true)]
    pub verification_ttl: Duration,

    /// Lifetime of a password-reset link.
    #[arg(long = "password-reset-ttl", env = "PASSWORD_RESET_TTL", value_name = "PASSWORD_RESET_TTL", default_value = "1h", value_parser = parse_duration, global = true)]
    pub reset_ttl: Duration,

    /// Attempts to send one mail before it is kept as failed.
    #[arg(long = "mail-max-attempts", env = "MAIL_MAX_ATTEMPTS", value_name = "MAIL_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_attempts: u32,

    /// How often the mail worker looks for mail that is due (mail written
    /// by this instance wakes it at once).
    #[arg(long = "mail-poll-interval", env = "MAIL_POLL_INTERVAL", value_name = "MAIL_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration, global = true)]
    pub poll_interval: Duration,

    /// The wait after a first failed attempt; it doubles with each further
    /// one, up to an hour.
    #[arg(long = "mail-retry-backoff", env = "MAIL_RETRY_BACKOFF", value_name = "MAIL_RETRY_BACKOFF", default_value = "30s", value_parser = parse_duration, global = true)]
    pub retry_backoff: Duration,

    /// Longest time one mail may take to send; then the attempt failed.
    #[arg(long = "mail-send-timeout", env = "MAIL_SEND_TIMEOUT", value_name = "MAIL_SEND_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub send_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;

    #[test]
    fn mail_defaults_match_the_contract() {
        let mail = parse(&[]).unwrap().mail;
        assert!(
            matches!(&mail.transport, Transport::File(dir) if dir.as_os_str() == "sns-mail"),
            "{:?}",
            mail.transport
        );
        assert_eq!(mail.from.to_string(), "sns-api <no-reply@localhost>");
        assert_eq!(mail.verification_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(mail.reset_ttl, Duration::from_secs(3600));
        assert_eq!(mail.max_attempts, 10);
        assert!(mail.verify_url.contains("{token}") && mail.reset_url.contains("{token}"));
    }

    #[test]
    fn the_mail_url_and_sender_are_parsed_into_their_types() {
        let mail = parse(&[
            "--mail-url",
            "smtp://u:hunter2@mail.example.com:587?tls=required",
            "--mail-from",
            "Example <hello@example.com>",
        ])
        .unwrap()
        .mail;
        assert!(matches!(mail.transport, Transport::Smtp(_)));
        assert_eq!(mail.from.email.to_string(), "hello@example.com");
        assert_eq!(mail.from.name.as_deref(), Some("Example"));
        let dir = parse(&["--mail-url", "file:///var/mail/sns"]).unwrap().mail;
        assert!(
            matches!(&dir.transport, Transport::File(d) if d.as_os_str() == "/var/mail/sns"),
            "{:?}",
            dir.transport
        );
    }

    #[test]
    fn a_bad_mail_url_is_refused_when_parsed_without_echo() {
        for bad in [
            "smtp://user:hunter2@host:25?tls=never",
            "http://user:hunter2@host",
        ] {
            let err = parse(&["--mail-url", bad]).unwrap_err();
            assert!(err.contains("MAIL_URL"), "{err}");
            assert!(
                !err.contains("hunter2"),
                "the URL must not be echoed: {err}"
            );
        }
    }

    #[test]
    fn a_bad_mail_from_is_refused_when_parsed() {
        let err = parse(&["--mail-from", "not an address"]).unwrap_err();
        assert!(
            err.contains("MAIL_FROM `not an address` is not a mail address"),
            "{err}"
        );
    }
}
