//! `GET /graphql` with a WebSocket upgrade: subscriptions over
//! `graphql-transport-ws`, to the letter of the protocol.
//!
//! One task a socket runs three parts, which share its [`Connection`]:
//!
//! ```text
//!   client frames ─▶ gate (gate.rs): judged ─▶ the loop (engine): starts, completes,
//!                                               │ acknowledges, answers pings
//!                                               ▼
//!                                       running (running.rs): async-graphql's
//!                                       stream per subscription, or its events
//!                                       rendered here once handed off
//!                                               │ next / error / complete
//!                                               ▼
//!                     writer (outbound.rs) ◀── the outbox ── replies, closes
//!                       │ owns the sending half
//!                       ▼
//!                     client
//! ```
//!
//! The protocol is ours rather than async-graphql-axum's `GraphQLWebSocket`,
//! which closes with 1002 where 4400 and 4403 are due, replaces a
//! subscription under an id in use, has no init timeout, never sends
//! `error`, runs queries too, and renders each subscriber's events in its
//! own stream. Documents, validation and resolvers are async-graphql's
//! (`Schema::execute_stream`, then `graphql::Live`).
//!
//! The socket's life, as the gate sees the client's frames:
//!
//! ```text
//! Opened ── connection_init ─┬─ no Authorization entry ───────────────▶ Ready (anonymous)
//!   │                        ├─ Bearer <valid token>, account under ──▶ Ready (signed in;
//!   │                        │  WS_MAX_SOCKETS here                          closes at the
//!   │                        ├─ any other Authorization ─────────────▶ 4403 Forbidden    token's exp)
//!   │                        └─ the account holds WS_MAX_SOCKETS ─────▶ 4403 too many sockets
//!   ├─ subscribe ─────────────────────────────────────────────────────▶ 4401 Unauthorized
//!   └─ nothing for WS_INIT_TIMEOUT ───────────────────────────────────▶ 4408 Connection initialisation timeout
//! Ready ── connection_init ───────────────────────────────────────────▶ 4429 Too many initialisation requests
//!   ├─ subscribe, id in use ──────────────────────────────────────────▶ 4409 Subscriber for <id> already exists
//!   ├─ subscribe, WS_MAX_SUBSCRIPTIONS running, or a query / mutation ─▶ `error` message; stays Ready
//!   ├─ subscribe ─▶ started; its root field fails (no stream) ────────▶ `error` message, completed
//!   └─ complete ──▶ stopped; no `complete` comes back
//! any ── a frame that is not a well-formed client message (or binary) ─▶ 4400 <what is wrong>
//!     ── a message over BODY_LIMIT; a WebSocket protocol error ───────▶ 1009; 1002 (1007: bad UTF-8)
//!     ── ping ─▶ pong (before connection_init too)
//!     ── its session ends (any instance) ─────────────────────────────▶ 4403 session ended
//!     ── its token expires ───────────────────────────────────────────▶ 4401 token expired
//!     ── more than 256 events wait, or a frame cannot go out ─────────▶ 1013 too slow
//!     ── the server shuts down ───────────────────────────────────────▶ 1001 server shutting down
//! ```
//!
//! Closes from outside the socket (session, expiry, slowness, shutdown) come
//! through its [`SocketHandle`]; the writer sends the close frame at once
//! and the connection stops serving, dropping every subscription.

