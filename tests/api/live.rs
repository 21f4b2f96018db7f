//! Subscriptions over the socket: the transport's rules and the events.

use serde_json::json;

use crate::common::*;
use crate::ws::{Frame, Socket};

#[tokio::test]
async fn a_signed_in_socket_is_acknowledged_and_answers_ping() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up(&unique_email("ws")).await;
    let mut socket = Socket::signed_in(&app, Some(&token)).await;
    socket.send(json!({ "type": "ping" })).await;
    assert!(matches!(socket.next().await, Frame::Message(m) if m["type"] == "pong"));
    app.stop().await;
}
