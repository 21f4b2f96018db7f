//! The database group: which database (`DATABASE_URL`, its backend read
//! once, when the configuration is parsed) and how the pool reaches it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::{Parsed, parse_duration};

#[derive(Debug, Clone, Args)]
pub struct Database {
    /// Database: `sqlite://…`, `postgres://…` or `mysql://…`; migrations run at start.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        default_value = "sqlite://sns.db?mode=rwc",
        value_parser = Parsed(DatabaseUrl::from_str),
        global = true,
        hide_env_values = true
    )]
    pub url: DatabaseUrl,

    /// Largest database connection pool (default: 16; 4 with a SQLite file,
    /// which takes one writer at a time: more connections only add lock
    /// waits and memory).
    #[arg(
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        value_name = "DATABASE_MAX_CONNECTIONS",
        global = true
    )]
    pub max_connections: Option<u32>,

    /// How long a request waits for a database connection before SERVICE_UNAVAILABLE.
    #[arg(long = "database-acquire-timeout", env = "DATABASE_ACQUIRE_TIMEOUT", value_name = "DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub acquire_timeout: Duration,
}

impl Database {
    /// The pool size: `DATABASE_MAX_CONNECTIONS`, or the backend's default.
    pub fn pool_size(&self) -> u32 {
        match (self.max_connections, self.url.backend()) {
            (Some(n), _) => n.max(1),
            (None, Backend::Sqlite(_)) => 4,
            (None, _) => 16,
        }
    }
}

/// Which database a `DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (its path), or `None` for an in-memory database.
    Sqlite(Option<PathBuf>),
    Postgres,
    MySql,
}

/// A `DATABASE_URL` and the backend it names. The URL may carry a password,
/// so it is kept secret and its `Debug` shows only the backend.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: SecretString,
    backend: Backend,
}

impl DatabaseUrl {
    pub fn backend(&self) -> &Backend {
        &self.backend
    }
}

impl ExposeSecret<str> for DatabaseUrl {
    fn expose_secret(&self) -> &str {
        self.url.expose_secret()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    /// The refusal never repeats the URL (it may hold a password).
    fn from_str(url: &str) -> Result<Self, String> {
        let backend = match url.split(':').next().unwrap_or_default() {
            "postgres" | "postgresql" => Backend::Postgres,
            "mysql" | "mariadb" => Backend::MySql,
            "sqlite" => Backend::Sqlite(sqlite_path(url)),
            _ => {
                return Err(
                    "DATABASE_URL must start with sqlite://, postgres:// or mysql://".into(),
                );
            }
        };
        Ok(Self {
            url: url.into(),
            backend,
        })
    }
}

/// `sqlite://sns.db?mode=rwc` → `sns.db`; `sqlite:///abs/x.db` → `/abs/x.db`;
/// `sqlite::memory:` and `mode=memory` → `None`.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
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
    fn the_backend_is_read_from_the_url_when_the_configuration_is_parsed() {
        let backend = |url: &str| {
            parse(&["--database-url", url])
                .unwrap()
                .database
                .url
                .backend()
                .clone()
        };
        assert_eq!(backend("postgres://u:p@db/sns"), Backend::Postgres);
        assert_eq!(backend("postgresql://db/sns"), Backend::Postgres);
        assert_eq!(backend("mysql://db/sns"), Backend::MySql);
        assert_eq!(backend("mariadb://db/sns"), Backend::MySql);
        assert_eq!(
            backend("sqlite:///var/sns.db"),
            Backend::Sqlite(Some("/var/sns.db".into()))
        );
        assert_eq!(backend("sqlite::memory:"), Backend::Sqlite(None));
        let url = parse(&["--database-url", "postgres://u:hunter2@db/sns"])
            .unwrap()
            .database
            .url;
        assert_eq!(url.expose_secret(), "postgres://u:hunter2@db/sns");
        assert!(!format!("{url:?}").contains("hunter2"), "{url:?}");
    }

    #[test]
    fn a_database_url_of_another_scheme_is_refused_when_parsed_without_echo() {
        let err = parse(&["--database-url", "redis://u:hunter2@db/0"]).unwrap_err();
        assert!(
            err.contains("DATABASE_URL must start with sqlite://, postgres:// or mysql://"),
            "{err}"
        );
        assert!(
            !err.contains("hunter2"),
            "the URL must not be echoed: {err}"
        );
    }

    #[test]
    fn the_pool_size_follows_the_backend_unless_set() {
        let sqlite = parse(&[]).unwrap().database;
        assert_eq!(sqlite.pool_size(), 4, "SQLite by default");
        let mut pg = parse(&["--database-url", "postgres://localhost/x"])
            .unwrap()
            .database;
        assert_eq!(pg.pool_size(), 16);
        pg.max_connections = Some(32);
        assert_eq!(pg.pool_size(), 32);
    }
}
