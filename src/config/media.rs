//! The media group: where uploaded images are stored and served from, how
//! large they may be, and the processing pool's size.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Media {
    /// Where images are stored: `file://DIR` (a folder, relative to the
    /// working directory, served at `GET /media/...`) or `s3://BUCKET/PREFIX`
    /// (any S3-compatible store; endpoint, region and keys from the standard
    /// `AWS_*` variables, e.g. `AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    #[arg(
        long = "media-store",
        env = "MEDIA_STORE",
        value_name = "MEDIA_STORE",
        default_value = "file://sns-media",
        global = true
    )]
    pub store: String,

    /// The base of the URLs handed out (an object's key is appended after a
    /// `/`). Default with `file://`: this server's own `http://ADDR/media`;
    /// required with `s3://` (the bucket's public or CDN address).
    #[arg(
        long = "media-public-url",
        env = "MEDIA_PUBLIC_URL",
        value_name = "MEDIA_PUBLIC_URL",
        global = true
    )]
    pub public_url: Option<String>,

    /// Largest accepted file of an upload, in bytes; more is HTTP 413.
    #[arg(
        long = "media-max-bytes",
        env = "MEDIA_MAX_BYTES",
        value_name = "MEDIA_MAX_BYTES",
        default_value_t = 10 * 1024 * 1024,
        global = true
    )]
    pub max_bytes: usize,

    /// Images decoded and re-encoded at once (default: half the cores, at
    /// least one), on threads of their own.
    #[arg(
        long = "media-concurrency",
        env = "MEDIA_CONCURRENCY",
        value_name = "MEDIA_CONCURRENCY",
        default_value_t = super::cores().div_ceil(2),
        value_parser = super::at_least_one,
        global = true
    )]
    pub concurrency: usize,

    /// Uploads that may wait for a processing slot; more answer
    /// SERVICE_UNAVAILABLE.
    #[arg(
        long = "media-queue",
        env = "MEDIA_QUEUE",
        value_name = "MEDIA_QUEUE",
        default_value_t = 16,
        global = true
    )]
    pub queue: usize,
}
