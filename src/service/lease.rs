//! Claiming due rows of a work queue (the mail outbox, the media deletion
//! queue) for a lease, so that the instances sharing a database each take
//! different rows.

use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    DatabaseBackend, DatabaseConnection, EntityTrait, QuerySelect, Select, TransactionTrait,
    UpdateMany,
};
use uuid::Uuid;

use crate::error::AppError;

/// Marks the rows `pick` selects (their ids, a batch, the due ones) with
/// `mark`'s conditional UPDATE; answers whether any was marked. PostgreSQL
/// and MariaDB pick with `FOR UPDATE SKIP LOCKED`, so instances claiming at
/// once take different rows without waiting; SQLite (one writer at a time)
/// relies on `mark` re-checking that the rows are still due, so of two
/// rounds that picked the same rows only the first takes them. Most rounds
/// find nothing: a plain read answers that without a transaction or lock.
pub async fn claim<E: EntityTrait>(
    db: &DatabaseConnection,
    pick: impl Fn() -> Select<E>,
    mark: impl Fn(Vec<Uuid>) -> UpdateMany<E>,
) -> Result<bool, AppError> {
    if pick()
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        let ids: Vec<Uuid> = pick().into_tuple().all(db).await?;
        if ids.is_empty() {
            return Ok(false);
        }
        mark(ids).exec(db).await?;
    } else {
        let txn = db.begin().await?;
        let ids: Vec<Uuid> = pick()
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .into_tuple()
            .all(&txn)
            .await?;
        if ids.is_empty() {
            txn.rollback().await?;
            return Ok(false);
        }
        mark(ids).exec(&txn).await?;
        txn.commit().await?;
    }
    Ok(true)
}
