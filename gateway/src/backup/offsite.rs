//! Backups in an S3-compatible bucket: `[backup] offsite = "s3://BUCKET/PREFIX"` and
//! `menwei backup create --to s3://…`. A backup made and verified in a local directory is
//! uploaded under `PREFIX/<name>/`, its manifest and MAC last (a backup without its
//! `manifest.mac` in the bucket is incomplete, and `verify` says so), then read back and
//! compared member by member (size and SHA-256) before it counts as copied. `verify` and
//! `restore` of an `s3://…/menwei-backup-…` address download it into a scratch directory
//! first and then work as on a directory. Not the backup format ([`super`]).

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt as _;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{hash_file, io, BackupError, MANIFEST, MANIFEST_MAC, PREFIX};
use crate::config::StoreConfig;

/// Members up to this size are uploaded in one request; larger ones in parts.
const SINGLE_PUT: u64 = 16 << 20;
/// The part size of a multipart upload.
const PART: usize = 8 << 20;

/// A bucket and prefix backups go to.
pub struct Bucket {
    client: Arc<dyn ObjectStore>,
    store: StoreConfig,
}

fn s3(url: &str) -> impl FnOnce(object_store::Error) -> BackupError + '_ {
    move |e| BackupError::Io(format!("{url}: {e}"))
}

impl Bucket {
    /// The client for `store` (keys from its credentials file or the environment;
    /// `keys_from` says where they are given, for the message when there are none).
    pub fn open(store: &StoreConfig, keys_from: &str) -> Result<Bucket, BackupError> {
        let client = crate::s3::client(store, keys_from)
            .map_err(|e| BackupError::Io(format!("{}: {e}", store.url)))?;
        Ok(Bucket {
            client,
            store: store.clone(),
        })
    }

    fn key(&self, rel: &str) -> Key {
        if self.store.prefix.is_empty() {
            Key::from(rel)
        } else {
            Key::from(format!("{}/{rel}", self.store.prefix))
        }
    }

    /// `s3://bucket/prefix/rel`.
    fn url(&self, rel: &str) -> String {
        format!("s3://{}/{}", self.store.bucket, self.key(rel))
    }

    /// Uploads the backup directory `dir` and reads every member back; its address.
    pub async fn upload(&self, dir: &Path) -> Result<String, BackupError> {
        let name = backup_name(dir)?;
        let mut files = Vec::new();
        walk(dir, "", &mut files)?;
        // The manifest and its MAC last: their presence says the rest is there.
        files.sort_by_key(|rel| (rel == MANIFEST || rel == MANIFEST_MAC, rel == MANIFEST_MAC));
        for rel in &files {
            self.put_file(&dir.join(rel), &format!("{name}/{rel}"))
                .await?;
        }
        for rel in &files {
            let (bytes, sha) = hash_file(&dir.join(rel))?;
            let (got_bytes, got_sha) = self.hash_object(&format!("{name}/{rel}")).await?;
            if (got_bytes, &got_sha) != (bytes, &sha) {
                return Err(BackupError::Io(format!(
                    "{}: the bucket holds {got_bytes} bytes (SHA-256 {got_sha}) where the backup has {bytes} ({sha})",
                    self.url(&format!("{name}/{rel}"))
                )));
            }
        }
        Ok(self.url(&name))
    }

