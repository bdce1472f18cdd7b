//! The writer task of one recording: takes the accepted events from the recorder's queue,
//! marks typed secrets, buffers and writes chunks, fsyncs each interval beside the writing,
//! watches the disk's free space, and seals the file when told. It runs on a recording
//! writer thread ([`crate::session::writers`]). Not the handles the relay holds nor the
//! charging of room (the parent module).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use recordings::mask::Masker;
use recordings::writer::CHUNK_OVERHEAD;
use recordings::{Event, Writer};
use rustix::fs::fstatvfs;
use tokio::sync::{mpsc, watch};

use super::{stop, Command, RecordingFile, RecordingStopped};
use crate::config::MinFree;
use crate::session::room::{Room, Space};

/// How long the writer task waits, once it has emptied its queue after an event, before it
/// looks again: during a bulk transfer the relay then queues a few packets without waking
/// the writer thread for each (a wake-up costs as much as buffering a packet). Events wait
/// no longer than this to be buffered; none is dropped and a full queue wakes nobody early,
/// so the queue holds the relay back for at most this long.
const LINGER: Duration = Duration::from_millis(1);
/// What the writer task shares with the handles.
pub(super) struct Task {
    pub(super) space: Arc<Space>,
    pub(super) stopped: Arc<watch::Sender<Option<RecordingStopped>>>,
    pub(super) disk_low: watch::Sender<Option<Room>>,
    pub(super) min_free: MinFree,
    pub(super) path: Arc<PathBuf>,
}

impl Task {
    fn fail(&self, why: &str) {
        crate::metrics::recording_failed();
        let session = self.path.file_stem().unwrap_or_default().to_string_lossy();
        tracing::error!(%session, recording = %self.path.display(), "recording failed, ending the session: {why}");
        stop(&self.stopped, RecordingStopped::Failed);
    }

    /// Settles the charge of the event just buffered: what it took is its encoded bytes,
    /// plus a chunk's framing when it opened a new chunk.
    fn settle(&self, charged: u64, before: usize, after: usize) {
        let framing = if before == 0 { CHUNK_OVERHEAD } else { 0 };
        let took = (after.saturating_sub(before) + framing) as u64;
        self.space.settle(charged, took);
    }

    /// Says once when the filesystem's free space has dropped below `min_free`.
    fn watch_room(&self, file: &File) {
        if self.disk_low.borrow().is_some() {
            return;
        }
        if let Ok(s) = fstatvfs(file) {
            let room = Room::of(&s, self.min_free);
            if room.is_short() {
                tracing::warn!(recording = %self.path.display(), "the recordings disk is nearly full: {room}");
                let _ = self.disk_low.send(Some(room));
            }
        }
    }
}

/// Cuts the file to the `len` bytes of the recording: drops the last direct write's zero
/// padding and gives back what was reserved beyond (best effort: readers take either as
/// the file's end).
fn trim(file: &File, len: u64) {
    let _ = file.set_len(len);
}

/// Buffers one accepted event with `push`, settles its charge to what it took, and writes
/// the chunk to the file once it is full. Whether a chunk was written.
fn buffer_event(
    writer: &mut Writer<RecordingFile>,
    task: &Task,
    charged: u64,
    push: impl FnOnce(&mut Writer<RecordingFile>) -> Result<(), recordings::WriteError>,
) -> Result<bool, recordings::WriteError> {
    let before = writer.buffered_bytes();
    push(writer)?;
    task.settle(charged, before, writer.buffered_bytes());
    if !writer.chunk_full() {
        return Ok(false);
    }
    writer.flush_chunk()?;
    Ok(true)
}

/// The interval's fsync, running on the blocking pool beside the writing: the task goes on
/// taking events while the disk catches up (a second of bulk data is hundreds of MB to write
/// back), instead of holding the relay back for as long as the fsync takes.
type Syncing = tokio::task::JoinHandle<std::io::Result<()>>;

