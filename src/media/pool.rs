//! The processing pool: `MEDIA_CONCURRENCY` threads of their own, fed by a
//! queue of `MEDIA_QUEUE` uploads; a full queue answers `Busy` at once. A
//! queued upload is a file handle: its bytes are read on the thread that
//! processes it, so memory grows with the threads, not with the queue.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::process::{self, Processed, Rejected};

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// The queue is full: SERVICE_UNAVAILABLE.
    Busy,
    /// The pool stopped, or a job was lost: a bug.
    Gone,
}

#[derive(Clone)]
pub struct MediaPool {
    jobs: Arc<crossbeam_channel::Sender<Job>>,
}

impl MediaPool {
    /// Starts `concurrency` threads with room for `queue` waiting uploads.
    pub fn start(concurrency: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue);
        for n in 0..concurrency.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("media-{n}"))
                .spawn(move || {
                    crate::auth::password::lower_priority();
                    // Ends when every sender (every clone of the pool) is gone.
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })?;
        }
        Ok(Self { jobs: Arc::new(tx) })
    }

    /// Reads the file (at most `max_bytes`) and processes it on a pool
    /// thread.
    pub async fn process(
        &self,
        mut file: std::fs::File,
        max_bytes: usize,
    ) -> Result<Result<Processed, Rejected>, PoolError> {
        self.run(move || {
            let mut bytes = Vec::new();
            match (&mut file)
                .take(max_bytes as u64 + 1)
                .read_to_end(&mut bytes)
            {
                Ok(n) if n > max_bytes => Err(Rejected::TooLarge),
                Ok(_) => process::process(&bytes),
                Err(_) => Err(Rejected::Unsupported),
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (tx, rx) = oneshot::channel();
        let queued = Instant::now();
        let job: Job = Box::new(move || {
            metrics::histogram!("media_process_wait_seconds")
                .record(queued.elapsed().as_secs_f64());
            let started = Instant::now();
            let out = f();
            metrics::histogram!("media_process_seconds").record(started.elapsed().as_secs_f64());
            // The caller may have gone (request cancelled); nothing to do then.
            let _ = tx.send(out);
        });
        self.jobs.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => {
                metrics::counter!("media_process_rejected_total").increment(1);
                PoolError::Busy
            }
            crossbeam_channel::TrySendError::Disconnected(_) => PoolError::Gone,
        })?;
        rx.await.map_err(|_| PoolError::Gone)
    }

    /// How many uploads wait for a processing thread.
    pub fn queue_depth(&self) -> usize {
        self.jobs.len()
    }
}
