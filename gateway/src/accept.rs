//! Accept loops that survive: what a listener does when `accept` fails (EMFILE, ENFILE,
//! ECONNABORTED, ...) and how refusals are reported without flooding the log. Shared by the
//! SSH and HTTPS front doors; it knows neither protocol.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a listener waits after a failed `accept` before trying again: long enough that a
/// process out of file descriptors does not spin, short enough that logins resume at once.
pub const BACKOFF: Duration = Duration::from_millis(100);

/// A `warn` at most once per `every`, carrying how many events it stands for.
pub struct RateLimitedWarn {
    what: &'static str,
    every: Duration,
    last: Mutex<Option<Instant>>,
    unreported: AtomicU64,
}

impl RateLimitedWarn {
    /// A reporter for events described by `what` ("SSH accept failed", ...), a line per
    /// `every` at most.
    pub const fn new(what: &'static str, every: Duration) -> RateLimitedWarn {
        RateLimitedWarn {
            what,
            every,
            last: Mutex::new(None),
            unreported: AtomicU64::new(0),
        }
    }

    /// Counts one event; logs it (with those not yet logged) unless a line went out within
    /// the last `every`.
    pub fn event(&self, detail: &dyn std::fmt::Display) {
        let count = self.unreported.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.is_some_and(|t| now.duration_since(t) < self.every) {
            return;
        }
        *last = Some(now);
        self.unreported.fetch_sub(count, Ordering::Relaxed);
        tracing::warn!("{}: {detail} ({count} since the last report)", self.what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_reported_once_and_counted() {
        let w = RateLimitedWarn::new("test", Duration::from_secs(60));
        for _ in 0..1000 {
            w.event(&"x");
        }
        // The first went out; the 999 others wait for the next line, which will count them.
        assert_eq!(w.unreported.load(Ordering::Relaxed), 999);
    }
}
