//! Who may see whose posts, replies and reposts: the rule, once, in the two
//! forms the read paths need.
//!
//! The rule: a viewer may see what `author` wrote or reposted unless one of
//! the two blocks the other, or the author is locked and the viewer is
//! neither the author nor one of its followers. Anonymous viewers see
//! what unlocked authors wrote. Profiles themselves, and their counts,
//! stay readable to everyone. Mutes hide nothing here: they take the muted
//! account out of the muter's feed and notifications only (see the feed's
//! statements and `notification::record`).
//!
//! - [`may_see_posts`] is the rule as a condition a statement adds to its
//!   `WHERE`, so that a page is filtered before its `LIMIT` and stays full.
//! - [`may_list`] is the lesser rule for profiles in lists: a block
//!   either way leaves them out.
//! - [`sees`] is the rule for an author already read, with the viewer's
//!   [`Relation`] to it ([`relations`] reads those for many at once).
//!
//! The conditions name their own tables with `vis_` aliases, apart from any
//! table of the statement they join.

use std::collections::HashMap;

use sea_orm::sea_query::{Cond, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entity::{block, follow, follow_request, mute, profile};
use crate::error::AppError;

const VIS_BLOCK: &str = "vis_block";
const VIS_FOLLOW: &str = "vis_follow";
const VIS_LOCKED: &str = "vis_locked";
const VIS_MUTE: &str = "vis_mute";

/// `a` blocks `b` (each a bound value or a column): an index seek of
/// `ux_block_pair`.
pub fn blocks(a: Expr, b: Expr) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from_as(block::Entity, VIS_BLOCK)
            .and_where(Expr::col((VIS_BLOCK, block::Column::BlockerId)).eq(a))
            .and_where(Expr::col((VIS_BLOCK, block::Column::BlockedId)).eq(b))
            .take(),
    )
}

/// One of `a` and `b` blocks the other.
pub fn blocked_between(a: Expr, b: Expr) -> Cond {
    Cond::any()
        .add(blocks(a.clone(), b.clone()))
        .add(blocks(b, a))
}

/// `who` mutes `whom`: an index seek of `ux_mute_pair`.
pub fn mutes(who: Expr, whom: Expr) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from_as(mute::Entity, VIS_MUTE)
            .and_where(Expr::col((VIS_MUTE, mute::Column::MuterId)).eq(who))
            .and_where(Expr::col((VIS_MUTE, mute::Column::MutedId)).eq(whom))
            .take(),
    )
}

/// `follower` follows `followee`.
pub fn follows(follower: Expr, followee: Expr) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from_as(follow::Entity, VIS_FOLLOW)
            .and_where(Expr::col((VIS_FOLLOW, follow::Column::FollowerId)).eq(follower))
            .and_where(Expr::col((VIS_FOLLOW, follow::Column::FolloweeId)).eq(followee))
            .take(),
    )
}

/// `author`'s profile is locked (a seek of its primary key).
fn locked(author: Expr) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from_as(profile::Entity, VIS_LOCKED)
            .and_where(Expr::col((VIS_LOCKED, profile::Column::UserId)).eq(author))
            .and_where(Expr::col((VIS_LOCKED, profile::Column::Locked)).eq(true))
            .take(),
    )
}

/// The rule as a condition: `viewer` (none: anonymous) may see the posts
/// of `author`. `author_locked` is the author's `locked` column when the
/// statement joins the author's profile already (else it is looked up).
///
/// Written so that it holds when `author` is null (a left join that found
/// no post: nothing hides it), and as separate `NOT EXISTS` terms, which
/// PostgreSQL turns into anti-joins estimated from the tables' statistics:
/// `NOT (EXISTS … OR EXISTS …)` stays a subplan it guesses passes half the
/// rows, and on an inbox of 9,000 groups that guess made it hash them all
/// and sort (9 ms a page) instead of walking its index (0.5 ms).
pub fn may_see_posts(viewer: Option<Expr>, author: Expr, author_locked: Option<Expr>) -> Cond {
    let unlocked = match author_locked {
        // Null where the left join found no author: nothing hides it.
        Some(column) => Cond::any()
            .add(column.clone().is_null())
            .add(column.eq(false)),
        None => Cond::all().add(locked(author.clone()).not()),
    };
    let Some(viewer) = viewer else {
        return unlocked;
    };
    Cond::all()
        .add(blocks(viewer.clone(), author.clone()).not())
        .add(blocks(author.clone(), viewer.clone()).not())
        .add(
            Cond::any()
                .add(unlocked)
                .add(author.clone().eq(viewer.clone()))
                .add(follows(viewer, author)),
        )
}

/// `viewer` (none: anonymous) may see `profile` listed among others (a
/// post's `mentions`, its `likedBy`, a notification's actors): unless one
/// of the two blocks the other. Profiles are public otherwise, locked ones
/// too; only what they write is guarded ([`may_see_posts`]).
pub fn may_list(viewer: Option<Expr>, profile: Expr) -> Cond {
    match viewer {
        None => Cond::all(),
        Some(viewer) => Cond::all().add(blocked_between(viewer, profile).not()),
    }
}

/// How the viewer stands with another account.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    /// The viewer blocks it.
    pub blocks: bool,
    /// It blocks the viewer.
    pub blocked_by: bool,
    /// The viewer mutes it.
    pub mutes: bool,
    /// The viewer follows it.
    pub follows: bool,
    /// The viewer asked to follow it and awaits approval.
    pub requested: bool,
}

impl Relation {
    /// One of the two blocks the other.
    pub fn blocked(&self) -> bool {
        self.blocks || self.blocked_by
    }
}

