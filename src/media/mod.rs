//! Uploaded images: told by their content, decoded and re-encoded on
//! threads of their own (`pool`, `process`), stored through `object_store`
//! (`store`), and deleted from the store through a durable queue
//! (`deletion`). The rules of who may upload and attach what are
//! `service::media`.

pub mod deletion;
pub mod pool;
pub mod process;
pub mod store;

pub use pool::{MediaPool, PoolError};
pub use process::{Processed, Rejected};
pub use store::MediaStore;

/// What the media services share: the processing pool, the store and the
/// largest accepted file.
pub struct Media {
    pool: MediaPool,
    store: MediaStore,
    max_bytes: usize,
    /// Wakes this instance's deletion worker after a transaction queued
    /// deletions.
    deletion_wake: tokio::sync::Notify,
}

impl Media {
    pub fn new(pool: MediaPool, store: MediaStore, max_bytes: usize) -> Self {
        Self {
            pool,
            store,
            max_bytes,
            deletion_wake: tokio::sync::Notify::new(),
        }
    }

    pub fn pool(&self) -> &MediaPool {
        &self.pool
    }

    pub fn store(&self) -> &MediaStore {
        &self.store
    }

    /// `MEDIA_MAX_BYTES`.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Notified after a transaction that queued deletions committed.
    pub fn deletion_wake(&self) -> &tokio::sync::Notify {
        &self.deletion_wake
    }
}
