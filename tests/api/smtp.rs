//! A real SMTP server for the mail tests: aiosmtpd (Debian's python3-aiosmtpd
//! or PyPI's aiosmtpd) in a child process on a random port, storing each
//! mail it accepts as a file, so that tests read what a recipient would get.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The sink: `sink.py DIR PORT` (port 0 picks one) prints its port, then
/// stores each message as `DIR/<uuid>.eml`, headed by the envelope recipients.
const SINK: &str = r#"
import asyncio, os, sys, uuid
from aiosmtpd.smtp import SMTP

class Sink:
    def __init__(self, d):
        self.d = d
    async def handle_DATA(self, server, session, envelope):
        name = uuid.uuid4().hex
        tmp = os.path.join(self.d, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-To: " + ",".join(envelope.rcpt_tos) + "\r\n").encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.d, name + ".eml"))
        return "250 OK"

async def main():
    d, port = sys.argv[1], int(sys.argv[2])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink(d)), "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"#;

/// One mail as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Received {
    /// The token of the link in the body (`…token=<token>`).
    pub fn token(&self) -> String {
        let at = self.body.find("token=").expect("a link with a token") + "token=".len();
        self.body[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

pub struct SmtpSink {
    python: String,
    dir: tempfile::TempDir,
    script: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

/// A Python that has aiosmtpd, if any (pyenv's `python3` may lack the
/// Debian package that `/usr/bin/python3` has).
fn python() -> Option<String> {
    ["python3", "/usr/bin/python3"].into_iter().find_map(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
            .map(|_| p.to_owned())
    })
}

impl SmtpSink {
    /// Starts the server; `None` (the test is skipped, and says so) only
    /// outside CI when no aiosmtpd is installed. In CI that is a failure.
    pub fn start() -> Option<Self> {
        let Some(python) = python() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "aiosmtpd is not installed (pip install aiosmtpd, or apt-get install python3-aiosmtpd)"
            );
            eprintln!(
                "SKIPPED: no aiosmtpd (pip install aiosmtpd, or apt-get install python3-aiosmtpd)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("sink.py");
        std::fs::write(&script, SINK).expect("write the sink");
        std::fs::create_dir(dir.path().join("mail")).expect("mail dir");
        let mut sink = Self {
            python,
            dir,
            script,
            port: 0,
            child: None,
        };
        sink.spawn();
        Some(sink)
    }

    fn spawn(&mut self) {
        use std::io::BufRead as _;
        let mut child = Command::new(&self.python)
            .arg(&self.script)
            .arg(self.dir.path().join("mail"))
            .arg(self.port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the sink's port");
        self.port = line.trim().parse().expect("the sink prints its port");
        self.child = Some(child);
    }

    /// `MAIL_URL` for this server (plain SMTP; STARTTLS is not needed here).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server: connections are refused until `start_again`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Every mail received so far.
    pub fn mails(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.path().join("mail")).expect("mail dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "eml") {
                out.push(parse(&std::fs::read_to_string(&path).expect("a mail")));
            }
        }
        out
    }

    /// Waits until `pred` holds of the mails received (polling; the worker
    /// sends within its poll interval); panics after a generous deadline.
    pub async fn wait_until(
        &self,
        what: &str,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mails = self.mails();
            if pred(&mails) {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} after 20 s: {mails:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the one mail to `to` with `subject` and answers it.
    pub async fn mail_to(&self, to: &str, subject: &str) -> Received {
        let mails = self
            .wait_until(&format!("mail `{subject}` to {to}"), |m| {
                m.iter().any(|r| r.to == to && r.subject == subject)
            })
            .await;
        let found: Vec<_> = mails
            .into_iter()
            .filter(|r| r.to == to && r.subject == subject)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one `{subject}` to {to}: {found:#?}"
        );
        found.into_iter().next().unwrap()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Undoes quoted-printable: soft line breaks and `=XX` escapes.
fn unquote(body: &str) -> String {
    let body = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(hex) = body.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Headers and body of a stored mail.
fn parse(raw: &str) -> Received {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((raw, ""));
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_default()
    };
    Received {
        to: header("X-Envelope-To:"),
        subject: header("Subject:"),
        body: if head.contains("quoted-printable") {
            unquote(body)
        } else {
            body.to_owned()
        },
    }
}
