//! Reading a backup back: [`restore`] into a data directory, and [`verify`], which restores
//! into a scratch directory (and scratch PostgreSQL database), then checks the audit chain
//! and every recording's signature. Both first check the manifest's MAC and every member's
//! hash, so nothing is written from a backup that is not whole. Not how a backup is made
//! ([`super::create`]).

use std::io::{BufReader, BufWriter, Write as _};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use zeroize::Zeroizing;

use super::database::{self, Kind};
use super::seal::{self, BackupKey};
use super::{
    hash_file, io, new_file, safe_relative, BackupError, KeyFiles, Manifest, Scratch,
    DATABASE_MEMBER, FORMAT, KEYS, KEYS_MEMBER, MANIFEST, MANIFEST_MAC, RECORDINGS,
};
use crate::config::Config;
use crate::db::Db;

/// What [`restore`] wrote.
#[derive(Debug)]
pub struct Restored {
    /// The restored configuration file.
    pub config: PathBuf,
    /// Recordings copied back.
    pub recordings: usize,
    /// The database restored into (URL, password removed).
    pub database: String,
}

/// What [`verify`] found; the backup is good when `problems` is empty.
#[derive(Debug, Default)]
pub struct Verified {
    /// Audit entries whose chain was checked.
    pub audit_entries: u64,
    /// Recordings checked.
    pub recordings: usize,
    /// Of these, sealed (the others were live when the backup was made and verified as far
    /// as they went).
    pub sealed: usize,
    /// Each problem, naming the member.
    pub problems: Vec<String>,
}

/// A backup whose manifest, MAC and member hashes checked out, with its key.
struct Opened {
    dir: PathBuf,
    manifest: Manifest,
    key: BackupKey,
}

