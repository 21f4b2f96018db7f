//! Mail: where it goes (`MAIL_URL`), what each mail says (`messages`), and
//! the outbox that sends it (`outbox`): requests only write rows, a worker
//! on every instance sends them.

pub mod messages;
pub mod outbox;

use std::path::PathBuf;
use std::str::FromStr;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

/// A `MAIL_URL`, read once: the SMTP client it configures, or a directory.
#[derive(Clone)]
pub enum Transport {
    /// `smtp://…` or `smtps://…`, as lettre reads it (credentials, `tls=required`).
    Smtp(AsyncSmtpTransportBuilder),
    /// `file://DIR`: each mail an `.eml` file in DIR.
    File(PathBuf),
}

// The URL may carry a password: never printed.
impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Transport::Smtp(<redacted>)"),
            Self::File(dir) => write!(f, "Transport::File({})", dir.display()),
        }
    }
}

impl FromStr for Transport {
    type Err = String;

    /// Reads a `MAIL_URL`; the error never repeats the URL (it may hold a
    /// password).
    fn from_str(url: &str) -> Result<Self, String> {
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err("MAIL_URL: file:// needs a directory, e.g. file://sns-mail".into());
            }
            return Ok(Self::File(PathBuf::from(dir)));
        }
        let scheme_ok = url.starts_with("smtp://") || url.starts_with("smtps://");
        if !scheme_ok {
            return Err("MAIL_URL must start with smtp://, smtps:// or file://".into());
        }
        let client = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| {
            "MAIL_URL is not a valid mail server URL (smtp://host:port, \
             smtp://user:pass@host:587?tls=required or smtps://user:pass@host:465)"
                .to_owned()
        })?;
        Ok(Self::Smtp(client))
    }
}

/// Reads `MAIL_FROM` (`Name <address>` or a bare address).
pub fn parse_from(from: &str) -> Result<Mailbox, String> {
    from.parse::<Mailbox>()
        .map_err(|e| format!("MAIL_FROM `{from}` is not a mail address: {e}"))
}

/// One mail as the outbox holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// Plain text; may hold a live token, so never logged.
    pub body: String,
}

/// What sends mail: an SMTP connection pool or a directory.
#[derive(Clone)]
pub struct Sender {
    from: Mailbox,
    inner: SenderInner,
}

#[derive(Clone)]
enum SenderInner {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// Why a mail was not sent: safe to store and log (the server's answer or
/// the connection error; never the body).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

impl Sender {
    /// The sender `MAIL_URL` and `MAIL_FROM` name; each attempt is cut off
    /// at `MAIL_SEND_TIMEOUT`.
    pub fn new(config: &crate::config::Mail) -> Result<Self, String> {
        let inner = match &config.transport {
            Transport::Smtp(client) => {
                SenderInner::Smtp(client.clone().timeout(Some(config.send_timeout)).build())
            }
            Transport::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!("cannot create the mail directory {}: {e}", dir.display())
                })?;
                SenderInner::File(AsyncFileTransport::<Tokio1Executor>::new(dir))
            }
        };
        Ok(Self {
            from: config.from.clone(),
            inner,
        })
    }

    /// Sends one mail; answers once the server (or the file system) took it.
    pub async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| SendError(format!("bad recipient: {e}")))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| SendError(format!("cannot build the mail: {e}")))?;
        match &self.inner {
            SenderInner::Smtp(t) => t.send(message).await.map(drop).map_err(smtp_error),
            SenderInner::File(t) => t
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError(format!("cannot write the mail file: {e}"))),
        }
    }
}

/// The error's own text and its causes (the server's reply, or the I/O
/// error), without anything of the message.
fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    SendError(text)
}

/// `template` with `{token}` replaced by the token (base64url: needs no escaping).
pub fn link(template: &str, token: &str) -> String {
    template.replace("{token}", token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_urls_of_each_kind_parse_and_others_are_refused_without_echo() {
        let parse = |url: &str| url.parse::<Transport>();
        assert!(matches!(
            parse("smtp://127.0.0.1:2525"),
            Ok(Transport::Smtp(_))
        ));
        assert!(matches!(
            parse("smtp://u:p@mail.example.com:587?tls=required"),
            Ok(Transport::Smtp(_))
        ));
        assert!(matches!(
            parse("smtps://u:p@mail.example.com:465"),
            Ok(Transport::Smtp(_))
        ));
        assert!(matches!(
            parse("file://sns-mail"),
            Ok(Transport::File(dir)) if dir.as_os_str() == "sns-mail"
        ));
        for bad in [
            "http://x",
            "smtp://u:hunter2@host:25?tls=sometimes",
            "file://",
            "",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert!(!format!("{:?}", parse("smtp://u:hunter2@h:25").unwrap()).contains("hunter2"));
    }

    #[test]
    fn the_default_from_parses_and_links_carry_the_token() {
        let from = parse_from("sns-api <no-reply@localhost>").unwrap();
        assert_eq!(from.email.to_string(), "no-reply@localhost");
        assert!(parse_from("not an address").is_err());
        assert_eq!(
            link("http://x/v?token={token}", "abc"),
            "http://x/v?token=abc"
        );
    }
}
