//! Who is making this request: `Authorization: Bearer <access token>` turned
//! into an `Auth`. No header at all is anonymous; a header that is not a
//! valid, unrevoked access token is `Invalid`, and every field that reads the
//! viewer (`me`, `logout`, `sessions`, …) then answers UNAUTHENTICATED.
//! Fields that need no viewer (`register`, `login`, `refresh`) still run, so
//! a client that sends a stale token along with its refresh is not locked out.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use std::net::IpAddr;

use uuid::Uuid;

use crate::error::AppError;
use crate::state::AppState;

/// The signed-in user of a request: who, and through which session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// The assurance level of the token presented (its `aal` claim): a
    /// session stepped up since then still presents this token at its level.
    pub aal: crate::auth::Aal,
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

/// What the service knows of the client: its address (for per-address
/// limits) and its `User-Agent` (recorded on new sessions).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn from_parts(parts: &Parts, trusted_proxies: &[IpAddr]) -> Self {
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(MAX_USER_AGENT).collect::<String>())
            .filter(|s| !s.is_empty());
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = peer.map(|peer| {
            if !trusted_proxies.contains(&peer) {
                // The header is only believed from a trusted proxy.
                return peer;
            }
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",");
            client_ip(peer, &forwarded, trusted_proxies)
        });
        Self { ip, user_agent }
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy; then
/// the nearest `X-Forwarded-For` entry (from the right) that is not one.
/// Entries left of an untrusted hop could be forged, so they are never read.
fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpAddr]) -> IpAddr {
    let mut client = peer;
    for hop in forwarded_for.rsplit(',') {
        if !trusted.contains(&client) {
            break;
        }
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => client = ip,
            Err(_) => break,
        }
    }
    client
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
        let state = AppState::from_ref(state);
        Ok(match super::authenticate(&state, token) {
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
pub(crate) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_start_matches(' ');
    // Byte-wise when ASCII (always, from a header value): the same answer as
    // `char::is_whitespace`, without decoding every character.
    let spaced = if token.is_ascii() {
        token
            .bytes()
            .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r'))
    } else {
        token.contains(char::is_whitespace)
    };
    (!token.is_empty() && !spaced).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        use super::client_ip;
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let peer: std::net::IpAddr = "203.0.113.9".parse().unwrap();
        let client: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        // No trusted proxy: the header is ignored.
        assert_eq!(client_ip(peer, "198.51.100.7", &[]), peer);
        // Through the trusted proxy: the entry it appended.
        assert_eq!(client_ip(proxy, "1.2.3.4, 198.51.100.7", &[proxy]), client);
        // A forged entry left of the real client is never read.
        assert_eq!(client_ip(proxy, "6.6.6.6, 198.51.100.7", &[proxy]), client);
        // Garbage stops the walk at the proxy.
        assert_eq!(client_ip(proxy, "not-an-ip", &[proxy]), proxy);
    }

    #[test]
    fn only_the_bearer_scheme_with_a_token_is_read() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer  abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearer a\x0Bb"), None);
        assert_eq!(bearer_token("Bearer a\u{2003}b"), None);
        assert_eq!(bearer_token("Token abc"), None);
    }
}