    async fn put_file(&self, path: &Path, rel: &str) -> Result<(), BackupError> {
        let key = self.key(rel);
        let url = self.url(rel);
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(io(format_args!("cannot read {}", path.display())))?;
        let size = file
            .metadata()
            .await
            .map_err(io(format_args!("cannot read {}", path.display())))?
            .len();
        if size <= SINGLE_PUT {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes)
                .await
                .map_err(io(format_args!("cannot read {}", path.display())))?;
            self.client
                .put(&key, PutPayload::from(bytes))
                .await
                .map_err(s3(&url))?;
            return Ok(());
        }
        let upload = self.client.put_multipart(&key).await.map_err(s3(&url))?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; PART];
        loop {
            parts.wait_for_capacity(2).await.map_err(s3(&url))?;
            let n = match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = parts.abort().await;
                    return Err(BackupError::Io(format!(
                        "cannot read {}: {e}",
                        path.display()
                    )));
                }
            };
            parts.write(buf.get(..n).unwrap_or_default());
        }
        parts.finish().await.map_err(s3(&url))?;
        Ok(())
    }

    async fn hash_object(&self, rel: &str) -> Result<(u64, String), BackupError> {
        let url = self.url(rel);
        let got = self.client.get(&self.key(rel)).await.map_err(s3(&url))?;
        let mut h = Sha256::new();
        let mut bytes = 0u64;
        let mut stream = got.into_stream();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(s3(&url))?;
            bytes += piece.len() as u64;
            h.update(&piece);
        }
        Ok((bytes, hex::encode(h.finalize())))
    }

    /// The backups under the prefix, oldest first.
    pub async fn list(&self) -> Result<Vec<String>, BackupError> {
        let prefix = (!self.store.prefix.is_empty()).then(|| Key::from(self.store.prefix.as_str()));
        let listed = self
            .client
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(s3(&self.store.url))?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|n| n.starts_with(PREFIX))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Removes all but the newest `keep` backups under the prefix; their addresses.
    pub async fn prune(&self, keep: usize) -> Result<Vec<String>, BackupError> {
        let all = self.list().await?;
        let excess = all.len().saturating_sub(keep);
        let mut removed = Vec::new();
        for name in all.into_iter().take(excess) {
            let under = self.key(&name);
            let mut objects = self.client.list(Some(&under));
            while let Some(meta) = objects.next().await {
                let meta = meta.map_err(s3(&self.store.url))?;
                self.client
                    .delete(&meta.location)
                    .await
                    .map_err(s3(&self.store.url))?;
            }
            removed.push(self.url(&name));
        }
        Ok(removed)
    }

    /// Downloads the backup this bucket's prefix names (`…/menwei-backup-…`) into a new
    /// directory under `scratch`; its path. Member names are checked before anything is
    /// written.
    pub async fn download(&self, scratch: &Path) -> Result<PathBuf, BackupError> {
        let url = self.store.url.clone();
        let name = self
            .store
            .prefix
            .rsplit('/')
            .next()
            .filter(|n| n.starts_with(PREFIX))
            .ok_or_else(|| {
                BackupError::Manifest(format!(
                    "{url} does not name a backup (s3://BUCKET/PREFIX/{PREFIX}…)"
                ))
            })?
            .to_string();
        let to = scratch.join(&name);
        let base = Key::from(self.store.prefix.as_str());
        let mut objects = self.client.list(Some(&base));
        let mut found = 0usize;
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(s3(&url))?;
            let rel: Vec<String> = meta
                .location
                .prefix_match(&base)
                .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
                .unwrap_or_default();
            let rel = rel.join("/");
            if !super::safe_relative(&rel) {
                return Err(BackupError::Manifest(format!(
                    "{url}: object {} is not a member name",
                    meta.location
                )));
            }
            let path = to.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io(format_args!("cannot create {}", parent.display())))?;
            }
            let got = self.client.get(&meta.location).await.map_err(s3(&url))?;
            let mut out = tokio::fs::File::create(&path)
                .await
                .map_err(io(format_args!("cannot create {}", path.display())))?;
            let mut stream = got.into_stream();
            while let Some(piece) = stream.next().await {
                out.write_all(&piece.map_err(s3(&url))?)
                    .await
                    .map_err(io(format_args!("cannot write {}", path.display())))?;
            }
            out.flush()
                .await
                .map_err(io(format_args!("cannot write {}", path.display())))?;
            found += 1;
        }
        if found == 0 {
            return Err(BackupError::Manifest(format!(
                "{url}: no such backup in the bucket"
            )));
        }
        Ok(to)
    }
}

/// The backup directory's name.
fn backup_name(dir: &Path) -> Result<String, BackupError> {
    dir.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .ok_or_else(|| BackupError::Io(format!("{} is not a backup directory", dir.display())))
}

/// Every file under `dir`, relative and `/`-separated.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), BackupError> {
    let here = if rel.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rel)
    };
    for entry in
        std::fs::read_dir(&here).map_err(io(format_args!("cannot list {}", here.display())))?
    {
        let entry = entry.map_err(io(format_args!("cannot list {}", here.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(io(format_args!("cannot read {}", entry.path().display())))?;
        if kind.is_dir() {
            walk(dir, &child, out)?;
        } else if kind.is_file() {
            out.push(child);
        }
    }
    Ok(())
}
