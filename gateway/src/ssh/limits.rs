//! The `[ssh]` limit on session channels per connection, held by RAII slots so the count
//! goes down however a channel ends. Not the connection caps at accept (shared with HTTPS,
//! [`crate::accept`]), the login grace (the accept loop, [`super::server`]) nor the
//! failed-login throttle ([`crate::throttle`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
    fn channel_cap_refuses_past_max_until_one_closes() {
        let limit = ChannelLimit::new(2);
        let c1 = limit.open().unwrap();
        let _c2 = limit.open().unwrap();
        assert!(limit.open().is_none());
        drop(c1);
        assert!(limit.open().is_some());
    }
}
