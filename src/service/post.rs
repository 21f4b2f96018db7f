//! Posts: written and deleted by their author, read by anyone, and the
//! feed (the viewer's posts and those of the profiles it follows).

use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Set, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::page::{Kind, Page, PageRequest};
use super::{Field, InputProblem};
use crate::auth::Viewer;
use crate::domain::text::{self, POST_BODY};
use crate::entity::{follow, post, profile};
use crate::error::AppError;
use crate::state::AppState;

/// Publishes a post by the viewer: the body is cleaned, then 1 to 500 code points.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn create(
    state: &AppState,
    viewer: &Viewer,
    body: &str,
) -> Result<post::Model, AppError> {
    let body = text::required(body, POST_BODY)
        .map_err(|e| AppError::input(InputProblem::new(e.into(), Some(Field::Body))))?;
    let (task_state, author) = (state.clone(), viewer.user_id);
    let post = super::to_completion(state, async move {
        let txn = task_state.db().begin().await?;
        let post = post::ActiveModel {
            id: Set(Uuid::now_v7()),
            author_id: Set(author),
            body: Set(body),
            created_at: Set(super::now()),
        }
        .insert(&txn)
        .await
        // No profile: the account is being deleted; its token dies with it.
        .map_err(|e| {
            if super::is_foreign_key_violation(&e) {
                AppError::Unauthenticated
            } else {
                e.into()
            }
        })?;
        super::profile::add_to_count(&txn, author, profile::Column::PostCount, 1).await?;
        txn.commit().await?;
        Ok(post)
    })
    .await?;
    metrics::counter!("posts_total").increment(1);
    Ok(post)
}

/// Deletes one of the viewer's posts. Someone else's post, an unknown one
/// and a malformed id answer alike: FORBIDDEN.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn delete(state: &AppState, viewer: &Viewer, id: &str) -> Result<(), AppError> {
    let id = Uuid::parse_str(id).map_err(|_| AppError::Forbidden)?;
    let (task_state, author) = (state.clone(), viewer.user_id);
    let deleted = super::to_completion(state, async move {
        let txn = task_state.db().begin().await?;
        let deleted = post::Entity::delete_many()
            .filter(post::Column::Id.eq(id))
            .filter(post::Column::AuthorId.eq(author))
            .exec(&txn)
            .await?;
        if deleted.rows_affected > 0 {
            super::profile::add_to_count(&txn, author, profile::Column::PostCount, -1).await?;
        }
        txn.commit().await?;
        Ok(deleted.rows_affected > 0)
    })
    .await?;
    if deleted {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// The post with this id; a malformed id names none.
pub async fn by_id(state: &AppState, id: &str) -> Result<Option<post::Model>, AppError> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    Ok(post::Entity::find_by_id(id).one(state.db()).await?)
}

/// A page of one author's posts, newest first (one statement).
pub async fn by_author(
    state: &AppState,
    author: Uuid,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<post::Model>, AppError> {
    let req = PageRequest::parse(Kind::Post, first, after)?;
    let query = post::Entity::find().filter(post::Column::AuthorId.eq(author));
    run(state, paged(query, req), req).await
}

/// A page of the viewer's feed: its own posts and those of the profiles it
/// follows, newest first (one statement).
pub async fn feed(
    state: &AppState,
    viewer: &Viewer,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<post::Model>, AppError> {
    let req = PageRequest::parse(Kind::Post, first, after)?;
    let rows = post::Entity::find()
        .from_raw_sql(feed_statement(state.backend(), viewer.user_id, req))
        .all(state.db())
        .await?;
    Ok(Page::from_rows(
        req,
        rows.into_iter().map(|p| (p.id, p)).collect(),
    ))
}

/// The statement `feed` runs for a page of `viewer`'s feed (public so that
/// benches/feed.rs can explain the very statement the server runs).
pub fn feed_statement(backend: DbBackend, viewer: Uuid, req: PageRequest) -> Statement {
    if backend == DbBackend::Sqlite {
        return sqlite_feed_statement(viewer, req);
    }
    let followed = Query::select()
        .column(follow::Column::FolloweeId)
        .from(follow::Entity)
        .and_where(follow::Column::FollowerId.eq(viewer))
        .to_owned();
    let authors = Condition::any()
        .add(post::Column::AuthorId.eq(viewer))
        .add(post::Column::AuthorId.in_subquery(followed));
    paged(post::Entity::find().filter(authors), req).build(backend)
}

/// The feed on SQLite, bounded by the profiles followed times the page.
///
/// SQLite plans the statement above as one read of `ix_post_author_id` per
/// author, each reading all of that author's posts, then sorts them all:
/// 20,000 rows for a viewer following 200 profiles of 100 posts each. Here
/// each author's floor is its `limit`-th newest post below the cursor (one
/// short read of that index), the page's ids are the newest `limit` of the
/// ids from each floor up, and only those rows are read: at most `limit`
/// index entries an author, however long its history. (PostgreSQL plans
/// the statement above as a newest-first scan of posts that keeps the
/// followed authors' until the page is full, which costs it less than one
/// read an author: benches/feed.sh measures both.)
fn sqlite_feed_statement(viewer: Uuid, req: PageRequest) -> Statement {
    const FEED: &str = "\
        WITH authors(author_id) AS ( \
            SELECT followee_id FROM follow WHERE follower_id = ? UNION SELECT ?), \
        floors(author_id, floor) AS ( \
            SELECT author_id, COALESCE(( \
                SELECT id FROM post WHERE post.author_id = authors.author_id AND id < ? \
                ORDER BY id DESC LIMIT 1 OFFSET ?), ?) \
            FROM authors) \
        SELECT post.id, post.author_id, post.body, post.created_at FROM post \
        WHERE post.id IN ( \
            SELECT p.id FROM floors JOIN post p ON p.author_id = floors.author_id \
                AND p.id >= floors.floor AND p.id < ? \
            ORDER BY p.id DESC LIMIT ?) \
        ORDER BY post.id DESC";
    let after = req.after.unwrap_or(Uuid::max());
    let limit = i64::try_from(req.limit()).unwrap_or(i64::MAX);
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        FEED,
        [
            viewer.into(),
            viewer.into(),
            after.into(),
            (limit - 1).into(),
            Uuid::nil().into(),
            after.into(),
            limit.into(),
        ],
    )
}

/// `query` limited to one page: below the cursor, newest first, one row
/// more than asked.
fn paged(mut query: Select<post::Entity>, req: PageRequest) -> Select<post::Entity> {
    if let Some(after) = req.after {
        query = query.filter(post::Column::Id.lt(after));
    }
    query.order_by_desc(post::Column::Id).limit(req.limit())
}

/// The page that `query` (made by `paged` with `req`) reads.
async fn run(
    state: &AppState,
    query: Select<post::Entity>,
    req: PageRequest,
) -> Result<Page<post::Model>, AppError> {
    let rows = query.all(state.db()).await?;
    Ok(Page::from_rows(
        req,
        rows.into_iter().map(|p| (p.id, p)).collect(),
    ))
}
