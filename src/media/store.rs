//! The media store, through `object_store`: a local folder (`file://DIR`,
//! served by this server at `GET /media/...`) or any S3-compatible store
//! (`s3://BUCKET/PREFIX`). Objects are written once under keys that are
//! never reused (`<uuid>.jpg`, `<uuid>-preview.jpg`), so they may be cached
//! forever; they are deleted only through `deletion`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload, RetryConfig};

/// How long a client or CDN may keep an object: it never changes.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// A failure of the store; its text goes to the log and the deletion
/// queue's `last_error`, never to a client.
#[derive(Debug, thiserror::Error)]
#[error("media store: {0}")]
pub struct StoreError(String);

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        Self(redact(&e.to_string()))
    }
}

/// The store's message without the response body it may quote: S3 answers
/// a refused signature with the canonical request, which holds a session
/// token's value (`x-amz-security-token`). What comes before the body (the
/// operation, the status) is kept.
fn redact(message: &str) -> String {
    let cut = message.find(['<', '{']).unwrap_or(message.len());
    let mut kept: String = message[..cut].chars().take(300).collect();
    if cut < message.len() {
        kept.push_str("[response body omitted]");
    }
    kept
}

/// An object's bytes as they are read.
pub type ObjectStream =
    futures_util::stream::BoxStream<'static, object_store::Result<axum::body::Bytes>>;

#[derive(Clone)]
pub struct MediaStore {
    inner: Arc<dyn ObjectStore>,
    /// URLs are this, a `/`, and the key.
    public_base: String,
    /// `file://`: the folder, served at `/media/...`.
    local: Option<PathBuf>,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaStore")
            .field("public_base", &self.public_base)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl MediaStore {
    /// The store `MEDIA_STORE` names. `served_at` is this server's address,
    /// the default base of a local store's URLs.
    pub fn from_config(
        config: &crate::config::Media,
        served_at: SocketAddr,
    ) -> Result<Self, String> {
        let trimmed = |s: &str| s.trim_end_matches('/').to_owned();
        if let Some(dir) = config.store.strip_prefix("file://") {
            let dir = PathBuf::from(if dir.is_empty() { "." } else { dir });
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("MEDIA_STORE: cannot create {}: {e}", dir.display()))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| format!("MEDIA_STORE: {e}"))?;
            let public_base = match &config.public_url {
                Some(url) => trimmed(url),
                None => format!("http://{}/media", public_addr(served_at)),
            };
            return Ok(Self {
                inner: Arc::new(store),
                public_base,
                local: Some(dir),
            });
        }
        if let Some(rest) = config.store.strip_prefix("s3://") {
            let (rest, options) = rest.split_once('?').unwrap_or((rest, ""));
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("MEDIA_STORE: s3:// needs a bucket: s3://BUCKET/PREFIX".to_owned());
            }
            let public_base = config
                .public_url
                .as_deref()
                .map(trimmed)
                .ok_or("MEDIA_PUBLIC_URL is required with an s3:// MEDIA_STORE")?;
            let builder = s3_builder(bucket, options)?;
            let s3 = builder.build().map_err(|e| format!("MEDIA_STORE: {e}"))?;
            let prefix = prefix.trim_matches('/');
            let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
            };
            return Ok(Self {
                inner,
                public_base,
                local: None,
            });
        }
        Err("MEDIA_STORE must be file://DIR or s3://BUCKET/PREFIX".to_owned())
    }

    /// Writes one object. A local folder keeps no attributes (the server
    /// tells the type by the key's extension); S3 keeps the type and the
    /// caching.
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        let mut attributes = Attributes::new();
        if self.local.is_none() {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
            attributes.insert(Attribute::CacheControl, CACHE_CONTROL.into());
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.inner
            .put_opts(&Path::from(key), PutPayload::from(bytes), options)
            .await?;
        Ok(())
    }

    /// The object as a stream of its bytes, never whole in memory; `None`
    /// when there is none.
    pub async fn open(&self, key: &str) -> Result<Option<ObjectStream>, StoreError> {
        let Ok(path) = Path::parse(key) else {
            return Ok(None);
        };
        match self.inner.get(&path).await {
            Ok(found) => Ok(Some(found.into_stream())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes one object; one already gone is no error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every key in the store (tests, and operators' audits).
    pub async fn list(&self) -> Result<Vec<String>, StoreError> {
        use futures_util::TryStreamExt as _;
        let metas: Vec<_> = self.inner.list(None).try_collect().await?;
        Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
    }

    /// The URL a client loads the object from.
    pub fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_base)
    }

    /// Whether this server serves the objects itself (`file://`).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }
}

/// The S3 client: settings from the standard `AWS_*` variables, then
/// `object_store`'s S3 options from the store URL's query
/// (`s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=eu-west-1`), so
/// that two stores in one process (tests, a migration tool) may differ.
/// Secrets are refused there: a store URL is configuration, printed and
/// logged as such; keys stay in the environment. An `http://` endpoint is
/// allowed as such (a local MinIO or moto). The client retries a few times
/// within seconds; the deletion queue retries for longer.
fn s3_builder(bucket: &str, options: &str) -> Result<AmazonS3Builder, String> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..RetryConfig::default()
        });
    for option in options.split('&').filter(|o| !o.is_empty()) {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        let key: AmazonS3ConfigKey = name
            .parse()
            .map_err(|_| format!("MEDIA_STORE: `{name}` is no S3 option"))?;
        if matches!(
            key,
            AmazonS3ConfigKey::SecretAccessKey
                | AmazonS3ConfigKey::Token
                | AmazonS3ConfigKey::Encryption(_)
        ) {
            return Err(format!(
                "MEDIA_STORE: `{name}` is a secret; set it in an AWS_* variable instead"
            ));
        }
        builder = builder.with_config(key, value);
    }
    if builder
        .get_config_value(&AmazonS3ConfigKey::Endpoint)
        .is_some_and(|e| e.starts_with("http://"))
    {
        builder = builder.with_allow_http(true);
    }
    Ok(builder)
}

/// The address to put in a URL: a wildcard bind is reached at loopback.
fn public_addr(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// The content type of a stored object, by its key's extension.
pub fn content_type_of(key: &str) -> Option<&'static str> {
    match key.rsplit_once('.')?.1 {
        "jpg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_keeps_no_response_body() {
        let said = redact(
            "Generic S3 error: Client error with status 403 Forbidden: <?xml version=\"1.0\"?><Error><CanonicalRequest>x-amz-security-token:SECRET</CanonicalRequest></Error>",
        );
        assert!(!said.contains("SECRET"), "{said}");
        assert!(said.contains("403 Forbidden"), "{said}");
        assert_eq!(redact("connection refused"), "connection refused");
    }

    #[test]
    fn an_s3_store_url_takes_options_but_no_secrets() {
        let b = s3_builder("pics", "endpoint=http://127.0.0.1:9&region=eu-west-1").unwrap();
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::Region).as_deref(),
            Some("eu-west-1")
        );
        let secret = s3_builder("pics", "secret_access_key=hunter2").unwrap_err();
        assert!(!secret.contains("hunter2"), "{secret}");
        assert!(s3_builder("pics", "token=abc").is_err());
        assert!(s3_builder("pics", "colour=blue").is_err());
    }

    #[test]
    fn only_known_image_keys_have_a_type() {
        assert_eq!(content_type_of("a.jpg"), Some("image/jpeg"));
        assert_eq!(content_type_of("a-preview.png"), Some("image/png"));
        assert_eq!(content_type_of("../sns.db"), None);
        assert_eq!(content_type_of("jpg"), None);
    }
}
