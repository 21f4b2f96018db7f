//! The feed: a page of the viewer's posts and those of the profiles it
//! follows, newest first, each with its author, and the statements that
//! read it.
//!
//! The statements are built with sea-query, which expresses all they use
//! (common tables with column lists, derived tables, correlated scalar
//! subqueries, `UNION`) and writes each backend's dialect: its quoting,
//! SQLite's `MAX` for `GREATEST`, PostgreSQL's `$n`. A value a page binds
//! is a [`Param`], named wherever a statement uses it, so a new condition
//! (a block, a mute) is one more clause with the params it needs. Building
//! a statement costs far more than binding one, so each backend's text is
//! built once and a page only binds (see [`bind`]).

mod bind;

use std::sync::LazyLock;

use sea_orm::sea_query::{
    CommonTableExpression, Cond, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement,
    UnionType, WithClause,
};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, IdenStatic, Iterable, Statement};
use uuid::Uuid;

use self::bind::{Bindings, Param, Template};
use super::page::{Kind, Page, PageRequest};
use crate::auth::Viewer;
use crate::entity::{follow, post, profile};
use crate::error::AppError;
use crate::state::AppState;

/// A post of a feed page with its author's profile, read in the same
/// statement. The author is the viewer, or a profile the viewer followed
/// when the page was read.
#[derive(Debug, Clone)]
pub struct FeedItem {
    pub post: post::Model,
    pub author: profile::Model,
}

