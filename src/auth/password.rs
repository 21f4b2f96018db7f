//! Argon2id on a bounded pool of dedicated threads, never on the async
//! runtime's. At most `concurrency` hashes run at once; up to `queue` callers
//! wait for a slot; one more is refused at once (`Busy`), which the API
//! answers as SERVICE_UNAVAILABLE.

use std::sync::Arc;
use std::time::Instant;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use tokio::sync::oneshot;

use crate::domain::PasswordInput;

/// OWASP's first Argon2id configuration, the contract's floor and default.
pub const DEFAULT_M_COST: u32 = 19 * 1024;
pub const DEFAULT_T_COST: u32 = 2;
pub const DEFAULT_P_COST: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password hash pool is full")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match { needs_rehash: bool },
    Mismatch,
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A hashing thread's parameters and Argon2 block memory. The memory (19 MiB
/// with the default parameters) is allocated at the thread's first hash and
/// reused by every later one, so the allocator never sees these buffers come
/// and go: resident memory stays at one buffer per hashing thread, however
/// many sign-ins arrive.
pub(crate) struct Worker {
    params: Params,
    memory: Vec<Block>,
}

impl Worker {
    pub(crate) fn new(params: Params) -> Self {
        Self {
            params,
            memory: Vec::new(),
        }
    }

    /// An Argon2id v19 PHC string of `password` with a random salt, under
    /// this worker's parameters.
    pub(crate) fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let internal = |e: argon2::password_hash::Error| HashError::Internal(e.to_string());
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(internal)?;
        let params = self.params.clone();
        let output = self
            .compute(
                Algorithm::Argon2id,
                Version::V0x13,
                params.clone(),
                password,
                salt.as_salt(),
            )
            .map_err(internal)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(internal)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches `stored`, computed with the stored hash's
    /// own algorithm, version and parameters (what `PasswordVerifier` does,
    /// in this worker's memory).
    pub(crate) fn verify(&mut self, password: &[u8], stored: &PasswordHash<'_>) -> bool {
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
            return false;
        };
        let Ok(version) = stored.version.map(Version::try_from).transpose() else {
            return false;
        };
        let Ok(params) = Params::try_from(stored) else {
            return false;
        };
        self.compute(
            algorithm,
            version.unwrap_or_default(),
            params,
            password,
            salt,
        )
        // `Output` compares in constant time.
        .is_ok_and(|computed| computed == expected)
    }

    fn compute(
        &mut self,
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &[u8],
        salt: Salt<'_>,
    ) -> argon2::password_hash::Result<Output> {
        let mut salt_buffer = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buffer)?;
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let blocks = params.block_count();
        if self.memory.len() < blocks {
            self.memory.resize(blocks, Block::default());
        }
        let memory = &mut self.memory[..blocks];
        let argon = Argon2::new(algorithm, version, params);
        Output::init_with(output_len, |out| {
            Ok(argon.hash_password_into_with_memory(password, salt, out, &mut *memory)?)
        })
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: crossbeam_channel::Sender<Job>,
    params: Params,
    /// The hash an unknown email is checked against, so that it costs what a
    /// wrong password costs.
    dummy_hash: String,
}

impl PasswordHasher {
    /// Starts `concurrency` hashing threads with room for `queue` waiting callers.
    pub async fn start(concurrency: usize, queue: usize) -> Result<Self, HashError> {
        Self::with_params(
            Params::new(DEFAULT_M_COST, DEFAULT_T_COST, DEFAULT_P_COST, None)
                .map_err(|e| HashError::Internal(e.to_string()))?,
            concurrency,
            queue,
        )
        .await
    }

    pub async fn with_params(
        params: Params,
        concurrency: usize,
        queue: usize,
    ) -> Result<Self, HashError> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue);
        for n in 0..concurrency.max(1) {
            let rx = rx.clone();
            let mut worker = Worker::new(params.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    // Ends when every sender (every clone of the hasher) is gone.
                    while let Ok(job) = rx.recv() {
                        job(&mut worker);
                    }
                })
                .map_err(|e| HashError::Internal(e.to_string()))?;
        }
        let mut hasher = Self {
            inner: Arc::new(Inner {
                jobs: tx,
                params,
                dummy_hash: String::new(),
            }),
        };
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let dummy = hasher.run(move |w| w.hash(&random)).await??;
        Arc::get_mut(&mut hasher.inner)
            .expect("no clone exists yet")
            .dummy_hash = dummy;
        Ok(hasher)
    }

    /// Hashes a password (a `NewPassword` that passed the rules, or a
    /// signed-in one being upgraded) into an Argon2id PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let bytes = password.as_bytes().to_vec();
        self.run(move |w| w.hash(&bytes)).await?
    }

    /// Checks a password against a stored PHC string, or against the dummy
    /// hash when there is none (unknown account), which is always a mismatch.
    pub async fn verify(
        &self,
        password: &PasswordInput,
        stored: Option<&str>,
    ) -> Result<Verdict, HashError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or(&self.inner.dummy_hash).to_owned();
        let bytes = password.expose().as_bytes().to_vec();
        let wanted = self.inner.params.clone();
        self.run(move |worker| -> Result<Verdict, HashError> {
            let parsed = PasswordHash::new(&phc)
                .map_err(|e| HashError::Internal(format!("stored hash: {e}")))?;
            // Verify with the stored hash's own parameters: an account hashed
            // under older settings must still sign in (and is then rehashed).
            let ok = worker.verify(&bytes, &parsed);
            Ok(match (ok, known) {
                (true, true) => Verdict::Match {
                    needs_rehash: is_weaker(&parsed, &wanted),
                },
                _ => Verdict::Mismatch,
            })
        })
        .await?
    }

    /// Runs `f` on a hashing thread; `Busy` when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let queued = Instant::now();
        let job: Job = Box::new(move |worker| {
            metrics::histogram!("password_hash_wait_seconds")
                .record(queued.elapsed().as_secs_f64());
            // The caller may have gone (request cancelled); nothing to do then.
            let _ = tx.send(f(worker));
        });
        self.inner.jobs.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => {
                metrics::counter!("password_hash_rejected_total").increment(1);
                HashError::Busy
            }
            crossbeam_channel::TrySendError::Disconnected(_) => {
                HashError::Internal("hash pool stopped".into())
            }
        })?;
        rx.await
            .map_err(|_| HashError::Internal("hash job dropped".into()))
    }

    /// Whether a job offered now would be refused (`Busy`): the queue is full.
    pub fn is_saturated(&self) -> bool {
        self.inner.jobs.is_full()
    }

    /// How many jobs wait for a hashing thread.
    pub fn queue_depth(&self) -> usize {
        self.inner.jobs.len()
    }
}

