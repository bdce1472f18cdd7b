//! Backups of Menwei itself: `menwei backup create | verify | restore` and the schedule
//! `menwei serve` runs.
//!
//! A backup is one directory, `menwei-backup-<UTC time>/`, written as `.…partial` and renamed
//! when complete:
//!
//! - `keys.sealed`: the configuration file (its database URL may carry a password), the
//!   policy file, the SSH host and client keys, the vault key, the recording signing key
//!   and its public half, the web session key, the HTTPS certificate and key and the webhook
//!   secrets, sealed under the backup passphrase ([`seal`]). The passphrase file itself is
//!   never included.
//! - `database.sqlite.sealed` or `database.pgdump.sealed`: a consistent snapshot taken while
//!   the gateway runs (SQLite `VACUUM INTO`, `pg_dump`), sealed the same way: the database
//!   names targets, whose addresses never leave the site in the clear.
//! - `recordings/*.mwrec`: every recording as it is stored: the recordings directory's, and
//!   with `[recordings] store` those already uploaded, fetched from the bucket. They are
//!   already encrypted and signed, so copying them adds no exposure, and a backup holding
//!   them restores working recordings on its own, with no second store to reach (a manifest
//!   of hashes alone would leave the restore dependent on the very disk or bucket that was
//!   lost). A restored gateway with a store uploads them again from its spool. Sessions
//!   whose recording is nowhere are named in the manifest (`missing_recordings`), in the
//!   audit entry and on the CLI.
//! - `manifest.json`: the key derivation's salt and costs and each member's size and
//!   SHA-256; `manifest.mac`: its HMAC-SHA256 under a key derived from the passphrase, so
//!   nobody without the passphrase can swap a member and fix up its hash.
//!
//! Restoring ([`restore()`]) and verifying ([`verify()`]) share one unpacking: check the
//! manifest and every member's hash, open the keys, write the files, load the database,
//! copy the recordings. A backup in a bucket ([`offsite`]) is downloaded first. Verifying unpacks into a scratch directory (and, for PostgreSQL, a
//! scratch database) and then checks the audit chain and every recording's signature.

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::db::{Db, DbError};

pub mod database;
pub mod offsite;
mod restore;
pub mod schedule;
pub mod seal;

pub use restore::{restore, verify, Restored, Verified};

/// The manifest's format version.
const FORMAT: u32 = 1;
/// Member number (nonce prefix) of `keys.sealed`.
const KEYS_MEMBER: u32 = 0;
/// Member number of the database snapshot.
const DATABASE_MEMBER: u32 = 1;
const KEYS: &str = "keys.sealed";
const MANIFEST: &str = "manifest.json";
const MANIFEST_MAC: &str = "manifest.mac";
const RECORDINGS: &str = "recordings";
/// Backups are directories named so.
pub const PREFIX: &str = "menwei-backup-";

/// Why a backup could not be made, checked or restored. Each message is one line naming
/// the member or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The passphrase file is missing, unreadable or too short.
    #[error("backup passphrase: {0}")]
    Passphrase(String),
    /// The passphrase does not open the backup.
    #[error("wrong passphrase: it does not open this backup's keys.sealed")]
    WrongPassphrase,
    /// The manifest is missing, unreadable or was altered.
    #[error("backup manifest: {0}")]
    Manifest(String),
    /// Members whose content is not what the manifest says.
    #[error("{}", .0.join("; "))]
    Members(Vec<String>),
    /// The database could not be dumped or loaded.
    #[error("{0}")]
    Database(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The restore would overwrite something.
    #[error("{0}")]
    Refused(String),
    /// The gateway's database.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BackupError {
    move |e| BackupError::Io(format!("{what}: {e}"))
}

/// What a backup's manifest says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The format version (1).
    pub format: u32,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Which node made it.
    pub node: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// How the keys were derived from the passphrase.
    pub kdf: seal::Kdf,
    /// Every file of the backup but the manifest and its MAC.
    pub members: Vec<Member>,
    /// Sessions the database names whose recording was neither in the recordings
    /// directory nor in the store when the backup was made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_recordings: Vec<String>,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// The plaintext of `keys.sealed`.
#[derive(Serialize, Deserialize)]
struct KeyFiles {
    /// The configuration file, relative to the data directory.
    config: String,
    files: Vec<KeyFile>,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    /// Relative to the configuration's directory.
    path: String,
    mode: u32,
    /// Base64.
    data: String,
}

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct Created {
    /// The backup directory.
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// Bytes of all members.
    pub bytes: u64,
    /// Recordings it holds.
    pub recordings: usize,
    /// Sessions whose recording could not be found anywhere (also in the manifest).
    pub missing_recordings: Vec<String>,
}

