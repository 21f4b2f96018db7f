//! Connecting to the database `DATABASE_URL` names, and migrating it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{
    MysqlQueryBuilder, PostgresQueryBuilder, QueryBuilder, SelectStatement, SqlWriter,
    SqliteQueryBuilder, Value,
};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, DatabaseConnection, DbBackend, DbErr, Statement};
use secrecy::ExposeSecret as _;

use crate::config::{Backend, Database};

/// How many KiB of an SQLite file's pages each connection keeps.
const SQLITE_CACHE_KIB: u64 = 256 << 10;

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
                // Pages are read into each connection's cache, not through
                // a memory map: SQLite unmaps a connection's whole map at
                // its first read after any other connection's commit, so
                // under a steady writer every page a read touched faulted
                // in again (a returning viewer's first feed page: 22 → 186
                // faults, 0.60-0.74x the CPU with the cache; docs/
                // benchmarks.md, "Feed").
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    .pragma("mmap_size", "0")
                    .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
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

/// `ids` for an `IN (…)` list, repeated up to the next power of two (from
/// 4): the statement's text then takes a few shapes rather than one a
/// length, and PostgreSQL connections keep a prepared statement for each
/// instead of preparing every new length again (sqlx keeps 100 a
/// connection). A repeated id matches nothing more.
pub fn padded(mut ids: Vec<uuid::Uuid>) -> Vec<uuid::Uuid> {
    if let Some(&last) = ids.last() {
        let len = ids.len().max(4).next_power_of_two();
        ids.resize(len, last);
    }
    ids
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

/// `select` built for `backend` with its `LIMIT` and `OFFSET` written into
/// the text, and every other value bound.
///
/// PostgreSQL plans a prepared statement for the values bound for its
/// first five runs on a connection, then once for any values if that plan
/// looks no costlier. A bound `LIMIT` is a number it cannot see then, so
/// such a plan looked costlier and every run was planned anew: the inbox's
/// page of groups planned in 0.35 ms to run in 0.09, and forced onto one
/// plan for any values it took 17 ms (a sort of every group). With the
/// count in the text the plan for any values is the plan for these, and it
/// is kept (docs/benchmarks.md, "Notifications"). Sizes of page are few,
/// so are the texts.
pub fn with_literal_counts(backend: DbBackend, select: &SelectStatement) -> Statement {
    let mut writer = CountsWritten::default();
    write_select(backend, select, &mut writer);
    Statement::from_sql_and_values(backend, writer.sql, writer.values)
}

/// `select` written in `backend`'s dialect into `writer`, which decides
/// what becomes of each value (see [`with_literal_counts`], and the feed's
/// templates, which bind values by name).
pub fn write_select(backend: DbBackend, select: &SelectStatement, writer: &mut impl SqlWriter) {
    match backend {
        DbBackend::Sqlite => select.build_collect_any_into(&SqliteQueryBuilder, writer),
        DbBackend::Postgres => select.build_collect_any_into(&PostgresQueryBuilder, writer),
        _ => select.build_collect_any_into(&MysqlQueryBuilder, writer),
    }
}

/// The writer of [`with_literal_counts`]: sea-query passes a `LIMIT` or
/// `OFFSET` as a `u64` value, and nothing else of ours is one.
#[derive(Default)]
struct CountsWritten {
    sql: String,
    values: Vec<Value>,
}

impl fmt::Write for CountsWritten {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.sql.write_str(s)
    }
}

impl fmt::Display for CountsWritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql)
    }
}

impl SqlWriter for CountsWritten {
    fn push_param<T: QueryBuilder>(&mut self, value: Value, query_builder: &T) {
        use fmt::Write as _;
        // Writing to a String cannot fail.
        if let Value::BigUnsigned(Some(n)) = value {
            let _ = write!(self.sql, "{n}");
            return;
        }
        let (mark, numbered) = query_builder.placeholder();
        self.sql.push_str(mark);
        self.values.push(value);
        if numbered {
            let _ = write!(self.sql, "{}", self.values.len());
        }
    }

    fn as_writer(&mut self) -> &mut dyn fmt::Write {
        self
    }
}

/// Statements kept by their shape. A caller gives a key for each shape of
/// statement it builds, the statement built with [`slot`]`(i)` wherever its
/// `i`-th value goes, and the values: the text is built once a key (as
/// [`with_literal_counts`] writes it, counts in the text) and only bound
/// after that. Building a statement with sea-query costs about as much as
/// running a small one on SQLite: the inbox's two statements of a page of
/// 20 groups were 6% of the server's CPU a page (`perf record` on the
/// server under `benches/notifications.sh`, SQLite).
pub struct Shapes<K>(moka::sync::Cache<(u8, K), Arc<Shaped>>);

