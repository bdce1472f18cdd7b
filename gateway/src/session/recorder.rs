//! The live side of a recording: a task per session (module `task`) that owns the
//! `recordings::Writer`, takes events from a bounded queue, writes a chunk at least every
//! flush interval (and whenever the writer says one is full: a MiB of encoded events), and
//! fsyncs each interval. The task runs on a recording writer thread ([`super::writers`]), not on the relay's runtime workers: the
//! relay only takes room and queues (a full queue holds it back, it never grows and never
//! drops an event); compression, sealing, hashing, signing and writing happen beside it.
//!
//! Room on disk is taken before an event is accepted, not when it is written: each event is
//! charged at the most it can take in the file (its bytes, a chunk's framing) against the
//! recording's `Space` (reserved on the filesystem, [`super::room`]), and only then is the
//! event queued and [`Recorder::record`] returns. So an event the caller goes on to forward
//! (the engineer's input, a signal, EOF) always has its room in the file: a full disk or
//! [`Limits::max_bytes`] refuses the next event instead of losing one already accepted, and
//! the room for the end marker and the seal is held back from the start, so a recording
//! stopped that way still ends sealed. The writer task settles each charge to what the event
//! really took; the file is trimmed to its length when it ends.
//!
//! Fail closed: once an event is refused ([`RecordingStopped`]) or a write fails, every later
//! [`Recorder::record`] returns the same error and [`Recorder::stopped`] fires, so the session
//! is ended.
//!
//! Typed secrets are marked as they are recorded: the task runs the `recordings` crate's
//! [`recordings::mask::Masker`] over the events it writes and writes each mark it decides (input a pty did not
//! echo, [`Event::Masked`]) right after the event that decided it, in that event's charge
//! (`MARK_ROOM`). A run still pending when the recording ends is left to the readers,
//! which run the same inference over the events. The task also watches the filesystem's free space each interval and says once,
//! through [`Recorder::disk_low`], when it drops below [`Limits::min_free`]. Not the file
//! format (crate `recordings`) and not the decision of what to record (the pipe).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recordings::writer::{data_len_bound, event_len_bound, seal_len, CHUNK_OVERHEAD};
use recordings::{Event, Meta, Stream, Writer};
use tokio::sync::{mpsc, oneshot, watch};

use super::room::{Room, Space};
use crate::config::MinFree;
use crate::size::format_size;

pub(super) mod file;
mod task;
use file::RecordingFile;
use task::{run, Task};

/// Events queued between the relay and the writer task: the relay waits when it is full.
const QUEUE: usize = 64;
/// The longest end marker and seal reason kept; longer ones are cut at a character.
const END_TEXT: usize = 1024;
/// Room charged with each event for the typed-secret mark it may decide: the largest
/// [`Event::Masked`] (kind, time, channel, two offsets as varints).
const MARK_ROOM: usize = 1 + 10 + 5 + 10 + 10;

/// Why a recording takes no more events. Each ends the session with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordingStopped {
    /// The recording reached `[recordings] max_session_bytes`.
    #[error("the recording reached its size limit ({})", format_size(*limit))]
    SizeLimit {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The recordings filesystem has no room for the next event.
    #[error("the recordings disk is full")]
    DiskFull,
    /// A write failed.
    #[error("the session recording cannot be written")]
    Failed,
}

/// Why a recording could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No room for the file, its header or its first reservation.
    #[error("the recordings disk is full")]
    DiskFull,
    /// The file could not be created or written.
    #[error("cannot create the recording: {0}")]
    Io(std::io::Error),
}

/// What the recording of one session may take (`[recordings]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest the file may grow, seal included.
    pub max_bytes: u64,
    /// Free space the filesystem keeps; below it, live sessions are warned once.
    pub min_free: MinFree,
}

enum Command {
    /// An event and what it was charged.
    Event(u64, Event, u64),
    /// Terminal bytes, passed without a copy (russh's buffer is reference-counted), and
    /// what they were charged.
    Data(u64, Stream, u32, bytes::Bytes, u64),
    /// The last marker (if any), then the seal with its reason: written into the room held
    /// back for them, never charged.
    Seal(u64, Option<String>, String, oneshot::Sender<()>),
}

/// Handle to a session's recording task. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    /// `None` only in benchmark builds measuring the cost of recording.
    queue: Option<mpsc::Sender<Command>>,
    space: Option<Arc<Space>>,
    started: Instant,
    stopped: Arc<watch::Sender<Option<RecordingStopped>>>,
    disk_low: watch::Receiver<Option<Room>>,
    path: Arc<PathBuf>,
}

