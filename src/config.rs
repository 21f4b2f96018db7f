//! Command line and configuration: one `Config` (clap derive, every flag also
//! an environment variable), checked once at start.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret as _, SecretString};

/// The account service: GraphQL sign-up, sign-in, sign-out and `me`.
#[derive(Debug, Parser)]
#[command(name = "sns-api", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default when no subcommand is given).
    Serve,
    /// Apply, roll back or list the database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    Schema,
    /// Look after one account: show it, disable or enable it, end its
    /// sessions, or delete it. Running instances learn of the ended
    /// sessions like of any other revocation.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Time one Argon2id verify with the configured parameters, for capacity
    /// planning: one core signs in about 1000 / (this many ms) users a second.
    HashCost {
        /// How many verifies to time.
        #[arg(long, default_value_t = 20)]
        rounds: u32,
        /// Threads verifying at once, each `rounds` times (all of them share
        /// the machine's caches and memory bandwidth, as the server's
        /// hashing threads do).
        #[arg(long, default_value_t = 1)]
        threads: u32,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersAction {
    /// Print the account (never its password hash) and its live sessions.
    Show { email: String },
    /// Refuse its sign-ins (ACCOUNT_DISABLED) and end every session.
    Disable { email: String },
    /// Allow its sign-ins again.
    Enable { email: String },
    /// End every session of the account.
    EndSessions { email: String },
    /// Delete the account and all it owns; its sessions end.
    Delete { email: String },
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last applied migration.
    Down,
    /// List the migrations and whether each is applied.
    Status,
}

/// Every setting of the service. Each flag is global, so it may follow any
/// subcommand (`sns-api serve --bind-addr …`), and falls back to the
/// environment variable of the same name.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database: `sqlite://…`, `postgres://…` or `mysql://…`; migrations run at start.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://sns.db?mode=rwc",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Address to listen on.
    #[arg(
        long,
        env = "BIND_ADDR",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind_addr: SocketAddr,

    /// HS256 signing key (its UTF-8 bytes, at least 32). Without it, a key is
    /// generated once and kept beside the SQLite file; required for PostgreSQL and MySQL.
    #[arg(long, env = "JWT_SECRET", value_parser = secret, global = true, hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// EdDSA signing key: Ed25519 in PKCS#8 PEM, or a path to one. With it,
    /// tokens are EdDSA with a `kid`, public keys are served at
    /// /.well-known/jwks.json, and JWT_SECRET is not needed.
    #[arg(long, env = "JWT_PRIVATE_KEY", value_parser = secret, global = true, hide_env_values = true)]
    pub jwt_private_key: Option<SecretString>,

    /// Ed25519 public keys (PEM blocks, or a path) whose tokens are still
    /// accepted beside the private key's own: the previous keys of a rotation.
    #[arg(long, env = "JWT_PUBLIC_KEYS", global = true)]
    pub jwt_public_keys: Option<String>,

    /// Lifetime of an access token.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration, global = true)]
    pub access_token_ttl: Duration,

    /// Lifetime of a session (and of its refresh token).
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "30d", value_parser = parse_duration, global = true)]
    pub refresh_token_ttl: Duration,

    /// Absolute limit of a session, however active: then the user signs in again.
    #[arg(long, env = "SESSION_MAX_LIFETIME", default_value = "90d", value_parser = parse_duration, global = true)]
    pub session_max_lifetime: Duration,

    /// How long a just-rotated refresh token may still be presented.
    #[arg(long, env = "REFRESH_REUSE_GRACE", default_value = "10s", value_parser = parse_duration, global = true)]
    pub refresh_reuse_grace: Duration,

    /// How often an instance pulls revocations made by other instances.
    #[arg(long, env = "REVOCATION_SYNC_INTERVAL", default_value = "1s", value_parser = parse_duration, global = true)]
    pub revocation_sync_interval: Duration,

    /// `iss` of issued tokens, required on presented ones.
    #[arg(long, env = "JWT_ISSUER", default_value = "sns-api", global = true)]
    pub jwt_issuer: String,

    /// `aud` of issued tokens, required on presented ones.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "sns-api", global = true)]
    pub jwt_audience: String,

    /// Failed logins per account per window, then back-off (`COUNT/DURATION`).
    #[arg(
        long,
        env = "RATE_LIMIT_LOGIN_FAILURES",
        default_value = "10/15m",
        global = true
    )]
    pub rate_limit_login_failures: RateLimit,

    /// Login + register + refresh attempts per client IP per window.
    #[arg(
        long,
        env = "RATE_LIMIT_AUTH_PER_IP",
        default_value = "30/1m",
        global = true
    )]
    pub rate_limit_auth_per_ip: RateLimit,

    /// Proxies whose `X-Forwarded-For` is believed (comma-separated IPs).
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<IpAddr>,

    /// Origins allowed by CORS, comma-separated; `*` allows any (without credentials).
    #[arg(
        long,
        env = "CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "http://localhost:3000,http://localhost:5173",
        global = true
    )]
    pub cors_origins: Vec<String>,

    /// Serve the GraphiQL page on `GET /graphql` (on|off).
    #[arg(long, env = "GRAPHIQL", default_value = "on", value_parser = parse_switch, action = clap::ArgAction::Set, global = true)]
    pub graphiql: bool,

    /// Answer introspection queries (on|off); when off, "did you mean" suggestions are off too.
    #[arg(long, env = "INTROSPECTION", default_value = "on", value_parser = parse_switch, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,

    /// On SIGTERM, how long in-flight requests get to finish.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub shutdown_timeout: Duration,

    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub rust_log: String,

    /// Log format: `pretty` for people, `json` for machines.
    #[arg(
        long,
        env = "LOG_FORMAT",
        default_value = "pretty",
        value_enum,
        global = true
    )]
    pub log_format: LogFormat,

    /// Largest accepted request body, in bytes; more is HTTP 413.
    #[arg(long, env = "BODY_LIMIT", default_value_t = 64 * 1024, global = true)]
    pub body_limit: usize,

    /// Deepest accepted GraphQL selection.
    #[arg(long, env = "QUERY_DEPTH_LIMIT", default_value_t = 16, global = true)]
    pub query_depth_limit: usize,

    /// Most fields a document selects with fragments expanded (each spread
    /// counts its fragment again), over every operation and fragment.
    #[arg(
        long,
        env = "QUERY_COMPLEXITY_LIMIT",
        default_value_t = 1000,
        global = true
    )]
    pub query_complexity_limit: usize,

    /// Most directives on one field (`@include`, `@skip`, …).
    #[arg(
        long,
        env = "QUERY_DIRECTIVE_LIMIT",
        default_value_t = 4,
        global = true
    )]
    pub query_directive_limit: usize,

    /// Most fields a document may select as written, `__typename` and
    /// aliases included (GraphiQL's introspection query selects 70).
    #[arg(long, env = "QUERY_FIELD_LIMIT", default_value_t = 500, global = true)]
    pub query_field_limit: usize,

    /// Longest time one request may take; then HTTP 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// Threads of the async runtime that serve requests (default: half the
    /// cores, at least one). The hashing threads take whatever time these
    /// leave; fewer runtime threads wake each other less often, which on a
    /// small machine serves cheap requests with less CPU.
    #[arg(long, env = "WORKER_THREADS", default_value_t = cores().div_ceil(2), value_parser = at_least_one, global = true)]
    pub worker_threads: usize,

    /// Password hashes computed at once (default: the number of cores).
    #[arg(long, env = "HASH_CONCURRENCY", default_value_t = cores(), value_parser = at_least_one, global = true)]
    pub hash_concurrency: usize,

    /// Callers that may wait for a hash slot; more answer SERVICE_UNAVAILABLE.
    #[arg(long, env = "HASH_QUEUE", default_value_t = 64, global = true)]
    pub hash_queue: usize,

    /// Largest database connection pool (default: 16; 4 with a SQLite file,
    /// which takes one writer at a time: more connections only add lock
    /// waits and memory).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", global = true)]
    pub database_max_connections: Option<u32>,

    /// How long a request waits for a database connection before SERVICE_UNAVAILABLE.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub database_acquire_timeout: Duration,

    /// Where mail goes: `smtp://host:port` (plain), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465`, or `file://DIR` (one `.eml` file each).
    #[arg(long, env = "MAIL_URL", default_value = "file://sns-mail", value_parser = secret, global = true, hide_env_values = true)]
    pub mail_url: SecretString,

    /// The `From` of every mail.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "sns-api <no-reply@localhost>",
        global = true
    )]
    pub mail_from: String,

    /// The link of a verification mail; `{token}` is replaced by the token.
    #[arg(
        long,
        env = "MAIL_VERIFY_URL",
        default_value = "http://localhost:5173/verify-email?token={token}",
        global = true
    )]
    pub mail_verify_url: String,

    /// The link of a password-reset mail; `{token}` is replaced by the token.
    #[arg(
        long,
        env = "MAIL_RESET_URL",
        default_value = "http://localhost:5173/reset-password?token={token}",
        global = true
    )]
    pub mail_reset_url: String,

    /// Lifetime of an email verification (or email change) link.
    #[arg(long, env = "EMAIL_VERIFICATION_TTL", default_value = "24h", value_parser = parse_duration, global = true)]
    pub email_verification_ttl: Duration,

    /// Lifetime of a password-reset link.
    #[arg(long, env = "PASSWORD_RESET_TTL", default_value = "1h", value_parser = parse_duration, global = true)]
    pub password_reset_ttl: Duration,

    /// Mails per recipient address per window (and never more than one a minute).
    #[arg(long, env = "RATE_LIMIT_MAIL", default_value = "5/1h", global = true)]
    pub rate_limit_mail: RateLimit,

    /// Attempts to send one mail before it is kept as failed.
    #[arg(long, env = "MAIL_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub mail_max_attempts: u32,

    /// How often the mail worker looks for mail that is due (mail written
    /// by this instance wakes it at once).
    #[arg(long, env = "MAIL_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration, global = true)]
    pub mail_poll_interval: Duration,

    /// The wait after a first failed attempt; it doubles with each further
    /// one, up to an hour.
    #[arg(long, env = "MAIL_RETRY_BACKOFF", default_value = "30s", value_parser = parse_duration, global = true)]
    pub mail_retry_backoff: Duration,

    /// Longest time one mail may take to send; then the attempt failed.
    #[arg(long, env = "MAIL_SEND_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub mail_send_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A key given on the command line or in the environment; its `Debug` never shows it.
fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(s.into())
}

/// `COUNT/DURATION`, e.g. `10/15m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub window: Duration,
}

impl FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, window) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not COUNT/DURATION, e.g. 10/15m"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{count}` is not a whole number"))?;
        if count == 0 {
            return Err("the count must be at least 1".into());
        }
        let window = parse_duration(window.trim())?;
        Ok(Self { count, window })
    }
}

/// Humane durations: `15m`, `30d`, `1s`, `500ms`; zero is refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))?;
    if d.is_zero() {
        return Err("a duration must be longer than zero".into());
    }
    Ok(d)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

fn parse_switch(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{s}` is neither on nor off")),
    }
}

/// Which database a `DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (its path), or `None` for an in-memory database.
    Sqlite(Option<std::path::PathBuf>),
    Postgres,
    MySql,
}

impl Config {
    /// The configuration with every documented default, whatever the
    /// environment holds (an exported `ACCESS_TOKEN_TTL` must not change
    /// what a test or a benchmark runs with).
    pub fn defaults() -> Self {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let command = Cli::command().mut_args(|arg| arg.env(None));
        let matches = command.get_matches_from(["sns-api"]);
        Cli::from_arg_matches(&matches)
            .expect("the defaults parse")
            .config
    }

    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let url = self.database_url.as_str();
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            "sqlite" => Ok(Backend::Sqlite(sqlite_path(url))),
            _ => Err(ConfigError(
                "DATABASE_URL must start with sqlite://, postgres:// or mysql://".into(),
            )),
        }
    }

    /// The pool size: `DATABASE_MAX_CONNECTIONS`, or the backend's default.
    pub fn database_pool_size(&self) -> u32 {
        match (self.database_max_connections, self.backend()) {
            (Some(n), _) => n.max(1),
            (None, Ok(Backend::Sqlite(_))) => 4,
            (None, _) => 16,
        }
    }

    /// Checks what clap cannot: relations between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.backend()?;
        if let Some(secret) = &self.jwt_secret
            && secret.expose_secret().len() < 32
        {
            return Err(ConfigError(format!(
                "JWT_SECRET is {} bytes long; it must be at least 32 bytes (256 bits). \
                 Generate one with `openssl rand -base64 48`.",
                secret.expose_secret().len()
            )));
        }
        if self.jwt_public_keys.is_some() && self.jwt_private_key.is_none() {
            return Err(ConfigError(
                "JWT_PUBLIC_KEYS needs JWT_PRIVATE_KEY: the extra keys only verify beside a signing key".into(),
            ));
        }
        if self.cors_origins.iter().any(|o| o == "*") && self.cors_origins.len() > 1 {
            return Err(ConfigError(
                "CORS_ORIGINS: `*` cannot be combined with named origins".into(),
            ));
        }
        if self.refresh_token_ttl > self.session_max_lifetime {
            return Err(ConfigError(
                "REFRESH_TOKEN_TTL must not be longer than SESSION_MAX_LIFETIME".into(),
            ));
        }
        if self.access_token_ttl > self.refresh_token_ttl {
            return Err(ConfigError(
                "ACCESS_TOKEN_TTL must not be longer than REFRESH_TOKEN_TTL".into(),
            ));
        }
        crate::mail::Transport::parse(self.mail_url.expose_secret()).map_err(ConfigError)?;
        crate::mail::parse_from(&self.mail_from).map_err(ConfigError)?;
        for (name, template) in [
            ("MAIL_VERIFY_URL", &self.mail_verify_url),
            ("MAIL_RESET_URL", &self.mail_reset_url),
        ] {
            if !template.contains("{token}") {
                return Err(ConfigError(format!("{name} must contain `{{token}}`")));
            }
        }
        if self.hash_queue == 0 {
            return Err(ConfigError("HASH_QUEUE must be at least 1".into()));
        }
        Ok(())
    }
}

