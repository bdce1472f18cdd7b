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
//! Across nodes: each node writes the failures it counts to the database (`login_failures`,
//! the keys' digests, never names or addresses) and reads the other nodes' every [`SYNC`]
//! ([`share`]), so failures spread over several nodes behind a balancer count together,
//! within a second. The database is not on the login's path: a node counts its own at once
//! and keeps counting them when the database does not answer. Only with PostgreSQL: SQLite
//! is one node.
//!
//! Why per user *and address* rather than per user alone: public-key logins cannot be
//! guessed, so the throttle is there to slow probing and floods, and a per-user lock
//! would let anyone lock an engineer out by failing on purpose from elsewhere.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use policy::Millis;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::db::Db;

/// Entries kept at most; past it the oldest key is dropped (one at a time, O(1)).
const MAX_KEYS: usize = 100_000;
/// An address may fail this many times the per-user limit across all user names.
const ADDRESS_FACTOR: usize = 4;
/// Of a user name, only this many bytes count: a name is at most this long anyway
/// (`policy::validate_name`), and a client's 200 KiB name costs no more than a real one.
const NAME_BYTES: usize = 256;

/// How often a node writes its failures and reads the other nodes'.
pub const SYNC: Duration = Duration::from_secs(1);
/// Failures waiting to be written at most; past it they count on this node only.
const MAX_OUTGOING: usize = 10_000;

/// A fixed-size key: a digest of what is counted, never the client's text itself.
type Key = [u8; 32];

/// Failed-login counters shared by all connections of one gateway node, and what the other
/// nodes counted.
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    table: Mutex<Table>,
    /// The other nodes' failures per key, as last read.
    elsewhere: Mutex<HashMap<Key, Vec<Instant>>>,
    /// This node's failures not yet written, and those given back after a success.
    outgoing: Mutex<Outgoing>,
}

/// The counters (each failure's instant and wall-clock milliseconds), and the order keys
/// arrived in (to drop the oldest when full).
#[derive(Default)]
struct Table {
    failures: HashMap<Key, VecDeque<(Instant, Millis)>>,
    arrival: VecDeque<Key>,
}