/// Checks the manifest, the passphrase and every member's hash.
async fn open(dir: &Path, passphrase: Zeroizing<Vec<u8>>) -> Result<Arc<Opened>, BackupError> {
    let text = std::fs::read(dir.join(MANIFEST)).map_err(|e| {
        BackupError::Manifest(format!(
            "cannot read {}: {e} (is {} a backup directory?)",
            dir.join(MANIFEST).display(),
            dir.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Manifest(format!("{MANIFEST} is not a manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Manifest(format!(
            "format {} is not one this menwei reads ({FORMAT})",
            manifest.format
        )));
    }
    let kdf = manifest.kdf.clone();
    let key = tokio::task::spawn_blocking(move || seal::derive(&passphrase, &kdf))
        .await
        .map_err(|e| BackupError::Io(format!("key derivation: {e}")))??;
    let dir_owned = dir.to_path_buf();
    let members = manifest.members.clone();
    // Hashes of the sealed keys first: a changed keys.sealed is named as such, not taken
    // for a wrong passphrase.
    let mut problems = tokio::task::spawn_blocking(move || check_members(&dir_owned, &members))
        .await
        .map_err(|e| BackupError::Io(format!("hashing: {e}")))??;
    let keys_bad = problems
        .iter()
        .any(|p| p.starts_with(&format!("member {KEYS}:")));
    if !keys_bad {
        let mut sink = Vec::new();
        let file = std::fs::File::open(dir.join(KEYS)).map_err(io(KEYS))?;
        match key.open(KEYS_MEMBER, &mut BufReader::new(file), &mut sink) {
            Ok(()) => {}
            Err(Some(e)) => return Err(BackupError::Io(format!("{KEYS}: {e}"))),
            Err(None) => return Err(BackupError::WrongPassphrase),
        }
        drop(Zeroizing::new(sink));
        // The passphrase is right: a MAC that does not match means the manifest changed.
        let tag = std::fs::read_to_string(dir.join(MANIFEST_MAC)).unwrap_or_default();
        if !key.mac_matches(&text, &tag) {
            problems.insert(
                0,
                format!("{MANIFEST} was altered: {MANIFEST_MAC} does not authenticate it"),
            );
        }
    }
    if !problems.is_empty() {
        return Err(BackupError::Members(problems));
    }
    Ok(Arc::new(Opened {
        dir: dir.to_path_buf(),
        manifest,
        key,
    }))
}

fn check_members(dir: &Path, members: &[super::Member]) -> Result<Vec<String>, BackupError> {
    let mut problems = Vec::new();
    for m in members {
        if !safe_relative(&m.path) {
            return Err(BackupError::Manifest(format!(
                "member path {:?} leaves the backup directory",
                m.path
            )));
        }
        let path = dir.join(&m.path);
        if !path.is_file() {
            problems.push(format!("member {}: missing", m.path));
            continue;
        }
        let (bytes, sha256) = hash_file(&path)?;
        if sha256 != m.sha256 {
            problems.push(format!(
                "member {}: sha256 {sha256} ({bytes} bytes) is not the manifest's {} ({} bytes)",
                m.path, m.sha256, m.bytes
            ));
        }
    }
    Ok(problems)
}

/// Where an unpacking writes.
struct Into {
    data_dir: PathBuf,
    force: bool,
    /// Into scratch places instead of the restored configuration's database and recordings
    /// directory: `scratch/verify.db` or a new database on the configured PostgreSQL server,
    /// and `scratch/recordings`.
    scratch: Option<PathBuf>,
}

/// What an unpacking wrote.
struct Unpacked {
    config: Config,
    /// The database restored into.
    url: String,
    recordings_dir: PathBuf,
    recordings: usize,
    /// A scratch PostgreSQL database made for verifying: the server's URL and its name.
    pg_scratch: Option<(String, String)>,
}

/// Writes the key files, the database and the recordings of an opened backup.
async fn unpack(b: &Arc<Opened>, into: &Into) -> Result<Unpacked, BackupError> {
    let mut keys_json = Zeroizing::new(Vec::new());
    let file = std::fs::File::open(b.dir.join(KEYS)).map_err(io(KEYS))?;
    b.key
        .open(KEYS_MEMBER, &mut BufReader::new(file), &mut *keys_json)
        .map_err(|_| BackupError::WrongPassphrase)?;
    let files: KeyFiles = serde_json::from_slice(&keys_json)
        .map_err(|e| BackupError::Manifest(format!("{KEYS} holds no key list: {e}")))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&into.data_dir)
        .map_err(io(format_args!(
            "cannot create {}",
            into.data_dir.display()
        )))?;
    for f in &files.files {
        if !safe_relative(&f.path) {
            return Err(BackupError::Manifest(format!(
                "{KEYS}: path {:?} leaves the data directory",
                f.path
            )));
        }
        let data = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(&f.data)
                .map_err(|e| BackupError::Manifest(format!("{KEYS}: {}: {e}", f.path)))?,
        );
        let to = into.data_dir.join(&f.path);
        if let Some(parent) = to.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io(format_args!("cannot create {}", parent.display())))?;
        }
        if into.force {
            let _ = std::fs::remove_file(&to);
        }
        let mut out = new_file(&to, 0o600)?;
        out.write_all(&data)
            .and_then(|()| out.sync_all())
            .map_err(io(format_args!("cannot write {}", to.display())))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(f.mode & 0o777))
            .map_err(io(format_args!("cannot set the mode of {}", to.display())))?;
    }
    let config_path = into.data_dir.join(&files.config);
    let config = Config::load(&config_path)
        .map_err(|e| BackupError::Io(format!("the restored configuration: {e}")))?;

    let mut pg_scratch = None;
    let url = match &into.scratch {
        None => config.database.url.clone(),
        Some(scratch) => match Kind::of(&config.database.url) {
            Kind::Sqlite => format!("sqlite://{}", scratch.join("verify.db").display()),
            Kind::Postgres => {
                let (scratch_url, name) = database::create_scratch(&config.database.url).await?;
                pg_scratch = Some((config.database.url.clone(), name));
                scratch_url
            }
        },
    };
    let loaded = load_database(b, into, &url).await;
    if let Err(e) = loaded {
        if let Some((server, name)) = &pg_scratch {
            database::drop_scratch(server, name).await;
        }
        return Err(e);
    }
    let recordings_dir = match &into.scratch {
        Some(scratch) => scratch.join("recordings"),
        None => config.recordings.dir.clone(),
    };
    let recordings = {
        let (b, force, dir) = (b.clone(), into.force, recordings_dir.clone());
        blocking(move || copy_recordings_back(&b, force, &dir)).await?
    };
    Ok(Unpacked {
        config,
        url,
        recordings_dir,
        recordings,
        pg_scratch,
    })
}

