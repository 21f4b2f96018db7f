//! The inbound gate: every client frame is parsed and judged here, against
//! where the socket is in its life and the subscriptions running on it; the
//! connection's loop (`socket.rs`) carries out the verdict.

use std::time::Duration;

use async_graphql::parser::types::OperationType;
use axum::extract::ws::Message;
use serde_json::Value;

use super::frames::{self, ClientFrame, Object, Subscribe};
use super::running::Running;
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
}

/// What one client frame leads to.
pub(super) enum Verdict {
    /// `connection_init` accepted, with what it established: acknowledge.
    Ready(Auth),
    /// Start this subscription.
    Subscribe {
        id: String,
        payload: Subscribe,
    },
    /// The client completes this subscription.
    Complete(String),
    /// Answer the client.
    Reply(Out),
    /// Close the socket.
    Close(Ending),
    Ignore,
    /// The client closed.
    End,
}

pub(super) struct Gate<'c> {
    conn: &'c Connection,
    phase: Phase,
}

impl<'c> Gate<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            phase: Phase::Opened,
        }
    }

    pub fn judge(&mut self, message: Message, running: &Running) -> Verdict {
        match message {
            Message::Text(text) => match frames::parse(text.as_str()) {
                Ok(frame) => self.on_frame(frame, running),
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

    fn on_frame(&mut self, frame: ClientFrame, running: &Running) -> Verdict {
        match frame {
            ClientFrame::Init(payload) => self.init(payload.as_ref()),
            ClientFrame::Ping(payload) => Verdict::Reply(Out::text(frames::pong(payload))),
            ClientFrame::Pong => Verdict::Ignore,
            ClientFrame::Subscribe { id, payload } => self.subscribe(id, payload, running),
            ClientFrame::Complete { id } => Verdict::Complete(id),
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
        self.conn
            .initialised
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let auth = match authorization(payload) {
            Ok(None) => Auth::Anonymous,
            Ok(Some(token)) => match self.sign_in(token) {
                Ok(viewer) => Auth::Viewer(viewer),
                Err(ending) => return Verdict::Close(ending),
            },
            Err(()) => return Verdict::Close(Ending::forbidden()),
        };
        self.phase = Phase::Ready;
        Verdict::Ready(auth)
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
    fn subscribe(&mut self, id: String, payload: Subscribe, running: &Running) -> Verdict {
        if self.phase != Phase::Ready {
            return Verdict::Close(Ending::protocol(4401, "Unauthorized", "unauthorized"));
        }
        if running.contains(&id) {
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
        if running.len() >= max {
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
        Verdict::Subscribe { id, payload }
    }
}

/// The close a frame that could not be read calls for: none when the
/// connection itself failed.
pub(super) fn unreadable(error: axum::Error) -> Option<Ending> {
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
