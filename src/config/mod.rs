//! Command line and configuration: one `Config` (clap derive, every flag also
//! an environment variable) made of a group per consumer, each value parsed
//! into its type once, and the relations between settings checked at start.

mod database;
mod documents;
mod feed;
mod mail;
mod media;
mod mfa;
mod rate_limits;
mod sockets;
mod tokens;

use std::ffi::OsStr;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret as _, SecretString};

pub use database::{Backend, Database, DatabaseUrl};
pub use documents::Documents;
pub use feed::Feed;
pub use mail::Mail;
pub use media::Media;
pub use mfa::Mfa;
pub use rate_limits::{RateLimit, RateLimits};
pub use sockets::Sockets;
pub use tokens::{Sessions, Tokens};

/// The backend of a social network: accounts, sessions, mail flows,
/// profiles, follows, posts and a feed over GraphQL.
#[derive(Debug, Parser)]
#[command(name = "sns-api", version)]
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
    /// Work through what accounts reported: list the open reports, show
    /// one, resolve one.
    Reports {
        #[command(subcommand)]
        action: ReportsAction,
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

#[derive(Debug, Clone, Subcommand)]
pub enum ReportsAction {
    /// The open reports, oldest first (with `--all`, every report, newest first).
    List {
        /// Resolved reports too.
        #[arg(long)]
        all: bool,
        /// The most reports printed.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// One report in full.
    Show { id: String },
    /// Mark a report resolved (a resolved report keeps its first resolution).
    Resolve {
        id: String,
        /// What was done, kept with the report (up to 1000 characters).
        #[arg(long)]
        note: Option<String>,
    },
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
/// environment variable of the same name. The settings one part of the
/// service needs come as a group, which that part takes as it is.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server")]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        env = "BIND_ADDR",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind_addr: SocketAddr,

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

    /// Largest accepted request body, in bytes; more is HTTP 413.
    #[arg(long, env = "BODY_LIMIT", default_value_t = 64 * 1024, global = true)]
    pub body_limit: usize,

    /// Longest time one request may take; then HTTP 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// On SIGTERM, how long in-flight requests get to finish.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub shutdown_timeout: Duration,

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

    /// How long a notification group lives after its newest event.
    #[arg(long, env = "NOTIFICATION_RETENTION", default_value = "90d", value_parser = parse_duration, global = true)]
    pub notification_retention: Duration,

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

    #[command(flatten, next_help_heading = "Database")]
    pub database: Database,

    #[command(flatten, next_help_heading = "Tokens and sessions")]
    pub tokens: Tokens,

    #[command(flatten, next_help_heading = "Tokens and sessions")]
    pub sessions: Sessions,

    #[command(flatten, next_help_heading = "Rate limits")]
    pub rate_limits: RateLimits,

    #[command(flatten, next_help_heading = "GraphQL documents")]
    pub documents: Documents,

    #[command(flatten, next_help_heading = "Mail")]
    pub mail: Mail,

    #[command(flatten, next_help_heading = "Subscriptions")]
    pub sockets: Sockets,

    #[command(flatten, next_help_heading = "Second factors")]
    pub mfa: Mfa,

    #[command(flatten, next_help_heading = "Media")]
    pub media: Media,

    #[command(flatten, next_help_heading = "Feed")]
    pub feed: Feed,
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

/// A value parser whose refusal is the parse function's own message, which
/// names the setting: clap's message would quote the value, and a
/// `DATABASE_URL` or a `MAIL_URL` may carry a password.
#[derive(Clone)]
struct Parsed<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Parsed<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let refuse = |message: String| {
            clap::Error::raw(ErrorKind::ValueValidation, message + "\n").with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("a setting is not valid UTF-8".into()))?;
        (self.0)(text).map_err(refuse)
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

    /// Checks what clap cannot: relations between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let tokens = &self.tokens;
        if let Some(secret) = &tokens.secret
            && secret.expose_secret().len() < 32
        {
            return Err(ConfigError(format!(
                "JWT_SECRET is {} bytes long; it must be at least 32 bytes (256 bits). \
                 Generate one with `openssl rand -base64 48`.",
                secret.expose_secret().len()
            )));
        }
        if let Some(key) = &self.mfa.totp_encryption_key
            && key.expose_secret().len() < 32
        {
            return Err(ConfigError(format!(
                "TOTP_ENCRYPTION_KEY is {} bytes long; it must be at least 32 bytes. \
                 Generate one with `openssl rand -base64 48`.",
                key.expose_secret().len()
            )));
        }
        if tokens.public_keys.is_some() && tokens.private_key.is_none() {
            return Err(ConfigError(
                "JWT_PUBLIC_KEYS needs JWT_PRIVATE_KEY: the extra keys only verify beside a signing key".into(),
            ));
        }
        if self.cors_origins.iter().any(|o| o == "*") && self.cors_origins.len() > 1 {
            return Err(ConfigError(
                "CORS_ORIGINS: `*` cannot be combined with named origins".into(),
            ));
        }
        if self.sessions.lifetime > self.sessions.max_lifetime {
            return Err(ConfigError(
                "REFRESH_TOKEN_TTL must not be longer than SESSION_MAX_LIFETIME".into(),
            ));
        }
        if tokens.access_ttl > self.sessions.lifetime {
            return Err(ConfigError(
                "ACCESS_TOKEN_TTL must not be longer than REFRESH_TOKEN_TTL".into(),
            ));
        }
        for (name, template) in [
            ("MAIL_VERIFY_URL", &self.mail.verify_url),
            ("MAIL_RESET_URL", &self.mail.reset_url),
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

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration these arguments give (the environment ignored),
    /// or clap's message, as it would print it.
    pub(super) fn parse(args: &[&str]) -> Result<Config, String> {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let command = Cli::command().mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(std::iter::once("sns-api").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Cli::from_arg_matches(&matches)
            .map(|cli| cli.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_short_jwt_secret_refuses_to_start() {
        let mut c = Config::defaults();
        c.tokens.secret = Some("short".into());
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
        assert_eq!(c.tokens.access_ttl, Duration::from_secs(15 * 60));
        assert_eq!(c.sessions.lifetime, Duration::from_secs(30 * 86400));
        assert_eq!(c.body_limit, 65536);
        assert!(c.graphiql && c.documents.introspection);
        assert_eq!(c.sockets.init_timeout, Duration::from_secs(10));
        assert_eq!(c.sockets.max_subscriptions, 20);
        assert_eq!(c.sockets.max_sockets, 20);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn the_debug_of_a_configuration_shows_no_password_or_key() {
        let c = parse(&[
            "--database-url",
            "postgres://u:hunter2@db/sns",
            "--mail-url",
            "smtps://u:hunter3@mail.example.com:465",
            "--jwt-secret",
            "hunter4-hunter4-hunter4-hunter4-hunter4",
        ])
        .unwrap();
        let debug = format!("{c:?}");
        for secret in ["hunter2", "hunter3", "hunter4"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }

    #[test]
    fn a_mail_link_without_its_token_refuses_to_start() {
        let mut bad = Config::defaults();
        bad.mail.reset_url = "http://localhost/reset".into();
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
        assert_eq!(c.tokens.access_ttl, Duration::from_secs(15 * 60));
        assert_eq!(
            c.database.url.backend(),
            &Backend::Sqlite(Some("sns.db".into()))
        );
        assert_eq!(c.documents.complexity_limit, 1000);
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
        assert_eq!(parse(&["--worker-threads", "3"]).unwrap().worker_threads, 3);
        assert!(parse(&["--worker-threads", "0"]).is_err());
        assert!(parse(&["--hash-concurrency", "0"]).is_err());
    }

    #[test]
    fn socket_limits_parse_and_zero_is_refused() {
        let c = parse(&["--ws-max-sockets", "3", "--ws-init-timeout", "500ms"]).unwrap();
        assert_eq!(c.sockets.max_sockets, 3);
        assert_eq!(c.sockets.init_timeout, Duration::from_millis(500));
        assert!(parse(&["--ws-max-subscriptions", "0"]).is_err());
        assert!(parse(&["--ws-max-sockets", "0"]).is_err());
        assert!(parse(&["--ws-init-timeout", "0s"]).is_err());
    }

    #[test]
    fn every_flag_keeps_its_name_and_variable_and_help_lists_them_all() {
        use clap::CommandFactory as _;
        let mut command = Cli::command();
        let help = command.render_long_help().to_string();
        for (flag, env) in [
            ("database-url", "DATABASE_URL"),
            ("database-max-connections", "DATABASE_MAX_CONNECTIONS"),
            ("database-acquire-timeout", "DATABASE_ACQUIRE_TIMEOUT"),
            ("jwt-secret", "JWT_SECRET"),
            ("jwt-private-key", "JWT_PRIVATE_KEY"),
            ("jwt-public-keys", "JWT_PUBLIC_KEYS"),
            ("jwt-issuer", "JWT_ISSUER"),
            ("jwt-audience", "JWT_AUDIENCE"),
            ("totp-encryption-key", "TOTP_ENCRYPTION_KEY"),
            ("mfa-issuer", "MFA_ISSUER"),
            ("webauthn-rp-id", "WEBAUTHN_RP_ID"),
            ("webauthn-origin", "WEBAUTHN_ORIGIN"),
            ("access-token-ttl", "ACCESS_TOKEN_TTL"),
            ("refresh-token-ttl", "REFRESH_TOKEN_TTL"),
            ("session-max-lifetime", "SESSION_MAX_LIFETIME"),
            ("refresh-reuse-grace", "REFRESH_REUSE_GRACE"),
            ("revocation-sync-interval", "REVOCATION_SYNC_INTERVAL"),
            ("rate-limit-login-failures", "RATE_LIMIT_LOGIN_FAILURES"),
            ("rate-limit-auth-per-ip", "RATE_LIMIT_AUTH_PER_IP"),
            ("rate-limit-mail", "RATE_LIMIT_MAIL"),
            ("query-depth-limit", "QUERY_DEPTH_LIMIT"),
            ("query-complexity-limit", "QUERY_COMPLEXITY_LIMIT"),
            ("query-directive-limit", "QUERY_DIRECTIVE_LIMIT"),
            ("query-field-limit", "QUERY_FIELD_LIMIT"),
            ("introspection", "INTROSPECTION"),
            ("mail-url", "MAIL_URL"),
            ("mail-from", "MAIL_FROM"),
            ("mail-verify-url", "MAIL_VERIFY_URL"),
            ("mail-reset-url", "MAIL_RESET_URL"),
            ("email-verification-ttl", "EMAIL_VERIFICATION_TTL"),
            ("password-reset-ttl", "PASSWORD_RESET_TTL"),
            ("mail-max-attempts", "MAIL_MAX_ATTEMPTS"),
            ("mail-poll-interval", "MAIL_POLL_INTERVAL"),
            ("mail-retry-backoff", "MAIL_RETRY_BACKOFF"),
            ("mail-send-timeout", "MAIL_SEND_TIMEOUT"),
            ("bind-addr", "BIND_ADDR"),
            ("trusted-proxies", "TRUSTED_PROXIES"),
            ("cors-origins", "CORS_ORIGINS"),
            ("graphiql", "GRAPHIQL"),
            ("body-limit", "BODY_LIMIT"),
            ("request-timeout", "REQUEST_TIMEOUT"),
            ("shutdown-timeout", "SHUTDOWN_TIMEOUT"),
            ("worker-threads", "WORKER_THREADS"),
            ("hash-concurrency", "HASH_CONCURRENCY"),
            ("hash-queue", "HASH_QUEUE"),
            ("rust-log", "RUST_LOG"),
            ("log-format", "LOG_FORMAT"),
            ("ws-init-timeout", "WS_INIT_TIMEOUT"),
            ("ws-max-subscriptions", "WS_MAX_SUBSCRIPTIONS"),
            ("ws-max-sockets", "WS_MAX_SOCKETS"),
        ] {
            let arg = command
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("--{flag} is gone"));
            assert_eq!(arg.get_env(), Some(OsStr::new(env)), "--{flag}");
            assert!(
                help.contains(&format!("--{flag} <{env}>")),
                "--{flag} in --help"
            );
        }
    }
}
