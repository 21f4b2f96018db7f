//! Notifications: what the actions of others tell an account, grouped on
//! the server.
//!
//! Each notification group (`notification_group`) is about one subject of
//! one kind for one recipient: a post's likes, a post's reposts, a UTC
//! day's follows, one reply, one mention. Each actor in it is one event
//! (`notification_event`, its id a UUIDv7), and the group keeps its newest
//! event's id (`top_id`, the inbox's order and the group's `createdAt`) and
//! its number of actors.
//!
//! This module writes them, always inside the transaction of the action
//! that causes them ([`record`], [`retract`], and the `forget_*` of
//! deletions). Writers hold the lock that orders them: a like or repost has
//! just updated the post's count, a follow the followee's profile, so two
//! events of one group never race to create it.
//!
//! [`inbox`] reads them: pages of groups, their actors, the seen marker,
//! the unread count, and retention.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::entity::{notification_event as event, notification_group as group, post};
use crate::error::AppError;
use crate::live::Event;

pub mod inbox;
pub mod kept;

/// Groups whose events are handled per statement when an account goes.
const BATCH: usize = 500;

/// What a notification tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    Follow,
    Like,
    Repost,
    Reply,
    Mention,
    FollowRequest,
}

impl NotificationKind {
    pub const ALL: [Self; 6] = [
        Self::Follow,
        Self::Like,
        Self::Repost,
        Self::Reply,
        Self::Mention,
        Self::FollowRequest,
    ];

    /// The name stored in `notification_group.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Follow => "FOLLOW",
            Self::Like => "LIKE",
            Self::Repost => "REPOST",
            Self::Reply => "REPLY",
            Self::Mention => "MENTION",
            Self::FollowRequest => "FOLLOW_REQUEST",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == stored)
    }
}

/// What a group is about: a post (LIKE, REPOST: the recipient's post;
/// REPLY, MENTION: the reply or the mentioning post) or a UTC day (FOLLOW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Post(Uuid),
    Day(NaiveDate),
}

impl Subject {
    /// The follows of the day of `at` (UTC).
    pub fn day_of(at: DateTime<Utc>) -> Self {
        Self::Day(at.date_naive())
    }

    /// The key stored in `notification_group.subject`.
    fn key(self) -> String {
        match self {
            Self::Post(id) => id.to_string(),
            Self::Day(day) => day.format("%Y-%m-%d").to_string(),
        }
    }

    fn post(self) -> Option<Uuid> {
        match self {
            Self::Post(id) => Some(id),
            Self::Day(_) => None,
        }
    }
}

/// Tells `recipient` that `actor` did something of `kind` about `subject`:
/// the actor joins the group (as its newest actor, moving the group to the
/// top of the inbox and making it unread), or a new group starts. Nothing
/// when the actor is the recipient. Answers the event for subscriptions
/// (the group and the actor that joined it), if there is one.
pub async fn record(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    kind: NotificationKind,
    subject: Subject,
    actor: Uuid,
) -> Result<Option<Event>, AppError> {
    if recipient == actor || silenced(conn, recipient, actor).await? {
        return Ok(None);
    }
    let event_id = Uuid::now_v7();
    let existing = find(conn, recipient, kind, subject).await?;
    let mut joined = None;
    if let Some(group) = existing {
        // An actor is in a group once: an earlier event of theirs (a
        // follow, unfollow and follow again within a day) gives way.
        let earlier = event_of(conn, group.id, actor).await?;
        if let Some(earlier) = earlier {
            delete_event(conn, earlier).await?;
        }
        let added = if earlier.is_none() { 1 } else { 0 };
        let updated = group::Entity::update_many()
            .col_expr(group::Column::TopId, Expr::value(event_id))
            .col_expr(
                group::Column::ActorCount,
                Expr::col(group::Column::ActorCount).add(added),
            )
            .filter(group::Column::Id.eq(group.id))
            .exec(conn)
            .await?
            .rows_affected;
        // None updated: retention deleted the group since it was read.
        if updated > 0 {
            joined = Some(group.id);
        }
    }
    let group_id = match joined {
        Some(id) => id,
        None => {
            let id = Uuid::now_v7();
            group::ActiveModel {
                id: Set(id),
                recipient_id: Set(recipient),
                kind: Set(kind.as_str().to_owned()),
                subject: Set(subject.key()),
                post_id: Set(subject.post()),
                top_id: Set(event_id),
                actor_count: Set(1),
            }
            .insert(conn)
            .await?;
            id
        }
    };
    event::ActiveModel {
        id: Set(event_id),
        group_id: Set(group_id),
        actor_id: Set(actor),
    }
    .insert(conn)
    .await?;
    Ok(Some(Event::Notified {
        recipient,
        group: group_id,
        actor,
    }))
}

