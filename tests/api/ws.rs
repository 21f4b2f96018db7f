//! A `graphql-transport-ws` client for the subscription tests: raw frames,
//! so that a test can send what a real client never would and read the
//! close code the server answers with.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::TestApp;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(10);

/// What the server sent: a message, or the close frame (code, reason).
#[derive(Debug)]
pub enum Frame {
    Message(Value),
    Closed(u16, String),
}

pub struct Socket {
    stream: Stream,
}

impl Socket {
    /// Connects to `/graphql` with the `graphql-transport-ws` subprotocol.
    pub async fn open(app: &TestApp) -> Self {
        Self::open_with(app, &[])
            .await
            .expect("the upgrade succeeds")
    }

    /// Connects with extra request headers; the HTTP status when refused.
    pub async fn open_with(app: &TestApp, headers: &[(&str, &str)]) -> Result<Self, u16> {
        let url = app.url("/graphql").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(axum_header_name(name), value.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Self { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("upgrade failed: {e}"),
        }
    }

    /// Opens, sends `connection_init` with `token` (none: anonymous) and
    /// expects `connection_ack`.
    pub async fn signed_in(app: &TestApp, token: Option<&str>) -> Self {
        let mut socket = Self::open(app).await;
        let payload = match token {
            Some(t) => json!({ "Authorization": format!("Bearer {t}") }),
            None => Value::Null,
        };
        socket
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = socket.next().await;
        assert!(
            matches!(&ack, Frame::Message(m) if m["type"] == "connection_ack"),
            "expected connection_ack, got {ack:?}"
        );
        socket
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text))
            .await
            .expect("the socket is open");
    }

    /// `subscribe` with `id` and `query` (variables optional).
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables }
        }))
        .await;
    }

    /// The next message or the close, skipping pings; panics after `WAIT`.
    pub async fn next(&mut self) -> Frame {
        self.next_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("nothing from the server within {WAIT:?}"))
    }

    /// The next message or the close within `within`; `None` if nothing came.
    pub async fn next_within(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let item = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            match item {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("server sends JSON");
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Some(Frame::Message(value));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(match frame {
                        Some(f) => Frame::Closed(u16::from(f.code), f.reason.to_string()),
                        None => Frame::Closed(u16::from(CloseCode::Status), String::new()),
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Frame::Closed(1006, String::new())),
            }
        }
    }

    /// The next `next` message's `payload.data` for `id`.
    pub async fn data(&mut self, id: &str) -> Value {
        match self.next().await {
            Frame::Message(m) if m["type"] == "next" && m["id"] == id => {
                m["payload"]["data"].clone()
            }
            other => panic!("expected next for {id}, got {other:?}"),
        }
    }

    /// Waits for the close frame, skipping messages; its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            if let Frame::Closed(code, reason) = self.next().await {
                return (code, reason);
            }
        }
    }
}

fn axum_header_name(name: &str) -> tokio_tungstenite::tungstenite::http::HeaderName {
    name.parse().expect("a valid header name")
}