/// `sqlite://sns.db?mode=rwc` → `sns.db`; `sqlite:///abs/x.db` → `/abs/x.db`;
/// `sqlite::memory:` and `mode=memory` → `None`.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://sns.db?mode=rwc"),
            Some("sns.db".into())
        );
        assert_eq!(sqlite_path("sqlite:///tmp/a.db"), Some("/tmp/a.db".into()));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://x?mode=memory"), None);
    }

    #[test]
    fn rate_limits_parse_count_and_window() {
        let r: RateLimit = "10/15m".parse().unwrap();
        assert_eq!(r.count, 10);
        assert_eq!(r.window, Duration::from_secs(900));
        assert!("0/1m".parse::<RateLimit>().is_err());
        assert!("10".parse::<RateLimit>().is_err());
    }

    #[test]
    fn a_short_jwt_secret_refuses_to_start() {
        let mut c = Config::defaults();
        c.jwt_secret = Some("short".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("at least 32 bytes"), "{err}");
        assert!(
            !err.contains("short"),
            "the secret must not be echoed: {err}"
        );
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::defaults();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.access_token_ttl, Duration::from_secs(15 * 60));
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(30 * 86400));
        assert_eq!(c.body_limit, 65536);
        assert!(c.graphiql && c.introspection);
        assert_eq!(c.database_pool_size(), 4, "SQLite by default");
        let mut pg = Config::defaults();
        pg.database_url = "postgres://localhost/x".into();
        assert_eq!(pg.database_pool_size(), 16);
        pg.database_max_connections = Some(32);
        assert_eq!(pg.database_pool_size(), 32);
    }

    #[test]
    fn mail_defaults_match_the_contract_and_bad_mail_settings_refuse_to_start() {
        let c = Config::defaults();
        assert_eq!(c.mail_url.expose_secret(), "file://sns-mail");
        assert_eq!(c.mail_from, "sns-api <no-reply@localhost>");
        assert_eq!(c.email_verification_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(c.password_reset_ttl, Duration::from_secs(3600));
        assert_eq!(c.rate_limit_mail, "5/1h".parse().unwrap());
        assert_eq!(c.mail_max_attempts, 10);
        assert!(c.mail_verify_url.contains("{token}") && c.mail_reset_url.contains("{token}"));
        let mut bad = Config::defaults();
        bad.mail_url = "smtp://user:hunter2@host:25?tls=never".to_owned().into();
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.contains("MAIL_URL") && !err.contains("hunter2"),
            "{err}"
        );
        let mut bad = Config::defaults();
        bad.mail_reset_url = "http://localhost/reset".into();
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("MAIL_RESET_URL")
        );
    }

    /// Run by `the_defaults_ignore_the_environment` in a child process whose
    /// environment sets variables; on its own it checks the plain defaults.
    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::defaults();
        assert_eq!(c.access_token_ttl, Duration::from_secs(15 * 60));
        assert_eq!(c.database_url, "sqlite://sns.db?mode=rwc");
        assert_eq!(c.query_complexity_limit, 1000);
    }

    #[test]
    fn the_defaults_ignore_the_environment() {
        let exe = std::env::current_exe().unwrap();
        let child = std::process::Command::new(exe)
            .args(["--exact", "config::tests::defaults_are_the_documented_ones"])
            .env("ACCESS_TOKEN_TTL", "1m")
            .env("DATABASE_URL", "postgres://elsewhere/x")
            .env("QUERY_COMPLEXITY_LIMIT", "5")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(out.contains("1 passed"), "the check did not run: {out}");
        assert!(
            child.status.success(),
            "the environment leaked into Config::defaults(): {out}"
        );
    }

    #[test]
    fn worker_threads_default_to_half_the_cores_and_zero_is_refused() {
        let c = Config::defaults();
        assert_eq!(c.worker_threads, cores().div_ceil(2));
        assert_eq!(c.hash_concurrency, cores());
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|cli| cli.config);
        assert_eq!(
            parse(&["sns-api", "--worker-threads", "3"])
                .unwrap()
                .worker_threads,
            3
        );
        assert!(parse(&["sns-api", "--worker-threads", "0"]).is_err());
        assert!(parse(&["sns-api", "--hash-concurrency", "0"]).is_err());
    }
}
