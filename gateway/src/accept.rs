//! Accept loops that survive: what a listener does when `accept` fails (EMFILE, ENFILE,
//! ECONNABORTED, ...), the caps on open connections checked at accept, and how refusals are
//! reported without flooding the log. Shared by the SSH and HTTPS front doors; it knows
//! neither protocol.
//!
//! Headroom under a flood from many addresses (SSH): when every slot is taken, a connection
//! from an address holding fewer connections than the busiest one takes the place of that
//! address's oldest connection that has not logged in yet (which is closed). A flood can
//! then hold the listener full only by holding more connections per address than the
//! engineers it shuts out, and never past `max_connections_per_address`; logged-in
//! connections are never displaced.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

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

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// `max_connections` reached.
    Total,
    /// `max_connections_per_address` reached for this source.
    PerAddress,
}

impl std::fmt::Display for Over {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Over::Total => "max_connections reached",
            Over::PerAddress => "max_connections_per_address reached",
        })
    }
}

/// Told to a connection that must make room for another.
#[derive(Default)]
struct Displaced {
    /// Set under the counts' lock when the slot was given to another connection: its
    /// counts are already gone, so its drop takes nothing back.
    given_away: AtomicBool,
    wake: Notify,
}

/// One source address's connections.
#[derive(Default)]
struct Address {
    open: usize,
    /// Those not logged in yet, oldest first: the ones that may be displaced.
    waiting: VecDeque<(u64, Arc<Displaced>)>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, Address>,
    next_id: u64,
}

impl Counts {
    /// Frees a slot for a connection from `ip` when the gateway is full: the oldest
    /// connection not logged in from the address holding the most connections, if that
    /// address holds at least two more than `ip` (so two addresses never take turns
    /// displacing each other). Whether a slot was freed.
    fn displace_for(&mut self, ip: IpAddr) -> bool {
        let mine = self.per_address.get(&ip).map_or(0, |a| a.open);
        let busiest = self
            .per_address
            .iter()
            .filter(|(addr, a)| **addr != ip && !a.waiting.is_empty())
            .max_by_key(|(_, a)| (a.open, a.waiting.len()))
            .map(|(addr, _)| *addr);
        let Some(victim_ip) = busiest else {
            return false;
        };
        let Some(victim) = self.per_address.get_mut(&victim_ip) else {
            return false;
        };
        if victim.open < mine + 2 {
            return false;
        }
        let Some((_, displaced)) = victim.waiting.pop_front() else {
            return false;
        };
        displaced.given_away.store(true, Ordering::Release);
        displaced.wake.notify_one();
        victim.open -= 1;
        if victim.open == 0 {
            self.per_address.remove(&victim_ip);
        }
        self.total -= 1;
        true
    }
}

/// Open connections of one listener, in all and per source address, counted by RAII slots
/// so they go down however a connection ends.
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    /// Whether a full listener makes room by displacing connections not logged in (SSH,
    /// whose accept loop watches [`ConnectionSlot::displaced`]).
    displacing: bool,
    counts: Arc<Mutex<Counts>>,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections, `max_per_address` from one address.
    pub fn new(max_total: usize, max_per_address: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_total,
            max_per_address,
            displacing: false,
            counts: Arc::default(),
        }
    }

    /// The same limits, where a connection from a less busy address takes the place of
    /// the busiest address's oldest connection not logged in when the listener is full.
    /// The holder of each slot must close its connection when
    /// [`ConnectionSlot::displaced`] resolves and call [`ConnectionSlot::logged_in`] at login.
    pub fn displacing(self) -> ConnectionLimits {
        ConnectionLimits {
            displacing: true,
            ..self
        }
    }

    /// A slot for a connection from `ip`, or why there is none. A poisoned lock refuses
    /// (fail closed).
    pub fn admit(&self, ip: IpAddr) -> Result<ConnectionSlot, Over> {
        let Ok(mut counts) = self.counts.lock() else {
            return Err(Over::Total);
        };
        if counts
            .per_address
            .get(&ip)
            .is_some_and(|a| a.open >= self.max_per_address)
        {
            return Err(Over::PerAddress);
        }
        if counts.total >= self.max_total && !(self.displacing && counts.displace_for(ip)) {
            return Err(Over::Total);
        }
        let id = counts.next_id;
        counts.next_id += 1;
        let displaced = Arc::new(Displaced::default());
        let address = counts.per_address.entry(ip).or_default();
        address.open += 1;
        if self.displacing {
            address.waiting.push_back((id, displaced.clone()));
        }
        counts.total += 1;
        Ok(ConnectionSlot {
            ip,
            id,
            displaced,
            counts: self.counts.clone(),
        })
    }
}

