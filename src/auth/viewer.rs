//! Who is making this request: `Authorization: Bearer <access token>` turned
//! into an optional `Viewer`. No header at all is anonymous; any header that
//! is not a valid, unrevoked access token refuses the whole request with
//! UNAUTHENTICATED, so a client never runs an operation as someone it is not.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::error::AppError;
use crate::state::AppState;

/// The signed-in user of a request: who, and through which session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

/// The extractor: `AuthHeader(None)` for a request without `Authorization`.
#[derive(Debug, Clone, Copy)]
pub struct AuthHeader(pub Option<Viewer>);

/// The longest `User-Agent` kept on a session.
const MAX_USER_AGENT: usize = 512;

/// What a new session records about its client.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn from_parts(parts: &Parts) -> Self {
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(MAX_USER_AGENT).collect::<String>())
            .filter(|s| !s.is_empty());
        Self { user_agent }
    }
}

/// A request refused for its `Authorization` header, answered as a GraphQL
/// response so that clients' error links see the code.
#[derive(Debug)]
pub struct Unauthenticated;

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        let err = AppError::Unauthenticated.to_graphql();
        let mut server_error = async_graphql::ServerError::new(err.message, None);
        server_error.extensions = err.extensions;
        let body = async_graphql::Response::from_errors(vec![server_error]);
        let mut res = axum::Json(body).into_response();
        res.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        res
    }
}

impl<S> FromRequestParts<S> for AuthHeader
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or(Unauthenticated)?;
        match AppState::from_ref(state).authenticate(token) {
            Ok(viewer) => Ok(Self(Some(viewer))),
            Err(reason) => {
                tracing::debug!(%reason, "bearer token refused");
                Err(Unauthenticated)
            }
        }
    }
}

/// `Bearer <token>`: the scheme in any case, one or more spaces, then a
/// non-empty token without spaces.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_start_matches(' ');
    (!token.is_empty() && !token.contains(char::is_whitespace)).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn only_the_bearer_scheme_with_a_token_is_read() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer  abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Token abc"), None);
    }
}
