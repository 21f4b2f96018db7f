//! Connecting to the database `DATABASE_URL` names, and migrating it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, DatabaseConnection, DbErr};
use secrecy::ExposeSecret as _;

use crate::config::{Backend, Database};

/// How much of an SQLite file is read through a memory map.
const SQLITE_MMAP_SIZE: u64 = 2 << 30;

pub async fn connect(config: &Database) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(config.url.expose_secret());
    options
        .max_connections(config.pool_size())
        .min_connections(1)
        .acquire_timeout(config.acquire_timeout)
        .connect_timeout(config.acquire_timeout)
        .idle_timeout(Duration::from_secs(300))
        // Statement logs would carry bound values: hashes, emails.
        .sqlx_logging(false);
    match config.url.backend() {
        Backend::Sqlite(None) => {
            // Each connection to `:memory:` is its own database: keep one.
            options.max_connections(1);
        }
        Backend::Sqlite(Some(_)) => {
            // sqlx pings a connection at every checkout by default: on SQLite
            // a hand-off to the connection's thread and back before each
            // statement (each wakes a thread that preempts a hash), and an
            // embedded file has no link to lose. (sqlx 0.9 also pings when a
            // connection goes back to the pool; that one cannot be turned off.)
            options.test_before_acquire(false);
            options.map_sqlx_sqlite_opts(|o| {
                // WAL lets readers run beside the one writer; NORMAL is
                // durable at every checkpoint and safe against corruption.
                // Reads map the file rather than copy each page into a
                // buffer allocated for it: a feed page reads hundreds of
                // index pages, and this halved its cost (SQLite
                // caps the size at its own maximum, 2 GiB; mapped pages
                // count in the resident size but are the OS's file cache).
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    .pragma("mmap_size", SQLITE_MMAP_SIZE.to_string())
            });
        }
        Backend::Postgres => {
            // No JIT: the feed's statements carry many cheap subplans whose
            // summed estimate passes `jit_above_cost`, and compiling them
            // cost 40-650 ms a page for 1-8 ms of work (docs/benchmarks.md,
            // "Feed"). Nothing this server runs is long enough to gain.
            options.map_sqlx_postgres_opts(|o| o.options([("jit", "off")]));
            options.test_before_acquire_if_idle_for(Duration::from_secs(30));
        }
        Backend::MySql => {
            // Not a round trip per checkout either: ping only connections
            // idle long enough for a server, proxy or firewall to have dropped
            // them. A hot connection that broke fails its statement
            // (SERVICE_UNAVAILABLE) and leaves the pool.
            options.test_before_acquire_if_idle_for(Duration::from_secs(30));
        }
    }
    let mut db = sea_orm::Database::connect(options).await?;
    db.set_metric_callback(|_| count_statement());
    Ok(db)
}

tokio::task_local! {
    /// The statements run on behalf of one request, counted while it runs
    /// inside [`count_statements`].
    static STATEMENTS: Arc<AtomicUsize>;
}

fn count_statement() {
    let _ = STATEMENTS.try_with(|n| n.fetch_add(1, Ordering::Relaxed));
}

/// Runs `work`, counting the SQL statements it runs (including those of
/// tasks spawned with [`counted`]); answers its output and the count. Within
/// an outer count, the outer one counts these too.
pub async fn count_statements<T>(work: impl Future<Output = T>) -> (T, usize) {
    if let Ok(outer) = STATEMENTS.try_with(Arc::clone) {
        let before = outer.load(Ordering::Relaxed);
        let out = work.await;
        return (out, outer.load(Ordering::Relaxed).saturating_sub(before));
    }
    let counter = Arc::new(AtomicUsize::new(0));
    let out = STATEMENTS.scope(counter.clone(), work).await;
    (out, counter.load(Ordering::Relaxed))
}

/// `work`, carrying the current request's statement count (if any) into
/// wherever it is spawned.
pub fn counted<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let counter = STATEMENTS.try_with(Arc::clone).ok();
    async move {
        match counter {
            Some(counter) => STATEMENTS.scope(counter, work).await,
            None => work.await,
        }
    }
}

/// `tokio::spawn` of [`counted`] work (the DataLoaders' batch loads run so).
pub fn spawn_counted<F>(work: F) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(counted(work))
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
