//! Reports: an account tells the operators about a profile or a post. Each
//! is stored with a copy of what it named (the handle, the post's body), so
//! that it still says what was reported after the post or the account
//! goes; operators list, read and resolve them (`sns-api reports …`).
//!
//! A reporter files at most `REPORT_LIMIT` reports per window (the attempt
//! counters of `throttle`, shared by every instance). A block does not stop
//! a report: who was harassed must be able to report after blocking. A
//! locked account's post is reportable by those who may see it only.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::visibility;
use crate::auth::Viewer;
use crate::domain::text::{self, REPORT_COMMENT};
use crate::entity::report;
use crate::error::AppError;
use crate::service::problem::{Field, InputProblem, ProblemKind};
use crate::state::AppState;

/// Why an account reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Spam,
    Harassment,
    Illegal,
    Other,
}

impl Reason {
    pub const ALL: [Self; 4] = [Self::Spam, Self::Harassment, Self::Illegal, Self::Other];

    /// The name stored in `report.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spam => "SPAM",
            Self::Harassment => "HARASSMENT",
            Self::Illegal => "ILLEGAL",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == stored)
    }
}

/// What a report names and says, as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct Filing<'a> {
    pub handle: Option<&'a str>,
    pub post_id: Option<&'a str>,
    pub reason: Reason,
    pub comment: Option<&'a str>,
}

/// What a filed report is about, as found.
struct Target {
    account: Uuid,
    handle: String,
    post: Option<(Uuid, String)>,
}

/// Files the viewer's report. Naming both or neither of a handle and a
/// post, or oneself (one's profile or one's post), is a top-level
/// BAD_USER_INPUT; an unknown target and a comment over 1,000 code points
/// are reported together in the payload; past `REPORT_LIMIT`, RATE_LIMITED.
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn file(state: &AppState, viewer: &Viewer, filing: Filing<'_>) -> Result<(), AppError> {
    if filing.handle.is_some() == filing.post_id.is_some() {
        return Err(AppError::BadUserInput(
            "A report names exactly one of `handle` and `postId`.".to_owned(),
        ));
    }
    let mut problems = Vec::new();
    let comment = match filing.comment.map(|c| text::optional(c, REPORT_COMMENT)) {
        None => None,
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            problems.push(InputProblem::new(e.into(), Some(Field::Comment)));
            None
        }
    };
    let target = match find_target(state, viewer, filing).await? {
        Ok(target) => Some(target),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    if target.as_ref().is_some_and(|t| t.account == viewer.user_id) {
        return Err(AppError::BadUserInput(
            "You cannot report yourself.".to_owned(),
        ));
    }
    let Some(target) = target.filter(|_| problems.is_empty()) else {
        return Err(AppError::Input(problems));
    };
    let limit = state.policy().rate_limits.reports;
    if let Some(retry) =
        crate::service::throttle::hit(state, &report_key(viewer.user_id), limit).await?
    {
        metrics::counter!("rate_limited_total", "limit" => "report").increment(1);
        return Err(AppError::input(InputProblem::rate_limited(retry)));
    }
    let (post_id, post_body) = target.post.unzip();
    report::ActiveModel {
        id: Set(Uuid::now_v7()),
        reporter_id: Set(viewer.user_id),
        account_id: Set(target.account),
        handle: Set(target.handle),
        post_id: Set(post_id),
        post_body: Set(post_body),
        reason: Set(filing.reason.as_str().to_owned()),
        comment: Set(comment),
        created_at: Set(crate::service::clock::now()),
        resolved_at: Set(None),
        resolution: Set(None),
    }
    .insert(state.db())
    .await?;
    metrics::counter!("reports_total", "reason" => filing.reason.as_str()).increment(1);
    tracing::info!(reason = filing.reason.as_str(), "report filed");
    Ok(())
}

/// The key of a reporter's counter in `throttle`.
pub fn report_key(reporter: Uuid) -> String {
    format!("report:{reporter}")
}

