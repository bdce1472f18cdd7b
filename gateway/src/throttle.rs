//! Throttling of failed logins, per user name (from one source address) and per source
//! address: after `max_failures` failures for one user from one address, or four times as
//! many from one address across users, within `window`, further attempts from there are
//! refused until the oldest failure leaves the window. Not a ban list: nothing persists.
//!
//! Reachable before login, so bounded: keys are a SHA-256 of at most 256 bytes of the name
//! and the source (an IPv4 address or an IPv6 /64), never the client's text; at most
//! 100,000 keys, the oldest dropped first in O(1); each key holds at most `max_failures`
//! (times four for an address) instants.
//!
//! Why per user *and address* rather than per user alone: public-key logins cannot be
//! guessed, so the throttle is there to slow probing and floods, and a per-user lock
//! would let anyone lock an engineer out by failing on purpose from elsewhere.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Entries kept at most; past it the oldest key is dropped (one at a time, O(1)).
const MAX_KEYS: usize = 100_000;
/// An address may fail this many times the per-user limit across all user names.
const ADDRESS_FACTOR: usize = 4;
/// Of a user name, only this many bytes count: a name is at most this long anyway
/// (`policy::validate_name`), and a client's 200 KiB name costs no more than a real one.
const NAME_BYTES: usize = 256;

/// A fixed-size key: a digest of what is counted, never the client's text itself.
type Key = [u8; 32];

/// Failed-login counters shared by all connections of one gateway node.
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    table: Mutex<Table>,
}

/// The counters, and the order keys arrived in (to drop the oldest when full).
#[derive(Default)]
struct Table {
    failures: HashMap<Key, VecDeque<Instant>>,
    arrival: VecDeque<Key>,
}

/// Where a client comes from, as throttled: an IPv4 address, or the /64 of an IPv6 address
/// (one network hands its hosts a whole /64, so rotating inside it gains nothing).
fn source(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().get(..8).map(<[u8]>::to_vec).unwrap_or_default(),
        },
    }
}