/// Changes for the database.
#[derive(Default)]
struct Outgoing {
    add: Vec<(Key, Millis)>,
    remove: Vec<(Key, Millis)>,
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
            elsewhere: Mutex::default(),
            outgoing: Mutex::default(),
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
        let Ok(mut out) = self.outgoing.lock() else {
            return;
        };
        for (key, _) in Self::keys(user, addr) {
            if let Some((_, at)) = table.failures.get_mut(&key).and_then(VecDeque::pop_back) {
                // Not written yet: never written; written: taken back.
                match out.add.iter().rposition(|e| *e == (key, at)) {
                    Some(i) => {
                        out.add.remove(i);
                    }
                    None if out.remove.len() < MAX_OUTGOING => out.remove.push((key, at)),
                    None => {}
                }
            }
        }
    }

    fn blocked(&self, table: &mut Table, keys: &[(Key, usize)], now: Instant) -> bool {
        let Ok(elsewhere) = self.elsewhere.lock() else {
            return true;
        };
        keys.iter().any(|(key, factor)| {
            let here = table.failures.get_mut(key).map_or(0, |q| {
                prune(q, now, self.window);
                q.len()
            });
            let there = elsewhere.get(key).map_or(0, |v| {
                v.iter()
                    .filter(|t| now.saturating_duration_since(**t) <= self.window)
                    .count()
            });
            here.saturating_add(there) >= self.max_failures.saturating_mul(*factor)
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
                let at = crate::time::now_ms();
                q.push_back((now, at));
                if let Ok(mut out) = self.outgoing.lock() {
                    if out.add.len() < MAX_OUTGOING {
                        out.add.push((key, at));
                    }
                }
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

fn prune(q: &mut VecDeque<(Instant, Millis)>, now: Instant, window: Duration) {
    while q
        .front()
        .is_some_and(|(t, _)| now.duration_since(*t) > window)
    {
        q.pop_front();
    }
}

impl Throttle {
    /// Takes what waits for the database.
    fn take_outgoing(&self) -> Outgoing {
        self.outgoing
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default()
    }

    /// Replaces the other nodes' failures with `rows` (key in hex, wall-clock ms), read at
    /// `now_ms`. Rows whose key is not a digest are skipped.
    fn set_elsewhere(&self, rows: Vec<(String, Millis)>, now_ms: Millis) {
        let now = Instant::now();
        let mut map: HashMap<Key, Vec<Instant>> = HashMap::new();
        for (key, at) in rows {
            let Some(key) = hex::decode(&key).ok().and_then(|k| Key::try_from(k).ok()) else {
                continue;
            };
            let ago = Duration::from_millis(u64::try_from(now_ms.saturating_sub(at)).unwrap_or(0));
            if let Some(t) = now.checked_sub(ago) {
                map.entry(key).or_default().push(t);
            }
        }
        if let Ok(mut e) = self.elsewhere.lock() {
            *e = map;
        }
    }
}

/// Until `shutdown`: every [`SYNC`], writes what `throttle` counted (and takes back what it
/// forgave) as node `node` in `scope` (`ssh`, `web`), forgets rows past the window and reads
/// the other nodes' failures. A database that does not answer costs the cluster's view
/// (logged), never the node's own count. Returns at once on SQLite: one node.
pub async fn share(
    throttle: Arc<Throttle>,
    db: Db,
    node: String,
    scope: &'static str,
    mut shutdown: watch::Receiver<bool>,
) {
    if !db.is_postgres() {
        return;
    }
    let window_ms = crate::time::duration_ms(throttle.window);
    let hexed = |v: Vec<(Key, Millis)>| -> Vec<(String, Millis)> {
        v.into_iter().map(|(k, at)| (hex::encode(k), at)).collect()
    };
    let mut tick = tokio::time::interval(SYNC);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let out = throttle.take_outgoing();
        let wait = crate::db::ANSWER_WAIT;
        if !out.add.is_empty() {
            let rows = hexed(out.add);
            let add = db.login_failures_add(&node, scope, &rows);
            if let Err(e) = crate::db::within(wait, "writing failed logins", add).await {
                tracing::warn!(node = %node, "failed logins counted here are not shared: {e}");
            }
        }
        if !out.remove.is_empty() {
            let rows = hexed(out.remove);
            let remove = db.login_failures_remove(&node, scope, &rows);
            if let Err(e) = crate::db::within(wait, "taking back failed logins", remove).await {
                tracing::warn!(node = %node, "cannot take back failed logins: {e}");
            }
        }
        let now = crate::time::now_ms();
        let since = now.saturating_sub(window_ms);
        let trim = db.login_failures_trim(scope, since);
        if let Err(e) = crate::db::within(wait, "trimming failed logins", trim).await {
            tracing::warn!(node = %node, "cannot trim failed logins: {e}");
        }
        let read = db.login_failures_elsewhere(&node, scope, since);
        match crate::db::within(wait, "reading failed logins", read).await {
            Ok(rows) => throttle.set_elsewhere(rows, now),
            Err(e) => tracing::warn!(node = %node, "cannot read other nodes' failed logins: {e}"),
        }
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
    fn other_nodes_failures_count_with_this_nodes_and_forgiven_ones_are_taken_back() {
        let t = Throttle::new(3, Duration::from_secs(60));
        t.record_failure("alice", ip("10.0.0.9"));
        let out = t.take_outgoing();
        assert_eq!(out.add.len(), 2, "one per user and one per address");
        let now = crate::time::now_ms();
        // Another node saw two of alice's failures from there, one long ago.
        let key = hex::encode(out.add[0].0);
        t.set_elsewhere(
            vec![
                (key.clone(), now - 1000),
                (key, now - 120_000),
                ("zz".into(), now),
            ],
            now,
        );
        assert!(
            !t.is_blocked("alice", ip("10.0.0.9")),
            "one here + one in the window there"
        );
        t.record_failure("alice", ip("10.0.0.9"));
        assert!(t.is_blocked("alice", ip("10.0.0.9")));
        assert!(!t.is_blocked("alice", ip("10.0.0.1")));
        // A success gives back its reservation, in the database too once written.
        let t = Throttle::new(3, Duration::from_secs(60));
        assert!(t.reserve("bob", None));
        t.forgive("bob", None);
        let out = t.take_outgoing();
        assert!(out.add.is_empty() && out.remove.is_empty(), "never written");
        assert!(t.reserve("bob", None));
        let written = t.take_outgoing();
        t.forgive("bob", None);
        assert_eq!(t.take_outgoing().remove, written.add);
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
