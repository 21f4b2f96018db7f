//! Media: the `Media` type, `uploadMedia` (merged into the mutation root),
//! and its payload. The upload itself arrives through the multipart
//! request (`http::multipart`).

use async_graphql::{Context, ID, Object, Result, SimpleObject, Upload};

use super::types::{UserError, answer_with};
use super::viewer_auth;
use crate::entity::media;
use crate::service;
use crate::state::AppState;

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
        file: Upload,
        alt: Option<String>,
    ) -> Result<MediaPayload> {
        let viewer = viewer_auth(ctx).require()?;
        let state = ctx.data::<AppState>()?;
        let file = file
            .value(ctx)
            .map_err(crate::error::AppError::internal)?
            .content;
        MediaPayload::answer(service::media::upload(state, viewer, file, alt.as_deref()).await)
    }
}
