//! Posts: written and deleted by their author, read by those who may see
//! them (`safety::visibility`; the feed that gathers them is
//! `service::feed`).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::page::{Kind, Page, PageRequest};
use super::problem::{Field, InputProblem, ProblemKind};
use super::safety::guard::{Mode, guard_with};
use super::safety::visibility;
use crate::auth::Viewer;
use crate::domain::mention;
use crate::domain::text::{self, POST_BODY};
use crate::entity::{post, profile, repost};
use crate::error::AppError;
use crate::live::Event;
use crate::state::AppState;

/// Publishes a post by the viewer, or a reply to the post `reply_to`: the
/// body is cleaned, then 1 to 500 code points. A reply counts on its
/// parent and notifies its author; the profiles the body mentions are
/// stored and notified (see `thread`). All in one transaction, with the
/// live events: the new feed entry, the parent's counts, the notifications.
///
/// `media`: up to four of the viewer's unattached uploads, attached in
/// this order in the same transaction (more than four: BAD_USER_INPUT,
/// before anything is read or written). One that is another's, attached,
/// unknown or malformed, or an id named twice: NOT_FOUND on
/// `["input", "mediaIds"]`, and no post is written, nothing attached.
/// The body stays required with images too.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn create(
    state: &AppState,
    viewer: &Viewer,
    body: &str,
    reply_to: Option<&str>,
    media: &[&str],
) -> Result<post::Model, AppError> {
    let mut problems = Vec::new();
    let media = match super::media::parse_post_media(media) {
        Ok(ids) => ids,
        Err(AppError::Input(found)) => {
            problems.extend(found);
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let body = text::required(body, POST_BODY)
        .map_err(|e| problems.push(InputProblem::new(e.into(), Some(Field::Body))))
        .ok();
    let parent = match reply_to.map(Uuid::parse_str) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            problems.push(no_such_parent());
            None
        }
    };
    let Some(body) = body.filter(|_| problems.is_empty()) else {
        return Err(AppError::Input(problems));
    };
    let mentioned = mention::mentioned_handles(&body);
    let author = viewer.user_id;
    // The parent's author, with a plain read outside the transaction (it
    // never changes): the guard locks the profiles before the parent's row.
    let parent = match parent {
        Some(id) => Some((id, parent_author(state, id).await?)),
        None => None,
    };
    let post = super::tasks::to_completion_retrying(state, |state| {
        let (body, mentioned, media) = (body.clone(), mentioned.clone(), media.clone());
        async move {
            let txn = state.db().begin().await?;
            if let Some((_, parent_author)) = parent {
                // The profiles first (the guard; the author's row
                // exclusively: its post count changes below).
                let guarded = guard_with(
                    &txn,
                    (author, Mode::Exclusive),
                    parent_author,
                    Field::ReplyTo,
                )
                .await;
                if let Err(e) = guarded {
                    txn.rollback().await?;
                    return Err(e);
                }
            }
            // Then the parent's count: its row stays locked until commit.
            let parent = parent.map(|(id, _)| id);
            let parent_author = match parent {
                Some(parent) => Some(
                    super::thread::add_reply(&txn, parent)
                        .await?
                        .ok_or_else(|| AppError::input(no_such_parent()))?,
                ),
                None => None,
            };
            if let Some(parent_author) = parent_author
                && let Err(e) = may_see_parent(&txn, author, parent_author).await
            {
                txn.rollback().await?;
                return Err(e);
            }
            let now = super::clock::now();
            let post = post::ActiveModel {
                id: Set(Uuid::now_v7()),
                author_id: Set(author),
                body: Set(body),
                created_at: Set(now),
                in_reply_to_id: Set(parent),
                like_count: Set(0),
                repost_count: Set(0),
                reply_count: Set(0),
            }
            .insert(&txn)
            .await
            // No profile: the account is being deleted; its token dies with it.
            .map_err(|e| {
                if super::db_error::is_foreign_key_violation(&e) {
                    AppError::Unauthenticated
                } else {
                    e.into()
                }
            })?;
            if let Err(e) =
                super::media::attach_to_post_in(&txn, author, post.id, &media, now).await
            {
                txn.rollback().await?;
                return Err(e);
            }
            super::profile::add_to_count(&txn, author, profile::Column::PostCount, 1).await?;
            let mut events = vec![Event::Posted {
                post: post.id,
                author,
            }];
            events.extend(parent.map(|post| Event::Counted { post }));
            events.extend(
                super::thread::record_new_post(&txn, &post, parent_author, &mentioned).await?,
            );
            let notified: Vec<Uuid> = events.iter().filter_map(Event::recipient).collect();
            let events = state.live().write(&txn, events).await?;
            txn.commit().await?;
            state.feed_cache().posted(author, post.id).await;
            state.feed_cache().inbox_changed(notified).await;
            state.live().publish(events);
            Ok(post)
        }
    })
    .await?;
    metrics::counter!("posts_total").increment(1);
    Ok(post)
}

/// The author of the post `parent`; NOT_FOUND on `replyTo` when there is none.
async fn parent_author(state: &AppState, parent: Uuid) -> Result<Uuid, AppError> {
    post::Entity::find_by_id(parent)
        .select_only()
        .column(post::Column::AuthorId)
        .into_tuple()
        .one(state.db())
        .await?
        .ok_or_else(|| AppError::input(no_such_parent()))
}