/// The room held back for the end: a chunk with the end marker, and the seal.
fn end_reserve() -> u64 {
    (CHUNK_OVERHEAD + data_len_bound(END_TEXT) + seal_len(END_TEXT)) as u64
}

/// `text` cut to at most [`END_TEXT`] bytes at a character boundary.
fn end_text(text: &str) -> String {
    let mut end = text.len().min(END_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_string()
}

impl Recorder {
    /// Creates `dir/<session>.mwrec` (never overwriting), reserves its first room and starts
    /// the writer task. With `encryption` (the data key and its wrapped form, from
    /// [`crate::vault::Vault::new_data_key`]) every chunk is sealed under the data key.
    pub fn start(
        dir: &Path,
        meta: Meta,
        key: &ed25519_dalek::SigningKey,
        encryption: Option<(recordings::DataKey, String)>,
        flush_interval: Duration,
        limits: Limits,
    ) -> Result<Recorder, StartError> {
        let path = dir.join(format!("{}.mwrec", meta.session_id));
        let io = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::StorageFull
                || e.kind() == std::io::ErrorKind::QuotaExceeded
            {
                StartError::DiskFull
            } else {
                StartError::Io(e)
            }
        };
        let (file, direct) = file::create(&path).map_err(io)?;
        let file = Arc::new(file);
        let out = RecordingFile::new(file.clone(), direct);
        let started = Self::begin(out, &path, meta, key, encryption, limits);
        let (writer, space) = match started {
            Ok(s) => s,
            Err(e) => {
                // Nothing refers to it yet: leave no empty recording behind.
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        let (queue, rx) = mpsc::channel(QUEUE);
        let stopped = Arc::new(watch::channel(None).0);
        let (disk_low_tx, disk_low) = watch::channel(None);
        let path = Arc::new(path);
        let space = Arc::new(space);
        let task = Task {
            space: space.clone(),
            stopped: stopped.clone(),
            disk_low: disk_low_tx,
            min_free: limits.min_free,
            path: path.clone(),
        };
        if let Err(e) = super::writers::spawn(run(writer, file, rx, task, flush_interval)) {
            let _ = std::fs::remove_file(path.as_path());
            return Err(StartError::Io(e));
        }
        Ok(Recorder {
            queue: Some(queue),
            space: Some(space),
            started: Instant::now(),
            stopped,
            disk_low,
            path,
        })
    }

    /// Writes the header and reserves the header's room, the end reserve and a step ahead.
    fn begin(
        out: RecordingFile,
        path: &Path,
        meta: Meta,
        key: &ed25519_dalek::SigningKey,
        encryption: Option<(recordings::DataKey, String)>,
        limits: Limits,
    ) -> Result<(Writer<RecordingFile>, Space), StartError> {
        let full = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        };
        let file = out.file();
        let writer = match encryption {
            Some((data_key, wrapped)) => Writer::encrypted(out, meta, key, &data_key, wrapped),
            None => Writer::new(out, meta, key),
        };
        let writer = writer.map_err(|e| match e {
            recordings::WriteError::Io(e) if full(&e) => StartError::DiskFull,
            e => StartError::Io(std::io::Error::other(e.to_string())),
        })?;
        let promised = writer.get_ref().written + end_reserve();
        let space = Space::new(
            file.clone(),
            writer.get_ref().written,
            promised,
            limits.max_bytes,
        );
        space.charge(0, path).map_err(|e| match e {
            RecordingStopped::DiskFull => StartError::DiskFull,
            e => StartError::Io(std::io::Error::other(e.to_string())),
        })?;
        file.sync_all().map_err(|e| {
            if full(&e) {
                StartError::DiskFull
            } else {
                StartError::Io(e)
            }
        })?;
        Ok((writer, space))
    }

    /// A recorder that keeps nothing, for `--features bench-no-recording` only.
    #[cfg(feature = "bench-no-recording")]
    pub fn disabled(dir: &Path, session_id: &str) -> Recorder {
        Recorder {
            queue: None,
            space: None,
            started: Instant::now(),
            stopped: Arc::new(watch::channel(None).0),
            disk_low: watch::channel(None).1,
            path: Arc::new(dir.join(format!("{session_id}.norecording"))),
        }
    }

    /// Where the recording is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Microseconds since the recording started.
    pub fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Why the recording takes no more events, if it does not.
    fn usable(&self) -> Result<(), RecordingStopped> {
        match *self.stopped.borrow() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Stops the recording for `why` (the first reason stays) and returns the reason.
    fn stop(&self, why: RecordingStopped) -> RecordingStopped {
        stop(&self.stopped, why);
        self.usable().err().unwrap_or(why)
    }

    /// Takes room for an event of at most `len` bytes, or stops the recording.
    fn charge(&self, len: usize) -> Result<u64, RecordingStopped> {
        let cost = (len + CHUNK_OVERHEAD) as u64;
        match &self.space {
            Some(space) => space
                .charge(cost, &self.path)
                .map(|()| cost)
                .map_err(|why| self.stop(why)),
            None => Ok(cost),
        }
    }

    /// Accepts one event once its room is taken; waits while the queue is full
    /// (backpressure on the session). `Ok` means it will be in the file.
    pub async fn record(&self, event: Event) -> Result<(), RecordingStopped> {
        self.usable()?;
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let charged = self.charge(event_len_bound(&event) + MARK_ROOM)?;
        queue
            .send(Command::Event(self.now(), event, charged))
            .await
            .map_err(|_| self.stop(RecordingStopped::Failed))
    }

    /// Accepts terminal bytes of `stream` on `channel` without copying them, like
    /// [`Recorder::record`].
    pub async fn record_data(
        &self,
        stream: Stream,
        channel: u32,
        data: bytes::Bytes,
    ) -> Result<(), RecordingStopped> {
        self.usable()?;
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let charged = self.charge(data_len_bound(data.len()) + MARK_ROOM)?;
        queue
            .send(Command::Data(self.now(), stream, channel, data, charged))
            .await
            .map_err(|_| self.stop(RecordingStopped::Failed))
    }

    /// Resolves with the reason once the recording takes no more events; never for a
    /// healthy recording.
    pub async fn stopped(&self) -> RecordingStopped {
        first_value(self.stopped.subscribe()).await
    }

    /// Resolves once, with the free space, when the recordings filesystem has dropped below
    /// `min_free` during this recording; never if it has not.
    pub async fn disk_low(&self) -> Room {
        first_value(self.disk_low.clone()).await
    }

    /// Writes the remaining events, seals the recording with `reason` and waits for it.
    pub async fn seal(&self, reason: &str) -> Result<(), RecordingStopped> {
        self.finish(None, reason).await
    }

    /// Seals and removes the recording of a session refused after its file was made (no
    /// audit entry, no session row points to it): no file stands for a session that never
    /// opened.
    pub async fn discard(&self) {
        let _ = self.seal("refused before it opened").await;
        if let Err(e) = std::fs::remove_file(self.path.as_path()) {
            tracing::warn!(
                "cannot remove the recording {} of a refused session: {e}",
                self.path.display()
            );
        }
    }

    /// Writes the remaining events, then `marker` as the last event, seals the recording
    /// with `reason` and waits for it. Both go into the room held back for the end (cut
    /// to 1 KiB), so they are written even after the recording stopped taking events.
    pub async fn end(&self, marker: &str, reason: &str) -> Result<(), RecordingStopped> {
        self.finish(Some(marker), reason).await
    }

    async fn finish(&self, marker: Option<&str>, reason: &str) -> Result<(), RecordingStopped> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let (done, wait) = oneshot::channel();
        let command = Command::Seal(self.now(), marker.map(end_text), end_text(reason), done);
        queue
            .send(command)
            .await
            .map_err(|_| RecordingStopped::Failed)?;
        wait.await.map_err(|_| RecordingStopped::Failed)
    }
}

/// The first value `rx` holds; pending for ever if its sender goes without one.
async fn first_value<T: Copy>(mut rx: watch::Receiver<Option<T>>) -> T {
    let value = match rx.wait_for(Option::is_some).await {
        Ok(value) => *value,
        Err(_) => None,
    };
    match value {
        Some(value) => value,
        None => std::future::pending().await,
    }
}

fn stop(stopped: &watch::Sender<Option<RecordingStopped>>, why: RecordingStopped) {
    stopped.send_if_modified(|current| {
        if current.is_none() {
            *current = Some(why);
            true
        } else {
            false
        }
    });
}

/// The metadata of test session `id`.
#[cfg(test)]
fn test_meta(id: &str) -> Meta {
    Meta {
        session_id: id.into(),
        engineer: "alice".into(),
        target: "web01".into(),
        grant_id: "g-1".into(),
        started_at_ms: 1_700_000_000_000,
        node: "gw".into(),
        key: None,
    }
}

/// The signing key of test recordings.
#[cfg(test)]
fn test_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[3; 32])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::session::room::AHEAD_MIN;

    /// A recording of session `id` in `dir`, held to `max_bytes`.
    fn start(dir: &Path, id: &str, max_bytes: u64) -> Recorder {
        let meta = test_meta(id);
        let key = test_key();
        let limits = Limits {
            max_bytes,
            min_free: MinFree::Bytes(0),
        };
        Recorder::start(dir, meta, &key, None, Duration::from_millis(50), limits).unwrap()
    }

    fn input(rec: &recordings::Recording) -> Vec<u8> {
        rec.events()
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Input { data, .. } => Some(data.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    /// Bytes the filesystem holds for `path` (reserved ones included).
    fn on_disk(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().blocks() * 512
    }

    #[tokio::test]
    async fn at_the_size_limit_the_next_event_is_refused_and_every_accepted_one_is_sealed_in() {
        let dir = tempfile::tempdir().unwrap();
        let rec = start(dir.path(), "s-limit", 1 << 20);
        // Keystroke-sized and packet-sized input, as a pipe would forward it.
        let mut accepted = Vec::new();
        let mut i = 0u32;
        let why = loop {
            let len = if i.is_multiple_of(3) { 1 } else { 20_000 };
            let data = bytes::Bytes::from(vec![(i % 251) as u8; len]);
            match rec.record_data(Stream::Input, 0, data.clone()).await {
                Ok(()) => accepted.extend_from_slice(&data),
                Err(why) => break why,
            }
            i += 1;
        };
        assert_eq!(why, RecordingStopped::SizeLimit { limit: 1 << 20 });
        // Stopped for good, with the first reason, and the session is told.
        assert_eq!(
            rec.record(Event::Marker { text: "x".into() }).await,
            Err(why)
        );
        assert_eq!(rec.stopped().await, why);
        // Most of the limit was used: the charges are settled as events are written.
        assert!(
            accepted.len() > 900_000,
            "only {} bytes accepted",
            accepted.len()
        );
        rec.end(&"session ended: ".repeat(200), "size limit")
            .await
            .unwrap();

        let bytes = std::fs::read(rec.path()).unwrap();
        assert!(bytes.len() as u64 <= 1 << 20, "{} bytes", bytes.len());
        let parsed = recordings::Recording::parse(&bytes, None).unwrap();
        assert!(parsed.is_sealed());
        assert_eq!(parsed.end_reason(), Some("size limit"));
        assert!(
            input(&parsed) == accepted,
            "the accepted input is not what was written"
        );
    }

    #[tokio::test]
    async fn room_is_reserved_ahead_while_recording_and_given_back_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let rec = start(dir.path(), "s-room", 1 << 30);
        rec.record_data(Stream::Input, 0, bytes::Bytes::from_static(b"ls\r"))
            .await
            .unwrap();
        let len = std::fs::metadata(rec.path()).unwrap().len();
        assert!(
            on_disk(rec.path()) >= len + AHEAD_MIN,
            "nothing reserved ahead: {} on disk for {len} bytes",
            on_disk(rec.path())
        );
        rec.end("session ended: bye", "bye").await.unwrap();
        let len = std::fs::metadata(rec.path()).unwrap().len();
        assert!(
            on_disk(rec.path()) < len + 8192,
            "still reserved after the end: {} on disk for {len} bytes",
            on_disk(rec.path())
        );
        let parsed =
            recordings::Recording::parse(&std::fs::read(rec.path()).unwrap(), None).unwrap();
        assert_eq!(input(&parsed), b"ls\r");
        assert!(parsed.is_sealed());
    }

    #[tokio::test]
    async fn input_a_pty_did_not_echo_is_marked_as_it_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let rec = start(dir.path(), "s-mask", 1 << 30);
        let pty = Event::Pty {
            channel: 0,
            term: "xterm".into(),
            cols: 80,
            rows: 24,
            modes: vec![],
        };
        rec.record(pty).await.unwrap();
        for (stream, data) in [
            (Stream::Input, &b"ls\r"[..]),
            (Stream::Output, b"ls\r\nPassword: "),
            (Stream::Input, b"hunter2\r"),
            (Stream::Output, b"\r\n$ "),
        ] {
            let data = bytes::Bytes::copy_from_slice(data);
            rec.record_data(stream, 0, data).await.unwrap();
        }
        rec.end("session ended: bye", "bye").await.unwrap();
        let parsed =
            recordings::Recording::parse(&std::fs::read(rec.path()).unwrap(), None).unwrap();
        let marks: Vec<&Event> = parsed
            .events()
            .iter()
            .map(|(_, e)| e)
            .filter(|e| matches!(e, Event::Masked { .. }))
            .collect();
        let mark = Event::Masked {
            channel: 0,
            from: 3,
            to: 10,
        };
        assert_eq!(marks, vec![&mark]);
    }
}
