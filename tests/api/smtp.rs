//! A real SMTP server for the mail tests, in-process on a random port:
//! mailin speaks the protocol, every message accepted is kept (envelope
//! recipients and data) for tests to read as a recipient would, and the
//! server can be told to refuse mail, or be stopped and started again on its
//! port.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mailin::{Action, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::common::poll_until;

/// One mail as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope's recipients (`RCPT TO`), comma-separated.
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

/// What the connections of one server share.
#[derive(Default)]
struct Shared {
    inbox: Mutex<Vec<Received>>,
    refusing: AtomicBool,
}

pub struct SmtpSink {
    shared: Arc<Shared>,
    port: u16,
    server: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts the server on a port of its own.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the SMTP server");
        let port = listener.local_addr().expect("its address").port();
        let mut sink = Self {
            shared: Arc::default(),
            port,
            server: None,
        };
        sink.serve(listener);
        sink
    }

    fn serve(&mut self, listener: TcpListener) {
        let shared = self.shared.clone();
        self.server = Some(tokio::spawn(async move {
            // The connections belong to the server's task, so that stopping
            // it closes them too, as a server going down does: the app's
            // pooled connections must not outlive it.
            let mut connections = JoinSet::new();
            loop {
                if let Ok((stream, peer)) = listener.accept().await {
                    connections.spawn(converse(stream, peer.ip(), shared.clone()));
                }
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// `MAIL_URL` for this server (plain SMTP; STARTTLS is not needed here).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server: connections are refused until `start_again`.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            // Once the task is gone, so are its listener and connections.
            let _ = server.await;
        }
    }

    /// Starts it again on the same port.
    pub async fn start_again(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the SMTP server's port again");
        self.serve(listener);
    }

    /// While `refuse` holds, every mail is refused with a temporary failure
    /// (451 to `MAIL FROM`), as a busy or broken server answers.
    pub fn refuse(&self, refuse: bool) {
        self.shared.refusing.store(refuse, Ordering::SeqCst);
    }

    /// Every mail received so far.
    pub fn mails(&self) -> Vec<Received> {
        self.shared.inbox.lock().expect("the inbox").clone()
    }

    /// Waits until `pred` holds of the mails received (the worker sends
    /// within its poll interval); answers them.
    pub async fn wait_until(
        &self,
        what: &str,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        poll_until(what, || async {
            let mails = self.mails();
            if pred(&mails) {
                Ok(mails)
            } else {
                Err(format!("{mails:#?}"))
            }
        })
        .await
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
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// One SMTP conversation: each line the client sends goes to mailin's
/// session, and its answer back.
async fn converse(stream: TcpStream, peer: IpAddr, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut stream = BufStream::new(stream);
    let mut session = SessionBuilder::new("sns-api-tests").build(peer, Recorder::new(shared));
    answer(&mut stream, &session.greeting()).await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if stream.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Reply => answer(&mut stream, &response).await?,
            // No STARTTLS is offered, so an upgrade never comes.
            Action::Close | Action::UpgradeTls => {
                return answer(&mut stream, &response).await;
            }
        }
    }
}

async fn answer(stream: &mut BufStream<TcpStream>, response: &Response) -> std::io::Result<()> {
    stream.write_all(&response.buffer()?).await?;
    stream.flush().await
}

/// Keeps the message of one connection's transaction, or refuses it.
struct Recorder {
    shared: Arc<Shared>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Recorder {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            to: Vec::new(),
            data: Vec::new(),
        }
    }
}

impl Handler for Recorder {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        if self.shared.refusing.load(Ordering::SeqCst) {
            return Response::custom(451, "4.3.2 Refused by the test".to_owned());
        }
        mailin::response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    /// Kept before the client hears 250, so a mail the app counts as sent
    /// is in the inbox.
    fn data_end(&mut self) -> Response {
        let mail = parse(&self.to.join(","), &String::from_utf8_lossy(&self.data));
        self.shared.inbox.lock().expect("the inbox").push(mail);
        mailin::response::OK
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

/// A mail to the envelope recipients `to`, from its data.
fn parse(to: &str, raw: &str) -> Received {
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
        to: to.to_owned(),
        subject: header("Subject:"),
        body: if head.contains("quoted-printable") {
            unquote(body)
        } else {
            body.to_owned()
        },
    }
}
