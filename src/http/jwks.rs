//! `GET /.well-known/jwks.json`: the public keys of EdDSA mode.

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

/// The public keys of EdDSA mode as a JWK Set; 404 with HS256 (no public key).
pub async fn jwks(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match state.jwt().jwks() {
        Some(set) => (
            [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
            axum::Json(set.clone()),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
