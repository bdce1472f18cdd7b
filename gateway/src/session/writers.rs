//! The recording writer threads: a few OS threads (one per CPU, at most `MAX_THREADS`),
//! each running a single-threaded runtime on which the writer tasks of recordings run
//! ([`super::recorder`]). Compression, sealing, hashing, signing and the writes of every
//! recording happen here, never on the relay's runtime workers, so relaying one packet and
//! recording the one before run side by side. A recording's task stays on the thread it was
//! given (round robin); its fsyncs and its seal go to that runtime's blocking pool so a slow
//! disk holds no other recording's writes. The threads are started with the first
//! recording and live as long as the process. Not the queue between relay and writer (the
//! recorder's, bounded) and not the file format (crate `recordings`).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

/// Writer threads at most, whatever the CPU count.
const MAX_THREADS: usize = 4;

struct Pool {
    threads: Vec<Handle>,
    next: AtomicUsize,
}

static POOL: OnceLock<Option<Pool>> = OnceLock::new();

/// Starts the threads; `None` if not even one could be started.
fn start() -> Option<Pool> {
    let wanted = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS);
    let mut threads = Vec::with_capacity(wanted);
    for i in 0..wanted {
        // Its blocking pool (fsyncs, seals) carries the same name, so the CPU of recording
        // is told apart from the relay's (`bench/run` counts it by thread name).
        let runtime = match Builder::new_current_thread()
            .enable_time()
            .thread_name(format!("menwei-rec-{i}"))
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!("cannot start recording writer thread {i}: {e}");
                continue;
            }
        };
        let handle = runtime.handle().clone();
        let started = std::thread::Builder::new()
            .name(format!("menwei-rec-{i}"))
            .spawn(move || runtime.block_on(std::future::pending::<()>()));
        match started {
            Ok(_) => threads.push(handle),
            Err(e) => tracing::error!("cannot start recording writer thread {i}: {e}"),
        }
    }
    if threads.is_empty() {
        return None;
    }
    Some(Pool {
        threads,
        next: AtomicUsize::new(0),
    })
}

/// Runs a recording's writer task on one of the writer threads.
pub(super) fn spawn<F>(task: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let pool = POOL
        .get_or_init(start)
        .as_ref()
        .ok_or_else(|| std::io::Error::other("no recording writer thread could be started"))?;
    let i = pool.next.fetch_add(1, Ordering::Relaxed) % pool.threads.len();
    let thread = pool
        .threads
        .get(i)
        .ok_or_else(|| std::io::Error::other("no recording writer thread"))?;
    thread.spawn(task);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_writer_threads_not_the_callers() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        spawn(async move {
            let name = std::thread::current().name().map(str::to_string);
            let _ = tx.send(name);
        })
        .unwrap();
        let name = rx.await.unwrap().unwrap();
        assert!(name.starts_with("menwei-rec-"), "ran on {name}");
    }
}
