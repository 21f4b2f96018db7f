//! `multipart/form-data` on `POST /graphql`: the GraphQL multipart request
//! specification (`operations`, then `map`, then the file), one operation
//! and one file, only with a preflight-forcing header.
//!
//! A browser sends a multipart form to any origin without a CORS preflight
//! (it is a "simple" request), so a page elsewhere could post one with the
//! user's cookies; a custom header makes it preflight, which CORS then
//! refuses to origins not allowed. A request without a valid access token
//! is refused before its file is read. The file streams to an anonymous
//! temporary file, never whole into memory: what waits for the processing
//! pool is a file handle.

use axum::http::{HeaderMap, header};
use tokio::io::AsyncWriteExt as _;

use super::graphql::{BadBody, decode_operation};

/// The headers either of which makes a browser preflight.
pub const PREFLIGHT_HEADERS: [&str; 2] = ["graphql-require-preflight", "apollo-require-preflight"];

/// The sizes a multipart request may have.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `operations` and `map`, each (`BODY_LIMIT`).
    pub parts: usize,
    /// The file (`MEDIA_MAX_BYTES`).
    pub file: usize,
}

/// The boundary of a `multipart/form-data` request; `None` for any other
/// content type.
pub fn boundary(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    multer::parse_boundary(content_type).ok()
}

/// Whether the request carries a non-empty preflight-forcing header.
pub fn preflighted(headers: &HeaderMap) -> bool {
    PREFLIGHT_HEADERS.iter().any(|name| {
        headers
            .get(*name)
            .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
    })
}

/// Reads the parts in the order the specification sets and answers the
/// operation with its file in place.
pub async fn decode(
    body: axum::body::Body,
    boundary: String,
    limits: Limits,
) -> Result<async_graphql::Request, BadBody> {
    let parts = limits.parts as u64;
    let file_limit = limits.file as u64;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            // Two parts, the file, and the framing of each.
            .whole_stream(2 * parts + file_limit + 16 * 1024)
            .for_field("operations", parts)
            .for_field("map", parts)
            .per_field(file_limit),
    );
    let mut form =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);

    let operations = text_field(&mut form, "operations").await?;
    let map = text_field(&mut form, "map").await?;
    let mut request = decode_operation(operations.as_bytes())?;
    let map: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_str(&map)
        .map_err(|_| BadBody::Multipart("`map` must be a JSON object of arrays of paths."))?;
    if map.len() != 1 {
        return Err(BadBody::Multipart("Send exactly one file per request."));
    }
    let (name, paths) = map.into_iter().next().expect("one entry");
    // One path: each would hold a file descriptor of its own.
    let [path] = paths.as_slice() else {
        return Err(BadBody::Multipart(
            "`map` names one path for the file, such as [\"variables.file\"].",
        ));
    };
    let Some(field) = form.next_field().await.map_err(BadBody::from)? else {
        return Err(BadBody::Multipart("The file named in `map` is missing."));
    };
    if field.name() != Some(name.as_str()) {
        return Err(BadBody::Multipart(
            "The file must follow `map`, under the name `map` gives it.",
        ));
    }
    let filename = field.file_name().unwrap_or_default().to_owned();
    let content_type = field.content_type().map(|m| m.to_string());
    let file = spool(field).await?;
    if form.next_field().await.map_err(BadBody::from)?.is_some() {
        return Err(BadBody::Multipart("Send exactly one file per request."));
    }
    request.set_upload(
        path,
        async_graphql::UploadValue {
            filename,
            content_type,
            content: file,
        },
    );
    Ok(request)
}

/// The next part, which must be a text part named `name`.
async fn text_field(
    form: &mut multer::Multipart<'_>,
    name: &'static str,
) -> Result<String, BadBody> {
    let field = form.next_field().await.map_err(BadBody::from)?;
    match field {
        Some(f) if f.name() == Some(name) => f.text().await.map_err(BadBody::from),
        _ => Err(BadBody::Multipart(
            "A multipart request sends `operations`, then `map`, then the file.",
        )),
    }
}

/// The part's bytes in an anonymous temporary file, rewound.
async fn spool(mut field: multer::Field<'_>) -> Result<std::fs::File, BadBody> {
    let file = tempfile::tempfile().map_err(|e| {
        tracing::error!(error = %e, "cannot create a temporary file for an upload");
        BadBody::Unavailable
    })?;
    let mut out = tokio::fs::File::from_std(file);
    while let Some(chunk) = field.chunk().await.map_err(BadBody::from)? {
        out.write_all(&chunk)
            .await
            .map_err(|_| BadBody::Unavailable)?;
    }
    out.flush().await.map_err(|_| BadBody::Unavailable)?;
    let mut file = out.into_std().await;
    use std::io::Seek as _;
    file.rewind().map_err(|_| BadBody::Unavailable)?;
    Ok(file)
}

impl From<multer::Error> for BadBody {
    fn from(e: multer::Error) -> Self {
        match e {
            multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
                Self::TooLarge
            }
            _ => Self::Multipart("The multipart body could not be read."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_preflight_header_does_not_count() {
        let mut h = HeaderMap::new();
        assert!(!preflighted(&h));
        h.insert("apollo-require-preflight", " ".parse().unwrap());
        assert!(!preflighted(&h));
        h.insert("graphql-require-preflight", "1".parse().unwrap());
        assert!(preflighted(&h));
    }

    #[test]
    fn only_form_data_has_a_boundary() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=xyz".parse().unwrap(),
        );
        assert_eq!(boundary(&h).as_deref(), Some("xyz"));
        h.insert(
            header::CONTENT_TYPE,
            "multipart/mixed; boundary=xyz".parse().unwrap(),
        );
        assert_eq!(boundary(&h), None);
    }
}
