//! The live side of a recording: a task per session that owns the `recordings::Writer`,
//! takes events from a bounded queue, writes a chunk at least every flush interval (and
//! whenever a quarter MiB has accumulated), and fsyncs each interval.
//!
//! Fail closed: when a write fails the task stops, every later [`Recorder::record`] returns
//! an error, and [`Recorder::failed`] fires so the session is ended. Not the file format
//! (crate `recordings`) and not the decision of what to record (the SSH relay).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recordings::{Event, Meta, Stream, Writer};
use tokio::sync::{mpsc, oneshot, watch};

/// Bytes buffered in the writer before a chunk is written without waiting for the tick.
const CHUNK_BYTES: usize = 256 * 1024;
/// Events queued between the relay and the writer task: the relay waits when it is full.
const QUEUE: usize = 64;

/// The recording of this session can no longer be written.
#[derive(Debug, thiserror::Error)]
#[error("the session recording cannot be written")]
pub struct RecordingFailed;

enum Command {
    Event(u64, Event),
    /// Terminal bytes, passed without a copy (russh's buffer is reference-counted).
    Data(u64, Stream, u32, bytes::Bytes),
    Seal(u64, String, oneshot::Sender<()>),
}

/// Handle to a session's recording task. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    /// `None` only in benchmark builds measuring the cost of recording.
    queue: Option<mpsc::Sender<Command>>,
    started: Instant,
    failed: watch::Receiver<bool>,
    path: Arc<PathBuf>,
}

/// A `File` shared between the writer (which writes) and the task (which fsyncs).
struct SharedFile(Arc<File>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        (&*self.0).flush()
    }
}

impl Recorder {
    /// Creates `dir/<session>.mwrec` (never overwriting) and starts the writer task.
    pub fn start(
        dir: &Path,
        meta: Meta,
        key: &ed25519_dalek::SigningKey,
        flush_interval: Duration,
    ) -> std::io::Result<Recorder> {
        let path = dir.join(format!("{}.mwrec", meta.session_id));
        let file = Arc::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?,
        );
        let writer = Writer::new(SharedFile(file.clone()), meta, key)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        file.sync_all()?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let (failed_tx, failed) = watch::channel(false);
        let path = Arc::new(path);
        tokio::spawn(run(
            writer,
            file,
            rx,
            failed_tx,
            flush_interval,
            path.clone(),
        ));
        Ok(Recorder {
            queue: Some(queue),
            started: Instant::now(),
            failed,
            path,
        })
    }

    /// A recorder that keeps nothing, for `--features bench-no-recording` only.
    #[cfg(feature = "bench-no-recording")]
    pub fn disabled(dir: &Path, session_id: &str) -> Recorder {
        let (_, failed) = watch::channel(false);
        Recorder {
            queue: None,
            started: Instant::now(),
            failed,
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

    /// Queues one event; waits while the queue is full (backpressure on the session).
    pub async fn record(&self, event: Event) -> Result<(), RecordingFailed> {
        if *self.failed.borrow() {
            return Err(RecordingFailed);
        }
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        queue
            .send(Command::Event(self.now(), event))
            .await
            .map_err(|_| RecordingFailed)
    }

    /// Queues terminal bytes of `stream` on `channel` without copying them.
    pub async fn record_data(
        &self,
        stream: Stream,
        channel: u32,
        data: bytes::Bytes,
    ) -> Result<(), RecordingFailed> {
        if *self.failed.borrow() {
            return Err(RecordingFailed);
        }
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        queue
            .send(Command::Data(self.now(), stream, channel, data))
            .await
            .map_err(|_| RecordingFailed)
    }

    /// Resolves when the recording has failed; never resolves for a healthy recording.
    pub async fn failed(&self) {
        let mut failed = self.failed.clone();
        let _ = failed.wait_for(|f| *f).await;
        if !*failed.borrow() {
            // The task ended without failing (sealed): nothing more to wait for.
            std::future::pending::<()>().await;
        }
    }

    /// Writes the remaining events, seals the recording with `reason` and waits for it.
    pub async fn seal(&self, reason: &str) -> Result<(), RecordingFailed> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let (done, wait) = oneshot::channel();
        queue
            .send(Command::Seal(self.now(), reason.to_string(), done))
            .await
            .map_err(|_| RecordingFailed)?;
        wait.await.map_err(|_| RecordingFailed)
    }
}

async fn run(
    mut writer: Writer<SharedFile>,
    file: Arc<File>,
    mut rx: mpsc::Receiver<Command>,
    failed: watch::Sender<bool>,
    flush_interval: Duration,
    path: Arc<PathBuf>,
) {
    let mut tick = tokio::time::interval(flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = false;
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Event(at, event)) => {
                    if let Err(e) = writer.push(at, event) {
                        return fail(&failed, &path, &e.to_string());
                    }
                    if writer.buffered_bytes() >= CHUNK_BYTES {
                        if let Err(e) = writer.flush_chunk() {
                            return fail(&failed, &path, &e.to_string());
                        }
                        dirty = true;
                    }
                }
                Some(Command::Data(at, stream, channel, data)) => {
                    if let Err(e) = writer.push_data(at, stream, channel, &data) {
                        return fail(&failed, &path, &e.to_string());
                    }
                    if writer.buffered_bytes() >= CHUNK_BYTES {
                        if let Err(e) = writer.flush_chunk() {
                            return fail(&failed, &path, &e.to_string());
                        }
                        dirty = true;
                    }
                }
                Some(Command::Seal(at, reason, done)) => {
                    let file = file.clone();
                    let sealed = tokio::task::spawn_blocking(move || {
                        writer.seal(at, &reason).map_err(|e| e.to_string())?;
                        file.sync_all().map_err(|e| e.to_string())
                    })
                    .await;
                    match sealed {
                        Ok(Ok(())) => {
                            let _ = done.send(());
                        }
                        Ok(Err(e)) => fail(&failed, &path, &e),
                        Err(e) => fail(&failed, &path, &e.to_string()),
                    }
                    return;
                }
                // Every handle dropped without sealing: leave the recording cut short
                // but flushed, exactly as a crash would.
                None => {
                    if writer.flush_chunk().is_err() || file.sync_data().is_err() {
                        fail(&failed, &path, "final flush failed");
                    }
                    return;
                }
            },
            _ = tick.tick() => {
                if writer.buffered_bytes() > 0 {
                    if let Err(e) = writer.flush_chunk() {
                        return fail(&failed, &path, &e.to_string());
                    }
                    dirty = true;
                }
                if dirty {
                    let file = file.clone();
                    let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
                    if !matches!(synced, Ok(Ok(()))) {
                        return fail(&failed, &path, "fsync failed");
                    }
                    dirty = false;
                }
            }
        }
    }
}

fn fail(failed: &watch::Sender<bool>, path: &Path, why: &str) {
    tracing::error!(recording = %path.display(), "recording failed, ending the session: {why}");
    let _ = failed.send(true);
}
