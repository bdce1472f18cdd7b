//! Where recordings are kept and read back: the local recordings directory, or an
//! S3-compatible bucket (`[recordings] store`) with that directory as the spool.
//!
//! Live sessions always write to the local directory ([`crate::session::recorder`]), so a
//! slow or absent store never touches a keystroke. With a store, a sealed recording (and one
//! a crash left in the spool, found at `serve` start and uploaded as it is: unsealed, so it
//! verifies as cut short) is uploaded, read back and compared (size and SHA-256) before its
//! spool copy is removed. Every reader (the CLI's `recording` commands, the API and the
//! page's replay) reads through [`RecordingStore::read`], which prefers the spool copy while
//! there is one. While the store cannot be reached, recordings wait in the spool and their
//! uploads are retried with backoff; the outage is raised once (`recordings.store_unavailable`
//! in the audit log and to the `recordings_store` webhooks) and its end once
//! (`recordings.store_available`). The spool's free space is `[recordings] min_free`'s, as
//! for a local directory.
//!
//! Not the recording format (the `recordings` crate) nor the disk's room
//! ([`crate::session::room`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;
use tokio::sync::{watch, Notify};

use crate::config::{RecordingsConfig, StoreConfig};
use crate::session::Context;

/// The first wait after a failed upload; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(1);
/// The longest wait between upload attempts while the store is away.
const RETRY_MAX: Duration = Duration::from_secs(16);
/// How often an idle uploader asks whether the store still answers.
const PROBE_INTERVAL: Duration = Duration::from_secs(15);
/// How long pending uploads are tried at shutdown; what is left goes at the next start.
const SHUTDOWN_UPLOADS: Duration = Duration::from_secs(10);
/// Recordings up to this size are uploaded in one request; larger ones in parts.
const SINGLE_PUT: u64 = 16 << 20;
/// The part size of a multipart upload, and the read size of the file.
const PART: usize = 8 << 20;

/// Why a recording could not be read, or the store not set up.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store's configuration or credentials are unusable.
    #[error("recording store {url}: {message}")]
    Setup {
        /// `[recordings] store`.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Neither the spool nor the store holds it.
    #[error("session {0} has no recording")]
    NotFound(String),
    /// The file or the store did not answer.
    #[error("cannot read recording {place}: {message}")]
    Read {
        /// The file or the object.
        place: String,
        /// Why.
        message: String,
    },
}

/// A recording's bytes and where they were read.
pub struct Fetched {
    /// The `.mwrec` bytes.
    pub bytes: Vec<u8>,
    /// The file path or `s3://bucket/key`, for messages and the audit log.
    pub place: String,
}

/// The bucket side.
struct Remote {
    client: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
    url: String,
}

impl Remote {
    fn key(&self, session_id: &str) -> Key {
        Key::from(self.name(session_id))
    }

    fn name(&self, session_id: &str) -> String {
        if self.prefix.is_empty() {
            format!("{session_id}.mwrec")
        } else {
            format!("{}/{session_id}.mwrec", self.prefix)
        }
    }

    fn place(&self, session_id: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.name(session_id))
    }
}

/// This node's recordings: the local directory and, when configured, the store.
pub struct RecordingStore {
    spool: PathBuf,
    remote: Option<Remote>,
    /// Session ids whose sealed recording waits in the spool for its upload.
    pending: Mutex<BTreeSet<String>>,
    wake: Notify,
    /// Whether the store answered at the last attempt (no store: always).
    available: AtomicBool,
}

impl RecordingStore {
    /// The local directory alone, or with the store `[recordings] store` names (its keys
    /// read from `credentials_file` or the environment now; nothing is contacted yet).
    pub fn open(config: &RecordingsConfig) -> Result<RecordingStore, StoreError> {
        let remote = match &config.store {
            Some(store) => Some(remote(store).map_err(|message| StoreError::Setup {
                url: store.url.clone(),
                message,
            })?),
            None => None,
        };
        Ok(RecordingStore {
            spool: config.dir.clone(),
            remote,
            pending: Mutex::default(),
            wake: Notify::new(),
            available: AtomicBool::new(true),
        })
    }

