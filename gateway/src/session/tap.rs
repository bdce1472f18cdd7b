//! The live-watch feed of one session: what the engineer's terminal shows (target output
//! and stderr of the interactive channel, resizes, gateway notices), offered to read-only
//! watchers. A watcher that joins gets the last [`BACKLOG`] bytes first, so its screen
//! starts close to the engineer's, then everything new; a watcher that falls behind loses
//! frames rather than slowing the session. Not the recording (which keeps everything) and
//! never a way to type into the session.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::broadcast;

/// Output kept for watchers who join late.
pub const BACKLOG: usize = 256 * 1024;
/// Frames a slow watcher may lag before it loses some.
const LAG: usize = 256;

/// One frame of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Terminal bytes.
    Output(Bytes),
    /// The terminal's new size.
    Resize {
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
    },
    /// A line from the gateway (warnings, the end).
    Notice(String),
}

/// Recent output and the last terminal size.
type Backlog = (VecDeque<u8>, Option<(u32, u32)>);

/// The feed of one session.
pub struct Tap {
    backlog: Mutex<Backlog>,
    tx: broadcast::Sender<Frame>,
}

impl Default for Tap {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(LAG);
        Tap {
            backlog: Mutex::new((VecDeque::new(), None)),
            tx,
        }
    }
}

impl Tap {
    /// Publishes a frame to the watchers (and the backlog).
    pub fn publish(&self, frame: Frame) {
        let Ok(mut backlog) = self.backlog.lock() else {
            return;
        };
        match &frame {
            Frame::Output(data) => {
                let (bytes, _) = &mut *backlog;
                // By reference: a slice's bytes are copied in one go, not one by one.
                bytes.extend(data.iter());
                let excess = bytes.len().saturating_sub(BACKLOG);
                bytes.drain(..excess);
            }
            Frame::Resize { cols, rows } => backlog.1 = Some((*cols, *rows)),
            Frame::Notice(_) => {}
        }
        // Sent under the lock, so a new watcher sees each frame exactly once.
        let _ = self.tx.send(frame);
    }

    /// Whether anyone watches (publishing can be skipped otherwise).
    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Joins the feed: the last size, the recent output, and the frames from now on.
    pub fn join(&self) -> (Option<(u32, u32)>, Bytes, broadcast::Receiver<Frame>) {
        match self.backlog.lock() {
            Ok(backlog) => {
                let (bytes, size) = &*backlog;
                let recent = Bytes::from(bytes.iter().copied().collect::<Vec<u8>>());
                (*size, recent, self.tx.subscribe())
            }
            Err(_) => (None, Bytes::new(), self.tx.subscribe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_watcher_gets_the_backlog_then_new_frames_once() {
        let tap = Tap::default();
        tap.publish(Frame::Resize {
            cols: 100,
            rows: 30,
        });
        tap.publish(Frame::Output(Bytes::from_static(b"hello ")));
        let (size, recent, mut rx) = tap.join();
        assert_eq!(size, Some((100, 30)));
        assert_eq!(&recent[..], b"hello ");
        tap.publish(Frame::Output(Bytes::from_static(b"world")));
        assert_eq!(
            rx.try_recv().ok(),
            Some(Frame::Output(Bytes::from_static(b"world")))
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_backlog_is_bounded() {
        let tap = Tap::default();
        for _ in 0..10 {
            tap.publish(Frame::Output(Bytes::from(vec![b'x'; BACKLOG / 4])));
        }
        let (_, recent, _) = tap.join();
        assert_eq!(recent.len(), BACKLOG);
    }
}
