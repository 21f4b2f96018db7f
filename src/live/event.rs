//! The events that subscriptions carry, and their rows in `live_event`.
//!
//! A service writes the events of a change in the change's transaction
//! ([`write`]: one statement, however many events), so an event exists
//! exactly when its change committed. After the commit the service hands
//! the written events to the hub (`Hub::publish`) for this instance's
//! subscribers; other instances read the rows (`live::relay`), woken on
//! PostgreSQL by a notification the hub sends after the commit.
//!
//! The notification is not sent inside the transaction: PostgreSQL takes a
//! lock for the whole database from a notifying transaction's commit until
//! its end, so notifying transactions commit one at a time (16 clients
//! writing one row a transaction: about 900 commits a second with the
//! `NOTIFY` inside, 4,800 without, on the development machine).

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, DbBackend, Iterable as _};
use uuid::Uuid;

use crate::entity::live_event;
use crate::error::AppError;

/// The PostgreSQL channel that wakes the other instances' relays; the
/// payload names the instance that wrote (see `Hub::tag`; empty from the
/// command line).
pub const CHANNEL: &str = "sns_live";

/// What happened, as subscriptions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A post (or a reply) entered the feeds of its author and of the
    /// author's followers.
    Posted { post: Uuid, author: Uuid },
    /// A repost entered the feeds of the reposter and of its followers.
    Reposted { post: Uuid, reposter: Uuid },
    /// A post's counts (likes, reposts, replies) changed.
    Counted { post: Uuid },
    /// A post was deleted.
    PostDeleted { post: Uuid },
    /// An account was deleted, and its posts with it.
    AccountDeleted { user: Uuid },
    /// `recipient`'s notification group was created or gained `actor`.
    Notified {
        recipient: Uuid,
        group: Uuid,
        actor: Uuid,
    },
}

/// An event with the id of its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub id: i64,
    pub event: Event,
}

/// The events of one committed change, for `Hub::publish`.
#[must_use = "publish the events once the transaction has committed"]
#[derive(Debug, Default)]
pub struct Batch(pub(super) Vec<Written>);

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The events with the ids of their rows, in the order written.
    pub fn written(&self) -> &[Written] {
        &self.0
    }
}

/// The columns of an event's row: kind, post, actor, recipient, group.
type Columns = (
    &'static str,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
);

impl Event {
    /// Whose inbox the event changed, if it is a notification.
    pub fn recipient(&self) -> Option<Uuid> {
        match *self {
            Self::Notified { recipient, .. } => Some(recipient),
            _ => None,
        }
    }

    fn columns(self) -> Columns {
        match self {
            Self::Posted { post, author } => ("posted", Some(post), Some(author), None, None),
            Self::Reposted { post, reposter } => {
                ("reposted", Some(post), Some(reposter), None, None)
            }
            Self::Counted { post } => ("counted", Some(post), None, None, None),
            Self::PostDeleted { post } => ("post_deleted", Some(post), None, None, None),
            Self::AccountDeleted { user } => ("account_deleted", None, Some(user), None, None),
            Self::Notified {
                recipient,
                group,
                actor,
            } => ("notified", None, Some(actor), Some(recipient), Some(group)),
        }
    }

    /// The event a row holds; none for a kind this version does not know
    /// (written by a newer instance) or a row missing what its kind needs.
    pub fn from_row(row: &live_event::Model) -> Option<Self> {
        let (post, actor) = (row.post_id, row.actor_id);
        Some(match row.kind.as_str() {
            "posted" => Self::Posted {
                post: post?,
                author: actor?,
            },
            "reposted" => Self::Reposted {
                post: post?,
                reposter: actor?,
            },
            "counted" => Self::Counted { post: post? },
            "post_deleted" => Self::PostDeleted { post: post? },
            "account_deleted" => Self::AccountDeleted { user: actor? },
            "notified" => Self::Notified {
                recipient: row.recipient_id?,
                group: row.group_id?,
                actor: actor?,
            },
            _ => return None,
        })
    }
}

/// Writes `events` within the caller's transaction, in one statement, and
/// answers them with their ids. Nothing for no events.
///
/// The ids: `RETURNING` on PostgreSQL and SQLite; on MySQL the first id of
/// the insert (`LAST_INSERT_ID()`) and the ones after it, as InnoDB hands a
/// multi-row insert of known length consecutive ids (with the default
/// `auto_increment_increment` of 1).
pub async fn write(conn: &impl ConnectionTrait, events: Vec<Event>) -> Result<Batch, AppError> {
    if events.is_empty() {
        return Ok(Batch::default());
    }
    let backend = conn.get_database_backend();
    let now = crate::service::clock::now();
    let mut insert = Query::insert();
    insert
        .into_table(live_event::Entity)
        .columns(live_event::Column::iter().filter(|c| !matches!(c, live_event::Column::Id)));
    for event in &events {
        let (kind, post, actor, recipient, group) = event.columns();
        insert
            .values([
                Expr::value(kind),
                Expr::value(post),
                Expr::value(actor),
                Expr::value(recipient),
                Expr::value(group),
                Expr::value(now),
            ])
            .map_err(AppError::internal)?;
    }
    let mut ids: Vec<i64> = match backend {
        DbBackend::MySql => {
            let done = conn.execute_raw(backend.build(&insert)).await?;
            let first = i64::try_from(done.last_insert_id()).map_err(AppError::internal)?;
            (first..).take(events.len()).collect()
        }
        _ => {
            insert.returning_col(live_event::Column::Id);
            conn.query_all_raw(backend.build(&insert))
                .await?
                .iter()
                .map(|row| row.try_get::<i64>("", "id"))
                .collect::<Result<_, _>>()?
        }
    };
    if ids.len() != events.len() {
        return Err(AppError::internal(format!(
            "{} live events written, {} ids answered",
            events.len(),
            ids.len()
        )));
    }
    // Each row's id comes from the sequence in the order of the rows.
    ids.sort_unstable();
    Ok(Batch(
        ids.into_iter()
            .zip(events)
            .map(|(id, event)| Written { id, event })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back_from_its_row() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for event in [
            Event::Posted { post: a, author: b },
            Event::Reposted {
                post: a,
                reposter: b,
            },
            Event::Counted { post: a },
            Event::PostDeleted { post: a },
            Event::AccountDeleted { user: b },
            Event::Notified {
                recipient: a,
                group: b,
                actor: c,
            },
        ] {
            let (kind, post_id, actor_id, recipient_id, group_id) = event.columns();
            assert!(kind.len() <= 16, "{kind} fits the column");
            let row = live_event::Model {
                id: 1,
                kind: kind.to_owned(),
                post_id,
                actor_id,
                recipient_id,
                group_id,
                created_at: chrono::Utc::now(),
            };
            assert_eq!(Event::from_row(&row), Some(event));
        }
    }

    #[test]
    fn a_row_of_an_unknown_kind_or_missing_a_column_is_no_event() {
        let row = live_event::Model {
            id: 1,
            kind: "later".into(),
            post_id: Some(Uuid::now_v7()),
            actor_id: None,
            recipient_id: None,
            group_id: None,
            created_at: chrono::Utc::now(),
        };
        assert_eq!(Event::from_row(&row), None);
        let posted = live_event::Model {
            kind: "posted".into(),
            ..row
        };
        assert_eq!(Event::from_row(&posted), None, "no author");
    }
}