    /// Whether recordings go to a store.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// `s3://bucket/prefix`, when there is a store.
    pub fn url(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.url.as_str())
    }

    /// Session `id`'s recording: the file its session row names (`named`, relative to the
    /// recordings directory) or the spool's `<id>.mwrec` while there, else the store's.
    pub async fn read(&self, id: &str, named: Option<&str>) -> Result<Fetched, StoreError> {
        let mut local = Vec::with_capacity(2);
        if let Some(named) = named {
            local.push(self.spool.join(named));
        }
        local.push(self.spool.join(format!("{id}.mwrec")));
        for path in local {
            match tokio::fs::read(&path).await {
                Ok(bytes) => {
                    return Ok(Fetched {
                        bytes,
                        place: path.display().to_string(),
                    })
                }
                // Not there, or uploaded and removed a moment ago: the store has it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Read {
                        place: path.display().to_string(),
                        message: e.to_string(),
                    })
                }
            }
        }
        let Some(remote) = &self.remote else {
            return Err(StoreError::NotFound(id.to_string()));
        };
        let place = remote.place(id);
        let read = async { remote.client.get(&remote.key(id)).await?.bytes().await };
        match read.await {
            Ok(bytes) => Ok(Fetched {
                bytes: bytes.to_vec(),
                place,
            }),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound(id.to_string())),
            Err(e) => Err(StoreError::Read {
                place,
                message: format!("the recording store does not answer ({e})"),
            }),
        }
    }

    /// Writes session `id`'s recording from the store into the new file `to`, streamed
    /// (a recording may be gigabytes); its size. For recordings no longer in the spool.
    pub async fn download(&self, id: &str, to: &std::path::Path) -> Result<u64, StoreError> {
        use tokio::io::AsyncWriteExt as _;
        let Some(remote) = &self.remote else {
            return Err(StoreError::NotFound(id.to_string()));
        };
        let place = remote.place(id);
        let failed = |message: String| StoreError::Read {
            place: place.clone(),
            message,
        };
        let got = match remote.client.get(&remote.key(id)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound(id.to_string()))
            }
            Err(e) => return Err(failed(format!("the recording store does not answer ({e})"))),
        };
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .await
            .map_err(|e| failed(format!("cannot create {}: {e}", to.display())))?;
        let mut bytes = 0u64;
        let mut stream = got.into_stream();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| failed(e.to_string()))?;
            bytes += piece.len() as u64;
            out.write_all(&piece)
                .await
                .map_err(|e| failed(format!("cannot write {}: {e}", to.display())))?;
        }
        out.sync_all()
            .await
            .map_err(|e| failed(format!("cannot write {}: {e}", to.display())))?;
        Ok(bytes)
    }

    /// Removes session `id`'s recording wherever it is kept: the file its session row
    /// names, the spool's `<id>.mwrec` and the store's object. Returns the places it was
    /// removed from (none when it was nowhere).
    pub async fn remove(&self, id: &str, named: Option<&str>) -> Result<Vec<String>, StoreError> {
        let mut removed = Vec::new();
        let mut local = Vec::with_capacity(2);
        if let Some(named) = named {
            local.push(self.spool.join(named));
        }
        local.push(self.spool.join(format!("{id}.mwrec")));
        for path in local {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => removed.push(path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Read {
                        place: path.display().to_string(),
                        message: format!("cannot remove: {e}"),
                    })
                }
            }
        }
        if let Some(remote) = &self.remote {
            let place = remote.place(id);
            let key = remote.key(id);
            match remote.client.head(&key).await {
                Ok(_) => {
                    remote
                        .client
                        .delete(&key)
                        .await
                        .map_err(|e| StoreError::Read {
                            place: place.clone(),
                            message: format!("cannot remove: {e}"),
                        })?;
                    removed.push(place);
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(StoreError::Read {
                        place,
                        message: format!("the recording store does not answer ({e})"),
                    })
                }
            }
        }
        Ok(removed)
    }

    /// Session `id`'s recording is sealed (or will never be written again): queued for
    /// upload when there is a store.
    pub fn sealed(&self, id: &str) {
        if self.remote.is_none() {
            return;
        }
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id.to_string());
        }
        self.wake.notify_one();
    }

    /// Queues every recording in the spool: at start, before any session opens, each is
    /// one a stop or a crash left behind. Returns how many.
    pub fn queue_spool(&self) -> std::io::Result<usize> {
        if self.remote.is_none() {
            return Ok(0);
        }
        let mut found = 0;
        for entry in std::fs::read_dir(&self.spool)? {
            let name = entry?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".mwrec")) else {
                continue;
            };
            if !id.is_empty() && !id.starts_with('.') {
                self.sealed(id);
                found += 1;
            }
        }
        Ok(found)
    }

    /// How many recordings wait in the spool for their upload.
    pub fn waiting(&self) -> usize {
        self.pending.lock().map_or(0, |p| p.len())
    }

    /// Whether the store answers now (a request that needs no object to exist); `None`
    /// without a store.
    pub async fn probe(&self) -> Option<Result<(), String>> {
        let remote = self.remote.as_ref()?;
        let key = Key::from(remote.name(".menwei-probe"));
        Some(match remote.client.head(&key).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        })
    }

    fn next(&self) -> Option<String> {
        self.pending.lock().ok()?.first().cloned()
    }

    fn done(&self, id: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(id);
        }
    }

    /// Uploads the spool's `<id>.mwrec`, reads it back, and removes the spool copy once
    /// size and hash agree; `Ok(None)` when the spool holds no such file (any more).
    async fn upload(&self, remote: &Remote, id: &str) -> Result<Option<u64>, String> {
        let path = self.spool.join(format!("{id}.mwrec"));
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let key = remote.key(id);
        let size = file
            .metadata()
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        let mut hash = Sha256::new();
        if size <= SINGLE_PUT {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            hash.update(&bytes);
            remote
                .client
                .put(&key, PutPayload::from(bytes))
                .await
                .map_err(|e| e.to_string())?;
        } else {
            let upload = remote
                .client
                .put_multipart(&key)
                .await
                .map_err(|e| e.to_string())?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut buf = vec![0u8; PART];
            loop {
                // At most two parts in flight: memory stays bounded whatever the size.
                if let Err(e) = parts.wait_for_capacity(2).await {
                    return Err(e.to_string());
                }
                let n = match file.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = parts.abort().await;
                        return Err(format!("cannot read {}: {e}", path.display()));
                    }
                };
                let piece = buf.get(..n).unwrap_or_default();
                hash.update(piece);
                parts.write(piece);
            }
            parts.finish().await.map_err(|e| e.to_string())?;
        }
        let sent = hash.finalize();
        // Read back: what the store holds is what the spool holds, byte for byte.
        let got = remote
            .client
            .get(&key)
            .await
            .map_err(|e| format!("cannot read the upload back: {e}"))?;
        let stored_size = got.meta.size;
        let mut back = Sha256::new();
        let mut stream = got.into_stream();
        while let Some(piece) = stream.next().await {
            back.update(piece.map_err(|e| format!("cannot read the upload back: {e}"))?);
        }
        if stored_size != size || back.finalize() != sent {
            return Err(format!(
                "the store holds {stored_size} bytes for {} that differ from the spool's {size}",
                remote.place(id)
            ));
        }
        tokio::fs::remove_file(&path)
            .await
            .map_err(|e| format!("uploaded, but cannot remove {}: {e}", path.display()))?;
        Ok(Some(size))
    }

    /// Records whether the store answered; true when that changed.
    fn set_available(&self, now: bool) -> bool {
        self.available.swap(now, Ordering::SeqCst) != now
    }
}

