//! A queue bounded in bytes: what waits between one side of a session and the other.
//!
//! Each direction of a session channel has one ([`super::pipe`]): the engineer's input
//! between the front door that reads it and the target, the target's output between the
//! pipe that records it and the front door that writes it out. A sender waits while the
//! queue holds `capacity` bytes, so a side that stops reading holds the other back (SSH
//! windows, TCP) instead of growing the gateway's memory. Small messages count as
//! [`MIN_COST`] bytes each, so a flood of tiny packets is bounded too.

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// What one queued message costs at least, in bytes (its bookkeeping, even when empty).
pub const MIN_COST: usize = 64;

/// The sending half.
pub struct Sender<T> {
    tx: mpsc::UnboundedSender<(T, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
    capacity: usize,
    towards: &'static str,
}

/// The receiving half.
pub struct Receiver<T> {
    rx: mpsc::UnboundedReceiver<(T, OwnedSemaphorePermit)>,
}

/// The receiver is gone: nothing more will be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// A queue holding at most `capacity` bytes (at least [`MIN_COST`]), towards `towards`
/// (`target`, `engineer`: the label of its depth in [`crate::metrics`]).
pub fn bounded<T>(capacity: usize, towards: &'static str) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.clamp(MIN_COST, Semaphore::MAX_PERMITS);
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Sender {
            tx,
            room: Arc::new(Semaphore::new(capacity)),
            capacity,
            towards,
        },
        Receiver { rx },
    )
}

impl<T> Sender<T> {
    /// Queues `item`, which holds `bytes` bytes, once there is room for it. A message
    /// larger than the whole queue waits until the queue is empty.
    pub async fn send(&self, item: T, bytes: usize) -> Result<(), Closed> {
        let cost = bytes.clamp(MIN_COST, self.capacity);
        let permits = u32::try_from(cost).map_err(|_| Closed)?;
        let permit = self
            .room
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| Closed)?;
        let queued = self.capacity.saturating_sub(self.room.available_permits());
        crate::metrics::relay_queued(self.towards, queued);
        self.tx.send((item, permit)).map_err(|_| Closed)
    }
}

impl<T> Receiver<T> {
    /// The next message; its bytes leave the queue as it is taken. `None` once every
    /// sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await.map(|(item, _room)| item)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_full_queue_holds_the_sender_until_bytes_are_taken() {
        let (tx, mut rx) = bounded::<Vec<u8>>(1000, "test");
        tx.send(vec![0; 600], 600).await.unwrap();
        tx.send(vec![0; 400], 400).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(100), tx.send(vec![1], 1)).await;
        assert!(third.is_err(), "a full queue took more");
        assert_eq!(rx.recv().await.unwrap().len(), 600);
        tokio::time::timeout(Duration::from_secs(5), tx.send(vec![1], 1))
            .await
            .expect("room after a take")
            .unwrap();
    }

    #[tokio::test]
    async fn tiny_messages_cost_their_minimum() {
        let (tx, _rx) = bounded::<()>(10 * MIN_COST, "test");
        for _ in 0..10 {
            tx.send((), 0).await.unwrap();
        }
        let eleventh = tokio::time::timeout(Duration::from_millis(100), tx.send((), 0)).await;
        assert!(eleventh.is_err(), "empty messages are not free");
    }

    #[tokio::test]
    async fn a_message_larger_than_the_queue_passes_alone() {
        let (tx, mut rx) = bounded::<usize>(MIN_COST * 2, "test");
        tx.send(1, 10_000).await.unwrap();
        assert_eq!(rx.recv().await, Some(1));
        tx.send(2, 10_000).await.unwrap();
        assert_eq!(rx.recv().await, Some(2));
    }

    #[tokio::test]
    async fn a_gone_receiver_closes_the_queue() {
        let (tx, rx) = bounded::<u8>(1000, "test");
        drop(rx);
        assert_eq!(tx.send(1, 1).await, Err(Closed));
    }
}
