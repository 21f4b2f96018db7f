//! The values a feed statement binds, each by its name ([`Param`]), and the
//! statements' text built once per backend ([`Template`]).
//!
//! A statement sea-query builds carries its values, so building it for
//! every page would build its text again each time. A template is built
//! once with each named value's marker where the value goes; its writer
//! turns every marker into a placeholder and remembers the name it stands
//! for, and a page only binds. PostgreSQL gives a name one number however
//! often the statement uses it (`$1` for the viewer wherever it appears);
//! SQLite and MySQL have unnumbered `?`, one value each. A value that is
//! no marker (the `1` of `LIMIT 1`) is part of the statement's shape and
//! is written into the text, as a planner sees a hand-written constant.

use std::fmt;

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, QueryBuilder, SelectStatement, SqlWriter, Value};
use sea_orm::{DbBackend, Statement};
use uuid::Uuid;

use crate::service::page::FeedRequest;

/// A value a feed page binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Param {
    /// The viewer's id.
    Viewer,
    /// The page lies below this entry key (the snapshot for a first page).
    Cursor,
    /// The snapshot: entries with a greater key are not in the paged feed.
    Snapshot,
    /// The instant from which an undone repost still hides its post's
    /// older entries (to the second, as `removed_at` is stored).
    RemovedSince,
    /// The lowest id, where no floor applies (`Uuid::nil()`).
    NoFloor,
    /// Rows a page reads: one more than it shows.
    Limit,
    /// `Limit` - 1: the `OFFSET` of the `Limit`-th newest.
    LastRow,
    /// Posts the window holds, newest first below the cursor.
    Window,
    /// `Window` - 1: the `OFFSET` of the window's oldest post.
    WindowLast,
    /// No limit (SQLite's `LIMIT -1`), where a `LIMIT` keeps a subquery
    /// apart from the query around it.
    NoLimit,
    /// The authors a statement reads (SQLite's JSON array, see
    /// `recent_listed`).
    Authors,
    /// The lowest entry key a statement over listed authors reads, where
    /// the authors' kept keys bound the page (see `recent_listed`).
    Floor,
}

impl Param {
    const ALL: [Self; 12] = [
        Self::Viewer,
        Self::Cursor,
        Self::Snapshot,
        Self::RemovedSince,
        Self::NoFloor,
        Self::Limit,
        Self::LastRow,
        Self::Window,
        Self::WindowLast,
        Self::NoLimit,
        Self::Authors,
        Self::Floor,
    ];

    /// What stands for this value while a statement is built: a `u64`,
    /// because sea-query's `limit` and `offset` take nothing else, and one
    /// far above any constant a statement holds.
    pub(super) fn marker(self) -> u64 {
        u64::MAX - self as u64
    }

    fn marked_by(value: &Value) -> Option<Self> {
        match value {
            Value::BigUnsigned(Some(n)) => Self::ALL.into_iter().find(|p| p.marker() == *n),
            _ => None,
        }
    }
}

impl From<Param> for Expr {
    fn from(param: Param) -> Self {
        Expr::val(param.marker())
    }
}

/// One page's value of each [`Param`].
#[derive(Debug, Clone)]
pub(super) struct Bindings {
    viewer: Uuid,
    cursor: Uuid,
    snapshot: Uuid,
    removed_since: DateTime<Utc>,
    limit: i64,
    window: i64,
    authors: String,
    floor: Uuid,
}

impl Bindings {
    /// A first page's snapshot is `snapshot`; a later page's, its cursor's.
    pub(super) fn new(viewer: Uuid, req: FeedRequest, window: u64, snapshot: Uuid) -> Self {
        let (cursor, snapshot) = req
            .after
            .map_or((snapshot, snapshot), |a| (a.key, a.snapshot));
        let second = instant_of(snapshot).trunc_subsecs(0);
        Self {
            viewer,
            cursor,
            snapshot,
            // `removed_at` is stored to the second: an undo in the
            // snapshot's second may have come after it, so it counts (on a
            // first page nothing was undone after the snapshot, now).
            removed_since: if req.after.is_some() {
                second
            } else {
                second + TimeDelta::seconds(1)
            },
            limit: i64::try_from(req.limit()).unwrap_or(i64::MAX),
            window: i64::try_from(window.max(1)).unwrap_or(i64::MAX),
            authors: String::from("[]"),
            floor: Uuid::nil(),
        }
    }

    /// With the authors `Authors` lists.
    pub(super) fn with_authors(self, authors: String) -> Self {
        Self { authors, ..self }
    }

    /// The key the page lies below.
    pub(super) fn cursor(&self) -> Uuid {
        self.cursor
    }

    /// With `Floor` at `floor`.
    pub(super) fn with_floor(self, floor: Uuid) -> Self {
        Self { floor, ..self }
    }

    fn value(&self, param: Param) -> Value {
        match param {
            Param::Viewer => self.viewer.into(),
            Param::Cursor => self.cursor.into(),
            Param::Snapshot => self.snapshot.into(),
            Param::RemovedSince => self.removed_since.into(),
            Param::NoFloor => Uuid::nil().into(),
            Param::Limit => self.limit.into(),
            Param::LastRow => (self.limit - 1).into(),
            Param::Window => self.window.into(),
            Param::WindowLast => (self.window - 1).into(),
            Param::NoLimit => (-1_i64).into(),
            Param::Authors => self.authors.clone().into(),
            Param::Floor => self.floor.into(),
        }
    }
}

/// The millisecond of a UUIDv7 (the epoch for any other UUID).
pub(super) fn instant_of(id: Uuid) -> DateTime<Utc> {
    id.get_timestamp()
        .and_then(|t| {
            let (secs, nanos) = t.to_unix();
            DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
        })
        .unwrap_or_default()
}

/// A statement's text for one backend, and the name of each placeholder's
/// value in the order the backend binds them.
#[derive(Debug)]
pub(super) struct Template {
    backend: DbBackend,
    sql: String,
    params: Vec<Param>,
}

impl Template {
    pub(super) fn new(backend: DbBackend, statement: &SelectStatement) -> Self {
        let mut writer = Writer::default();
        crate::db::write_select(backend, statement, &mut writer);
        Self {
            backend,
            sql: writer.sql,
            params: writer.params,
        }
    }

    pub(super) fn bind(&self, bindings: &Bindings) -> Statement {
        Statement::from_sql_and_values(
            self.backend,
            self.sql.as_str(),
            self.params.iter().map(|&p| bindings.value(p)),
        )
    }

    #[cfg(test)]
    pub(super) fn sql(&self) -> &str {
        &self.sql
    }
}

#[derive(Debug, Default)]
struct Writer {
    sql: String,
    params: Vec<Param>,
}

impl fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.sql.write_str(s)
    }
}

impl fmt::Display for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql)
    }
}

impl SqlWriter for Writer {
    fn push_param<T: QueryBuilder>(&mut self, value: Value, query_builder: &T) {
        use fmt::Write as _;
        let Some(param) = Param::marked_by(&value) else {
            // Writing to a String cannot fail.
            let _ = query_builder.write_value(&mut self.sql, &value);
            return;
        };
        let (mark, numbered) = query_builder.placeholder();
        self.sql.push_str(mark);
        if numbered {
            let n = match self.params.iter().position(|&p| p == param) {
                Some(k) => k + 1,
                None => {
                    self.params.push(param);
                    self.params.len()
                }
            };
            let _ = write!(self.sql, "{n}");
        } else {
            self.params.push(param);
        }
    }

    fn as_writer(&mut self) -> &mut dyn fmt::Write {
        self
    }
}
