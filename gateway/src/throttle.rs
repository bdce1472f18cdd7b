//! Throttling of failed logins, per user name (from one source address) and per source
//! address: after `max_failures` failures for one user from one address, or four times as
//! many from one address across users, within `window`, further attempts from there are
//! refused until the oldest failure leaves the window. Not a ban list: nothing persists.
//!
//! Why per user *and address* rather than per user alone: public-key logins cannot be
//! guessed, so the throttle is there to slow probing and floods, and a per-user lock
//! would let anyone lock an engineer out by failing on purpose from elsewhere.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; when more keys are seen the stalest are dropped.
const MAX_KEYS: usize = 100_000;
/// An address may fail this many times the per-user limit across all user names.
const ADDRESS_FACTOR: usize = 4;

/// Failed-login counters shared by all connections of one gateway node.
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// A throttle allowing `max_failures` per user and address within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Throttle {
        Throttle {
            max_failures: usize::try_from(max_failures).unwrap_or(usize::MAX).max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(user: &str, addr: Option<IpAddr>) -> Vec<(String, usize)> {
        let addr_text = addr.map(|a| a.to_string()).unwrap_or_default();
        let mut keys = vec![(format!("user:{user}@{addr_text}"), 1)];
        if addr.is_some() {
            keys.push((format!("addr:{addr_text}"), ADDRESS_FACTOR));
        }
        keys
    }

    /// Whether `user` from `addr` has used up its failures.
    pub fn is_blocked(&self, user: &str, addr: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            // A poisoned lock means a panic elsewhere: fail closed.
            return true;
        };
        Self::keys(user, addr).iter().any(|(key, factor)| {
            map.get_mut(key).is_some_and(|q| {
                prune(q, now, self.window);
                q.len() >= self.max_failures.saturating_mul(*factor)
            })
        })
    }

    /// Counts one failure of `user` from `addr`.
    pub fn record_failure(&self, user: &str, addr: Option<IpAddr>) {
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
        for (key, factor) in Self::keys(user, addr) {
            let q = map.entry(key).or_default();
            prune(q, now, self.window);
            if q.len() < self.max_failures.saturating_mul(factor) {
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

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn blocks_a_user_from_an_address_after_max_failures_but_not_elsewhere() {
        let t = Throttle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(!t.is_blocked("alice", ip("10.0.0.9")));
            t.record_failure("alice", ip("10.0.0.9"));
        }
        assert!(t.is_blocked("alice", ip("10.0.0.9")));
        assert!(!t.is_blocked("alice", ip("10.0.0.1")));
        assert!(!t.is_blocked("bob", ip("10.0.0.9")));
    }

    #[test]
    fn an_address_failing_across_many_users_is_blocked() {
        let t = Throttle::new(2, Duration::from_secs(60));
        for i in 0..8 {
            t.record_failure(&format!("u{i}"), ip("10.0.0.9"));
        }
        assert!(t.is_blocked("someone-new", ip("10.0.0.9")));
        assert!(!t.is_blocked("someone-new", ip("10.0.0.1")));
    }

    #[test]
    fn failures_leave_the_window() {
        let t = Throttle::new(1, Duration::from_millis(20));
        t.record_failure("a", None);
        assert!(t.is_blocked("a", None));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!t.is_blocked("a", None));
    }
}
