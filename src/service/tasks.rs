//! Work that outlives its request's future, in tasks the state tracks so
//! that shutdown waits for them: transactions run to completion, and writes
//! left to the background.

use std::time::Duration;

use tracing::Instrument as _;

use crate::error::AppError;
use crate::state::AppState;

/// Runs `work` (a database transaction) in a task of its own and waits for
/// it. A request cut off mid-way (REQUEST_TIMEOUT, a client gone) drops its
/// future at any `.await`; a transaction dropped there half-done can leave
/// its connection out of the pool for good on MySQL (seen with a 2 ms
/// REQUEST_TIMEOUT). In its own task the transaction always commits or
/// rolls back; only its answer is lost. The task is tracked by the state, so
/// that shutdown waits for it before closing the pool. `work` is handed a
/// clone of the state for the task to own.
pub async fn to_completion<T, F, Fut>(state: &AppState, work: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(AppState) -> Fut,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
{
    state
        .tasks()
        .spawn(crate::db::counted(work(state.clone()).in_current_span()))
        .await
        .map_err(AppError::internal)?
}

/// Attempts of a transaction that the database keeps rolling back to break
/// deadlocks.
const DEADLOCK_ATTEMPTS: u32 = 3;

/// [`to_completion`], run again when the database rolled the transaction
/// back to break a deadlock ([`DEADLOCK_ATTEMPTS`] in all; then the last
/// answer, `SERVICE_UNAVAILABLE`). For transactions that lock rows of
/// other accounts (a like locks the post, then writes its author's
/// notification), which MySQL's foreign-key checks can make cross.
pub async fn to_completion_retrying<T, F, Fut>(state: &AppState, work: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: Fn(AppState) -> Fut,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
{
    let mut attempt = 1;
    loop {
        match to_completion(state, &work).await {
            Err(e) if e.is_deadlock() && attempt < DEADLOCK_ATTEMPTS => {
                tracing::debug!(attempt, "transaction rolled back by a deadlock; retrying");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Attempts of a background write before it is given up: a database that
/// cannot serve for a moment (a full pool, SQLite busy) is tried again.
const BACKGROUND_ATTEMPTS: u32 = 3;

/// Runs `work` (a database transaction, built afresh for each attempt) in a
/// task tracked by the state, after `delay`, without waiting for it: the
/// request answers at once, shutdown waits for the task, and tests can
/// wait for it (`wait_until_idle`). A database that cannot serve now is
/// tried again (`BACKGROUND_ATTEMPTS`, after 0.2 s, then 1 s). A failure is
/// never lost silently: it is logged at `error` with the error's message
/// chain (which holds no bound value) and counted in
/// `background_writes_failed_total{task}`. `task` names the write, for both.
/// Each attempt is handed a clone of the state.
pub fn in_background<F, Fut>(state: &AppState, task: &'static str, delay: Duration, mut work: F)
where
    F: FnMut(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), AppError>> + Send + 'static,
{
    let owned = state.clone();
    let run = async move {
        tokio::time::sleep(delay).await;
        let mut attempt = 1;
        loop {
            match work(owned.clone()).await {
                Ok(()) => return,
                Err(AppError::Unavailable(_)) if attempt < BACKGROUND_ATTEMPTS => {
                    let delay = if attempt == 1 { 200 } else { 1000 };
                    tracing::debug!(task, attempt, "background write: database busy; retrying");
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::error!(task, attempt, detail = %e.detail(), "background write failed");
                    metrics::counter!("background_writes_failed_total", "task" => task)
                        .increment(1);
                    return;
                }
            }
        }
    };
    state.tasks().spawn(run.in_current_span());
}

/// Waits until every task started so far, and any it started meanwhile, has
/// finished. For tests that cut a request off or that read what a
/// background write wrote; shutdown closes the tracker instead.
pub async fn wait_until_idle(state: &AppState) {
    let tasks = state.tasks();
    tasks.close();
    tasks.wait().await;
    tasks.reopen();
}