/// One admitted connection; dropping it gives the slot back.
pub struct ConnectionSlot {
    ip: IpAddr,
    id: u64,
    displaced: Arc<Displaced>,
    counts: Arc<Mutex<Counts>>,
}

impl ConnectionSlot {
    /// The connection logged in: from now on it is never displaced.
    pub fn logged_in(&self) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        if let Some(address) = counts.per_address.get_mut(&self.ip) {
            address.waiting.retain(|(id, _)| *id != self.id);
        }
    }

    /// Resolves when the slot was given to another connection (before login): the
    /// connection must close.
    pub async fn displaced(&self) {
        loop {
            let woken = self.displaced.wake.notified();
            if self.displaced.given_away.load(Ordering::Acquire) {
                return;
            }
            woken.await;
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        crate::memory::closed();
        // A poisoned lock: the counts are lost anyway and `admit` refuses everything.
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        if self.displaced.given_away.load(Ordering::Acquire) {
            return;
        }
        counts.total = counts.total.saturating_sub(1);
        if let Some(address) = counts.per_address.get_mut(&self.ip) {
            address.open = address.open.saturating_sub(1);
            address.waiting.retain(|(id, _)| *id != self.id);
            if address.open == 0 {
                counts.per_address.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_cap_leaves_room_for_others_and_slots_come_back() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "127.0.0.5".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        let s1 = limits.admit(a).unwrap();
        let _s2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).err(), Some(Over::PerAddress));
        let _s3 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).err(), Some(Over::Total));
        drop(s1);
        assert!(limits.admit(a).is_ok());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn when_full_a_newcomer_displaces_the_busiest_address_oldest_waiting_connection() {
        let limits = ConnectionLimits::new(4, 10).displacing();
        let flood: Vec<_> = (0..4)
            .map(|_| limits.admit(ip("10.0.0.9")).unwrap())
            .collect();
        // The engineer's address holds none: the flood's oldest connection makes room.
        let engineer = limits.admit(ip("10.0.0.1")).unwrap();
        let given_away: Vec<bool> = flood
            .iter()
            .map(|s| s.displaced.given_away.load(Ordering::Acquire))
            .collect();
        assert_eq!(given_away, [true, false, false, false]);
        // The flood's next connection finds no address busier than its own: refused.
        assert_eq!(limits.admit(ip("10.0.0.9")).err(), Some(Over::Total));
        // Dropping the displaced slot gives nothing back twice: after all are gone, exactly
        // four fit again.
        drop(flood);
        drop(engineer);
        let all: Vec<_> = (0..4)
            .map(|_| limits.admit(ip("10.0.0.7")).unwrap())
            .collect();
        assert_eq!(all.len(), 4);
        assert_eq!(limits.admit(ip("10.0.0.7")).err(), Some(Over::Total));
    }

    #[test]
    fn two_addresses_do_not_take_turns() {
        let limits = ConnectionLimits::new(4, 10).displacing();
        let _a: Vec<_> = (0..2)
            .map(|_| limits.admit(ip("10.0.0.9")).unwrap())
            .collect();
        let _b: Vec<_> = (0..2)
            .map(|_| limits.admit(ip("10.0.0.8")).unwrap())
            .collect();
        assert_eq!(limits.admit(ip("10.0.0.8")).err(), Some(Over::Total));
    }

    #[test]
    fn logged_in_connections_are_never_displaced() {
        let limits = ConnectionLimits::new(2, 10).displacing();
        let a = limits.admit(ip("10.0.0.9")).unwrap();
        let b = limits.admit(ip("10.0.0.9")).unwrap();
        a.logged_in();
        b.logged_in();
        assert_eq!(limits.admit(ip("10.0.0.1")).err(), Some(Over::Total));
    }

    #[tokio::test]
    async fn a_displaced_connection_is_told() {
        let limits = ConnectionLimits::new(2, 10).displacing();
        let a = limits.admit(ip("10.0.0.9")).unwrap();
        let _b = limits.admit(ip("10.0.0.9")).unwrap();
        let waiting = tokio::spawn(async move { a.displaced().await });
        tokio::task::yield_now().await;
        let _c = limits.admit(ip("10.0.0.1")).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn without_displacing_a_full_listener_refuses() {
        let limits = ConnectionLimits::new(2, 10);
        let _a: Vec<_> = (0..2)
            .map(|_| limits.admit(ip("10.0.0.9")).unwrap())
            .collect();
        assert_eq!(limits.admit(ip("10.0.0.1")).err(), Some(Over::Total));
    }

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
