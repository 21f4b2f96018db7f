//! Blocks, mutes and locked profiles over a seeded graph, for the feed and
//! notifications benchmarks: [`set`] `on` writes them, `off` takes them all
//! away, so that one seeded database is measured with and without them,
//! side by side, the rest of it the same.
//!
//! `on`, the same rows at every run, for a graph (the feed's): mutes of a
//! 40th of the follows (the follower mutes the followee, whose posts and
//! reposts leave its feed), as many blocks between random accounts that
//! follow each other neither way (a block ends follows: the graph stays
//! the one seeded), 5% of the follow pairs' number in all; and every tenth
//! account locked (its followers still see it, and each viewer still
//! follows nine in ten of those it did). The viewers' pages stay full.
//! For one recipient (the inbox's): it mutes a 40th of the other accounts
//! and blocks as many it does not follow (their actions leave its inbox),
//! and every tenth other account is locked.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use sns_api::entity::{block, follow, mute, profile};
use uuid::Uuid;

/// Rows per INSERT (4 columns).
const ROWS: usize = 1000;

/// What `on` wrote: (blocks, mutes, locked profiles).
pub type Written = (usize, usize, usize);

/// Writes the rows (`on`) or takes every block, mute and lock away
/// (`off`), in one transaction; then refreshes PostgreSQL's statistics.
/// With `recipient`, the rows are of that account (see the module's doc).
pub async fn set(
    db: &DatabaseConnection,
    on: bool,
    recipient: Option<Uuid>,
) -> anyhow::Result<Written> {
    let txn = db.begin().await?;
    block::Entity::delete_many().exec(&txn).await?;
    mute::Entity::delete_many().exec(&txn).await?;
    profile::Entity::update_many()
        .col_expr(profile::Column::Locked, Expr::value(false))
        .filter(profile::Column::Locked.eq(true))
        .exec(&txn)
        .await?;
    let mut written = (0, 0, 0);
    if on {
        written = write(&txn, recipient).await?;
    }
    txn.commit().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("ANALYZE block, mute, profile")
            .await?;
    }
    Ok(written)
}

async fn write(txn: &impl ConnectionTrait, recipient: Option<Uuid>) -> anyhow::Result<Written> {
    let mut rng = StdRng::seed_from_u64(40);
    let accounts: Vec<Uuid> = profile::Entity::find()
        .select_only()
        .column(profile::Column::UserId)
        .order_by_asc(profile::Column::CreatedAt)
        .into_tuple()
        .all(txn)
        .await?;
    let mut edges: Vec<(Uuid, Uuid)> = follow::Entity::find()
        .select_only()
        .columns([follow::Column::FollowerId, follow::Column::FolloweeId])
        .order_by_asc(follow::Column::Id)
        .into_tuple()
        .all(txn)
        .await?;
    anyhow::ensure!(accounts.len() >= 10, "seed first");
    let followed: HashSet<(Uuid, Uuid)> = edges.iter().copied().collect();
    let mut muted = Vec::new();
    let mut blocked = HashSet::new();
    let locked: Vec<Uuid>;
    if let Some(r) = recipient {
        let mut others: Vec<Uuid> = accounts.iter().copied().filter(|&a| a != r).collect();
        let pairs = others.len() / 40;
        locked = others.iter().copied().step_by(10).collect();
        while muted.len() < pairs {
            let a = others.swap_remove(rng.random_range(0..others.len()));
            muted.push((r, a));
        }
        while blocked.len() < pairs && !others.is_empty() {
            let a = others.swap_remove(rng.random_range(0..others.len()));
            if !followed.contains(&(r, a)) && !followed.contains(&(a, r)) {
                blocked.insert((r, a));
            }
        }
    } else {
        let pairs = edges.len() / 40;
        locked = accounts.iter().copied().step_by(10).collect();
        for _ in 0..pairs {
            let k = rng.random_range(0..edges.len());
            muted.push(edges.swap_remove(k));
        }
        while blocked.len() < pairs {
            let a = accounts[rng.random_range(0..accounts.len())];
            let b = accounts[rng.random_range(0..accounts.len())];
            if a != b && !followed.contains(&(a, b)) && !followed.contains(&(b, a)) {
                blocked.insert((a, b));
            }
        }
    }
    let now = chrono::Utc::now();
    let mut blocks: Vec<(Uuid, Uuid)> = blocked.into_iter().collect();
    blocks.sort_unstable();
    for chunk in blocks.chunks(ROWS) {
        block::Entity::insert_many(chunk.iter().map(|&(a, b)| block::ActiveModel {
            id: Set(Uuid::now_v7()),
            blocker_id: Set(a),
            blocked_id: Set(b),
            created_at: Set(now),
        }))
        .exec_without_returning(txn)
        .await?;
    }
    for chunk in muted.chunks(ROWS) {
        mute::Entity::insert_many(chunk.iter().map(|&(a, b)| mute::ActiveModel {
            id: Set(Uuid::now_v7()),
            muter_id: Set(a),
            muted_id: Set(b),
            created_at: Set(now),
        }))
        .exec_without_returning(txn)
        .await?;
    }
    for chunk in locked.chunks(ROWS) {
        profile::Entity::update_many()
            .col_expr(profile::Column::Locked, Expr::value(true))
            .filter(profile::Column::UserId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    Ok((blocks.len(), muted.len(), locked.len()))
}
