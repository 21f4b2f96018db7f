//! Who is making this request: `Authorization: Bearer <access token>` turned
//! into an `Auth`. No header at all is anonymous; a header that is not a
//! valid, unrevoked access token is `Invalid`, and every field that reads the
//! viewer (`me`, `logout`, `sessions`, …) then answers UNAUTHENTICATED.
//! Fields that need no viewer (`register`, `login`, `refresh`) still run, so
//! a client that sends a stale token along with its refresh is not locked out.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::error::AppError;
use crate::state::AppState;

/// The signed-in user of a request: who, and through which session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

/// What the `Authorization` header of a request established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header.
    Anonymous,
    Viewer(Viewer),
    /// A header that is not `Bearer <valid, unrevoked access token>`.
    Invalid,
}

impl Auth {
    /// The viewer if there is one; `None` when anonymous; UNAUTHENTICATED
    /// when a bad token was presented.
    pub fn viewer(&self) -> Result<Option<&Viewer>, AppError> {
        match self {
            Self::Anonymous => Ok(None),
            Self::Viewer(v) => Ok(Some(v)),
            Self::Invalid => Err(AppError::Unauthenticated),
        }
    }

    /// The viewer, for fields that require one.
    pub fn require(&self) -> Result<&Viewer, AppError> {
        self.viewer()?.ok_or(AppError::Unauthenticated)
    }
}

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

impl<S> FromRequestParts<S> for Auth
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Self::Anonymous);
        };
        let Some(token) = value.to_str().ok().and_then(bearer_token) else {
            return Ok(Self::Invalid);
        };
        Ok(match AppState::from_ref(state).authenticate(token) {
            Ok(viewer) => Self::Viewer(viewer),
            Err(reason) => {
                tracing::debug!(%reason, "bearer token refused");
                Self::Invalid
            }
        })
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
