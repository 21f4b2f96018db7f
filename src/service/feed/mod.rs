//! The feed: a page of the viewer's posts and those of the profiles it
//! follows, newest first, each with its author, and the statements that
//! read it.

use std::sync::LazyLock;

use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, IdenStatic, Iterable, Statement};
use uuid::Uuid;

use super::page::{Kind, Page, PageRequest};
use crate::auth::Viewer;
use crate::entity::{post, profile};
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

/// The prefix of the author's columns in a feed statement's rows (no
/// prefixed profile column may be named as a post column: a unit test
/// checks).
const AUTHOR: &str = "author_";

/// `page_sql` (the page's posts, newest first) with each post's author's
/// profile beside it, its columns named with the prefix [`AUTHOR`]. The
/// page is a derived table with its own `LIMIT`, so the join reads the
/// page's authors only.
fn with_authors(page_sql: &str) -> String {
    let columns: Vec<String> = post::Column::iter()
        .map(|c| format!("page.{}", c.as_str()))
        .chain(profile::Column::iter().map(|c| format!("profile.{0} AS {AUTHOR}{0}", c.as_str())))
        .collect();
    format!(
        "SELECT {} FROM ({page_sql}) page \
         JOIN profile ON profile.user_id = page.author_id ORDER BY page.id DESC",
        columns.join(", ")
    )
}

/// The text of the feed's two statements for one backend, written once
/// (authors joined, SQLite's `max` for `GREATEST`, PostgreSQL's numbered
/// placeholders): a page only binds its values.
struct FeedSql {
    recent: String,
    by_author: String,
}

impl FeedSql {
    fn of(backend: DbBackend) -> &'static Self {
        static SQLITE: LazyLock<FeedSql> = LazyLock::new(|| FeedSql::new(DbBackend::Sqlite));
        static POSTGRES: LazyLock<FeedSql> = LazyLock::new(|| FeedSql::new(DbBackend::Postgres));
        static MYSQL: LazyLock<FeedSql> = LazyLock::new(|| FeedSql::new(DbBackend::MySql));
        match backend {
            DbBackend::Sqlite => &SQLITE,
            DbBackend::Postgres => &POSTGRES,
            _ => &MYSQL,
        }
    }

    fn new(backend: DbBackend) -> Self {
        let finish = |page_sql: &str| {
            let sql = with_authors(page_sql);
            if backend == DbBackend::Postgres {
                numbered_placeholders(&sql)
            } else {
                sql
            }
        };
        if backend == DbBackend::Sqlite {
            Self {
                recent: finish(RECENT_SQLITE),
                // SQLite's GREATEST is its two-argument max().
                by_author: finish(&BY_AUTHOR.replace("GREATEST(", "max(")),
            }
        } else {
            Self {
                recent: finish(RECENT),
                by_author: finish(BY_AUTHOR),
            }
        }
    }
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
/// 1. [`recent_statement`]: the viewer's posts among the newest
///    [`RECENT_WINDOW`] posts of everyone. Cheap when the viewer follows
///    enough of those who post, and complete then: nothing outside the
///    window is newer than what is in it, so a full page from it is the page.
/// 2. [`by_author_statement`]: author by author, a bounded read each, for
///    any feed.
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
    vec![
        recent_statement(backend, viewer, req, window),
        by_author_statement(backend, viewer, req),
    ]
}

/// The window statement, written with `?` (see [`FeedSql`]).
const RECENT: &str = "\
    SELECT id, author_id, body, created_at FROM ( \
        SELECT id, author_id, body, created_at FROM post WHERE id < ? \
        ORDER BY id DESC LIMIT ?) recent \
    WHERE author_id = ? OR author_id IN ( \
        SELECT followee_id FROM follow WHERE follower_id = ?) \
    ORDER BY id DESC LIMIT ?";
/// SQLite's window statement (see [`recent_statement`]).
const RECENT_SQLITE: &str = "\
    WITH floor(id) AS ( \
        SELECT id FROM post WHERE id < ? ORDER BY id DESC LIMIT 1 OFFSET ?), \
    authors(author_id) AS ( \
        SELECT followee_id FROM follow WHERE follower_id = ? UNION SELECT ?) \
    SELECT post.id, post.author_id, post.body, post.created_at \
    FROM authors JOIN post ON post.author_id = authors.author_id AND post.id < ? \
        AND post.id >= COALESCE((SELECT id FROM floor), ?) \
    ORDER BY post.id DESC LIMIT ?";