/// Whether `author` may see the post it replies to, past the guard (else
/// NOT_FOUND): read once the parent is locked, as a like does.
async fn may_see_parent(
    txn: &sea_orm::DatabaseTransaction,
    author: Uuid,
    parent_author: Uuid,
) -> Result<(), AppError> {
    if author == parent_author {
        return Ok(());
    }
    let parent_author = profile::Entity::find_by_id(parent_author)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::input(no_such_parent()))?;
    if parent_author.locked
        && !super::safety::visibility::may_see(txn, Some(author), &parent_author).await?
    {
        return Err(AppError::input(no_such_parent()));
    }
    Ok(())
}

/// `replyTo` names no post: malformed, unknown or deleted.
fn no_such_parent() -> InputProblem {
    InputProblem::new(ProblemKind::NotFound, Some(Field::ReplyTo))
}

/// Deletes one of the viewer's posts, with its likes, reposts, mentions
/// and the notifications about it; its images are forgotten (their objects
/// queued for deletion in the same transaction); its replies stay. Someone else's post,
/// an unknown one and a malformed id answer alike: FORBIDDEN. Its
/// `postChanged` streams end, and its parent's counts change.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn delete(state: &AppState, viewer: &Viewer, id: &str) -> Result<(), AppError> {
    let id = Uuid::parse_str(id).map_err(|_| AppError::Forbidden)?;
    let author = viewer.user_id;
    let deleted = super::tasks::to_completion_retrying(state, |state| async move {
        let txn = state.db().begin().await?;
        // The author's profile before the post's row (the locking
        // protocol: a like or reply has locked the profiles first).
        super::profile::add_to_count(&txn, author, profile::Column::PostCount, 0).await?;
        // A write first, holding the post's row: a like, repost or reply
        // of it now waits, then finds it gone.
        post::Entity::update_many()
            .col_expr(
                post::Column::ReplyCount,
                Expr::col(post::Column::ReplyCount),
            )
            .filter(post::Column::Id.eq(id))
            .filter(post::Column::AuthorId.eq(author))
            .exec(&txn)
            .await?;
        let Some(row) = post::Entity::find_by_id(id)
            .filter(post::Column::AuthorId.eq(author))
            .one(&txn)
            .await?
        else {
            return Ok(false);
        };
        // Whose feed entries go with it: the author's and its reposters'.
        let reposters: Vec<Uuid> = repost::Entity::find()
            .select_only()
            .column(repost::Column::UserId)
            .filter(repost::Column::PostId.eq(id))
            .into_tuple()
            .all(&txn)
            .await?;
        let notified = super::thread::forget_post(&txn, &row).await?;
        let queued = super::media::forget_post_in(&txn, id, super::clock::now()).await?;
        post::Entity::delete_many()
            .filter(post::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        super::profile::add_to_count(&txn, author, profile::Column::PostCount, -1).await?;
        let mut events = vec![Event::PostDeleted { post: id }];
        events.extend(row.in_reply_to_id.map(|post| Event::Counted { post }));
        let events = state.live().write(&txn, events).await?;
        txn.commit().await?;
        state
            .feed_cache()
            .changed(reposters.into_iter().chain([author]))
            .await;
        state.feed_cache().inbox_changed(notified).await;
        state.live().publish(events);
        if queued {
            state.media().deletion_wake().notify_one();
        }
        Ok(true)
    })
    .await?;
    if deleted {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// The posts with these ids that exist and `viewer` (none: anonymous) may
/// see (one statement, in no order): a reply's `replyTo`.
pub async fn visible_by_ids(
    state: &AppState,
    viewer: Option<Uuid>,
    ids: &[Uuid],
) -> Result<Vec<post::Model>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(post::Entity::find()
        .filter(post::Column::Id.is_in(ids.iter().copied()))
        .filter(visible_to(viewer))
        .all(state.db())
        .await?)
}

/// The post with this id, if `viewer` (none: anonymous) may see it (one
/// statement); a malformed id names none.
pub async fn by_id(
    state: &AppState,
    viewer: Option<Uuid>,
    id: &str,
) -> Result<Option<post::Model>, AppError> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    Ok(post::Entity::find_by_id(id)
        .filter(visible_to(viewer))
        .one(state.db())
        .await?)
}

/// A page of one author's posts, newest first (one statement); none when
/// `viewer` may not see them, the condition in the statement.
pub async fn by_author(
    state: &AppState,
    viewer: Option<Uuid>,
    author: Uuid,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<post::Model>, AppError> {
    let req = PageRequest::parse(Kind::Post, first, after)?;
    let query = post::Entity::find()
        .filter(post::Column::AuthorId.eq(author))
        .filter(visibility::may_see_posts(
            viewer.map(Expr::val),
            Expr::val(author),
            None,
        ));
    run(state, paged(query, req), req).await
}

/// The rule for a statement reading `post` alone: its author's posts are
/// for `viewer`.
fn visible_to(viewer: Option<Uuid>) -> sea_orm::Condition {
    visibility::may_see_posts(
        viewer.map(Expr::val),
        Expr::col((post::Entity, post::Column::AuthorId)),
        None,
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