/// The S3 client for `store`.
fn remote(store: &StoreConfig) -> Result<Remote, String> {
    Ok(Remote {
        client: crate::s3::client(store, "[recordings] credentials_file")?,
        bucket: store.bucket.clone(),
        prefix: store.prefix.clone(),
        url: store.url.clone(),
    })
}

/// Until shutdown: uploads sealed recordings as they come, retrying with backoff while the
/// store is away, and raises the outage and its end once each. At shutdown, tries what is
/// left for a few seconds; the rest waits in the spool for the next start.
pub async fn run(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let store = &ctx.recordings;
    let Some(remote) = &store.remote else { return };
    let mut delay = RETRY_MIN;
    loop {
        let outcome = upload_pending(&ctx, remote, None).await;
        let wait = match outcome {
            Ok(()) => {
                if store.set_available(true) {
                    alert(&ctx, remote, None).await;
                }
                delay = RETRY_MIN;
                tokio::select! {
                    _ = store.wake.notified() => continue,
                    _ = shutdown.wait_for(|s| *s) => break,
                    _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                }
                match store.probe().await {
                    Some(Err(e)) => {
                        if store.set_available(false) {
                            alert(&ctx, remote, Some(&e)).await;
                        }
                        RETRY_MIN
                    }
                    _ => continue,
                }
            }
            Err(e) => {
                tracing::warn!(node = %ctx.config.node_name, store = %remote.url, waiting = store.waiting(), "cannot upload a recording; retrying in {} s: {e}", delay.as_secs());
                if store.set_available(false) {
                    alert(&ctx, remote, Some(&e)).await;
                }
                let wait = delay;
                delay = (delay * 2).min(RETRY_MAX);
                wait
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    let deadline = Instant::now() + SHUTDOWN_UPLOADS;
    if let Err(e) = upload_pending(&ctx, remote, Some(deadline)).await {
        tracing::warn!(node = %ctx.config.node_name, store = %remote.url, waiting = store.waiting(), "recordings left in the spool at shutdown, uploaded at the next start: {e}");
    }
}

/// Uploads every pending recording in turn; the first failure stops the round.
async fn upload_pending(
    ctx: &Context,
    remote: &Remote,
    deadline: Option<Instant>,
) -> Result<(), String> {
    let store = &ctx.recordings;
    while let Some(id) = store.next() {
        let started = Instant::now();
        let attempt = store.upload(remote, &id);
        let uploaded = match deadline {
            Some(d) => tokio::time::timeout(d.saturating_duration_since(started), attempt)
                .await
                .unwrap_or_else(|_| Err("no time left".into())),
            None => attempt.await,
        }?;
        store.done(&id);
        if let Some(bytes) = uploaded {
            tracing::info!(
                session = %id,
                node = %ctx.config.node_name,
                bytes,
                ms = started.elapsed().as_millis() as u64,
                "recording uploaded to {} and verified; spool copy removed",
                remote.place(&id)
            );
        }
    }
    Ok(())
}

/// Audits and announces that the store went away (`error`) or is back (`None`).
async fn alert(ctx: &Context, remote: &Remote, error: Option<&str>) {
    let node = &ctx.config.node_name;
    let waiting = ctx.recordings.waiting();
    let (action, detail) = match error {
        Some(e) => {
            tracing::error!(node = %node, store = %remote.url, waiting, "the recording store cannot be reached; recordings wait in the spool: {e}");
            (
                "recordings.store_unavailable",
                json!({"store": remote.url, "node": node, "waiting": waiting, "error": e}),
            )
        }
        None => {
            tracing::info!(node = %node, store = %remote.url, waiting, "the recording store answers again");
            (
                "recordings.store_available",
                json!({"store": remote.url, "node": node, "waiting": waiting}),
            )
        }
    };
    ctx.audit("menwei", action, &remote.url, detail.clone())
        .await;
    let mut data = detail;
    if let Some(map) = data.as_object_mut() {
        map.insert("event".into(), json!(action));
    }
    crate::notify::enqueue_logged(
        &ctx.db,
        &ctx.config,
        crate::notify::Kind::RecordingsStore,
        data,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_store_the_spool_is_read_and_nothing_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::Config::parse(
            &dir.path().join("menwei.toml"),
            "[recordings]\ndir = \"rec\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(&config.recordings.dir).unwrap();
        std::fs::write(config.recordings.dir.join("s-1.mwrec"), b"bytes").unwrap();
        let store = RecordingStore::open(&config.recordings).unwrap();
        assert!(!store.is_remote());
        let got = store.read("s-1", None).await.unwrap();
        assert_eq!(got.bytes, b"bytes");
        assert!(matches!(
            store.read("s-2", None).await,
            Err(StoreError::NotFound(_))
        ));
        store.sealed("s-1");
        assert_eq!(store.queue_spool().unwrap(), 0);
        assert_eq!(store.waiting(), 0);
        assert!(store.probe().await.is_none());
    }
}
