//! Throttling of failed logins, per user name and per source address: after
//! `max_failures` within `window`, further attempts from that user or address are
//! refused until the oldest failure leaves the window. Not a ban list: nothing persists.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; when more keys are seen the stalest are dropped.
const MAX_KEYS: usize = 100_000;

/// Failed-login counters shared by all connections of one gateway node.
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// A throttle allowing `max_failures` within `window` per key.
    pub fn new(max_failures: u32, window: Duration) -> Throttle {
        Throttle {
            max_failures: usize::try_from(max_failures).unwrap_or(usize::MAX).max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The key for a user name.
    pub fn user_key(user: &str) -> String {
        format!("user:{user}")
    }

    /// The key for a source address.
    pub fn addr_key(addr: &std::net::IpAddr) -> String {
        format!("addr:{addr}")
    }

    /// Whether any of `keys` has used up its failures.
    pub fn is_blocked(&self, keys: &[String]) -> bool {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            // A poisoned lock means a panic elsewhere: fail closed.
            return true;
        };
        keys.iter().any(|key| {
            map.get_mut(key).is_some_and(|q| {
                prune(q, now, self.window);
                q.len() >= self.max_failures
            })
        })
    }

    /// Counts one failure against each of `keys`.
    pub fn record_failure(&self, keys: &[String]) {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| {
                prune(q, now, self.window);
                !q.is_empty()
            });
        }
        for key in keys {
            let q = map.entry(key.clone()).or_default();
            prune(q, now, self.window);
            if q.len() < self.max_failures * 2 {
                q.push_back(now);
            }
        }
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) > window) {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_for_that_key_only() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let alice = vec![Throttle::user_key("alice")];
        let bob = vec![Throttle::user_key("bob")];
        for _ in 0..3 {
            assert!(!t.is_blocked(&alice));
            t.record_failure(&alice);
        }
        assert!(t.is_blocked(&alice));
        assert!(!t.is_blocked(&bob));
    }

    #[test]
    fn failures_leave_the_window() {
        let t = Throttle::new(1, Duration::from_millis(20));
        let k = vec![Throttle::user_key("a")];
        t.record_failure(&k);
        assert!(t.is_blocked(&k));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!t.is_blocked(&k));
    }
}
