//! The inbound gate: a stream over the client's frames that async-graphql
//! reads in their place. Every frame is parsed and judged here; async-graphql
//! sees only what passed, in a canonical form, plus the frames the outbound
//! side injects. Replies of the gate's own (`error` messages, the closing
//! frame) go to the socket's writer, waiting for room there.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use axum::extract::ws::Message;
use futures_channel::mpsc::Sender;
use futures_util::{Stream, StreamExt as _};
use serde_json::Value;

use super::frames::{self, ClientFrame, Object, Subscribe};
use super::table::Table;
use super::{Connection, Ending, Out};
use crate::auth::{Auth, Viewer};
use crate::live::Close;

/// Where the socket is in its life, as far as the client's frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `connection_init`.
    Opened,
    /// `connection_init` was accepted: subscriptions may come.
    Ready,
    /// The gate closed the socket, or the client did.
    Done,
}

/// What one client frame leads to.
enum Verdict {
    /// Hand this text to async-graphql.
    Forward(String),
    /// Answer the client; nothing for async-graphql.
    Reply(Out),
    /// Close the socket.
    Close(Ending),
    Ignore,
    /// The client closed.
    End,
}

pub(super) struct Gate<'c, S> {
    frames: &'c mut S,
    conn: &'c Connection,
    table: Arc<Table>,
    out: Sender<Out>,
    /// A reply waiting for room in the writer's queue.
    pending: Option<Out>,
    phase: Phase,
}

impl<'c, S> Gate<'c, S>
where
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    pub fn new(
        frames: &'c mut S,
        conn: &'c Connection,
        table: Arc<Table>,
        out: Sender<Out>,
    ) -> Self {
        Self {
            frames,
            conn,
            table,
            out,
            pending: None,
            phase: Phase::Opened,
        }
    }

    fn judge(&mut self, message: Message) -> Verdict {
        match message {
            Message::Text(text) => match frames::parse(text.as_str()) {
                Ok(frame) => self.on_frame(frame),
                Err(reason) => Verdict::Close(Ending::malformed(reason)),
            },
            Message::Binary(_) => {
                Verdict::Close(Ending::malformed("Only text frames are accepted"))
            }
            // WebSocket-level pings are answered by the WebSocket layer.
            Message::Ping(_) | Message::Pong(_) => Verdict::Ignore,
            Message::Close(_) => Verdict::End,
        }
    }

    fn on_frame(&mut self, frame: ClientFrame) -> Verdict {
        match frame {
            ClientFrame::Init(payload) => self.init(payload.as_ref()),
            ClientFrame::Ping(payload) => Verdict::Forward(frames::ping(payload)),
            ClientFrame::Pong => Verdict::Ignore,
            ClientFrame::Subscribe { id, payload } => self.subscribe(id, payload),
            ClientFrame::Complete { id } => {
                if self.table.client_completes(&id) {
                    Verdict::Forward(frames::complete(&id))
                } else {
                    Verdict::Ignore
                }
            }
        }
    }

    /// `connection_init`: once; anonymous without an `Authorization` entry,
    /// else only with a valid bearer token, within the account's sockets.
    fn init(&mut self, payload: Option<&Object>) -> Verdict {
        if self.phase != Phase::Opened {
            return Verdict::Close(Ending::protocol(
                4429,
                "Too many initialisation requests",
                "too_many_inits",
            ));
        }
        let auth = match authorization(payload) {
            Ok(None) => Auth::Anonymous,
            Ok(Some(token)) => match self.sign_in(token) {
                Ok(viewer) => Auth::Viewer(viewer),
                Err(ending) => {
                    self.table.initialise(None);
                    return Verdict::Close(ending);
                }
            },
            Err(()) => {
                self.table.initialise(None);
                return Verdict::Close(Ending::forbidden());
            }
        };
        self.table.initialise(Some(auth));
        self.phase = Phase::Ready;
        Verdict::Forward(frames::INIT.to_owned())
    }

    /// Authenticates `token`, registers the socket under its session and
    /// sets it to close when the token expires.
    fn sign_in(&self, token: &str) -> Result<Viewer, Ending> {
        let conn = self.conn;
        let (viewer, exp) =
            crate::auth::authenticate_with_expiry(&conn.app, token).map_err(|reason| {
                tracing::debug!(%reason, "socket token refused");
                Ending::forbidden()
            })?;
        conn.registration
            .sign_in(viewer, conn.settings.limits.max_sockets)
            .map_err(|_| Ending::protocol(4403, "too many sockets", "too_many_sockets"))?;
        conn.handle.expire_at(instant_of(exp));
        // Registered, then checked: a revocation either is seen here or
        // finds the socket registered (it is cached before it is announced).
        if conn.app.revocations().is_revoked(&viewer.session_id) {
            conn.handle.close(Close::SESSION_ENDED);
        }
        Ok(viewer)
    }

    /// `subscribe`: after `connection_init`, under an id not in use, within
    /// the socket's subscriptions, and a subscription operation.
    fn subscribe(&mut self, id: String, payload: Subscribe) -> Verdict {
        if self.phase != Phase::Ready {
            return Verdict::Close(Ending::protocol(4401, "Unauthorized", "unauthorized"));
        }
        if self.table.contains(&id) {
            let reason = frames::close_reason(
                format!("Subscriber for {id} already exists"),
                "Subscriber already exists",
            );
            return Verdict::Close(Ending {
                code: 4409,
                reason,
                label: "duplicate_id",
            });
        }
        let settings = &self.conn.settings;
        let max = settings.limits.max_subscriptions;
        if self.table.in_use() >= max {
            let message = format!("At most {max} subscriptions may run on one socket.");
            return Verdict::Reply(Out::text(frames::error(&id, "BAD_REQUEST", &message)));
        }
        let ty = crate::graphql::operation_type(
            &payload.query,
            payload.operation_name.as_deref(),
            settings.field_limit,
        );
        if matches!(ty, Some(OperationType::Query | OperationType::Mutation)) {
            let message = "Only subscriptions run over the socket; \
                           send queries and mutations to POST /graphql.";
            return Verdict::Reply(Out::text(frames::error(&id, "BAD_REQUEST", message)));
        }
        let forward = frames::subscribe(&id, payload);
        self.table.start(id);
        Verdict::Forward(forward)
    }

    /// Sends the pending reply once the writer has room; `false` when the
    /// writer is gone.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let Some(out) = self.pending.take() else {
            return Poll::Ready(true);
        };
        match self.out.poll_ready(cx) {
            Poll::Pending => {
                self.pending = Some(out);
                Poll::Pending
            }
            Poll::Ready(Ok(())) => Poll::Ready(self.out.start_send(out).is_ok()),
            Poll::Ready(Err(_)) => Poll::Ready(false),
        }
    }
}