/// The profile or post a filing names; an input problem when there is none
/// the viewer may report.
async fn find_target(
    state: &AppState,
    viewer: &Viewer,
    filing: Filing<'_>,
) -> Result<Result<Target, InputProblem>, AppError> {
    if let Some(handle) = filing.handle {
        let found = crate::service::profile::by_handle(state, handle).await?;
        return Ok(found
            .map(|p| Target {
                account: p.user_id,
                handle: p.handle,
                post: None,
            })
            .ok_or(InputProblem::new(
                ProblemKind::NotFound,
                Some(Field::Handle),
            )));
    }
    let not_found = InputProblem::new(ProblemKind::NotFound, Some(Field::PostId));
    let Some(id) = filing.post_id.and_then(|id| Uuid::parse_str(id).ok()) else {
        return Ok(Err(not_found));
    };
    let Some(found) = crate::service::thread::post_with_author(state, id).await? else {
        return Ok(Err(not_found));
    };
    // A block does not stop a report; a lock does, for those who may not
    // see the post.
    let relation = visibility::relations(state.db(), viewer.user_id, &[found.author.user_id])
        .await?
        .remove(&found.author.user_id)
        .unwrap_or_default();
    let unblocked = visibility::Relation {
        blocks: false,
        blocked_by: false,
        ..relation
    };
    if !visibility::sees(Some(viewer.user_id), &found.author, &unblocked) {
        return Ok(Err(not_found));
    }
    Ok(Ok(Target {
        account: found.author.user_id,
        handle: found.author.handle,
        post: Some((found.post.id, found.post.body)),
    }))
}

// ------------------------------------------------------------ operators

/// Which reports a listing holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The open ones, oldest first: the queue to work through.
    Open,
    /// All of them, newest first.
    All,
}

/// Reports for operators (one statement).
pub async fn list(
    db: &impl sea_orm::ConnectionTrait,
    listing: Listing,
    limit: u64,
) -> Result<Vec<report::Model>, AppError> {
    let query = report::Entity::find();
    let query = match listing {
        Listing::Open => query
            .filter(report::Column::ResolvedAt.is_null())
            .order_by_asc(report::Column::Id),
        Listing::All => query.order_by_desc(report::Column::Id),
    };
    Ok(query.limit(limit).all(db).await?)
}

/// One report, by its id as printed; none for an unknown or malformed id.
pub async fn by_id(
    db: &impl sea_orm::ConnectionTrait,
    id: &str,
) -> Result<Option<report::Model>, AppError> {
    let Ok(id) = Uuid::parse_str(id.trim()) else {
        return Ok(None);
    };
    Ok(report::Entity::find_by_id(id).one(db).await?)
}

/// How many open reports name `account` (the one shown among them).
pub async fn open_about(
    db: &impl sea_orm::ConnectionTrait,
    account: Uuid,
) -> Result<u64, AppError> {
    use sea_orm::PaginatorTrait as _;
    Ok(report::Entity::find()
        .filter(report::Column::AccountId.eq(account))
        .filter(report::Column::ResolvedAt.is_null())
        .count(db)
        .await?)
}

/// What resolving a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Now,
    /// It was resolved before; nothing changed.
    Already(DateTime<Utc>),
}

/// Marks the report resolved at `now` with the operator's note; a report
/// resolved already keeps its first resolution. None: no such report.
pub async fn resolve(
    db: &impl sea_orm::ConnectionTrait,
    id: Uuid,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Resolved>, AppError> {
    let note = note
        .map(|n| text::optional(n, REPORT_COMMENT))
        .transpose()
        .map_err(|_| AppError::BadUserInput("The note is over 1,000 characters.".to_owned()))?
        .flatten();
    let updated = report::Entity::update_many()
        .col_expr(
            report::Column::ResolvedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .col_expr(
            report::Column::Resolution,
            sea_orm::sea_query::Expr::value(note),
        )
        .filter(report::Column::Id.eq(id))
        .filter(report::Column::ResolvedAt.is_null())
        .exec(db)
        .await?;
    if updated.rows_affected > 0 {
        return Ok(Some(Resolved::Now));
    }
    Ok(report::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|r| Resolved::Already(r.resolved_at.unwrap_or(now))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_their_stored_names() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("spam"), None);
    }
}