/// Hashing threads run under SCHED_IDLE on Linux (nice 10 elsewhere, or if
/// refused): when the cores are busy, cheap requests (`me`) go first and
/// argon2 takes what is left, instead of every request queueing behind 20 ms
/// of hashing. Not an error if refused.
pub(crate) fn lower_priority() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let idle = thread_priority::set_thread_priority_and_policy(
            thread_priority::thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        );
        match idle {
            Ok(()) => return,
            Err(e) => tracing::debug!(error = ?e, "SCHED_IDLE refused for the hashing thread"),
        }
    }
    // Cross-platform 23 of 0..=99 is niceness 10 on Linux.
    if let Ok(value) = ThreadPriorityValue::try_from(23u8)
        && let Err(e) =
            thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(value))
    {
        tracing::debug!(error = ?e, "could not lower the hashing thread's priority");
    }
}

/// A stored hash is weaker when it is not Argon2id v19 or any cost is below
/// the configured one.
fn is_weaker(stored: &PasswordHash<'_>, wanted: &Params) -> bool {
    if stored.algorithm.as_str() != "argon2id" || stored.version != Some(0x13) {
        return true;
    }
    match Params::try_from(stored) {
        Ok(p) => {
            p.m_cost() < wanted.m_cost()
                || p.t_cost() < wanted.t_cost()
                || p.p_cost() != wanted.p_cost()
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_is_argon2id_with_the_contract_parameters_and_verifies() {
        let h = PasswordHasher::start(2, 8).await.unwrap();
        let hash = h.hash("correct-horse-battery").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let ok = h
            .verify(&PasswordInput::new("correct-horse-battery"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(
            ok,
            Verdict::Match {
                needs_rehash: false
            }
        );
        let bad = h
            .verify(&PasswordInput::new("correct-horse-batterz"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(bad, Verdict::Mismatch);
    }

    #[test]
    fn the_worker_agrees_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(8 * 1024, 2, 1, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut worker = Worker::new(params);
        // The worker's hash verifies with the crate, and the crate's with the worker.
        let ours = worker.hash(b"correct-horse-battery").unwrap();
        let ours = PasswordHash::new(&ours).unwrap();
        assert!(
            argon
                .verify_password(b"correct-horse-battery", &ours)
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = argon
            .hash_password(b"correct-horse-battery", &salt)
            .unwrap();
        assert!(worker.verify(b"correct-horse-battery", &theirs));
        assert!(!worker.verify(b"correct-horse-batterz", &theirs));
        // Same salt, same string.
        let output = worker
            .compute(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::try_from(&theirs).unwrap(),
                b"correct-horse-battery",
                salt.as_salt(),
            )
            .unwrap();
        assert_eq!(Some(output), theirs.hash);
        // A hash made with other parameters (more memory, argon2i) still verifies,
        // after one made with less: the reused memory never leaks into the result.
        let other = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(12 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct-horse-battery", &salt)
        .unwrap();
        assert!(worker.verify(b"correct-horse-battery", &other));
        assert!(worker.verify(b"correct-horse-battery", &theirs));
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches_even_the_dummy_password() {
        let h = PasswordHasher::start(1, 8).await.unwrap();
        let v = h.verify(&PasswordInput::new(""), None).await.unwrap();
        assert_eq!(v, Verdict::Mismatch);
    }

    #[tokio::test]
    async fn weaker_hashes_ask_for_a_rehash() {
        let weak = PasswordHasher::with_params(Params::new(8 * 1024, 1, 1, None).unwrap(), 1, 4)
            .await
            .unwrap();
        let hash = weak.hash("correct-horse-battery").await.unwrap();
        let strong = PasswordHasher::start(1, 4).await.unwrap();
        let v = strong
            .verify(&PasswordInput::new("correct-horse-battery"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(v, Verdict::Match { needs_rehash: true });
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let h = PasswordHasher::start(1, 1).await.unwrap();
        // Hold the only thread and fill the one queue slot.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let h = h.clone();
            async move {
                h.run(move |_| {
                    let _ = release_rx.recv();
                })
                .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let queued = tokio::spawn({
            let h = h.clone();
            async move { h.run(|_| ()).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let refused = h.run(|_| ()).await;
        assert!(matches!(refused, Err(HashError::Busy)));
        release_tx.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        queued.await.unwrap().unwrap();
    }
}