/// About what a kept statement holds, for [`Shapes`]'s bound.
fn weight(shaped: &Shaped) -> u32 {
    let bytes = shaped.sql.len() + shaped.binds.len() * std::mem::size_of::<Bind>();
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// A kept statement's text, and what each of its placeholders binds.
struct Shaped {
    sql: String,
    binds: Vec<Bind>,
}

enum Bind {
    /// The caller's value of this index.
    Slot(usize),
    /// A value the statement was built with (a constant of its shape).
    Fixed(Value),
}

/// The bits a [`slot`] marker carries above its index (`slot`, in ASCII):
/// its version nibble is 0, so no id the server makes (v4, v7), nor the
/// nil and max bounds, is one.
const SLOT_TAG: u128 = 0x736c_6f74 << 96;
const SLOT_INDEX: u128 = 0xffff;

/// What stands for the caller's `i`-th value while a [`Shapes`] statement
/// is built.
pub fn slot(i: usize) -> uuid::Uuid {
    uuid::Uuid::from_u128(SLOT_TAG | (i as u128 & SLOT_INDEX))
}

fn slot_of(value: &Value) -> Option<usize> {
    let Value::Uuid(Some(id)) = value else {
        return None;
    };
    let n = id.as_u128();
    (n & !SLOT_INDEX == SLOT_TAG).then_some((n & SLOT_INDEX) as usize)
}

impl<K: std::hash::Hash + Eq + Send + Sync + 'static> Shapes<K> {
    /// Shapes up to about `max_bytes` of text and values in all (moka
    /// keeps the frequent ones).
    pub fn new(max_bytes: u64) -> Self {
        Self(
            moka::sync::Cache::builder()
                .weigher(|_, shaped: &Arc<Shaped>| weight(shaped))
                .max_capacity(max_bytes)
                .build(),
        )
    }

    /// The statement of shape `key` (built by `build` the first time) with
    /// `values` bound to its slots.
    pub fn statement(
        &self,
        backend: DbBackend,
        key: K,
        build: impl FnOnce() -> SelectStatement,
        values: &[Value],
    ) -> Result<Statement, DbErr> {
        let dialect = match backend {
            DbBackend::Sqlite => 0,
            DbBackend::Postgres => 1,
            _ => 2,
        };
        let shaped = self.0.get_with((dialect, key), || {
            let mut writer = CountsWritten::default();
            write_select(backend, &build(), &mut writer);
            let binds = writer
                .values
                .into_iter()
                .map(|v| slot_of(&v).map_or(Bind::Fixed(v), Bind::Slot))
                .collect();
            Arc::new(Shaped {
                sql: writer.sql,
                binds,
            })
        });
        let values = shaped
            .binds
            .iter()
            .map(|b| match b {
                Bind::Slot(i) => values.get(*i).cloned().ok_or_else(|| {
                    DbErr::Custom(format!("a kept statement has no value for slot {i}"))
                }),
                Bind::Fixed(v) => Ok(v.clone()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Statement::from_sql_and_values(
            backend,
            shaped.sql.as_str(),
            values,
        ))
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query};

    use super::*;

    #[test]
    fn padded_lists_take_a_power_of_two_lengths_and_the_same_ids() {
        let ids: Vec<uuid::Uuid> = (0..5).map(|_| uuid::Uuid::now_v7()).collect();
        assert_eq!(padded(Vec::new()), Vec::<uuid::Uuid>::new());
        assert_eq!(padded(ids[..1].to_vec()), vec![ids[0]; 4]);
        let five = padded(ids.clone());
        assert_eq!(five.len(), 8);
        assert_eq!(five[..5], ids[..]);
        assert!(five[5..].iter().all(|id| *id == ids[4]));
        assert_eq!(padded(ids[..4].to_vec()), ids[..4]);
    }

    #[test]
    fn counts_are_written_into_the_text_and_every_other_value_is_bound() {
        let select = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("t"))
            .and_where(Expr::col(Alias::new("a")).eq("x"))
            .and_where(Expr::col(Alias::new("b")).eq(7))
            .limit(21)
            .offset(40)
            .take();
        let pg = with_literal_counts(DbBackend::Postgres, &select);
        assert_eq!(
            pg.sql,
            r#"SELECT "id" FROM "t" WHERE "a" = $1 AND "b" = $2 LIMIT 21 OFFSET 40"#
        );
        assert_eq!(
            pg.values.map(|v| v.0),
            Some(vec![Value::from("x"), Value::from(7)])
        );
        let sqlite = with_literal_counts(DbBackend::Sqlite, &select);
        assert_eq!(
            sqlite.sql,
            r#"SELECT "id" FROM "t" WHERE "a" = ? AND "b" = ? LIMIT 21 OFFSET 40"#
        );
        assert_eq!(sqlite.values.map(|v| v.0.len()), Some(2));
    }

    #[test]
    fn a_kept_shape_binds_each_use_its_own_values_in_its_slots() {
        let build = || {
            Query::select()
                .column(Alias::new("id"))
                .from(Alias::new("t"))
                .and_where(Expr::col(Alias::new("a")).eq(slot(1)))
                .and_where(Expr::col(Alias::new("k")).eq("like"))
                .and_where(Expr::col(Alias::new("b")).eq(slot(0)))
                .limit(21)
                .take()
        };
        let shapes = Shapes::new(1 << 20);
        let [x, y, z] = [1, 2, 3].map(|n| uuid::Uuid::from_u128(n << 64 | 0x7000 << 48));
        let first = shapes
            .statement(DbBackend::Postgres, "t", build, &[x.into(), y.into()])
            .unwrap();
        assert_eq!(
            first.sql,
            r#"SELECT "id" FROM "t" WHERE "a" = $1 AND "k" = $2 AND "b" = $3 LIMIT 21"#
        );
        assert_eq!(
            first.values.map(|v| v.0),
            Some(vec![y.into(), Value::from("like"), x.into()])
        );
        // Kept: not built again, and bound with the new values.
        let second = shapes
            .statement(
                DbBackend::Postgres,
                "t",
                || unreachable!(),
                &[z.into(), x.into()],
            )
            .unwrap();
        assert_eq!(
            second.values.map(|v| v.0),
            Some(vec![x.into(), Value::from("like"), z.into()])
        );
        // A slot without a value is an error, not a panic.
        assert!(
            shapes
                .statement(DbBackend::Postgres, "t", || unreachable!(), &[z.into()])
                .is_err()
        );
        assert_eq!(slot_of(&Value::from(uuid::Uuid::max())), None);
        assert_eq!(slot_of(&Value::from(uuid::Uuid::nil())), None);
        assert_eq!(slot_of(&Value::from(uuid::Uuid::now_v7())), None);
        assert_eq!(slot_of(&Value::from(slot(7))), Some(7));
    }
}