/// Makes a backup of the gateway configured by `config` (database open as `db`) in a new
/// directory under `to`, sealed with `passphrase`.
pub async fn create(
    config: &Config,
    db: &Db,
    to: &Path,
    passphrase: Zeroizing<Vec<u8>>,
) -> Result<Created, BackupError> {
    let files = key_files(config)?;
    let name = format!(
        "{PREFIX}{}",
        crate::time::rfc3339(crate::time::now_ms()).replace(['-', ':'], "")
    );
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)
        .map_err(io(format_args!("cannot create {}", to.display())))?;
    let work = to.join(format!(".{name}.partial"));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&work)
        .map_err(io(format_args!("cannot create {}", work.display())))?;
    let result = fill(config, db, &work, files, passphrase).await;
    let finished = result.and_then(|filled| {
        let path = to.join(&name);
        std::fs::rename(&work, &path)
            .map_err(io(format_args!("cannot rename to {}", path.display())))?;
        Ok(Created {
            path,
            name: name.clone(),
            bytes: filled.bytes,
            recordings: filled.recordings,
            missing_recordings: filled.missing,
        })
    });
    if finished.is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    finished
}

async fn fill(
    config: &Config,
    db: &Db,
    work: &Path,
    files: KeyFiles,
    passphrase: Zeroizing<Vec<u8>>,
) -> Result<Filled, BackupError> {
    let url = config.database.url.clone();
    let kind = database::Kind::of(&url);
    // The snapshot first: every recording it names is then on disk to be copied.
    let plain_db = work.join(".database.tmp");
    database::snapshot(db, &url, &plain_db).await?;
    let kdf = seal::Kdf::new();
    let manifest_head = (config.node_name.clone(), kind);
    let recordings_dir = config.recordings.dir.clone();
    let work = work.to_path_buf();
    let into = work.clone();
    let mut recordings =
        tokio::task::spawn_blocking(move || copy_recordings(&recordings_dir, &into))
            .await
            .map_err(|e| BackupError::Io(format!("backup task: {e}")))??;
    let missing = fetch_stored(config, db, &work, &mut recordings).await?;
    tokio::task::spawn_blocking(move || {
        let key = seal::derive(&passphrase, &kdf)?;
        drop(passphrase);
        let mut members = Vec::new();
        let keys_json = Zeroizing::new(
            serde_json::to_vec(&files).map_err(|e| BackupError::Io(format!("keys: {e}")))?,
        );
        drop(files);
        seal_to(
            &key,
            KEYS_MEMBER,
            &mut keys_json.as_slice(),
            &work.join(KEYS),
        )?;
        members.push(member(&work, KEYS)?);

        let db_member = manifest_head.1.member();
        let mut plain = std::fs::File::open(&plain_db).map_err(io("cannot read the snapshot"))?;
        seal_to(&key, DATABASE_MEMBER, &mut plain, &work.join(db_member))?;
        drop(plain);
        std::fs::remove_file(&plain_db).map_err(io("cannot remove the plain snapshot"))?;
        members.push(member(&work, db_member)?);

        recordings.sort();
        for name in &recordings {
            members.push(member(&work, &format!("{RECORDINGS}/{name}"))?);
        }

        let manifest = Manifest {
            format: FORMAT,
            created_at: crate::time::rfc3339(crate::time::now_ms()),
            node: manifest_head.0,
            database: manifest_head.1.as_str().to_string(),
            kdf,
            members,
            missing_recordings: missing.clone(),
        };
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| BackupError::Io(format!("manifest: {e}")))?;
        write_file(&work.join(MANIFEST), &text, 0o600)?;
        write_file(&work.join(MANIFEST_MAC), key.mac(&text)?.as_bytes(), 0o600)?;
        let bytes = manifest.members.iter().map(|m| m.bytes).sum();
        Ok(Filled {
            bytes,
            recordings: recordings.len(),
            missing,
        })
    })
    .await
    .map_err(|e| BackupError::Io(format!("backup task: {e}")))?
}

/// What [`fill`] wrote.
struct Filled {
    bytes: u64,
    recordings: usize,
    missing: Vec<String>,
}