/// Whether `recipient` hears nothing of `actor`: one of the two blocks the
/// other (a mention across a block notifies nobody), or the recipient
/// mutes the actor (the muted cannot tell). One statement: a seek of the
/// recipient's profile with the rule's conditions (`safety::visibility`).
async fn silenced(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    actor: Uuid,
) -> Result<bool, AppError> {
    use crate::entity::profile;
    use crate::service::safety::visibility::{blocked_between, mutes};
    use sea_orm::sea_query::Cond;
    let (r, a) = (|| Expr::val(recipient), || Expr::val(actor));
    Ok(profile::Entity::find()
        .select_only()
        .column(profile::Column::UserId)
        .filter(profile::Column::UserId.eq(recipient))
        .filter(
            Cond::any()
                .add(blocked_between(r(), a()))
                .add(mutes(r(), a())),
        )
        .into_tuple::<Uuid>()
        .one(conn)
        .await?
        .is_some())
}

/// Takes `actor` out of the group of `kind` about `subject` of
/// `recipient` (an unlike, an unrepost); a group left empty goes.
pub async fn retract(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    kind: NotificationKind,
    subject: Subject,
    actor: Uuid,
) -> Result<(), AppError> {
    if let Some(group) = find(conn, recipient, kind, subject).await? {
        take_out(conn, group.id, actor).await?;
    }
    Ok(())
}

/// Takes `actor` out of the FOLLOW groups of `recipient` (an unfollow),
/// whatever day they followed.
pub async fn retract_follow(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    actor: Uuid,
) -> Result<(), AppError> {
    retract_kind(conn, recipient, NotificationKind::Follow, actor).await
}

/// Takes `actor` out of `recipient`'s groups of `kind`, whatever their
/// subject (a follow request withdrawn, approved or rejected: its day's
/// FOLLOW_REQUEST group).
pub(crate) async fn retract_kind(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    kind: NotificationKind,
    actor: Uuid,
) -> Result<(), AppError> {
    retract_where(conn, recipient, Some(kind), actor).await
}

/// Takes `actor` out of every group of `recipient` (a block: nothing one
/// did stays in the other's inbox); counts stay exact, empty groups go.
pub(crate) async fn retract_actor(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    actor: Uuid,
) -> Result<(), AppError> {
    retract_where(conn, recipient, None, actor).await
}

async fn retract_where(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    kind: Option<NotificationKind>,
    actor: Uuid,
) -> Result<(), AppError> {
    let mut inbox = Query::select();
    inbox
        .column(group::Column::Id)
        .from(group::Entity)
        .and_where(group::Column::RecipientId.eq(recipient));
    if let Some(kind) = kind {
        inbox.and_where(group::Column::Kind.eq(kind.as_str()));
    }
    let groups: Vec<Uuid> = event::Entity::find()
        .select_only()
        .column(event::Column::GroupId)
        .filter(event::Column::ActorId.eq(actor))
        .filter(event::Column::GroupId.in_subquery(inbox.to_owned()))
        .into_tuple()
        .all(conn)
        .await?;
    for group in groups {
        take_out(conn, group, actor).await?;
    }
    Ok(())
}