/// The viewer's posts among the newest `window` posts below the cursor.
///
/// PostgreSQL walks its primary key backwards and keeps the viewer's
/// (MariaDB copies the window's rows first: a derived table with a `LIMIT`
/// is not merged). SQLite's key on `post.id` is an index apart from the rows, so
/// that walk costs a row lookup a post: there the window's oldest post is
/// found on the key alone, then each followed author's posts from it up
/// are read from `ix_post_author_id` (an index seek an author, and at most
/// `window` entries in all).
fn recent_statement(backend: DbBackend, viewer: Uuid, req: PageRequest, window: u64) -> Statement {
    let after = req.after.unwrap_or(Uuid::max());
    let limit = i64::try_from(req.limit()).unwrap_or(i64::MAX);
    let window = i64::try_from(window.max(1)).unwrap_or(i64::MAX);
    let sql = FeedSql::of(backend).recent.as_str();
    if backend == DbBackend::Sqlite {
        return Statement::from_sql_and_values(
            backend,
            sql,
            [
                after.into(),
                (window - 1).into(),
                viewer.into(),
                viewer.into(),
                after.into(),
                Uuid::nil().into(),
                limit.into(),
            ],
        );
    }
    Statement::from_sql_and_values(
        backend,
        sql,
        [
            after.into(),
            window.into(),
            viewer.into(),
            viewer.into(),
            limit.into(),
        ],
    )
}

/// The author-by-author statement (see [`by_author_statement`]).
const BY_AUTHOR: &str = "\
    WITH authors(author_id) AS ( \
        SELECT followee_id FROM follow WHERE follower_id = ? UNION SELECT ?), \
    tops(author_id, top) AS ( \
        SELECT author_id, ( \
            SELECT id FROM post WHERE post.author_id = authors.author_id AND id < ? \
            ORDER BY id DESC LIMIT 1) \
        FROM authors), \
    bound(floor) AS ( \
        SELECT top FROM tops WHERE top IS NOT NULL ORDER BY top DESC LIMIT 1 OFFSET ?), \
    floors(author_id, floor) AS ( \
        SELECT author_id, GREATEST(COALESCE(( \
            SELECT id FROM post WHERE post.author_id = tops.author_id AND id < ? \
            ORDER BY id DESC LIMIT 1 OFFSET ?), ?), COALESCE((SELECT floor FROM bound), ?)) \
        FROM tops WHERE top >= COALESCE((SELECT floor FROM bound), ?)) \
    SELECT post.id, post.author_id, post.body, post.created_at \
    FROM floors JOIN post ON post.author_id = floors.author_id \
        AND post.id >= floors.floor AND post.id < ? \
    ORDER BY post.id DESC LIMIT ?";

/// The page read author by author, for any feed. `limit` is one more
/// than the page (the extra row tells whether a next page follows).
///
/// 1. `tops`: each author's newest post below the cursor (one index seek).
/// 2. `bound`: the `limit`-th newest of those. At least `limit` posts are
///    at or above it (those tops), so the page lies at or above it too, and
///    only the `limit` authors whose top reaches it can be on the page.
///    Fewer than `limit` authors with posts: no bound (nil).
/// 3. `floors`: no author holds more than `limit` posts of the page, so
///    each remaining author's floor is the later of the bound and its own
///    `limit`-th newest post below the cursor.
/// 4. The page: each remaining author's posts from its floor to the cursor
///    (a range of `ix_post_author_id`), newest `limit` first.
///
/// A seek an author for its top, then for at most `limit` authors a seek
/// and at most `limit` entries each, however long the authors' histories.
fn by_author_statement(backend: DbBackend, viewer: Uuid, req: PageRequest) -> Statement {
    let after = req.after.unwrap_or(Uuid::max());
    let limit = i64::try_from(req.limit()).unwrap_or(i64::MAX);
    Statement::from_sql_and_values(
        backend,
        FeedSql::of(backend).by_author.as_str(),
        [
            viewer.into(),
            viewer.into(),
            after.into(),
            (limit - 1).into(),
            after.into(),
            (limit - 1).into(),
            Uuid::nil().into(),
            Uuid::nil().into(),
            Uuid::nil().into(),
            after.into(),
            limit.into(),
        ],
    )
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, ...
fn numbered_placeholders(sql: &str) -> String {
    let mut n = 0;
    sql.split('?').enumerate().fold(
        String::with_capacity(sql.len() + 16),
        |mut out, (i, part)| {
            if i > 0 {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            out.push_str(part);
            out
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