impl<S> Stream for Gate<'_, S>
where
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    type Item = Result<Message, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if !ready!(this.poll_pending(cx)) || this.phase == Phase::Done {
                return Poll::Ready(None);
            }
            if let Some(frame) = this.table.next_injected() {
                return Poll::Ready(Some(Ok(Message::Text(frame.into()))));
            }
            let message = match ready!(this.frames.poll_next_unpin(cx)) {
                Some(Ok(message)) => message,
                Some(Err(e)) => match unreadable(e) {
                    Some(ending) => {
                        this.pending = Some(Out::Close(Box::new(ending)));
                        this.phase = Phase::Done;
                        continue;
                    }
                    None => return Poll::Ready(None),
                },
                None => return Poll::Ready(None),
            };
            match this.judge(message) {
                Verdict::Forward(text) => return Poll::Ready(Some(Ok(Message::Text(text.into())))),
                Verdict::Reply(out) => this.pending = Some(out),
                Verdict::Close(ending) => {
                    this.pending = Some(Out::Close(Box::new(ending)));
                    this.phase = Phase::Done;
                }
                Verdict::Ignore => {}
                Verdict::End => this.phase = Phase::Done,
            }
        }
    }
}

/// The close a frame that could not be read calls for: none when the
/// connection itself failed.
fn unreadable(error: axum::Error) -> Option<Ending> {
    let error = error.into_inner().downcast::<tungstenite::Error>().ok()?;
    match *error {
        tungstenite::Error::Capacity(_) => {
            Some(Ending::protocol(1009, "Message too big", "too_big"))
        }
        tungstenite::Error::Utf8(_) => Some(Ending::protocol(1007, "Invalid UTF-8", "malformed")),
        tungstenite::Error::Protocol(_) => {
            Some(Ending::protocol(1002, "Protocol error", "malformed"))
        }
        _ => None,
    }
}

/// The bearer token of a `connection_init` payload: `None` without an
/// `Authorization` entry (any case); an error when the entry is not
/// `Bearer <token>`, or there are several.
fn authorization(payload: Option<&Object>) -> Result<Option<&str>, ()> {
    let Some(payload) = payload else {
        return Ok(None);
    };
    let mut entries = payload
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value);
    let Some(value) = entries.next() else {
        return Ok(None);
    };
    if entries.next().is_some() {
        return Err(());
    }
    match value {
        Value::String(header) => crate::auth::viewer::bearer_token(header)
            .map(Some)
            .ok_or(()),
        _ => Err(()),
    }
}

/// The runtime's instant for `exp` (seconds since the epoch).
fn instant_of(exp: i64) -> tokio::time::Instant {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let left_ms = exp.saturating_mul(1000).saturating_sub(now_ms).max(0);
    tokio::time::Instant::now() + Duration::from_millis(left_ms.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_authorization_entry_is_found_in_any_case() {
        assert_eq!(authorization(None), Ok(None));
        assert_eq!(
            authorization(Some(&object(serde_json::json!({})))),
            Ok(None)
        );
        assert_eq!(
            authorization(Some(&object(serde_json::json!({"other": 1})))),
            Ok(None)
        );
        for key in ["Authorization", "authorization", "AUTHORIZATION"] {
            let payload = object(serde_json::json!({ key: "Bearer abc" }));
            assert_eq!(authorization(Some(&payload)), Ok(Some("abc")), "{key}");
        }
    }

    #[test]
    fn an_authorization_entry_that_is_not_one_bearer_token_is_refused() {
        for payload in [
            serde_json::json!({"Authorization": "Basic abc"}),
            serde_json::json!({"Authorization": "Bearer "}),
            serde_json::json!({"Authorization": "abc"}),
            serde_json::json!({"Authorization": 1}),
            serde_json::json!({"Authorization": null}),
            serde_json::json!({"Authorization": "Bearer a", "authorization": "Bearer b"}),
        ] {
            assert_eq!(
                authorization(Some(&object(payload.clone()))),
                Err(()),
                "{payload}"
            );
        }
    }
}
