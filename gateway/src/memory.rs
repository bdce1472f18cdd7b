//! Giving memory back to the system after load.
//!
//! glibc's allocator keeps what a burst of sessions freed: 1,000 closed sessions left the
//! gateway at 175 MB. Every connection that closes counts here, and at most every
//! [`TRIM_EVERY`] a task asks the allocator to return its free pages (`malloc_trim`, which
//! walks every arena and releases whole free pages, not only the top of the heap). A
//! gateway with nothing closing never trims; one under steady churn trims once a period.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// The longest a burst's freed memory stays with the process once it is quiet.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Connections and sessions closed since the gateway started.
static CLOSED: AtomicU64 = AtomicU64::new(0);

/// Counts a closed connection or session: its memory is free to give back.
pub fn closed() {
    CLOSED.fetch_add(1, Ordering::Relaxed);
}

/// Trims after anything closed, at most every [`TRIM_EVERY`], until the gateway stops.
pub async fn run(mut stopped: watch::Receiver<bool>) {
    let mut trimmed_at = CLOSED.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let now = CLOSED.load(Ordering::Relaxed);
        if now == trimmed_at {
            continue;
        }
        trimmed_at = now;
        // It takes the allocator's locks and walks the heap: off the async workers.
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}

/// Returns the allocator's free pages to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: malloc_trim takes no pointers; it changes only the allocator's own free lists,
    // under the same locks every malloc and free takes.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl, other systems) give memory back on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