/// A page of the viewer's feed: its own posts and those of the profiles it
/// follows, newest first, each with its author: one statement, two when the
/// newest posts hold too few of the viewer's (see [`feed_statements`]).
pub async fn feed(
    state: &AppState,
    viewer: &Viewer,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<FeedItem>, AppError> {
    let req = PageRequest::parse(Kind::Post, first, after)?;
    let mut rows = Vec::new();
    for statement in feed_statements(state.backend(), viewer.user_id, req) {
        rows = state.db().query_all_raw(statement).await?;
        // A full page from the newest posts is the page; a short one may
        // only mean that the window ended.
        if rows.len() as u64 == req.limit() {
            break;
        }
    }
    let items = rows
        .iter()
        .map(|row| {
            let item = FeedItem {
                post: post::Model::from_query_result(row, "")?,
                author: profile::Model::from_query_result(row, AUTHOR)?,
            };
            Ok((item.post.id, item))
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    Ok(Page::from_rows(req, items))
}

/// Posts a feed page looks for among the newest (below the cursor) before
/// it reads author by author.
pub const RECENT_WINDOW: u64 = 2000;

/// The statements `feed` tries in turn for a page of `viewer`'s feed, each
/// reading `req.limit()` rows at most (with their authors, see
/// [`with_authors`]); the first full answer, or the last answer, is the
/// page. (Public so that benches/feed.rs explains the very statements the
/// server runs.)
///
/// Which posts the page holds: the `limit` newest below the cursor among
/// the viewer's and its followees'. Two ways to find them, measured in
/// docs/benchmarks.md ("Feed"):
///
/// 1. [`recent_scan`] or [`recent_seek`]: the viewer's posts among the
///    newest [`RECENT_WINDOW`] posts of everyone. Cheap when the viewer
///    follows enough of those who post, and complete then: nothing outside
///    the window is newer than what is in it, so a full page from it is the
///    page.
/// 2. [`by_author`]: author by author, a bounded read each, for any feed.
pub fn feed_statements(backend: DbBackend, viewer: Uuid, req: PageRequest) -> Vec<Statement> {
    feed_statements_in_window(backend, viewer, req, RECENT_WINDOW)
}

/// [`feed_statements`] with another window (the tests make it small).
pub fn feed_statements_in_window(
    backend: DbBackend,
    viewer: Uuid,
    req: PageRequest,
    window: u64,
) -> Vec<Statement> {
    let bindings = Bindings::new(viewer, req, window);
    let templates = Templates::of(backend);
    vec![
        templates.recent.bind(&bindings),
        templates.by_author.bind(&bindings),
    ]
}

/// The feed's two statements for one backend, with their authors joined.
struct Templates {
    recent: Template,
    by_author: Template,
}

impl Templates {
    fn of(backend: DbBackend) -> &'static Self {
        static SQLITE: LazyLock<Templates> = LazyLock::new(|| Templates::new(DbBackend::Sqlite));
        static POSTGRES: LazyLock<Templates> =
            LazyLock::new(|| Templates::new(DbBackend::Postgres));
        static MYSQL: LazyLock<Templates> = LazyLock::new(|| Templates::new(DbBackend::MySql));
        match backend {
            DbBackend::Sqlite => &SQLITE,
            DbBackend::Postgres => &POSTGRES,
            _ => &MYSQL,
        }
    }

    fn new(backend: DbBackend) -> Self {
        let recent = if backend == DbBackend::Sqlite {
            recent_seek()
        } else {
            recent_scan()
        };
        Self {
            recent: Template::new(backend, &with_authors(recent)),
            by_author: Template::new(backend, &with_authors(by_author())),
        }
    }
}

/// The prefix of the author's columns in a feed statement's rows (no
/// prefixed profile column may be named as a post column: a unit test
/// checks).
const AUTHOR: &str = "author_";

// The names the statements give their own tables and columns.
const AUTHORS: &str = "authors";
const AUTHOR_ID: &str = "author_id";
const RECENT: &str = "recent";
const FLOOR: &str = "floor";
const ID: &str = "id";
const TOPS: &str = "tops";
const TOP: &str = "top";
const BOUND: &str = "bound";
const FLOORS: &str = "floors";
const PAGE: &str = "page";

/// `page` (the page's posts, newest first) with each post's author's
/// profile beside it, its columns named with the prefix [`AUTHOR`]. The
/// page is a derived table with its own `LIMIT`, so the join reads the
/// page's authors only.
fn with_authors(page: SelectStatement) -> SelectStatement {
    let mut select = Query::select();
    select.columns(post::Column::iter().map(|c| (PAGE, c)));
    for c in profile::Column::iter() {
        select.expr_as(
            Expr::col((profile::Entity, c)),
            format!("{AUTHOR}{}", c.as_str()),
        );
    }
    select
        .from_subquery(page, PAGE)
        .join(
            JoinType::InnerJoin,
            profile::Entity,
            Expr::col((profile::Entity, profile::Column::UserId))
                .equals((PAGE, post::Column::AuthorId)),
        )
        .order_by((PAGE, post::Column::Id), Order::Desc)
        .take()
}

/// The window statement of PostgreSQL and MySQL: the viewer's posts among
/// the newest `Window` posts below the cursor.
///
/// PostgreSQL walks its primary key backwards and keeps the viewer's
/// (MariaDB copies the window's rows first: a derived table with a `LIMIT`
/// is not merged).
fn recent_scan() -> SelectStatement {
    let newest = Query::select()
        .columns(post::Column::iter())
        .from(post::Entity)
        .and_where(Expr::col(post::Column::Id).lt(Param::Cursor))
        .order_by(post::Column::Id, Order::Desc)
        .limit(Param::Window.marker())
        .take();
    Query::select()
        .columns(post::Column::iter())
        .from_subquery(newest, RECENT)
        .cond_where(
            Cond::any()
                .add(Expr::col(post::Column::AuthorId).eq(Param::Viewer))
                .add(Expr::col(post::Column::AuthorId).in_subquery(followees())),
        )
        .order_by(post::Column::Id, Order::Desc)
        .limit(Param::Limit.marker())
        .take()
}

/// SQLite's window statement: the same posts as [`recent_scan`]'s.
///
/// SQLite's key on `post.id` is an index apart from the rows, so walking it
/// costs a row lookup a post: here the window's oldest post (`floor`) is
/// found on the key alone, then each followed author's posts from it up
/// are read from `ix_post_author_id` (an index seek an author, and at most
/// `Window` entries in all).
fn recent_seek() -> SelectStatement {
    let floor = newest_below(None).offset(Param::WindowLast.marker()).take();
    let floor_or_lowest = Func::coalesce([
        Expr::from(Query::select().column(ID).from(FLOOR).take()),
        Param::NoFloor.into(),
    ]);
    Query::select()
        .columns(post::Column::iter().map(|c| (post::Entity, c)))
        .from(AUTHORS)
        .join(
            JoinType::InnerJoin,
            post::Entity,
            Cond::all()
                .add(Expr::col((post::Entity, post::Column::AuthorId)).equals((AUTHORS, AUTHOR_ID)))
                .add(Expr::col((post::Entity, post::Column::Id)).lt(Param::Cursor))
                .add(Expr::col((post::Entity, post::Column::Id)).gte(floor_or_lowest)),
        )
        .order_by((post::Entity, post::Column::Id), Order::Desc)
        .limit(Param::Limit.marker())
        .with_cte(
            WithClause::new()
                .cte(cte(FLOOR, &[ID], floor))
                .cte(authors())
                .to_owned(),
        )
        .take()
}

/// The page read author by author, for any feed. `Limit` is one more than
/// the page (the extra row tells whether a next page follows).
///
/// 1. `tops`: each author's newest post below the cursor (one index seek).
/// 2. `bound`: the `Limit`-th newest of those. At least `Limit` posts are
///    at or above it (those tops), so the page lies at or above it too, and
///    only the `Limit` authors whose top reaches it can be on the page.
///    Fewer than `Limit` authors with posts: no bound (`NoFloor`).
/// 3. `floors`: no author holds more than `Limit` posts of the page, so
///    each remaining author's floor is the later of the bound and its own
///    `Limit`-th newest post below the cursor.
/// 4. The page: each remaining author's posts from its floor to the cursor
///    (a range of `ix_post_author_id`), newest `Limit` first.
///
/// A seek an author for its top, then for at most `Limit` authors a seek
/// and at most `Limit` entries each, however long the authors' histories.
fn by_author() -> SelectStatement {
    let tops = Query::select()
        .column(AUTHOR_ID)
        .expr(newest_below(Some(AUTHORS)))
        .from(AUTHORS)
        .take();
    let bound = Query::select()
        .column(TOP)
        .from(TOPS)
        .and_where(Expr::col(TOP).is_not_null())
        .order_by(TOP, Order::Desc)
        .limit(1)
        .offset(Param::LastRow.marker())
        .take();
    let bound_or_lowest = || {
        Expr::from(Func::coalesce([
            Expr::from(Query::select().column(FLOOR).from(BOUND).take()),
            Param::NoFloor.into(),
        ]))
    };
    let own_floor = Func::coalesce([
        Expr::from(
            newest_below(Some(TOPS))
                .offset(Param::LastRow.marker())
                .take(),
        ),
        Param::NoFloor.into(),
    ]);
    let floors = Query::select()
        .column(AUTHOR_ID)
        .expr(Func::greatest([own_floor.into(), bound_or_lowest()]))
        .from(TOPS)
        .and_where(Expr::col(TOP).gte(bound_or_lowest()))
        .take();
    Query::select()
        .columns(post::Column::iter().map(|c| (post::Entity, c)))
        .from(FLOORS)
        .join(
            JoinType::InnerJoin,
            post::Entity,
            Cond::all()
                .add(Expr::col((post::Entity, post::Column::AuthorId)).equals((FLOORS, AUTHOR_ID)))
                .add(Expr::col((post::Entity, post::Column::Id)).gte(Expr::col((FLOORS, FLOOR))))
                .add(Expr::col((post::Entity, post::Column::Id)).lt(Param::Cursor)),
        )
        .order_by((post::Entity, post::Column::Id), Order::Desc)
        .limit(Param::Limit.marker())
        .with_cte(
            WithClause::new()
                .cte(authors())
                .cte(cte(TOPS, &[AUTHOR_ID, TOP], tops))
                .cte(cte(BOUND, &[FLOOR], bound))
                .cte(cte(FLOORS, &[AUTHOR_ID, FLOOR], floors))
                .to_owned(),
        )
        .take()
}

/// The ids of the profiles the viewer follows.
fn followees() -> SelectStatement {
    Query::select()
        .column(follow::Column::FolloweeId)
        .from(follow::Entity)
        .and_where(Expr::col(follow::Column::FollowerId).eq(Param::Viewer))
        .take()
}

/// `authors(author_id)`: the profiles the viewer follows, and the viewer.
fn authors() -> CommonTableExpression {
    let authors = followees()
        .union(
            UnionType::Distinct,
            Query::select().expr(Param::Viewer).take(),
        )
        .take();
    cte(AUTHORS, &[AUTHOR_ID], authors)
}

/// The id of the newest post below the cursor; with `author_of`, of the
/// author in that table's `author_id` (an index seek). An `OFFSET` added
/// to it reads that many posts further back.
fn newest_below(author_of: Option<&'static str>) -> SelectStatement {
    let mut select = Query::select();
    select.column(post::Column::Id).from(post::Entity);
    if let Some(table) = author_of {
        select.and_where(
            Expr::col((post::Entity, post::Column::AuthorId)).equals((table, AUTHOR_ID)),
        );
    }
    select
        .and_where(Expr::col(post::Column::Id).lt(Param::Cursor))
        .order_by(post::Column::Id, Order::Desc)
        .limit(1)
        .take()
}

/// The common table `name(columns...) AS (query)`.
fn cte(
    name: &'static str,
    columns: &[&'static str],
    query: SelectStatement,
) -> CommonTableExpression {
    CommonTableExpression::new()
        .query(query)
        .table_name(name)
        .columns(columns.iter().copied())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A value written into a statement's text (an id as a string literal,
    /// say) would not be bound by name, and on SQLite a text literal never
    /// equals an id stored as a blob.
    #[test]
    fn every_value_of_a_feed_statement_is_a_placeholder_bound_by_name() {
        let viewer = Uuid::now_v7();
        let req = PageRequest {
            first: 20,
            after: Some(Uuid::now_v7()),
        };
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            let templates = Templates::of(backend);
            for (template, statement) in [&templates.recent, &templates.by_author]
                .into_iter()
                .zip(feed_statements(backend, viewer, req))
            {
                let sql = template.sql();
                assert!(!sql.contains('\''), "{backend:?}: a literal in {sql}");
                // A marker written as a number, not turned into a placeholder.
                assert!(
                    !sql.contains(&(u64::MAX - 9).to_string()[..12]),
                    "{backend:?}: a marker left in {sql}"
                );
                let values = statement.values.map_or(0, |v| v.0.len());
                if backend == DbBackend::Postgres {
                    let numbers: BTreeSet<usize> = sql
                        .split('$')
                        .skip(1)
                        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
                        .collect();
                    assert_eq!(numbers, (1..=values).collect(), "{backend:?}: {sql}");
                } else {
                    assert_eq!(sql.matches('?').count(), values, "{backend:?}: {sql}");
                }
                assert!(values > 0, "{backend:?}: {sql}");
            }
        }
    }

    #[test]
    fn a_feed_rows_author_columns_are_named_apart_from_its_post_columns() {
        for c in profile::Column::iter() {
            let named = format!("{AUTHOR}{}", c.as_str());
            assert!(
                post::Column::iter().all(|p| p.as_str() != named),
                "profile column {} would read as the post's {named}",
                c.as_str()
            );
        }
    }
}
