//! Room on the recordings disk: how much is free against `[recordings] min_free` ([`Room`],
//! one `statvfs`), and the room one recording has taken (`Space`): every event is charged
//! before it is accepted, the charge held to `max_session_bytes` and reserved on the
//! filesystem with `fallocate` beyond the file's end (a little ahead, so a stream makes few
//! calls and an idle session holds little), then settled to what the event took once it is
//! written. A write inside the reserved room cannot fail for want of space. On a filesystem
//! without `fallocate` nothing is reserved ahead and a full disk cuts the recording short
//! (logged once per recording). A gateway killed mid-session leaves its reservation past the
//! end of the cut-short file (at most 4 MiB and the end's room) until the file is truncated.
//! Not the writing itself ([`super::recorder`]).

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustix::fs::{fallocate, statvfs, FallocateFlags, StatVfs};
use rustix::io::Errno;

use super::recorder::file::BLOCK;
use super::recorder::RecordingStopped;
use crate::config::MinFree;
use crate::size::format_size;

/// Reserved beyond what is promised, at least and at most.
pub(super) const AHEAD_MIN: u64 = 64 << 10;
const AHEAD_MAX: u64 = 4 << 20;

/// Free space on the recordings filesystem against what it must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Bytes free (for an unprivileged writer).
    pub free: u64,
    /// Bytes that must stay free (`min_free` on this filesystem).
    pub required: u64,
}

impl Room {
    /// Whether free space is below what must stay free.
    pub fn is_short(&self) -> bool {
        self.free < self.required
    }

    pub(super) fn of(s: &StatVfs, min_free: MinFree) -> Room {
        Room {
            free: s.f_bavail.saturating_mul(s.f_frsize),
            required: min_free.bytes_of(s.f_blocks.saturating_mul(s.f_frsize)),
        }
    }
}

impl std::fmt::Display for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} free, {} to keep free",
            format_size(self.free),
            format_size(self.required)
        )
    }
}

/// Free space of the filesystem holding `dir` (one `statvfs`, cheap enough for every
/// session start).
pub fn room(dir: &Path, min_free: MinFree) -> std::io::Result<Room> {
    let s = statvfs(dir).map_err(std::io::Error::from)?;
    Ok(Room::of(&s, min_free))
}

/// The file's room: what the accepted events can take at most, and what is reserved.
pub(super) struct Space {
    file: Arc<File>,
    max_bytes: u64,
    budget: Mutex<Budget>,
}

struct Budget {
    /// The most the file can hold once every accepted event is written: the bytes written,
    /// the events buffered and queued (queued ones at their charge), and the end reserve.
    promised: u64,
    /// Bytes reserved from offset 0: a write below it cannot fail for want of room.
    allocated: u64,
    /// The filesystem cannot reserve (`fallocate` unsupported): nothing is reserved ahead.
    unreserved: bool,
}

/// Reserves `[from, to)` of `file` without changing its length, and up to the next whole
/// block: a direct write pads the file's last block with zeros.
fn reserve(file: &File, from: u64, to: u64) -> Result<(), Errno> {
    if to <= from {
        return Ok(());
    }
    let to = to.div_ceil(BLOCK as u64) * BLOCK as u64;
    fallocate(file, FallocateFlags::KEEP_SIZE, from, to - from)
}

fn is_full(e: Errno) -> bool {
    e == Errno::NOSPC || e == Errno::DQUOT
}

impl Space {
    /// The room of a file of `written` bytes whose accepted events and end can take
    /// `promised` bytes at most, held to `max_bytes`; nothing reserved yet.
    pub(super) fn new(file: Arc<File>, written: u64, promised: u64, max_bytes: u64) -> Space {
        Space {
            file,
            max_bytes,
            budget: Mutex::new(Budget {
                promised,
                allocated: written,
                unreserved: false,
            }),
        }
    }

    /// Takes `cost` bytes of room for an event about to be accepted, reserving on disk
    /// what is not yet reserved.
    pub(super) fn charge(&self, cost: u64, path: &Path) -> Result<(), RecordingStopped> {
        let mut b = self.budget.lock().map_err(|_| RecordingStopped::Failed)?;
        let needed = b.promised.saturating_add(cost);
        if needed > self.max_bytes {
            return Err(RecordingStopped::SizeLimit {
                limit: self.max_bytes,
            });
        }
        if needed > b.allocated && !b.unreserved {
            let ahead = (needed / 4).clamp(AHEAD_MIN, AHEAD_MAX);
            let wanted = needed.saturating_add(ahead).min(self.max_bytes);
            let reserved = match reserve(&self.file, b.allocated, wanted) {
                Ok(()) => Ok(wanted),
                // Not room for the step ahead: for this event alone, then.
                Err(e) if is_full(e) => reserve(&self.file, b.allocated, needed).map(|()| needed),
                Err(e) => Err(e),
            };
            match reserved {
                Ok(to) => b.allocated = to,
                Err(e) if is_full(e) => return Err(RecordingStopped::DiskFull),
                Err(e) if e == Errno::OPNOTSUPP => {
                    tracing::warn!(recording = %path.display(), "the recordings filesystem cannot reserve space (fallocate unsupported); a full disk will cut recordings short instead of ending sessions cleanly");
                    b.unreserved = true;
                }
                Err(e) => {
                    tracing::error!(recording = %path.display(), "cannot reserve space for the recording: {e}");
                    return Err(RecordingStopped::Failed);
                }
            }
        }
        b.promised = needed;
        Ok(())
    }

    /// Gives back what a charge took beyond what its event took.
    pub(super) fn settle(&self, charged: u64, took: u64) {
        if let Ok(mut b) = self.budget.lock() {
            b.promised = b.promised.saturating_sub(charged.saturating_sub(took));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn room_below_min_free_is_short() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!room(dir.path(), MinFree::Bytes(0)).unwrap().is_short());
        assert!(room(dir.path(), MinFree::Bytes(u64::MAX))
            .unwrap()
            .is_short());
        let r = room(dir.path(), MinFree::Percent(99)).unwrap();
        assert!(r.required > 0 && r.free > 0, "{r:?}");
    }
}
