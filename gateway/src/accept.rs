//! Accept loops that survive: what a listener does when `accept` fails (EMFILE, ENFILE,
//! ECONNABORTED, ...), the caps on open connections checked at accept, and how refusals are
//! reported without flooding the log. Shared by the SSH and HTTPS front doors; it knows
//! neither protocol.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Open connections of one listener, in all and per source address, counted by RAII slots
/// so they go down however a connection ends.
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    counts: Arc<Mutex<Counts>>,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections, `max_per_address` from one address.
    pub fn new(max_total: usize, max_per_address: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_total,
            max_per_address,
            counts: Arc::default(),
        }
    }

    /// A slot for a connection from `ip`, or why there is none. A poisoned lock refuses
    /// (fail closed).
    pub fn admit(&self, ip: IpAddr) -> Result<ConnectionSlot, Over> {
        let Ok(mut counts) = self.counts.lock() else {
            return Err(Over::Total);
        };
        if counts.total >= self.max_total {
            return Err(Over::Total);
        }
        let from_ip = counts.per_address.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_address {
            return Err(Over::PerAddress);
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(ConnectionSlot {
            ip,
            counts: self.counts.clone(),
        })
    }
}

/// One admitted connection; dropping it gives the slot back.
pub struct ConnectionSlot {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        // A poisoned lock: the counts are lost anyway and `admit` refuses everything.
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_address.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
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
