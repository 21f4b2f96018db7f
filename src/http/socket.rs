//! `GET /graphql` with a WebSocket upgrade: subscriptions over
//! `graphql-transport-ws`, served by async-graphql-axum. (Scaffolding: the
//! protocol's departures, limits and closes are not handled yet.)

use std::sync::Arc;

use async_graphql::Data;
use async_graphql::http::WebSocketProtocols;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;

use super::HttpState;
use crate::auth::Auth;
use crate::live::SocketHandle;

pub async fn upgrade(
    State(http): State<HttpState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols([WebSocketProtocols::GraphQLWS.sec_websocket_protocol()])
        .on_upgrade(move |socket| async move {
            let app = http.app.clone();
            let handle = Arc::new(SocketHandle::new());
            let mut data = Data::default();
            data.insert(handle);
            GraphQLWebSocket::new(socket, http.schema.clone(), protocol)
                .with_data(data)
                .on_connection_init(move |payload| async move {
                    let mut data = Data::default();
                    data.insert(auth_of(&app, &payload)?);
                    Ok(data)
                })
                .serve()
                .await;
        })
}

/// The `Authorization` entry of the `connection_init` payload.
fn auth_of(
    app: &crate::state::AppState,
    payload: &serde_json::Value,
) -> async_graphql::Result<Auth> {
    let header = payload.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v)
    });
    let Some(header) = header else {
        return Ok(Auth::Anonymous);
    };
    let token = header
        .as_str()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| async_graphql::Error::new("Forbidden"))?;
    crate::auth::authenticate(app, token.trim())
        .map(Auth::Viewer)
        .map_err(|_| async_graphql::Error::new("Forbidden"))
}