mod frames;
mod gate;
mod outbound;
mod running;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use axum::extract::{FromRequestParts, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_channel::mpsc::Sender;
use futures_util::{SinkExt as _, StreamExt as _};

use super::negotiate::ResponseType;
use super::{HttpState, error_response};
use crate::config::{self, Config};
use crate::live::sockets::Registration;
use crate::live::{Close, SocketHandle};
use crate::state::AppState;
use gate::{Gate, Verdict};
use outbound::Writer;
use running::Running;

/// The one subprotocol spoken.
const PROTOCOL: &str = "graphql-transport-ws";
/// A socket's read buffer: client frames are small, and ten thousand idle
/// sockets must fit in a few hundred MiB (tungstenite's default is 128 KiB,
/// allocated up front; with this an idle socket costs about 10 KiB).
const READ_BUFFER: usize = 1024;
/// Frames waiting for the writer (and one more per sender); then the
/// socket's loop waits, and events wait in the subscriptions' queues, where
/// too many close the socket. A futures channel, not tokio's: it sets aside
/// nothing for an idle socket (tokio's block of 32 slots and padded
/// counters cost 2.5 KiB a socket).
const OUTBOX: usize = 16;
/// How long a closed socket waits for the client's closing frame.
const LINGER: Duration = Duration::from_secs(1);
/// How long the writer may take to send what was queued once the socket's
/// loop is done (the gate's closing frame last).
const FLUSH: Duration = Duration::from_secs(10);

/// The socket settings, built once with the router.
pub struct Settings {
    limits: config::Sockets,
    /// `QUERY_FIELD_LIMIT`, which sizes the text a document may have.
    field_limit: usize,
    body_limit: usize,
    /// `None`: any origin (`CORS_ORIGINS=*`).
    origins: Option<Vec<HeaderValue>>,
    /// Which subscriptions share their events' payloads.
    shapes: crate::graphql::Shapes,
}

impl Settings {
    pub fn new(config: &Config) -> Self {
        let any = config.cors_origins.iter().any(|o| o == "*");
        let origins = (!any).then(|| {
            config
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
                .collect()
        });
        Self {
            limits: config.sockets,
            field_limit: config.documents.field_limit,
            body_limit: config.body_limit,
            origins,
            shapes: crate::graphql::Shapes::new(),
        }
    }

    /// In `CORS_ORIGINS`, or the server's own origin (the page GraphiQL is
    /// served on: `http(s)://` and the request's `Host`).
    fn origin_allowed(&self, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
        self.origins
            .as_ref()
            .is_none_or(|list| list.contains(origin) || same_origin(origin, host))
    }
}

fn same_origin(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(HeaderValue::to_str)) else {
        return false;
    };
    ["http://", "https://"]
        .iter()
        .any(|scheme| origin.strip_prefix(scheme) == Some(host))
}

/// What an upgrade request offers, read in place: its `Origin`, and whether
/// `graphql-transport-ws` is among its subprotocols.
pub struct Offer {
    origin: Option<HeaderValue>,
    host: Option<HeaderValue>,
    speaks_protocol: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Offer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let speaks_protocol = parts
            .headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == PROTOCOL);
        Ok(Self {
            origin: parts.headers.get(header::ORIGIN).cloned(),
            host: parts.headers.get(header::HOST).cloned(),
            speaks_protocol,
        })
    }
}

/// Accepts the upgrade from an allowed origin offering our subprotocol;
/// refuses it with a GraphQL-shaped body otherwise.
pub fn upgrade(http: HttpState, offer: Offer, upgrade: WebSocketUpgrade) -> Response {
    let settings = &http.socket;
    if let Some(origin) = &offer.origin
        && !settings.origin_allowed(origin, offer.host.as_ref())
    {
        return error_response(
            StatusCode::FORBIDDEN,
            ResponseType::Json,
            "FORBIDDEN",
            "This origin may not open a subscription socket.",
        );
    }
    if !offer.speaks_protocol {
        return error_response(
            StatusCode::BAD_REQUEST,
            ResponseType::Json,
            "BAD_REQUEST",
            "The subscription socket speaks the graphql-transport-ws subprotocol only.",
        );
    }
    let body_limit = settings.body_limit;
    upgrade
        .protocols([PROTOCOL])
        .read_buffer_size(READ_BUFFER)
        // Each frame is written as it comes; the buffer holds one.
        .write_buffer_size(0)
        .max_message_size(body_limit)
        .max_frame_size(body_limit)
        .on_upgrade(move |socket| serve(socket, http))
}

/// How a socket ended, for the client and the closed-sockets metric.
pub(super) struct Ending {
    code: u16,
    reason: Cow<'static, str>,
    label: &'static str,
}

impl Ending {
    fn protocol(code: u16, reason: &'static str, label: &'static str) -> Self {
        Self {
            code,
            reason: Cow::Borrowed(reason),
            label,
        }
    }

    fn malformed(reason: &'static str) -> Self {
        Self::protocol(4400, reason, "malformed")
    }

    fn forbidden() -> Self {
        Self::protocol(4403, "Forbidden", "forbidden")
    }
}

impl From<Close> for Ending {
    fn from(why: Close) -> Self {
        Self::protocol(why.code, why.reason, why.label())
    }
}