/// Loads the database member into the database at `url`.
async fn load_database(b: &Arc<Opened>, into: &Into, url: &str) -> Result<(), BackupError> {
    let kind = Kind::of(url);
    if kind.as_str() != b.manifest.database {
        return Err(BackupError::Refused(format!(
            "the backup holds a {} database, the configuration names {}",
            b.manifest.database,
            kind.as_str()
        )));
    }
    match kind {
        Kind::Sqlite => {
            let file = database::sqlite_file(url)
                .ok_or_else(|| BackupError::Refused(format!("cannot restore into {url}")))?;
            if file.exists() && !into.force {
                return Err(BackupError::Refused(format!(
                    "{} exists; pass --force to replace it",
                    file.display()
                )));
            }
            let tmp = file.with_extension("restoring");
            let (b2, t) = (b.clone(), tmp.clone());
            blocking(move || open_member(&b2, kind.member(), &t)).await?;
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
            std::fs::rename(&tmp, &file)
                .map_err(io(format_args!("cannot write {}", file.display())))?;
        }
        Kind::Postgres => {
            let tables = database::pg_tables(url).await?;
            if tables > 0 && !into.force {
                return Err(BackupError::Refused(format!(
                    "database {} already has {tables} tables; pass --force to replace them",
                    crate::db::redact_url(url)
                )));
            }
            let tmp = into.data_dir.join(".database.restoring");
            let _ = std::fs::remove_file(&tmp);
            let (b2, t) = (b.clone(), tmp.clone());
            blocking(move || open_member(&b2, kind.member(), &t)).await?;
            let loaded = database::pg_restore(url, &tmp, into.force).await;
            let _ = std::fs::remove_file(&tmp);
            loaded?;
        }
    }
    Ok(())
}

/// Copies the recordings back into `rec_dir`; how many.
fn copy_recordings_back(b: &Opened, force: bool, rec_dir: &Path) -> Result<usize, BackupError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(rec_dir)
        .map_err(io(format_args!("cannot create {}", rec_dir.display())))?;
    let mut recordings = 0;
    for m in &b.manifest.members {
        let Some(name) = m.path.strip_prefix(&format!("{RECORDINGS}/")) else {
            continue;
        };
        let to = rec_dir.join(name);
        if to.exists() && !force {
            return Err(BackupError::Refused(format!(
                "{} exists; pass --force to replace it",
                to.display()
            )));
        }
        let tmp = rec_dir.join(format!(".{name}.restoring"));
        let _ = std::fs::remove_file(&tmp);
        let mut from = std::fs::File::open(b.dir.join(&m.path)).map_err(io(&m.path))?;
        let mut out = new_file(&tmp, 0o600)?;
        std::io::copy(&mut from, &mut out)
            .and_then(|_| out.sync_all())
            .map_err(io(format_args!("cannot write {}", tmp.display())))?;
        std::fs::rename(&tmp, &to).map_err(io(format_args!("cannot write {}", to.display())))?;
        recordings += 1;
    }
    Ok(recordings)
}

/// Decrypts the database member into the new file `to`.
fn open_member(b: &Opened, member: &str, to: &Path) -> Result<(), BackupError> {
    let from = std::fs::File::open(b.dir.join(member)).map_err(io(member))?;
    let mut out = BufWriter::new(new_file(to, 0o600)?);
    let opened = b
        .key
        .open(DATABASE_MEMBER, &mut BufReader::new(from), &mut out)
        .map_err(|e| match e {
            Some(e) => BackupError::Io(format!("cannot write {}: {e}", to.display())),
            None => BackupError::Members(vec![format!("member {member}: does not open")]),
        })
        .and_then(|()| {
            out.flush()
                .and_then(|()| out.get_ref().sync_all())
                .map_err(io(format_args!("cannot write {}", to.display())))
        });
    if opened.is_err() {
        let _ = std::fs::remove_file(to);
    }
    opened
}

