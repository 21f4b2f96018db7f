//! `GET /media/{key}`: the objects of a local media store (`file://`),
//! with their type, `nosniff`, and caching for good (a key is never
//! reused). With an S3 store the objects are served from there, and this
//! route answers 404.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use crate::media::store::{CACHE_CONTROL, content_type_of};

pub async fn serve(State(http): State<HttpState>, Path(key): Path<String>) -> Response {
    let store = http.app.media().store();
    let Some(content_type) = content_type_of(&key).filter(|_| store.is_local()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match store.open(&key).await {
        Ok(Some(stream)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CACHE_CONTROL, CACHE_CONTROL),
            ],
            axum::body::Body::from_stream(stream),
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "reading a media object failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
