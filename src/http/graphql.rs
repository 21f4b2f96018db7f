//! `POST /graphql` executes one operation and answers in the media type the
//! client accepts (`negotiate.rs`); `GET /graphql` only serves the GraphiQL
//! page, so that no link or image tag can ever run a mutation.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest as _, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::negotiate::ResponseType;
use super::{HttpState, error_response, json_response};
use crate::auth::{Auth, ClientInfo};
use crate::graphql::{Executed, Ran};

impl FromRequestParts<HttpState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo::from_parts(
            parts,
            &state.app.policy().trusted_proxies,
        ))
    }
}

/// The media type comes first: a client that accepts neither of ours gets
/// its 406 before the body is read or a token checked. A JSON body is held
/// to `BODY_LIMIT`; a multipart upload (`multipart.rs`) needs a
/// preflight-forcing header and has limits of its own.
pub async fn execute(
    media: ResponseType,
    State(http): State<HttpState>,
    auth: Auth,
    client: ClientInfo,
    request: axum::extract::Request,
) -> Response {
    let decoded = match super::multipart::boundary(request.headers()) {
        Some(_) if !super::multipart::preflighted(request.headers()) => Err(BadBody::NoPreflight),
        // Nothing is written to disk for a request that cannot upload.
        Some(_) if !matches!(auth, Auth::Viewer(_)) => Err(BadBody::Unauthenticated),
        Some(boundary) => {
            super::multipart::decode(request.into_body(), boundary, http.uploads).await
        }
        None => {
            let json = is_json(request.headers());
            Bytes::from_request(request, &http)
                .await
                .map_err(BadBody::from)
                .and_then(|body| decode(json, &body))
        }
    };
    let request = match decoded {
        Ok(r) => r,
        Err(refusal) => return refusal.respond(media),
    };
    // The `AppState` is schema data already; only what is per request goes here.
    let request = request.data(client).data(auth);
    let (response, executed) = match http.direct.run(request).await {
        Ran::Answered { response, executed } => (response, executed),
        Ran::Declined(request) => {
            let executed = Executed::default();
            let response = http.schema.execute(request.data(executed.clone())).await;
            (response, executed.started())
        }
    };
    match media {
        // Legacy clients: 200 for every GraphQL response, `data` included.
        ResponseType::Json => json_response(StatusCode::OK, media, &response),
        ResponseType::GraphqlResponse if executed => {
            json_response(StatusCode::OK, media, &response)
        }
        ResponseType::GraphqlResponse => {
            json_response(StatusCode::BAD_REQUEST, media, &RequestError::of(&response))
        }
    }
}

/// A response whose operation never ran: `errors` (and any extensions), and
/// no `data` entry, as `application/graphql-response+json` requires.
#[derive(serde::Serialize)]
struct RequestError<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

impl<'a> RequestError<'a> {
    fn of(response: &'a async_graphql::Response) -> Self {
        Self {
            errors: &response.errors,
            extensions: &response.extensions,
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// One JSON object `{query, variables, operationName, extensions}`; anything
/// else is refused with a GraphQL-shaped body and a 4xx status.
fn decode(is_json: bool, body: &[u8]) -> Result<async_graphql::Request, BadBody> {
    if !is_json {
        return Err(BadBody::NotJson);
    }
    decode_operation(body)
}

/// The operation object of a JSON body or of a multipart request's
/// `operations` part; an array (a batch) is refused.
pub(super) fn decode_operation(body: &[u8]) -> Result<async_graphql::Request, BadBody> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(BadBody::Batch);
    }
    // serde's message would quote the input back; say what is expected instead.
    let body: Body = serde_json::from_slice(body).map_err(|_| BadBody::Shape)?;
    let mut request = async_graphql::Request::new(body.query);
    match body.variables {
        None | Some(serde_json::Value::Null) => {}
        Some(v @ serde_json::Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(v));
        }
        Some(_) => return Err(BadBody::Shape),
    }
    if let Some(name) = body.operation_name {
        request = request.operation_name(name);
    }
    Ok(request)
}

