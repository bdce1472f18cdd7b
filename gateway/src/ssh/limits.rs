//! The `[ssh]` limits that keep the door open under a flood: open connections in all and per
//! source address, and session channels per connection. Counts are held by RAII slots, so
//! they go down however a connection or channel ends. Not the login grace (the accept loop,
//! [`super::server`]) nor the failed-login throttle ([`crate::throttle`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

/// Open connections, in all and per source address.
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

/// Session channels open on one connection.
#[derive(Clone)]
pub struct ChannelLimit {
    max: usize,
    open: Arc<AtomicUsize>,
}

impl ChannelLimit {
    /// At most `max` channels at once.
    pub fn new(max: usize) -> ChannelLimit {
        ChannelLimit {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for one more channel, or `None` at the cap.
    pub fn open(&self) -> Option<ChannelSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| ChannelSlot {
                open: self.open.clone(),
            })
    }
}

/// One open channel; dropping it gives the slot back.
pub struct ChannelSlot {
    open: Arc<AtomicUsize>,
}

impl Drop for ChannelSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
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
    fn channel_cap_refuses_past_max_until_one_closes() {
        let limit = ChannelLimit::new(2);
        let c1 = limit.open().unwrap();
        let _c2 = limit.open().unwrap();
        assert!(limit.open().is_none());
        drop(c1);
        assert!(limit.open().is_some());
    }
}
