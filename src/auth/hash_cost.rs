//! The `hash-cost` command: how long one Argon2id verify takes on this
//! machine, alone or with every core verifying, for capacity planning.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use argon2::Params;
use argon2::password_hash::PasswordHash;

use super::password::{DEFAULT_M_COST, DEFAULT_P_COST, DEFAULT_T_COST, HashError, Worker};

/// Runs the command: prints the median verify time, or the error.
pub fn run(rounds: u32, threads: u32) -> ExitCode {
    match measure_verify(rounds, threads) {
        Ok((median, threads)) => {
            println!(
                "argon2id m={DEFAULT_M_COST},t={DEFAULT_T_COST},p={DEFAULT_P_COST}: median verify \
                 {:.2} ms over {rounds} rounds on each of {threads} thread(s)",
                median.as_secs_f64() * 1000.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sns-api: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The median time of one verify with the default parameters, measured on
/// `threads` threads at once (`rounds` each; at most four per core; a CLI
/// tool, never the server's runtime), the way a hashing thread verifies: in
/// memory it reuses. Answers the median and the threads used.
pub fn measure_verify(rounds: u32, threads: u32) -> Result<(Duration, usize), HashError> {
    let params = Params::new(DEFAULT_M_COST, DEFAULT_T_COST, DEFAULT_P_COST, None)
        .map_err(|e| HashError::Internal(e.to_string()))?;
    let phc = Worker::new(params.clone()).hash(b"correct-horse-battery")?;
    let parsed = PasswordHash::new(&phc).map_err(|e| HashError::Internal(e.to_string()))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = usize::try_from(threads).unwrap_or(1).clamp(1, 4 * cores);
    let time_on_this_thread = || {
        let mut worker = Worker::new(params.clone());
        // The first verify allocates the block memory; every thread does it
        // at about the same time, so the timed rounds overlap.
        let _ = worker.verify(b"correct-horse-battery", &parsed);
        (0..rounds.max(1))
            .map(|_| {
                let begun = Instant::now();
                let _ = worker.verify(b"correct-horse-battery", &parsed);
                begun.elapsed()
            })
            .collect::<Vec<_>>()
    };
    let mut times = std::thread::scope(|scope| {
        let runs = (0..threads)
            .map(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, time_on_this_thread)
                    .map_err(|e| HashError::Internal(format!("starting a timing thread: {e}")))
            })
            .collect::<Vec<_>>();
        let mut all = Vec::new();
        for run in runs {
            all.extend(
                run?.join()
                    .map_err(|_| HashError::Internal("a timing thread panicked".into()))?,
            );
        }
        Ok::<_, HashError>(all)
    })?;
    times.sort();
    Ok((times[times.len() / 2], threads))
}