pub(super) enum BadBody {
    TooLarge,
    Unreadable,
    NotJson,
    Batch,
    Shape,
    /// A multipart request without `GraphQL-Require-Preflight` or
    /// `Apollo-Require-Preflight`.
    NoPreflight,
    /// A multipart request that breaks the specification, and how.
    Multipart(&'static str),
    /// The upload could not be spooled to a temporary file.
    Unavailable,
    /// A multipart request without a valid access token: its file is not
    /// read.
    Unauthenticated,
}

impl From<BytesRejection> for BadBody {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::TooLarge
        } else {
            Self::Unreadable
        }
    }
}

impl BadBody {
    /// In the negotiated media type: the body is a GraphQL response without
    /// `data`, which either type can carry.
    fn respond(self, media: ResponseType) -> Response {
        let (status, message) = match self {
            Self::NoPreflight => (
                StatusCode::BAD_REQUEST,
                "A multipart request needs a non-empty GraphQL-Require-Preflight (or Apollo-Require-Preflight) header.",
            ),
            Self::Multipart(message) => (StatusCode::BAD_REQUEST, message),
            Self::Unauthenticated => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    media,
                    "UNAUTHENTICATED",
                    "An upload needs a valid access token (Authorization: Bearer <token>).",
                );
            }
            Self::Unavailable => {
                return error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    media,
                    "SERVICE_UNAVAILABLE",
                    "The upload cannot be received now; try again.",
                );
            }
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is larger than the server accepts.",
            ),
            Self::Unreadable => (
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            ),
            Self::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the request as Content-Type: application/json (or multipart/form-data for an upload).",
            ),
            Self::Batch => (
                StatusCode::BAD_REQUEST,
                "Batched requests are not supported: send one operation per request.",
            ),
            Self::Shape => (
                StatusCode::BAD_REQUEST,
                "The body must be a JSON object {\"query\": string, \"variables\"?: object, \"operationName\"?: string, \"extensions\"?: object}.",
            ),
        };
        error_response(status, media, "BAD_REQUEST", message)
    }
}

/// The GraphQL-over-HTTP request body; `query` is required. `extensions`
/// must be a map when present; none is read.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    query: String,
    variables: Option<serde_json::Value>,
    operation_name: Option<String>,
    #[expect(dead_code, reason = "its shape is checked; its content is not used")]
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The GraphiQL release the page loads (from unpkg). Pinned, so the page
/// does not change under us; tests/clients serves the same release offline.
pub const GRAPHIQL_VERSION: &str = "4.1.2";

/// The page runs queries and mutations over `POST /graphql` and
/// subscriptions over the socket on the same path (`ws:` on an `http:` page,
/// `wss:` on `https:`, built from the page's own origin), with the headers
/// pane as the `connection_init` payload. Its graphql-ws client is bundled
/// in graphiql.min.js.
pub async fn graphiql() -> impl IntoResponse {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .version(GRAPHIQL_VERSION)
            .title("sns-api")
            .finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        h
    }

    #[test]
    fn a_single_operation_is_decoded() {
        let r = decode(
            is_json(&json_headers()),
            br#"{"query":"{ me { id } }","variables":{"a":1},"operationName":"Q"}"#,
        );
        let r = r.ok().unwrap();
        assert_eq!(r.query, "{ me { id } }");
        assert_eq!(r.operation_name.as_deref(), Some("Q"));
    }

    proptest::proptest! {
        /// The request decoder, fed any bytes: an answer, never a panic.
        #[test]
        fn decoding_any_body_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(is_json(&json_headers()), &body);
        }

        #[test]
        fn decoding_json_like_text_never_panics(body in r#"[\[\]{}":,a-z0-9 ]{0,200}"#) {
            let _ = decode(is_json(&json_headers()), body.as_bytes());
        }
    }
}
