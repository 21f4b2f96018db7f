//! Media: the `Media` type, `uploadMedia` (merged into the mutation root),
//! and its payload. The upload itself arrives through the multipart
//! request (`http::multipart`).

use async_graphql::{
    Context, ID, InputValueError, InputValueResult, Object, Result, Scalar, ScalarType,
    SimpleObject, Value,
};

use super::types::{UserError, answer_with};
use super::viewer_auth;
use crate::entity::media;
use crate::service;
use crate::state::AppState;

/// A file of the multipart request: the value `Request::set_upload` puts
/// where `map` points, the upload's index after a prefix.
const UPLOAD_PREFIX: &str = "#__graphql_file__:";

/// The `Upload` scalar, ours rather than async-graphql's: its `parse`
/// unwraps the index and its `value` indexes the request's files without a
/// check, so a JSON request naming `"#__graphql_file__:9"` (or `:x`) would
/// panic. Here both are a clear error.
pub struct FileUpload(usize);

/// A file sent with the GraphQL multipart request (operations, map, file): the variable is
/// `null` in `operations` and named in `map`.
#[Scalar(name = "Upload")]
impl ScalarType for FileUpload {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => s
                .strip_prefix(UPLOAD_PREFIX)
                .and_then(|i| i.parse().ok())
                .map(Self)
                .ok_or_else(|| InputValueError::custom(NOT_A_FILE)),
            _ => Err(InputValueError::custom(NOT_A_FILE)),
        }
    }

    /// Checked while validating, so that a value that names no file is
    /// refused before the operation runs, as a variable of the wrong type is.
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if s
            .strip_prefix(UPLOAD_PREFIX)
            .is_some_and(|i| i.parse::<usize>().is_ok()))
    }

    fn to_value(&self) -> Value {
        Value::Null
    }
}

const NOT_A_FILE: &str =
    "send the file with a multipart request (the GraphQL multipart request specification)";

impl FileUpload {
    /// The file, when the request carried one at this index.
    fn file(&self, ctx: &Context<'_>) -> Result<std::fs::File> {
        let upload = ctx
            .query_env
            .uploads
            .get(self.0)
            .ok_or_else(|| crate::error::AppError::BadUserInput(NOT_A_FILE.to_owned()))?;
        Ok(upload
            .content
            .try_clone()
            .map_err(crate::error::AppError::internal)?)
    }
}

/// An uploaded image, re-encoded: no metadata, orientation applied.
pub struct Media(pub media::Model);

#[Object]
impl Media {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The full size: the longest side at most 2,048 px. Never changes: cache it for good.
    async fn url(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(ctx
            .data::<AppState>()?
            .media()
            .store()
            .url(&self.0.full_key))
    }

    /// The preview: the longest side at most 400 px.
    async fn preview_url(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(ctx
            .data::<AppState>()?
            .media()
            .store()
            .url(&self.0.preview_key))
    }

    /// Of the full size, in pixels.
    async fn width(&self) -> i32 {
        self.0.width
    }

    async fn height(&self) -> i32 {
        self.0.height
    }

    /// A placeholder to show while the image loads (blurha.sh).
    async fn blurhash(&self) -> &str {
        &self.0.blurhash
    }

    /// Up to 1,500 code points.
    async fn alt(&self) -> Option<&str> {
        self.0.alt.as_deref()
    }
}

/// `media` is set exactly when `errors` is empty.
#[derive(SimpleObject, Default)]
pub struct MediaPayload {
    pub media: Option<Media>,
    pub errors: Vec<UserError>,
}

impl MediaPayload {
    pub fn answer(outcome: Result<media::Model, crate::error::AppError>) -> Result<Self> {
        answer_with(
            outcome,
            |m| Self {
                media: Some(Media(m)),
                errors: Vec::new(),
            },
            |p, e| p.errors = e,
        )
    }
}

#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Requires a token. Uploads one image (a multipart request with a
    /// `GraphQL-Require-Preflight` header): JPEG, PNG, WebP or GIF (its first frame), told by
    /// its content; at most `MEDIA_MAX_BYTES` (more is HTTP 413), 8,192 px a side and 40
    /// megapixels. Attach it within 24 hours (`createPost` `mediaIds`, `updateProfile`
    /// `avatarId`/`bannerId`), or it is deleted. `alt`: up to 1,500 code points.
    async fn upload_media(
        &self,
        ctx: &Context<'_>,
        file: FileUpload,
        alt: Option<String>,
    ) -> Result<MediaPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        let file = file.file(ctx)?;
        MediaPayload::answer(service::media::upload(state, viewer, file, alt.as_deref()).await)
    }
}