/// Restores the backup `dir` into `data_dir`, which must be empty or missing unless `force`.
pub async fn restore(
    dir: &Path,
    passphrase: Zeroizing<Vec<u8>>,
    data_dir: &Path,
    force: bool,
) -> Result<Restored, BackupError> {
    let data_dir = std::path::absolute(data_dir)
        .map_err(io(format_args!("cannot resolve {}", data_dir.display())))?;
    let b = open(dir, passphrase).await?;
    let non_empty = std::fs::read_dir(&data_dir).is_ok_and(|mut d| d.next().is_some());
    if non_empty && !force {
        return Err(BackupError::Refused(format!(
            "{} is not empty; restore into an empty directory, or pass --force to overwrite",
            data_dir.display()
        )));
    }
    let into = Into {
        data_dir,
        force,
        scratch: None,
    };
    let u = match unpack(&b, &into).await {
        Ok(u) => u,
        Err(e) => {
            // The directory was empty: leave it so, for the next attempt.
            if !non_empty {
                empty_dir(&into.data_dir);
            }
            return Err(e);
        }
    };
    Ok(Restored {
        config: u.config.path,
        recordings: u.recordings,
        database: crate::db::redact_url(&u.url),
    })
}

/// Removes what a failed restore wrote into a directory that was empty before.
fn empty_dir(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        if let Err(e) = removed {
            tracing::warn!(path = %p.display(), "cannot remove after a failed restore: {e}");
        }
    }
}

/// A scratch directory removed on drop.
/// Restores `dir` into a scratch directory and checks the audit chain and the recordings.
/// `Err` when the backup cannot be restored at all (naming the member at fault).
pub async fn verify(dir: &Path, passphrase: Zeroizing<Vec<u8>>) -> Result<Verified, BackupError> {
    let b = open(dir, passphrase).await?;
    let scratch = Scratch::named(&std::env::temp_dir(), "menwei-backup-verify");
    let into = Into {
        data_dir: scratch.0.join("data"),
        force: false,
        scratch: Some(scratch.0.clone()),
    };
    let u = unpack(&b, &into).await?;
    let result = check_restored(&b, &u).await;
    if let Some((server, name)) = &u.pg_scratch {
        database::drop_scratch(server, name).await;
    }
    drop(scratch);
    result
}

/// Runs file work off the async threads (a scheduled backup runs beside live sessions).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::Io(format!("backup task: {e}")))?
}

async fn check_restored(b: &Arc<Opened>, u: &Unpacked) -> Result<Verified, BackupError> {
    let mut v = Verified::default();
    let db = Db::connect(&u.url).await?;
    let report = crate::audit::verify(&db).await;
    db.close().await;
    match report {
        Ok(r) => {
            v.audit_entries = r.entries;
            if !r.intact() {
                v.problems.push(format!(
                    "member {}: the audit log's chain is broken: {r}",
                    Kind::of(&u.url).member()
                ));
            }
        }
        Err(e) => v.problems.push(format!("audit verify: {e}")),
    }
    let public_key = match u.config.load_recording_public_key() {
        Ok(k) => k,
        Err(e) => {
            v.problems.push(format!("member {KEYS}: {e}"));
            return Ok(v);
        }
    };
    let (b, dir) = (b.clone(), u.recordings_dir.clone());
    blocking(move || {
        for m in &b.manifest.members {
            let Some(name) = m.path.strip_prefix(&format!("{RECORDINGS}/")) else {
                continue;
            };
            let bytes = std::fs::read(dir.join(name)).map_err(io(&m.path))?;
            let report = recordings::verify(&bytes, &public_key);
            v.recordings += 1;
            if report.is_sealed() {
                v.sealed += 1;
            }
            if !report.is_ok() {
                v.problems.push(format!("member {}: {report}", m.path));
            }
        }
        Ok(v)
    })
    .await
}