/// Waits for the running fsync, if any: whether it (and so the chunks before it) made it.
async fn synced(syncing: &mut Option<Syncing>) -> bool {
    match syncing.take() {
        Some(sync) => matches!(sync.await, Ok(Ok(()))),
        None => true,
    }
}

pub(super) async fn run(
    mut writer: Writer<RecordingFile>,
    file: Arc<File>,
    mut rx: mpsc::Receiver<Command>,
    task: Task,
    flush_interval: Duration,
) {
    let mut tick = tokio::time::interval(flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = false;
    let mut syncing: Option<Syncing> = None;
    let mut masker = Masker::new();
    let mut linger = false;
    loop {
        if std::mem::take(&mut linger) {
            tokio::time::sleep(LINGER).await;
        }
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Event(at, event, charged)) => {
                    let mark = masker.event(at, &event);
                    let push = |w: &mut Writer<RecordingFile>| {
                        w.push(at, event)?;
                        mark.map_or(Ok(()), |mark| w.push(at, mark))
                    };
                    match buffer_event(&mut writer, &task, charged, push) {
                        Ok(flushed) => dirty |= flushed,
                        Err(e) => return task.fail(&e.to_string()),
                    }
                    linger = rx.is_empty();
                }
                Some(Command::Data(at, stream, channel, data, charged)) => {
                    let mark = masker.data(at, stream, channel, &data);
                    let push = |w: &mut Writer<RecordingFile>| {
                        w.push_data(at, stream, channel, &data)?;
                        mark.map_or(Ok(()), |mark| w.push(at, mark))
                    };
                    match buffer_event(&mut writer, &task, charged, push) {
                        Ok(flushed) => dirty |= flushed,
                        Err(e) => return task.fail(&e.to_string()),
                    }
                    linger = rx.is_empty();
                }
                Some(Command::Seal(at, marker, reason, done)) => {
                    if !synced(&mut syncing).await {
                        return task.fail("fsync failed");
                    }
                    if let Some(text) = marker {
                        if let Err(e) = writer.push(at, Event::Marker { text }) {
                            return task.fail(&e.to_string());
                        }
                    }
                    let file = file.clone();
                    let sealed = tokio::task::spawn_blocking(move || {
                        let inner = writer.seal(at, &reason).map_err(|e| e.to_string())?;
                        // Trimmed before the sync, so the file on disk never ends in padding
                        // after its seal.
                        trim(&file, inner.written);
                        file.sync_all().map_err(|e| e.to_string())?;
                        Ok::<(), String>(())
                    })
                    .await;
                    match sealed {
                        Ok(Ok(())) => {
                            let _ = done.send(());
                        }
                        Ok(Err(e)) => task.fail(&e),
                        Err(e) => task.fail(&e.to_string()),
                    }
                    return;
                }
                // Every handle dropped without sealing: leave the recording cut short
                // but flushed, exactly as a crash would.
                None => {
                    let synced = synced(&mut syncing).await;
                    let flushed = writer.flush_chunk().is_ok();
                    trim(&file, writer.get_ref().written);
                    if !synced || !flushed || file.sync_all().is_err() {
                        task.fail("final flush failed");
                    }
                    return;
                }
            },
            result = async {
                match syncing.as_mut() {
                    Some(sync) => sync.await,
                    None => std::future::pending().await,
                }
            }, if syncing.is_some() => {
                syncing = None;
                if !matches!(result, Ok(Ok(()))) {
                    return task.fail("fsync failed");
                }
            }
            _ = tick.tick() => {
                if writer.buffered_bytes() > 0 {
                    if let Err(e) = writer.flush_chunk() {
                        return task.fail(&e.to_string());
                    }
                    dirty = true;
                }
                if dirty {
                    // One fsync at a time: a disk slower than the stream holds the writer
                    // (and so the relay) back here.
                    if !synced(&mut syncing).await {
                        return task.fail("fsync failed");
                    }
                    let file = file.clone();
                    syncing = Some(tokio::task::spawn_blocking(move || file.sync_data()));
                    dirty = false;
                }
                task.watch_room(&file);
            }
        }
    }
}