fn key(parts: &[&[u8]]) -> Key {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

impl Throttle {
    /// A throttle allowing `max_failures` per user and address within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Throttle {
        Throttle {
            max_failures: usize::try_from(max_failures).unwrap_or(usize::MAX).max(1),
            window,
            table: Mutex::new(Table::default()),
        }
    }

    fn keys(user: &str, addr: Option<IpAddr>) -> Vec<(Key, usize)> {
        let name = user.as_bytes();
        let name = name.get(..NAME_BYTES).unwrap_or(name);
        let from = addr.map(source).unwrap_or_default();
        let mut keys = vec![(key(&[b"user", name, &from]), 1)];
        if addr.is_some() {
            keys.push((key(&[b"addr", &from]), ADDRESS_FACTOR));
        }
        keys
    }

    /// Whether `user` from `addr` has used up its failures.
    pub fn is_blocked(&self, user: &str, addr: Option<IpAddr>) -> bool {
        let Ok(mut table) = self.table.lock() else {
            // A poisoned lock means a panic elsewhere: fail closed.
            return true;
        };
        self.blocked(&mut table, &Self::keys(user, addr), Instant::now())
    }

    /// Counts one failure of `user` from `addr`.
    pub fn record_failure(&self, user: &str, addr: Option<IpAddr>) {
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        self.count(&mut table, Self::keys(user, addr), Instant::now());
    }

    /// Counts a failure of `user` from `addr` before the check that may fail (a password
    /// hash costs time and memory), so that concurrent attempts cannot all pass the limit:
    /// the look and the count are one step under the lock. `false`, counting nothing, when
    /// they are blocked already. A success gives the failure back with [`Throttle::forgive`].
    pub fn reserve(&self, user: &str, addr: Option<IpAddr>) -> bool {
        let Ok(mut table) = self.table.lock() else {
            return false;
        };
        let keys = Self::keys(user, addr);
        let now = Instant::now();
        if self.blocked(&mut table, &keys, now) {
            return false;
        }
        self.count(&mut table, keys, now);
        true
    }

    /// Gives back the failure [`Throttle::reserve`] counted, after a success.
    pub fn forgive(&self, user: &str, addr: Option<IpAddr>) {
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        for (key, _) in Self::keys(user, addr) {
            if let Some(q) = table.failures.get_mut(&key) {
                q.pop_back();
            }
        }
    }

    fn blocked(&self, table: &mut Table, keys: &[(Key, usize)], now: Instant) -> bool {
        keys.iter().any(|(key, factor)| {
            table.failures.get_mut(key).is_some_and(|q| {
                prune(q, now, self.window);
                q.len() >= self.max_failures.saturating_mul(*factor)
            })
        })
    }

    fn count(&self, table: &mut Table, keys: Vec<(Key, usize)>, now: Instant) {
        for (key, factor) in keys {
            if !table.failures.contains_key(&key) {
                if table.failures.len() >= MAX_KEYS {
                    if let Some(oldest) = table.arrival.pop_front() {
                        table.failures.remove(&oldest);
                    }
                }
                table.arrival.push_back(key);
            }
            let q = table.failures.entry(key).or_default();
            prune(q, now, self.window);
            if q.len() < self.max_failures.saturating_mul(factor) {
                q.push_back(now);
            }
        }
    }

    /// How many keys are counted (for tests and metrics).
    pub fn len(&self) -> usize {
        self.table.lock().map(|t| t.failures.len()).unwrap_or(0)
    }

    /// Whether nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn long_names_cost_no_more_than_short_ones_and_the_table_stays_bounded() {
        let t = Throttle::new(5, Duration::from_secs(60));
        let huge = "x".repeat(200 * 1024);
        t.record_failure(&huge, ip("10.0.0.9"));
        // Names agreeing on their first 256 bytes count together.
        let same_start = format!("{}y", "x".repeat(300));
        for _ in 0..4 {
            t.record_failure(&same_start, ip("10.0.0.9"));
        }
        assert!(t.is_blocked(&huge, ip("10.0.0.9")));
        // Past MAX_KEYS, the oldest keys go one at a time.
        let t = Throttle::new(5, Duration::from_secs(60));
        for i in 0..(MAX_KEYS + 10) {
            t.record_failure(&format!("u{i}"), None);
        }
        assert_eq!(t.len(), MAX_KEYS);
        assert!(!t.is_blocked(&format!("u{}", MAX_KEYS + 9), None));
    }

    #[test]
    fn an_ipv6_network_is_one_source() {
        let t = Throttle::new(1, Duration::from_secs(60));
        for host in 1..=4 {
            t.record_failure(&format!("u{host}"), ip(&format!("2001:db8:1:2::{host}")));
        }
        assert!(
            t.is_blocked("someone-new", ip("2001:db8:1:2:ffff::1")),
            "rotating inside a /64 escapes the throttle"
        );
        assert!(!t.is_blocked("someone-new", ip("2001:db8:1:3::1")));
        // An IPv4-mapped address is the IPv4 address.
        t.record_failure("v4", ip("10.0.0.7"));
        assert!(t.is_blocked("v4", ip("::ffff:10.0.0.7")));
    }

    #[test]
    fn reservations_hold_concurrent_attempts_to_the_limit_and_successes_give_them_back() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let granted = (0..10)
            .filter(|_| t.reserve("alice", ip("10.0.0.9")))
            .count();
        assert_eq!(
            granted, 3,
            "more attempts than the limit were let through at once"
        );
        let t = Throttle::new(3, Duration::from_secs(60));
        for _ in 0..10 {
            assert!(t.reserve("alice", ip("10.0.0.9")));
            t.forgive("alice", ip("10.0.0.9"));
        }
        assert!(
            !t.is_blocked("alice", ip("10.0.0.9")),
            "successes were counted as failures"
        );
    }

    #[test]
    fn concurrent_reservations_from_many_threads_stay_within_the_limit() {
        let t = std::sync::Arc::new(Throttle::new(3, Duration::from_secs(60)));
        let granted: usize = (0..16)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| t.reserve("alice", ip("10.0.0.9")))
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap_or(usize::MAX))
            .sum();
        assert_eq!(granted, 3);
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