/// A frame for the writer. The close is boxed: it comes once, and every
/// frame queued in the outbox is as large as the largest variant.
pub(super) enum Out {
    Text(Utf8Bytes),
    Close(Box<Ending>),
}

impl Out {
    fn text(text: String) -> Self {
        Self::Text(text.into())
    }
}

/// What the parts of one connection share.
pub(super) struct Connection {
    app: AppState,
    settings: Arc<Settings>,
    handle: Arc<SocketHandle>,
    registration: Registration,
    /// A `connection_init` arrived (accepted or not): the writer's init
    /// timeout is off.
    initialised: std::sync::atomic::AtomicBool,
}

/// Serves one socket until it closes.
async fn serve(socket: WebSocket, http: HttpState) {
    let handle = Arc::new(SocketHandle::new());
    let registration = http.app.sockets().open(handle.clone());
    let conn = Connection {
        app: http.app.clone(),
        settings: http.socket.clone(),
        handle,
        registration,
        initialised: std::sync::atomic::AtomicBool::new(false),
    };
    let (mut sink, mut frames) = socket.split();
    let (tx, mut queue) = futures_channel::mpsc::channel(OUTBOX);
    let ending = {
        let engine = engine(&http, &conn, &mut frames, tx);
        let writer = Writer {
            sink: &mut sink,
            queue: &mut queue,
            handle: &conn.handle,
            initialised: &conn.initialised,
            init_timeout: conn.settings.limits.init_timeout,
        }
        .run();
        tokio::pin!(engine, writer);
        tokio::select! {
            ending = &mut writer => ending,
            // The gate or the client ended it: the writer sends what is
            // queued, the gate's closing frame last.
            () = &mut engine => tokio::time::timeout(FLUSH, &mut writer).await.ok().flatten(),
        }
    };
    if ending.is_some() {
        // The client's closing frame, so that the connection ends cleanly.
        let _ = tokio::time::timeout(LINGER, async {
            while let Some(Ok(_)) = frames.next().await {}
        })
        .await;
    }
    let label = ending.as_ref().map_or("client", |e| e.label);
    metrics::counter!("ws_sockets_closed_total", "reason" => label).increment(1);
}

/// What the loop waits for next.
enum Step {
    Frame(Option<Result<Message, axum::Error>>),
    Out(Out),
}

/// The socket's loop: the client's frames through the gate, and the running
/// subscriptions' frames; what goes out waits for room in the writer's
/// queue. Ends when the client or the gate does.
async fn engine<S>(http: &HttpState, conn: &Connection, frames: &mut S, mut out: Sender<Out>)
where
    S: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
{
    let mut gate = Gate::new(conn);
    let mut running = Running::new(http.schema.clone(), conn.settings.shapes.clone());
    let mut session: Option<Arc<Data>> = None;
    loop {
        // Neither side first: a client that floods frames does not hold
        // back its events, nor the other way round.
        let step = tokio::select! {
            frame = frames.next() => Step::Frame(frame),
            out = std::future::poll_fn(|cx| running.poll_frame(cx)) => Step::Out(out),
        };
        let send = match step {
            Step::Out(frame) => frame,
            Step::Frame(None) => return,
            Step::Frame(Some(Err(e))) => match gate::unreadable(e) {
                Some(ending) => {
                    let _ = out.send(Out::Close(Box::new(ending))).await;
                    return;
                }
                None => return,
            },
            Step::Frame(Some(Ok(message))) => match gate.judge(message, &running) {
                Verdict::Ready(auth) => {
                    let mut data = Data::default();
                    data.insert(auth);
                    data.insert(conn.handle.clone());
                    session = Some(Arc::new(data));
                    Out::text(frames::ACK.to_owned())
                }
                Verdict::Subscribe { id, payload } => {
                    // Ready: the gate starts nothing before the session.
                    if let Some(session) = &session {
                        running.start(id, payload, session.clone());
                    }
                    continue;
                }
                Verdict::Complete(id) => {
                    running.stop(&id);
                    continue;
                }
                Verdict::Reply(reply) => reply,
                Verdict::Close(ending) => {
                    let _ = out.send(Out::Close(Box::new(ending))).await;
                    return;
                }
                Verdict::Ignore => continue,
                Verdict::End => return,
            },
        };
        if out.send(send).await.is_err() {
            return;
        }
    }
}
