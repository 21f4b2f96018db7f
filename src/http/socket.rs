//! `GET /graphql` with a WebSocket upgrade: subscriptions over
//! `graphql-transport-ws`, to the letter of the protocol.
//!
//! async-graphql-axum's `GraphQLWebSocket` runs the subscriptions; it is
//! wrapped where it departs from the protocol (it closes with 1002 where
//! 4400 and 4403 are due, replaces a subscription under an id in use, has
//! no init timeout, never sends `error`, and runs queries too):
//!
//! ```text
//!   client frames ─▶ gate (gate.rs) ──forwards what passed──▶ GraphQLWebSocket
//!                     │ replies, closes                         │ next / complete / pong
//!                     ▼                                         ▼
//!                   writer (outbound.rs) ◀──── Outbound sink: a first response that is a
//!                     │ owns the sending half     refusal becomes an `error` message
//!                     ▼                         (table.rs, shared with the gate)
//!                   client
//! ```
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
//!   ├─ subscribe ─▶ forwarded; its first response errors with null data ▶ `error` message, completed
//!   └─ complete ──▶ forwarded; no `complete` comes back
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
mod table;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::{FromRequestParts, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::{FutureExt as _, StreamExt as _};

use super::negotiate::ResponseType;
use super::{HttpState, error_response};
use crate::config::{self, Config};
use crate::live::sockets::Registration;
use crate::live::{Close, SocketHandle};
use crate::state::AppState;
use gate::Gate;
use outbound::{Outbound, Writer};
use table::Table;

/// The one subprotocol spoken.
const PROTOCOL: &str = "graphql-transport-ws";
/// A socket's read buffer: client frames are small, and ten thousand idle
/// sockets must fit in a few hundred MiB (tungstenite's default is 128 KiB,
/// allocated up front; with this an idle socket costs about 10 KiB).
const READ_BUFFER: usize = 1024;
/// Frames waiting for the writer (and one more per sender); then
/// async-graphql waits, and events wait in the subscriptions' queues, where
/// too many close the socket. A futures channel, not tokio's: it sets aside
/// nothing for an idle socket (tokio's block of 32 slots and padded
/// counters cost 2.5 KiB a socket).
const OUTBOX: usize = 16;
/// How long a closed socket waits for the client's closing frame.
const LINGER: Duration = Duration::from_secs(1);
/// How long the writer may take to send what was queued once async-graphql
/// is done (the gate's closing frame last).
const FLUSH: Duration = Duration::from_secs(10);

/// The socket settings, built once with the router.
pub struct Settings {
    limits: config::Sockets,
    /// `QUERY_FIELD_LIMIT`, which sizes the text a document may have.
    field_limit: usize,
    body_limit: usize,
    /// `None`: any origin (`CORS_ORIGINS=*`).
    origins: Option<Vec<HeaderValue>>,
    protocol: GraphQLProtocol,
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
            protocol: graphql_transport_ws(),
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

/// async-graphql's value for `graphql-transport-ws`, which it only makes by
/// reading a request's header.
fn graphql_transport_ws() -> GraphQLProtocol {
    let (mut parts, ()) = axum::http::Request::builder()
        .header(header::SEC_WEBSOCKET_PROTOCOL, PROTOCOL)
        .body(())
        .expect("a request with one header")
        .into_parts();
    GraphQLProtocol::from_request_parts(&mut parts, &())
        .now_or_never()
        .and_then(Result::ok)
        .expect("async-graphql speaks graphql-transport-ws")
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

    /// A close async-graphql itself wrote (none that the gate lets happen).
    fn engine(frame: Option<CloseFrame>) -> Self {
        let (code, reason) = frame.map_or((1011, Cow::Borrowed("")), |f| {
            (f.code, Cow::Owned(f.reason.as_str().to_owned()))
        });
        Self {
            code,
            reason,
            label: "engine",
        }
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
}

/// Serves one socket until it closes.
async fn serve(socket: WebSocket, http: HttpState) {
    let handle = Arc::new(SocketHandle::new());
    let registration = http.app.sockets().open(handle.clone());
    let table = Arc::new(Table::new());
    let conn = Connection {
        app: http.app.clone(),
        settings: http.socket.clone(),
        handle,
        registration,
    };
    let (mut sink, mut frames) = socket.split();
    let (tx, mut queue) = futures_channel::mpsc::channel(OUTBOX);
    let ending = {
        let gate = Gate::new(&mut frames, &conn, table.clone(), tx.clone());
        let outbound = Outbound::new(tx, table.clone());
        let engine = engine(&http, &conn, &table, gate, outbound);
        let writer = Writer {
            sink: &mut sink,
            queue: &mut queue,
            handle: &conn.handle,
            table: &table,
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

/// async-graphql's side of the socket, reading from the gate and writing to
/// the outbound sink.
async fn engine<S>(
    http: &HttpState,
    conn: &Connection,
    table: &Arc<Table>,
    gate: Gate<'_, S>,
    outbound: Outbound,
) where
    S: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin + Send,
{
    let mut data = Data::default();
    data.insert(conn.handle.clone());
    let table = table.clone();
    GraphQLWebSocket::new_with_pair(outbound, gate, http.schema.clone(), conn.settings.protocol)
        .with_data(data)
        .on_connection_init(move |_| {
            // The gate authenticated the payload before forwarding it.
            let auth = table.take_auth();
            async move {
                let mut data = Data::default();
                data.insert(auth);
                Ok(data)
            }
        })
        .on_ping(|_: Option<&Data>, payload| async move { Ok(payload) })
        .serve()
        .await;
}
