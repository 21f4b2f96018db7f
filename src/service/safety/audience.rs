//! The relations of an event's local recipients to the accounts the event
//! is about, read once per event for all of them, so that the live filter
//! decides each recipient without a statement of its own (`live::filter`
//! applies [`visibility`](super::visibility)'s rule to them).
//!
//! The statements go from the recipients' side, a chunk of them at a time:
//! an event reaches at most this instance's subscribers, while an account
//! may be muted or blocked by any number of others.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Query, SelectStatement, UnionType};
use uuid::Uuid;

use super::visibility::Relation;
use crate::entity::{block, follow, mute};
use crate::error::AppError;

/// Recipients a statement asks about at once (each one bound four times
/// at most, well under every backend's limit of bound values).
const CHUNK: usize = 500;

/// The accounts an event is about, and which of their relations count.
#[derive(Debug, Clone, Default)]
pub struct Parties {
    /// Blocks either way between a recipient and these count.
    pub blocking: Vec<Uuid>,
    /// A recipient's mute of these counts.
    pub muted: Vec<Uuid>,
    /// Whether a recipient follows this account counts (a locked author).
    pub followed: Option<Uuid>,
}

/// How each recipient stands with each party; a pair not read stands in
/// no relation ([`Relation::default`]).
#[derive(Debug, Default)]
pub struct Audience {
    relations: HashMap<(Uuid, Uuid), Relation>,
}

impl Audience {
    /// How `recipient` stands with `party`.
    pub fn relation(&self, recipient: Uuid, party: Uuid) -> Relation {
        self.relations
            .get(&(recipient, party))
            .copied()
            .unwrap_or_default()
    }
}

// What a row of the statement is: (kind, recipient, party).
const BLOCKS: i32 = 1;
const BLOCKED_BY: i32 = 2;
const MUTES: i32 = 3;
const FOLLOWS: i32 = 4;

/// Reads how each of `recipients` stands with `parties`: one statement
/// a [`CHUNK`] of recipients; none when there is nothing to read.
pub async fn audience(
    conn: &impl ConnectionTrait,
    recipients: &[Uuid],
    parties: &Parties,
) -> Result<Audience, AppError> {
    let mut audience = Audience::default();
    let nothing_counts =
        parties.blocking.is_empty() && parties.muted.is_empty() && parties.followed.is_none();
    if recipients.is_empty() || nothing_counts {
        return Ok(audience);
    }
    let backend = conn.get_database_backend();
    for chunk in recipients.chunks(CHUNK) {
        let statement = backend.build(&statement(chunk, parties));
        for row in conn.query_all_raw(statement).await? {
            let kind: i32 = row.try_get("", "kind")?;
            let recipient: Uuid = row.try_get("", "recipient")?;
            let party: Uuid = row.try_get("", "party")?;
            let relation = audience.relations.entry((recipient, party)).or_default();
            match kind {
                BLOCKS => relation.blocks = true,
                BLOCKED_BY => relation.blocked_by = true,
                MUTES => relation.mutes = true,
                _ => relation.follows = true,
            }
        }
    }
    Ok(audience)
}

/// `kind, recipient, party` of each relation that counts between `chunk`
/// and the parties: a `UNION ALL` of index seeks (`ux_block_pair`,
/// `ix_block_blocked_id`, `ux_mute_pair`, `ux_follow_pair`).
fn statement(chunk: &[Uuid], parties: &Parties) -> SelectStatement {
    let ids = || chunk.iter().copied();
    let pair = |kind: i32, recipient: Expr, party: Expr| {
        Query::select()
            .expr_as(Expr::val(kind), "kind")
            .expr_as(recipient, "recipient")
            .expr_as(party, "party")
            .take()
    };
    let mut parts: Vec<SelectStatement> = Vec::new();
    if !parties.blocking.is_empty() {
        let blocker = || Expr::col((block::Entity, block::Column::BlockerId));
        let blocked = || Expr::col((block::Entity, block::Column::BlockedId));
        parts.push(
            pair(BLOCKS, blocker(), blocked())
                .from(block::Entity)
                .and_where(blocker().is_in(ids()))
                .and_where(blocked().is_in(parties.blocking.iter().copied()))
                .take(),
        );
        parts.push(
            pair(BLOCKED_BY, blocked(), blocker())
                .from(block::Entity)
                .and_where(blocked().is_in(ids()))
                .and_where(blocker().is_in(parties.blocking.iter().copied()))
                .take(),
        );
    }
    if !parties.muted.is_empty() {
        let muter = Expr::col((mute::Entity, mute::Column::MuterId));
        let muted = Expr::col((mute::Entity, mute::Column::MutedId));
        parts.push(
            pair(MUTES, muter.clone(), muted.clone())
                .from(mute::Entity)
                .cond_where(
                    Cond::all()
                        .add(muter.is_in(ids()))
                        .add(muted.is_in(parties.muted.iter().copied())),
                )
                .take(),
        );
    }
    if let Some(followee) = parties.followed {
        let follower = Expr::col((follow::Entity, follow::Column::FollowerId));
        let followed = Expr::col((follow::Entity, follow::Column::FolloweeId));
        parts.push(
            pair(FOLLOWS, follower.clone(), followed.clone())
                .from(follow::Entity)
                .and_where(follower.is_in(ids()))
                .and_where(followed.eq(followee))
                .take(),
        );
    }
    let mut parts = parts.into_iter();
    // Never empty: the caller returns early when nothing counts.
    let mut union = parts.next().unwrap_or_default();
    for part in parts {
        union.union(UnionType::All, part);
    }
    union
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    use super::*;

    #[test]
    fn each_relation_is_read_by_one_statement_a_chunk_with_every_value_bound() {
        let parties = Parties {
            blocking: vec![Uuid::now_v7(), Uuid::now_v7()],
            muted: vec![Uuid::now_v7()],
            followed: Some(Uuid::now_v7()),
        };
        let chunk: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            let built = backend.build(&statement(&chunk, &parties));
            assert!(!built.sql.contains('\''), "{}", built.sql);
            assert_eq!(built.sql.matches("UNION ALL").count(), 3, "{}", built.sql);
            // 3 recipients and 2 parties twice (blocks both ways), 3 + 1
            // (mutes), 3 + 1 (follows), and the four kinds.
            assert_eq!(built.values.map_or(0, |v| v.0.len()), 10 + 4 + 4 + 4);
        }
    }
}
