//! The HTTP surface: `/graphql` (POST executes; GET serves GraphiQL, or the
//! subscription socket when it upgrades), the health probes, and the
//! middleware every route shares.

mod graphql;
mod health;
mod jwks;
mod media;
mod metrics;
mod multipart;
mod negotiate;
mod socket;

use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{DefaultBodyLimit, FromRef, State, WebSocketUpgrade};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::graphql::{ApiSchema, Direct};
use crate::state::AppState;
use negotiate::ResponseType;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router's state: the app, its schema and the socket settings.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: ApiSchema,
    /// Queries whose document was kept before, without the extension.
    pub direct: Direct,
    pub socket: std::sync::Arc<socket::Settings>,
    /// The sizes of a multipart upload.
    pub uploads: multipart::Limits,
}

impl FromRef<HttpState> for AppState {
    fn from_ref(s: &HttpState) -> Self {
        s.app.clone()
    }
}

pub fn router(app: AppState, schema: ApiSchema, direct: Direct, config: &Config) -> Router {
    let graphql_route = if config.graphiql {
        post(graphql::execute).get(graphql_get)
    } else {
        post(graphql::execute).get(socket_get)
    };
    let socket = std::sync::Arc::new(socket::Settings::new(config));
    // One layer (a single boxed stack per route), so that the per-request
    // clone of a route is one allocation, not one per middleware.
    let middleware = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // Method, path and request id only: never headers (Authorization) nor the query string.
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(CatchPanicLayer::custom(|_| internal_error_response("handler panicked")))
        .layer(cors(&config.cors_origins))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit));
    Router::new()
        .route("/graphql", graphql_route)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/media/{*key}", get(media::serve))
        .layer(middleware)
        .with_state(HttpState {
            app,
            schema,
            direct,
            socket,
            uploads: multipart::Limits {
                parts: config.body_limit,
                file: config.media.max_bytes,
            },
        })
}

/// `GET /graphql`: the subscription socket when the request upgrades, else
/// the GraphiQL page.
async fn graphql_get(
    State(http): State<HttpState>,
    offer: socket::Offer,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => socket::upgrade(http, offer, upgrade),
        Err(_) => graphql::graphiql().await.into_response(),
    }
}

/// `GET /graphql` without GraphiQL: the subscription socket, or 405.
async fn socket_get(
    State(http): State<HttpState>,
    offer: socket::Offer,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => socket::upgrade(http, offer, upgrade),
        Err(_) => (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response(),
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static(multipart::PREFLIGHT_HEADERS[0]),
            HeaderName::from_static(multipart::PREFLIGHT_HEADERS[1]),
        ])
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return base.allow_origin(AllowOrigin::any());
    }
    let list: std::sync::Arc<[HeaderValue]> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    // The same exact-match list as `AllowOrigin::list`, behind an `Arc`: the
    // layer is cloned for every request.
    base.allow_origin(AllowOrigin::predicate(move |origin, _| {
        list.contains(origin)
    }))
    .allow_credentials(true)
}

/// A GraphQL-shaped error body with an HTTP status, for what is refused
/// before GraphQL runs.
pub(crate) fn error_response(
    status: StatusCode,
    media: ResponseType,
    code: &str,
    message: &str,
) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    json_response(status, media, &body)
}

/// `body` as JSON in `media`.
pub(crate) fn json_response(
    status: StatusCode,
    media: ResponseType,
    body: &impl serde::Serialize,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, media.content_type())],
            bytes,
        )
            .into_response(),
        Err(_) => internal_error_response("a response did not serialize"),
    }
}

/// A 500 whose body carries only an id; `what` goes to the log with it.
fn internal_error_response(what: &'static str) -> Response {
    let id = uuid::Uuid::now_v7();
    tracing::error!(error_id = %id, "{what}");
    let body = serde_json::json!({
        "errors": [{ "message": "Internal server error.",
                     "extensions": { "code": "INTERNAL_SERVER_ERROR", "errorId": id.to_string() } }]
    });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}