/// The rule for an author already read: whether `viewer` (none:
/// anonymous) may see its posts, given the viewer's relation to it.
pub fn sees(viewer: Option<Uuid>, author: &profile::Model, relation: &Relation) -> bool {
    match viewer {
        None => !author.locked,
        Some(v) if v == author.user_id => true,
        Some(_) => !relation.blocked() && (!author.locked || relation.follows),
    }
}

/// Whether `viewer` may see the posts of `author` ([`sees`], reading the
/// relation when it matters: none for the author itself or anonymously).
pub async fn may_see(
    conn: &impl ConnectionTrait,
    viewer: Option<Uuid>,
    author: &profile::Model,
) -> Result<bool, AppError> {
    let relation = match viewer {
        Some(v) if v != author.user_id => relations(conn, v, &[author.user_id])
            .await?
            .remove(&author.user_id)
            .unwrap_or_default(),
        _ => Relation::default(),
    };
    Ok(sees(viewer, author, &relation))
}

/// How `viewer` stands with each of `others` (four statements whatever
/// their number; none when there are none). Every account asked gets an
/// answer.
pub async fn relations(
    conn: &impl ConnectionTrait,
    viewer: Uuid,
    others: &[Uuid],
) -> Result<HashMap<Uuid, Relation>, AppError> {
    let mut found: HashMap<Uuid, Relation> =
        others.iter().map(|o| (*o, Relation::default())).collect();
    if others.is_empty() {
        return Ok(found);
    }
    let ids = || others.iter().copied();
    let blocks: Vec<(Uuid, Uuid)> = block::Entity::find()
        .select_only()
        .columns([block::Column::BlockerId, block::Column::BlockedId])
        .filter(
            Cond::any()
                .add(
                    Cond::all()
                        .add(block::Column::BlockerId.eq(viewer))
                        .add(block::Column::BlockedId.is_in(ids())),
                )
                .add(
                    Cond::all()
                        .add(block::Column::BlockedId.eq(viewer))
                        .add(block::Column::BlockerId.is_in(ids())),
                ),
        )
        .into_tuple()
        .all(conn)
        .await?;
    for (blocker, blocked) in blocks {
        if blocker == viewer {
            found.entry(blocked).or_default().blocks = true;
        }
        if blocked == viewer {
            found.entry(blocker).or_default().blocked_by = true;
        }
    }
    let muted: Vec<Uuid> = mute::Entity::find()
        .select_only()
        .column(mute::Column::MutedId)
        .filter(mute::Column::MuterId.eq(viewer))
        .filter(mute::Column::MutedId.is_in(ids()))
        .into_tuple()
        .all(conn)
        .await?;
    for m in muted {
        found.entry(m).or_default().mutes = true;
    }
    let followed: Vec<Uuid> = follow::Entity::find()
        .select_only()
        .column(follow::Column::FolloweeId)
        .filter(follow::Column::FollowerId.eq(viewer))
        .filter(follow::Column::FolloweeId.is_in(ids()))
        .into_tuple()
        .all(conn)
        .await?;
    for f in followed {
        found.entry(f).or_default().follows = true;
    }
    let requested: Vec<Uuid> = follow_request::Entity::find()
        .select_only()
        .column(follow_request::Column::TargetId)
        .filter(follow_request::Column::RequesterId.eq(viewer))
        .filter(follow_request::Column::TargetId.is_in(ids()))
        .into_tuple()
        .all(conn)
        .await?;
    for r in requested {
        found.entry(r).or_default().requested = true;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(locked: bool) -> profile::Model {
        let now = chrono::Utc::now();
        profile::Model {
            user_id: Uuid::now_v7(),
            handle: "author".to_owned(),
            display_name: None,
            bio: None,
            post_count: 0,
            follower_count: 0,
            following_count: 0,
            locked,
            avatar_id: None,
            banner_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_rule_for_each_relation() {
        let viewer = Some(Uuid::now_v7());
        let none = Relation::default();
        let follower = Relation {
            follows: true,
            ..none
        };
        let blocks = Relation {
            blocks: true,
            ..none
        };
        let blocked_by = Relation {
            blocked_by: true,
            ..none
        };
        let mutes = Relation {
            mutes: true,
            ..none
        };
        let (open, locked) = (author(false), author(true));
        assert!(sees(viewer, &open, &none));
        assert!(sees(viewer, &open, &follower));
        assert!(sees(viewer, &open, &mutes));
        assert!(!sees(viewer, &open, &blocks));
        assert!(!sees(viewer, &open, &blocked_by));
        assert!(!sees(viewer, &locked, &none));
        assert!(sees(viewer, &locked, &follower));
        assert!(sees(None, &open, &none));
        assert!(!sees(None, &locked, &none));
        assert!(sees(Some(locked.user_id), &locked, &none));
    }

    #[test]
    fn the_condition_is_bound_and_names_its_own_tables() {
        let viewer = Expr::val(Uuid::now_v7());
        let author = Expr::col((profile::Entity, profile::Column::UserId));
        let mut select = Query::select();
        select
            .column((profile::Entity, profile::Column::UserId))
            .from(profile::Entity)
            .cond_where(may_see_posts(Some(viewer), author, None));
        for backend in [
            sea_orm::DbBackend::Sqlite,
            sea_orm::DbBackend::Postgres,
            sea_orm::DbBackend::MySql,
        ] {
            let sql = backend.build(&select).sql;
            assert!(!sql.contains('\''), "{sql}");
            for alias in [VIS_BLOCK, VIS_FOLLOW, VIS_LOCKED] {
                assert!(sql.contains(alias), "{alias} in {sql}");
            }
        }
    }
}
