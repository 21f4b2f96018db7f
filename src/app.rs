//! Assembling the service: database, keys, hash pool, revocation cache,
//! schema and router; then serving until shutdown, with a bounded drain.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use base64::Engine as _;
use rand::RngCore;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::refresh::RefreshKeys;
use crate::config::{Backend, Config};
use crate::graphql::build_api;
use crate::state::{AppState, Policy};

pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
    shutdown_timeout: Duration,
    sync_interval: Duration,
    mail: crate::mail::outbox::Worker,
}

impl App {
    /// Connects, migrates, loads what must survive a restart and binds the
    /// listener; serving starts with `run`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        crate::telemetry::metrics_handle();
        raise_open_files();
        let (jwt, refresh_keys) = signing_keys(&config)?;
        let db = crate::db::connect(&config.database)
            .await
            .context("cannot connect to the database (check DATABASE_URL)")?;
        crate::db::migrate(&db)
            .await
            .context("migrating the database")?;
        let hasher = PasswordHasher::start(config.hash_concurrency, config.hash_queue).await?;
        let policy = Policy {
            sessions: config.sessions.clone(),
            rate_limits: config.rate_limits,
            trusted_proxies: config.trusted_proxies.clone(),
            notification_retention: config.notification_retention,
        };
        // A mail directory that cannot be made refuses to start.
        let mail = crate::mail::outbox::Worker::new(&config.mail).map_err(anyhow::Error::msg)?;
        let factors = crate::service::mfa::Factors::new(&config.mfa, totp_key(&config, &db).await?)
            .map_err(anyhow::Error::msg)?;
        // Bound before the state: a local media store's URLs name this address.
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind_addr))?;
        let local_addr = listener.local_addr()?;
        let media = crate::media::Media::new(
            crate::media::MediaPool::start(config.media.concurrency, config.media.queue)?,
            crate::media::MediaStore::from_config(&config.media, local_addr)
                .map_err(anyhow::Error::msg)?,
            config.media.max_bytes,
        );
        let state = AppState::new(
            db,
            (jwt, refresh_keys),
            hasher,
            policy,
            config.mail.clone(),
            factors,
            (
                media,
                crate::service::feed::cache::FeedCache::new(
                    config.feed.cache,
                    config.feed.cache_mb,
                    redis_client(&config.feed)?,
                )
                .with_window(config.feed.window),
            ),
        );
        let revoked = crate::service::session::load_revocations(&state)
            .await
            .map_err(|e| anyhow::anyhow!("loading revoked sessions: {e:?}"))?;
        tracing::debug!(revoked, "revocation cache loaded");
        crate::live::relay::start(&state, config.sessions.sync_interval)
            .await
            .map_err(|e| anyhow::anyhow!("reading the live events' start: {e:?}"))?;
        let (schema, direct) = build_api(&config.documents, Some(state.clone()));
        let router = crate::http::router(state.clone(), schema, direct, &config);
        Ok(Self {
            listener,
            router,
            state,
            shutdown_timeout: config.shutdown_timeout,
            sync_interval: config.sessions.sync_interval,
            mail,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes; then `/readyz` answers 503, the
    /// listener closes and in-flight requests get `SHUTDOWN_TIMEOUT` to finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(%addr, "listening; GraphiQL at http://{addr}/graphql");
        let sync = crate::sync::spawn(self.state.clone(), self.sync_interval);
        let relay = crate::live::relay::spawn(self.state.clone(), self.sync_interval);
        let housekeeping = tokio::spawn(crate::housekeeping::run(self.state.clone()));
        let mailer = tokio::spawn(crate::mail::outbox::run(self.state.clone(), self.mail));
        let media_deletions = tokio::spawn(crate::media::deletion::run(self.state.clone()));
        let feed_stamps = tokio::spawn(crate::service::feed::remote::run(self.state.clone()));
        let upkeep = tokio::spawn(crate::telemetry::metrics_upkeep());
        let drain = Arc::new(tokio::sync::Notify::new());
        let drain_signal = drain.clone();
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { drain_signal.notified().await });
        let mut server = tokio::spawn(async move { server.await });
        tokio::select! {
            finished = &mut server => return finished?.context("server failed"),
            () = shutdown => {}
        }
        tracing::info!(timeout = ?self.shutdown_timeout, "shutting down: draining in-flight requests");
        self.state.begin_shutdown();
        drain.notify_one();
        match tokio::time::timeout(self.shutdown_timeout, &mut server).await {
            Ok(finished) => finished?.context("server failed")?,
            Err(_) => {
                server.abort();
                tracing::warn!("drain timeout reached; in-flight requests were cut off");
            }
        }
        drop(sync);
        drop(relay);
        housekeeping.abort();
        mailer.abort();
        media_deletions.abort();
        feed_stamps.abort();
        upkeep.abort();
        // Transactions of requests that were cut off still commit or roll back.
        self.state.tasks().close();
        if tokio::time::timeout(Duration::from_secs(5), self.state.tasks().wait())
            .await
            .is_err()
        {
            tracing::warn!("transactions still running after 5 s; closing the pool anyway");
        }
        // The pool waits for every connection to come back; never forever.
        if tokio::time::timeout(Duration::from_secs(5), self.state.db().clone().close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still out after 5 s; closing anyway");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Raises the soft limit of open files to the hard limit: every socket is
/// one, and ten thousand subscription sockets must fit (the usual soft
/// limit is 1024).
fn raise_open_files() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::debug!(limit = ?limit.maximum, "open-file limit raised"),
        Err(e) => {
            tracing::warn!(error = %e, soft = ?limit.current, "open-file limit not raised")
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The token keys, and the refresh-rotation key derived from the same
/// secret material (so every instance with the same keys derives the same).
fn signing_keys(config: &Config) -> anyhow::Result<(JwtKeys, RefreshKeys)> {
    let tokens = &config.tokens;
    if let Some(private) = &tokens.private_key {
        let private = crate::auth::jwt::read_private_key(private.expose_secret())
            .map_err(anyhow::Error::msg)?;
        let extra = match &tokens.public_keys {
            Some(value) => crate::auth::jwt::read_public_keys(value).map_err(anyhow::Error::msg)?,
            None => Vec::new(),
        };
        let jwt = JwtKeys::eddsa(
            &private,
            &extra,
            &tokens.issuer,
            &tokens.audience,
            tokens.access_ttl,
        )
        .map_err(anyhow::Error::msg)?;
        return Ok((jwt, RefreshKeys::derive(private.as_bytes())));
    }
    let secret = jwt_secret(config)?;
    let jwt = JwtKeys::hs256(&secret, &tokens.issuer, &tokens.audience, tokens.access_ttl);
    Ok((jwt, RefreshKeys::derive(&secret)))
}

/// The HS256 key: `JWT_SECRET`, or for SQLite one generated once and kept in
/// a 0600 file beside the database, so that tokens survive a restart.
fn jwt_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.tokens.secret {
        return Ok(secret.expose_secret().as_bytes().to_vec());
    }
    match config.database.url.backend() {
        Backend::Postgres | Backend::MySql => anyhow::bail!(
            "JWT_SECRET (or JWT_PRIVATE_KEY) is required with PostgreSQL or MySQL: every instance must sign with the same key \
             (at least 32 bytes; `openssl rand -base64 48` makes one)"
        ),
        Backend::Sqlite(None) => {
            tracing::warn!(
                "no JWT_SECRET: using a random key for this in-memory database; tokens die with the process"
            );
            Ok(random_secret().into_bytes())
        }
        Backend::Sqlite(Some(db_path)) => secret_beside(db_path, ".jwt-secret", "JWT_SECRET"),
    }
}

/// The key TOTP secrets are sealed with: `TOTP_ENCRYPTION_KEY`, or for
/// SQLite one generated once and kept beside the database. PostgreSQL and
/// MySQL without one start only while no account has TOTP (every instance
/// must open the same secrets), and then nobody can enroll.
async fn totp_key(
    config: &Config,
    db: &sea_orm::DatabaseConnection,
) -> anyhow::Result<Option<crate::service::mfa::secret::SecretKey>> {
    use crate::service::mfa::secret::SecretKey;
    use sea_orm::{EntityTrait as _, PaginatorTrait as _};
    if let Some(key) = &config.mfa.totp_encryption_key {
        return Ok(Some(SecretKey::derive(key.expose_secret().as_bytes())));
    }
    match config.database.url.backend() {
        Backend::Postgres | Backend::MySql => {
            let enrolled = crate::entity::totp::Entity::find()
                .count(db)
                .await
                .context("reading whether any account has TOTP")?;
            anyhow::ensure!(
                enrolled == 0,
                "TOTP_ENCRYPTION_KEY is required: {enrolled} account(s) have TOTP secrets sealed with it \
                 (at least 32 bytes; the same on every instance)"
            );
            tracing::warn!(
                "no TOTP_ENCRYPTION_KEY: TOTP enrollment is off until it is set (at least 32 bytes)"
            );
            Ok(None)
        }
        Backend::Sqlite(None) => Ok(Some(SecretKey::derive(random_secret().as_bytes()))),
        Backend::Sqlite(Some(db_path)) => Ok(Some(SecretKey::derive(&secret_beside(
            db_path,
            ".totp-key",
            "TOTP_ENCRYPTION_KEY",
        )?))),
    }
}

fn random_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key_file_for(db_path: &Path, suffix: &str) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The key kept in the file `<db_path><suffix>`, generated at the first start
/// (a warning names `variable`, which production sets instead).
fn secret_beside(db_path: &Path, suffix: &str, variable: &str) -> anyhow::Result<Vec<u8>> {
    let path = key_file_for(db_path, suffix);
    match std::fs::read_to_string(&path) {
        Ok(contents) => {
            let secret = contents.trim();
            anyhow::ensure!(
                secret.len() >= 32,
                "the key file {} holds fewer than 32 bytes; delete it to generate a new one",
                path.display()
            );
            Ok(secret.as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = random_secret();
            write_private(&path, &secret)
                .with_context(|| format!("cannot write the key file {}", path.display()))?;
            tracing::warn!(
                path = %path.display(),
                "no {variable} set: generated a key and kept it beside the database; set {variable} in production"
            );
            Ok(secret.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read the key file {}", path.display())),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// The Redis client of `REDIS_URL` (none unset). A URL that does not parse
/// refuses to start; an unreachable server does not (the feed is then read
/// from the database until it answers).
fn redis_client(feed: &crate::config::Feed) -> anyhow::Result<Option<redis::Client>> {
    use secrecy::ExposeSecret as _;
    feed.redis_url
        .as_ref()
        .map(|url| {
            redis::Client::open(url.expose_secret())
                // Not the URL itself: it may hold a password.
                .map_err(|e| anyhow::anyhow!("REDIS_URL is not a Redis URL ({:?})", e.kind()))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sns.db");
        let first = secret_beside(&db, ".jwt-secret", "JWT_SECRET").unwrap();
        assert!(first.len() >= 32);
        assert_eq!(
            secret_beside(&db, ".jwt-secret", "JWT_SECRET").unwrap(),
            first,
            "the same key after a restart"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(key_file_for(&db, ".jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn postgres_without_a_secret_refuses_to_start() {
        let mut c = Config::defaults();
        c.database.url = "postgres://localhost/x".parse().unwrap();
        c.tokens.secret = None;
        let err = jwt_secret(&c).unwrap_err().to_string();
        assert!(err.contains("is required with PostgreSQL"), "{err}");
    }
}
