//! The check every write across two accounts makes first (a follow, a
//! follow request, a like, a repost, a reply): neither blocks the other.
//!
//! It follows the locking protocol: both profile rows, in the order of
//! their ids, then a locking read of a block either way. `block` takes
//! both profile rows exclusively before it writes its row, so a write that
//! passed the guard commits before the block starts (and the block then
//! undoes it), or waits for the block and finds its row: nothing is left
//! across a block, and as both sides lock in one order, nothing deadlocks.
//!
//! On SQLite, row locks do not exist and a transaction that reads before it
//! writes fails when another commits meanwhile; every lock here is then a
//! write (which takes the database's one write lock at once and waits for
//! it), so the caller's later writes never upgrade a read.

use sea_orm::sea_query::{Cond, Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entity::{block, profile};
use crate::error::AppError;
use crate::service::problem::{Field, InputProblem, ProblemKind};

/// How a profile row is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `SELECT … FOR SHARE`: others may share it; `block` waits.
    Shared,
    /// An update by nothing: for a transaction that updates the row later
    /// (a share it would upgrade could deadlock with another's).
    Exclusive,
}

/// Locks `actor`'s and `other`'s profile rows (in the order of their ids;
/// one row when they are one account), then answers `BLOCKED` on `field`
/// when one of them blocks the other.
pub async fn guard(
    conn: &impl ConnectionTrait,
    actor: Uuid,
    other: Uuid,
    field: Field,
) -> Result<(), AppError> {
    guard_with(conn, (actor, Mode::Shared), other, field).await
}

/// [`guard`], with the actor's row locked in `mode` (a reply writes its
/// author's post count: `Exclusive`).
pub async fn guard_with(
    conn: &impl ConnectionTrait,
    (actor, mode): (Uuid, Mode),
    other: Uuid,
    field: Field,
) -> Result<(), AppError> {
    lock_in_order(conn, &[(actor, mode), (other, Mode::Shared)]).await?;
    if actor != other && block_stands(conn, actor, other).await? {
        return Err(AppError::input(InputProblem::new(
            ProblemKind::Blocked,
            Some(field),
        )));
    }
    Ok(())
}

/// Locks these profile rows in the order of their ids (an account named
/// twice once, in the stronger mode).
pub async fn lock_in_order(
    conn: &impl ConnectionTrait,
    rows: &[(Uuid, Mode)],
) -> Result<(), AppError> {
    for (id, mode) in in_order(rows, conn.get_database_backend()) {
        match mode {
            Mode::Exclusive => {
                profile::Entity::update_many()
                    .col_expr(
                        profile::Column::FollowerCount,
                        Expr::col(profile::Column::FollowerCount).add(0),
                    )
                    .filter(profile::Column::UserId.eq(id))
                    .exec(conn)
                    .await?;
            }
            Mode::Shared => {
                profile::Entity::find_by_id(id)
                    .select_only()
                    .column(profile::Column::UserId)
                    .lock_shared()
                    .into_tuple::<Uuid>()
                    .one(conn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The rows to lock, each once, by id; every lock a write on SQLite.
fn in_order(rows: &[(Uuid, Mode)], backend: DbBackend) -> Vec<(Uuid, Mode)> {
    let mut sorted: Vec<(Uuid, Mode)> = Vec::with_capacity(rows.len());
    for &(id, mode) in rows {
        let mode = if backend == DbBackend::Sqlite {
            Mode::Exclusive
        } else {
            mode
        };
        match sorted.iter_mut().find(|(i, _)| *i == id) {
            Some(seen) if mode == Mode::Exclusive => seen.1 = Mode::Exclusive,
            Some(_) => {}
            None => sorted.push((id, mode)),
        }
    }
    sorted.sort_by_key(|(id, _)| *id);
    sorted
}

/// One of `a` and `b` blocks the other: a locking read (it sees the block
/// committed while this transaction waited for the profiles).
async fn block_stands(conn: &impl ConnectionTrait, a: Uuid, b: Uuid) -> Result<bool, AppError> {
    Ok(block_read(a, b)
        .into_tuple::<Uuid>()
        .one(conn)
        .await?
        .is_some())
}

/// The block rows between `a` and `b`, either way, read with a share lock.
fn block_read(a: Uuid, b: Uuid) -> sea_orm::Select<block::Entity> {
    let pair = |x: Uuid, y: Uuid| {
        Cond::all()
            .add(block::Column::BlockerId.eq(x))
            .add(block::Column::BlockedId.eq(y))
    };
    block::Entity::find()
        .select_only()
        .column(block::Column::Id)
        .filter(Cond::any().add(pair(a, b)).add(pair(b, a)))
        .lock_shared()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (Uuid, Uuid) {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        if a < b { (a, b) } else { (b, a) }
    }

    #[test]
    fn rows_are_locked_in_the_order_of_their_ids() {
        let (low, high) = ids();
        let order = in_order(
            &[(high, Mode::Exclusive), (low, Mode::Shared)],
            DbBackend::Postgres,
        );
        assert_eq!(order, vec![(low, Mode::Shared), (high, Mode::Exclusive)]);
    }

    #[test]
    fn one_account_named_twice_is_locked_once_in_the_stronger_mode() {
        let (a, _) = ids();
        for rows in [
            [(a, Mode::Shared), (a, Mode::Exclusive)],
            [(a, Mode::Exclusive), (a, Mode::Shared)],
        ] {
            assert_eq!(
                in_order(&rows, DbBackend::MySql),
                vec![(a, Mode::Exclusive)]
            );
        }
        assert_eq!(
            in_order(&[(a, Mode::Shared), (a, Mode::Shared)], DbBackend::MySql),
            vec![(a, Mode::Shared)]
        );
    }

    #[test]
    fn every_lock_is_a_write_on_sqlite() {
        let (low, high) = ids();
        let order = in_order(
            &[(low, Mode::Shared), (high, Mode::Shared)],
            DbBackend::Sqlite,
        );
        assert_eq!(order, vec![(low, Mode::Exclusive), (high, Mode::Exclusive)]);
    }

    #[test]
    fn the_block_read_is_a_locking_read_of_both_directions() {
        use sea_orm::QueryTrait;
        let (a, b) = ids();
        let pg = block_read(a, b).build(DbBackend::Postgres);
        assert!(pg.sql.ends_with("FOR SHARE"), "{}", pg.sql);
        // MariaDB has no FOR SHARE.
        let my = block_read(a, b).build(DbBackend::MySql);
        assert!(my.sql.ends_with("LOCK IN SHARE MODE"), "{}", my.sql);
        let values = pg.values.map(|v| v.0).unwrap_or_default();
        let bound: Vec<_> = values
            .iter()
            .filter_map(|v| match v {
                sea_orm::Value::Uuid(Some(u)) => Some(*u),
                _ => None,
            })
            .collect();
        assert_eq!(bound, vec![a, b, b, a], "{}", pg.sql);
    }
}