/// Removes `recipient`'s groups of `kind` whole (unlocking a profile
/// approves every request: its FOLLOW_REQUEST groups go at once).
pub(crate) async fn forget_kind(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    kind: NotificationKind,
) -> Result<(), AppError> {
    let groups = || {
        Query::select()
            .column(group::Column::Id)
            .from(group::Entity)
            .and_where(group::Column::RecipientId.eq(recipient))
            .and_where(group::Column::Kind.eq(kind.as_str()))
            .to_owned()
    };
    event::Entity::delete_many()
        .filter(event::Column::GroupId.in_subquery(groups()))
        .exec(conn)
        .await?;
    group::Entity::delete_many()
        .filter(group::Column::RecipientId.eq(recipient))
        .filter(group::Column::Kind.eq(kind.as_str()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes every notification about these posts (being deleted): their
/// likes and reposts, and the replies and mentions they are. Answers the
/// recipients whose groups went.
pub async fn forget_posts(
    conn: &impl ConnectionTrait,
    posts: &[Uuid],
) -> Result<Vec<Uuid>, AppError> {
    let mut recipients = Vec::new();
    for chunk in posts.chunks(BATCH) {
        let told: Vec<Uuid> = group::Entity::find()
            .select_only()
            .column(group::Column::RecipientId)
            .distinct()
            .filter(group::Column::PostId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        recipients.extend(told);
        let about = || {
            Query::select()
                .column(group::Column::Id)
                .from(group::Entity)
                .and_where(group::Column::PostId.is_in(chunk.iter().copied()))
                .to_owned()
        };
        event::Entity::delete_many()
            .filter(event::Column::GroupId.in_subquery(about()))
            .exec(conn)
            .await?;
        group::Entity::delete_many()
            .filter(group::Column::PostId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    recipients.sort_unstable();
    recipients.dedup();
    Ok(recipients)
}

/// Removes what an account (being deleted) is in: its inbox, the
/// notifications about its posts, and its events in the groups of others
/// (whose counts stay exact; a group left empty goes).
pub async fn forget_account(conn: &impl ConnectionTrait, user: Uuid) -> Result<(), AppError> {
    // Its inbox.
    let inbox = || {
        Query::select()
            .column(group::Column::Id)
            .from(group::Entity)
            .and_where(group::Column::RecipientId.eq(user))
            .to_owned()
    };
    event::Entity::delete_many()
        .filter(event::Column::GroupId.in_subquery(inbox()))
        .exec(conn)
        .await?;
    group::Entity::delete_many()
        .filter(group::Column::RecipientId.eq(user))
        .exec(conn)
        .await?;
    // About its posts (in the inboxes of others: a reply, a mention).
    let posts: Vec<Uuid> = post::Entity::find()
        .select_only()
        .column(post::Column::Id)
        .filter(post::Column::AuthorId.eq(user))
        .into_tuple()
        .all(conn)
        .await?;
    forget_posts(conn, &posts).await?;
    // Its events in the groups of others.
    let groups: Vec<Uuid> = event::Entity::find()
        .select_only()
        .column(event::Column::GroupId)
        .filter(event::Column::ActorId.eq(user))
        .into_tuple()
        .all(conn)
        .await?;
    for group in groups {
        take_out(conn, group, user).await?;
    }
    Ok(())
}

/// The group of `kind` about `subject` for `recipient`, if there is one.
async fn find(
    conn: &impl ConnectionTrait,
    recipient: Uuid,
    kind: NotificationKind,
    subject: Subject,
) -> Result<Option<group::Model>, AppError> {
    Ok(group::Entity::find()
        .filter(group::Column::RecipientId.eq(recipient))
        .filter(group::Column::Kind.eq(kind.as_str()))
        .filter(group::Column::Subject.eq(subject.key()))
        .one(conn)
        .await?)
}

/// Takes `actor`'s event out of `group`: one actor fewer, the newest
/// remaining event on top; an empty group goes.
async fn take_out(conn: &impl ConnectionTrait, group: Uuid, actor: Uuid) -> Result<(), AppError> {
    let Some(event) = event_of(conn, group, actor).await? else {
        return Ok(());
    };
    // Gone meanwhile (read in an older snapshot, on MySQL): its taking out
    // counted already.
    if event::Entity::delete_by_id(event)
        .exec(conn)
        .await?
        .rows_affected
        == 0
    {
        return Ok(());
    }
    // A locking read: the group's newest event as committed now, not as
    // the transaction's snapshot saw it (on MySQL a block reads the inbox
    // in a snapshot taken before it locked the posts).
    let newest: Option<Uuid> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::GroupId.eq(group))
        .order_by_desc(event::Column::Id)
        .limit(1)
        .lock_shared()
        .into_tuple()
        .one(conn)
        .await?;
    match newest {
        Some(top) => {
            group::Entity::update_many()
                .col_expr(group::Column::TopId, Expr::value(top))
                .col_expr(
                    group::Column::ActorCount,
                    Expr::col(group::Column::ActorCount).sub(1),
                )
                .filter(group::Column::Id.eq(group))
                .exec(conn)
                .await?;
        }
        None => {
            group::Entity::delete_many()
                .filter(group::Column::Id.eq(group))
                .exec(conn)
                .await?;
        }
    }
    Ok(())
}

/// The id of `actor`'s event in `group`. Read first, then deleted by its
/// key: a delete that finds nothing would take a gap lock on MySQL, which
/// deadlocks with another transaction's insert into that gap.
async fn event_of(
    conn: &impl ConnectionTrait,
    group: Uuid,
    actor: Uuid,
) -> Result<Option<Uuid>, AppError> {
    Ok(event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::GroupId.eq(group))
        .filter(event::Column::ActorId.eq(actor))
        .into_tuple()
        .one(conn)
        .await?)
}

async fn delete_event(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), AppError> {
    event::Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}