/// Brings into `work/recordings` every session's recording that was not in the local
/// directory: with a store, those already uploaded (and gone from the spool). `copied`
/// gains their file names; returns the sessions whose recording is nowhere.
async fn fetch_stored(
    config: &Config,
    db: &Db,
    work: &Path,
    copied: &mut Vec<String>,
) -> Result<Vec<String>, BackupError> {
    let store = crate::recording_store::RecordingStore::open(&config.recordings)
        .map_err(|e| BackupError::Io(e.to_string()))?;
    let have: std::collections::BTreeSet<String> = copied.iter().cloned().collect();
    let expired = db.expired_recordings().await?;
    let mut missing = Vec::new();
    for session in db.sessions().await? {
        let name = format!("{}.mwrec", session.id);
        if have.contains(&name) || expired.contains(&session.id) {
            continue;
        }
        let to = work.join(RECORDINGS).join(&name);
        match store.download(&session.id, &to).await {
            Ok(_) => copied.push(name),
            Err(crate::recording_store::StoreError::NotFound(_)) => missing.push(session.id),
            Err(e) => return Err(BackupError::Io(e.to_string())),
        }
    }
    Ok(missing)
}

/// The configuration file and every key and secret file it names, relative to its folder.
fn key_files(config: &Config) -> Result<KeyFiles, BackupError> {
    let mut wanted: Vec<(&Path, bool)> = vec![
        (&config.path, true),
        (&config.ssh.host_key, true),
        (&config.keys.client_key, true),
        (&config.keys.vault_key, true),
        (&config.keys.recording_signing_key, true),
        (&config.keys.recording_public_key, false),
    ];
    let client_pub = PathBuf::from(format!("{}.pub", config.keys.client_key.display()));
    wanted.push((&client_pub, false));
    if config.policy_source.path != config.path {
        wanted.push((&config.policy_source.path, true));
    }
    let session_key = config.dir.join(crate::credentials::SESSION_KEY_FILE);
    wanted.push((&session_key, false));
    if let Some(https) = &config.https {
        wanted.push((&https.cert, false));
        wanted.push((&https.key, false));
    }
    for w in &config.webhooks {
        wanted.push((&w.secret_file, true));
    }
    let mut files = Vec::new();
    for (path, required) in wanted {
        if !required && !path.exists() {
            continue;
        }
        let rel = relative(&config.dir, path)?;
        if files.iter().any(|f: &KeyFile| f.path == rel) {
            continue;
        }
        let data = Zeroizing::new(
            std::fs::read(path).map_err(io(format_args!("cannot read {}", path.display())))?,
        );
        let mode = std::fs::metadata(path)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap_or(0o600);
        use base64::Engine as _;
        files.push(KeyFile {
            path: rel,
            mode,
            data: base64::engine::general_purpose::STANDARD.encode(data.as_slice()),
        });
    }
    Ok(KeyFiles {
        config: relative(&config.dir, &config.path)?,
        files,
    })
}

/// `path` relative to `dir`, `/`-separated; refused when it lies outside.
fn relative(dir: &Path, path: &Path) -> Result<String, BackupError> {
    let rel = path.strip_prefix(dir).ok().filter(|r| {
        r.components().all(|c| matches!(c, Component::Normal(_))) && r.components().count() > 0
    });
    let Some(rel) = rel else {
        return Err(BackupError::Refused(format!(
            "{} is outside the configuration's directory {}; a backup holds the files under it",
            path.display(),
            dir.display()
        )));
    };
    rel.to_str()
        .map(str::to_string)
        .ok_or_else(|| BackupError::Refused(format!("{} is not a UTF-8 path", path.display())))
}

/// Whether a member's relative path is safe to join to a directory.
fn safe_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

fn seal_to(
    key: &seal::BackupKey,
    member: u32,
    from: &mut impl Read,
    to: &Path,
) -> Result<(), BackupError> {
    let file = new_file(to, 0o600)?;
    let mut w = BufWriter::new(file);
    key.seal(member, from, &mut w)
        .and_then(|()| w.flush())
        .and_then(|()| w.get_ref().sync_all())
        .map_err(io(format_args!("cannot write {}", to.display())))
}

fn new_file(path: &Path, mode: u32) -> Result<std::fs::File, BackupError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(format_args!("cannot create {}", path.display())))
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), BackupError> {
    let mut f = new_file(path, mode)?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(io(format_args!("cannot write {}", path.display())))
}

/// Copies every `*.mwrec` of `dir` into `work/recordings`; their names, unsorted.
fn copy_recordings(dir: &Path, work: &Path) -> Result<Vec<String>, BackupError> {
    let to = work.join(RECORDINGS);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&to)
        .map_err(io(format_args!("cannot create {}", to.display())))?;
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(io(format_args!("cannot list {}", dir.display()))(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(format_args!("cannot list {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".mwrec") || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let mut from = match std::fs::File::open(entry.path()) {
            Ok(f) => f,
            // Uploaded to the store and removed from the spool a moment ago: it is fetched
            // from the store with the others there.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(io(format_args!("cannot read {}", entry.path().display()))(
                    e,
                ))
            }
        };
        let mut out = BufWriter::new(new_file(&to.join(&name), 0o600)?);
        std::io::copy(&mut from, &mut out)
            .and_then(|_| out.flush())
            .map_err(io(format_args!("cannot copy recording {name}")))?;
        names.push(name);
    }
    Ok(names)
}

