//! The processing pool: `MEDIA_CONCURRENCY` threads of their own, fed by a
//! queue of `MEDIA_QUEUE` uploads; a full queue answers `Busy` at once. A
//! queued upload is a file handle: its bytes are read on the thread that
//! processes it, so memory grows with the threads, not with the queue.

use std::io::{Read as _, Seek as _};
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
                    // A job that panics costs its caller an answer, never
                    // the thread.
                    while let Ok(job) = rx.recv() {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
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
            // The size the file says it has spares reading it; the bounded
            // read below still holds if it grows meanwhile.
            if file.metadata().is_ok_and(|m| m.len() > max_bytes as u64) {
                return Err(Rejected::TooLarge);
            }
            // From the start: a handle cloned from another shares its
            // position (one file named twice in a document).
            if file.rewind().is_err() {
                return Err(Rejected::Unsupported);
            }
            let mut bytes = Vec::new();
            match (&mut file)
                .take(max_bytes as u64 + 1)
                .read_to_end(&mut bytes)
            {
                Ok(n) if n > max_bytes => Err(Rejected::TooLarge),
                Ok(_) => guarded(&bytes),
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

/// `process`, with a decoder's panic (a crafted file finding a bug in a
/// codec) answered as a file we do not take.
fn guarded(bytes: &[u8]) -> Result<Processed, Rejected> {
    std::panic::catch_unwind(|| process::process(bytes)).unwrap_or_else(|_| {
        tracing::error!("processing an image panicked; it is refused as unsupported");
        metrics::counter!("media_process_panics_total").increment(1);
        Err(Rejected::Unsupported)
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Seek as _, Write as _};
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let pool = MediaPool::start(1, 1).unwrap();
        let (started_tx, started) = mpsc::channel::<()>();
        let (release, release_rx) = mpsc::channel::<()>();
        // The one thread, held until released.
        let running = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    1
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        // The one place in the queue.
        let queued = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| 2).await }
        });
        while pool.queue_depth() < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| 3).await, Err(PoolError::Busy));
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(1));
        assert_eq!(queued.await.unwrap(), Ok(2));
        // Room again once the queue drained.
        assert_eq!(pool.run(|| 4).await, Ok(4));
    }

    #[tokio::test]
    async fn a_file_over_max_bytes_is_too_large_without_being_read_whole() {
        let pool = MediaPool::start(1, 1).unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![0xAB; 1 << 20]).unwrap();
        file.rewind().unwrap();
        // A clone shares the offset: it tells how far the pool read.
        let mut probe = file.try_clone().unwrap();
        let answer = pool.process(file, 1000).await.unwrap();
        assert_eq!(answer.unwrap_err(), Rejected::TooLarge);
        assert!(probe.stream_position().unwrap() <= 1001);
    }

    #[tokio::test]
    async fn a_file_within_max_bytes_is_processed() {
        let pool = MediaPool::start(1, 1).unwrap();
        let mut file = tempfile::tempfile().unwrap();
        let mut bytes = Vec::new();
        image::RgbImage::from_pixel(20, 10, image::Rgb([1, 2, 3]))
            .write_with_encoder(image::codecs::png::PngEncoder::new(&mut bytes))
            .unwrap();
        file.write_all(&bytes).unwrap();
        file.rewind().unwrap();
        let processed = pool.process(file, bytes.len()).await.unwrap().unwrap();
        assert_eq!((processed.full.width, processed.full.height), (20, 10));
    }

    #[tokio::test]
    async fn a_panicking_job_leaves_the_thread_serving() {
        let pool = MediaPool::start(1, 4).unwrap();
        let lost = pool.run(|| -> u32 { panic!("a codec bug") }).await;
        assert_eq!(lost, Err(PoolError::Gone));
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_file_read_before_is_read_again_from_its_start() {
        let mut file = tempfile::tempfile().unwrap();
        image::RgbImage::from_pixel(20, 10, image::Rgb([1, 2, 3]))
            .write_with_encoder(image::codecs::png::PngEncoder::new(&mut file))
            .unwrap();
        // The position at the end, as after another reader.
        file.seek(std::io::SeekFrom::End(0)).unwrap();
        let pool = MediaPool::start(1, 1).unwrap();
        let out = pool.process(file, 1 << 20).await.unwrap();
        assert!(out.is_ok(), "{out:?}");
    }
}