/// A scratch directory, removed with everything in it when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh name under `parent` (`<prefix>-<pid>-<random>`); not created yet.
    pub fn named(parent: &Path, prefix: &str) -> Scratch {
        Scratch(parent.join(format!(
            "{prefix}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )))
    }

    /// [`Scratch::named`], created (mode 0700).
    pub fn create(parent: &Path, prefix: &str) -> Result<Scratch, BackupError> {
        let s = Scratch::named(parent, prefix);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&s.0)
            .map_err(io(format_args!("cannot create {}", s.0.display())))?;
        Ok(s)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The manifest entry of the file `rel` in `dir`.
fn member(dir: &Path, rel: &str) -> Result<Member, BackupError> {
    let (bytes, sha256) = hash_file(&dir.join(rel))?;
    Ok(Member {
        path: rel.to_string(),
        bytes,
        sha256,
    })
}

/// Size and SHA-256 (hex) of a file.
fn hash_file(path: &Path) -> Result<(u64, String), BackupError> {
    let f =
        std::fs::File::open(path).map_err(io(format_args!("cannot read {}", path.display())))?;
    let mut r = BufReader::new(f);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = r
            .read(&mut buf)
            .map_err(io(format_args!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(h.finalize())))
}

/// The backups (directories named [`PREFIX`]…) in `dir`, oldest first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name().to_string_lossy().starts_with(PREFIX)
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect();
    // The names hold the UTC time with fixed width: sorting by name sorts by age.
    found.sort();
    found
}

/// Removes all but the newest `keep` backups in `dir`; the ones removed.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    let all = list(dir);
    let excess = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for old in all.into_iter().take(excess) {
        std::fs::remove_dir_all(&old)
            .map_err(io(format_args!("cannot remove {}", old.display())))?;
        removed.push(old);
    }
    Ok(removed)
}

/// Copies the backup directory `from` into `dir` (as `.…partial`, renamed when complete).
pub fn copy_to(from: &Path, dir: &Path) -> Result<PathBuf, BackupError> {
    let name = from
        .file_name()
        .ok_or_else(|| BackupError::Io(format!("{} has no name", from.display())))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format_args!("cannot create {}", dir.display())))?;
    let work = dir.join(format!(".{}.partial", name.to_string_lossy()));
    let result = copy_tree(from, &work).and_then(|()| {
        let to = dir.join(name);
        std::fs::rename(&work, &to)
            .map_err(io(format_args!("cannot rename to {}", to.display())))?;
        Ok(to)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(to)
        .map_err(io(format_args!("cannot create {}", to.display())))?;
    for entry in
        std::fs::read_dir(from).map_err(io(format_args!("cannot list {}", from.display())))?
    {
        let entry = entry.map_err(io(format_args!("cannot list {}", from.display())))?;
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(io(format_args!("cannot read {}", entry.path().display())))?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            let mut src = std::fs::File::open(entry.path())
                .map_err(io(format_args!("cannot read {}", entry.path().display())))?;
            let mut dst = new_file(&target, 0o600)?;
            std::io::copy(&mut src, &mut dst)
                .and_then(|_| dst.sync_all())
                .map_err(io(format_args!("cannot write {}", target.display())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_outside_the_configurations_folder_are_refused_by_name() {
        let dir = Path::new("/etc/menwei");
        assert_eq!(
            relative(dir, Path::new("/etc/menwei/keys/vault.key")).unwrap(),
            "keys/vault.key"
        );
        let e = relative(dir, Path::new("/srv/webhook.secret"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/srv/webhook.secret is outside"), "{e}");
        assert!(relative(dir, Path::new("/etc/menwei/../passwd")).is_err());
        assert!(safe_relative("recordings/s-1.mwrec"));
        assert!(!safe_relative("../x") && !safe_relative("/x") && !safe_relative(""));
    }

    #[test]
    fn only_the_newest_backups_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for t in [
            "20261101T020000.000Z",
            "20261103T020000.000Z",
            "20261102T020000.000Z",
        ] {
            std::fs::create_dir(dir.path().join(format!("{PREFIX}{t}"))).unwrap();
        }
        std::fs::create_dir(dir.path().join("unrelated")).unwrap();
        let removed = prune(dir.path(), 2).unwrap();
        assert_eq!(
            removed,
            vec![dir.path().join(format!("{PREFIX}20261101T020000.000Z"))]
        );
        assert_eq!(list(dir.path()).len(), 2);
        assert!(dir.path().join("unrelated").is_dir());
    }
}
