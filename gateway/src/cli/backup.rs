//! `menwei backup create | verify | restore`: backups of the gateway itself, by hand. The
//! format and the work are [`crate::backup`]; this file reads the arguments and the
//! passphrase, prints one line per result and audits `backup.created`, `backup.verify`
//! (when a gateway is configured) and `backup.restored`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{load_config, os_actor, Ctx};
use crate::audit::{self, AuditEvent};
use crate::backup;
use crate::db::Db;

/// `menwei backup …`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a backup (database snapshot, configuration and keys sealed with the passphrase,
    /// every recording with its hash) into a new directory under DIR; prints its path.
    Create {
        /// Where: a directory (created if missing), or a bucket `s3://BUCKET/PREFIX` (the
        /// backup is made in a scratch directory, uploaded, read back and compared).
        #[arg(long, value_name = "DIR|s3://…")]
        to: String,
        #[command(flatten)]
        s3: S3Args,
        /// The file holding the backup passphrase (at least 12 characters); default: the
        /// configuration's `[backup] passphrase_file`.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore a backup into a scratch directory and check it: every member's hash, the
    /// passphrase, the audit log's chain and every recording's signature. Exit 1 naming
    /// what is wrong.
    Verify {
        /// The backup directory (menwei-backup-…), or its address in a bucket
        /// (s3://BUCKET/PREFIX/menwei-backup-…).
        #[arg(value_name = "BACKUP")]
        backup: String,
        #[command(flatten)]
        s3: S3Args,
        /// The file holding the backup passphrase.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore a backup: configuration, keys, database and recordings into DIR (and the
    /// database its configuration names). Refuses a non-empty DIR or database unless --force.
    Restore {
        /// The backup directory (menwei-backup-…), or its address in a bucket
        /// (s3://BUCKET/PREFIX/menwei-backup-…).
        #[arg(value_name = "BACKUP")]
        backup: String,
        #[command(flatten)]
        s3: S3Args,
        /// The data directory to restore into.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The file holding the backup passphrase.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Overwrite what is in DIR and in the database.
        #[arg(long)]
        force: bool,
    },
}

/// How to reach a bucket named `s3://…`; each defaults to the configuration's `[backup]`
/// key of the same name when its offsite is a bucket.
#[derive(Debug, clap::Args)]
pub struct S3Args {
    /// The S3 endpoint (`http(s)://HOST[:PORT]`); AWS's own when absent.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The region requests are signed for (default us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// A file with lines `aws_access_key_id = …` and `aws_secret_access_key = …`; else
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment.
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
}

impl S3Args {
    /// The bucket `url` names, with these settings or the configuration's.
    fn bucket(self, url: &str, config: Option<&Path>) -> anyhow::Result<backup::offsite::Bucket> {
        let configured = load_config(config)
            .ok()
            .and_then(|c| c.backup)
            .and_then(|b| match b.offsite {
                Some(crate::config::Destination::Store(s)) => Some(s),
                _ => None,
            });
        let (bucket, prefix) =
            crate::config::parse_store_url(url).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        let endpoint = self
            .endpoint
            .map(|e| e.trim_end_matches('/').to_string())
            .or_else(|| configured.as_ref().and_then(|c| c.endpoint.clone()));
        let region = self
            .region
            .or_else(|| configured.as_ref().map(|c| c.region.clone()))
            .unwrap_or_else(|| crate::config::DEFAULT_REGION.to_string());
        let credentials_file = self
            .credentials_file
            .or_else(|| configured.and_then(|c| c.credentials_file));
        let store = crate::config::StoreConfig {
            url: url.to_string(),
            bucket,
            prefix,
            endpoint,
            region,
            credentials_file,
        };
        Ok(backup::offsite::Bucket::open(
            &store,
            "--credentials-file FILE (or [backup] credentials_file)",
        )?)
    }
}

/// A local copy of `backup`: the directory itself, or a download of the bucket's into a
/// scratch directory (kept alive by the returned guard).
async fn local_copy(
    backup: &str,
    s3: S3Args,
    config: Option<&Path>,
) -> anyhow::Result<(PathBuf, Option<backup::Scratch>)> {
    if !crate::config::is_object_store(backup) {
        return Ok((PathBuf::from(backup), None));
    }
    let bucket = s3.bucket(backup, config)?;
    let scratch = backup::Scratch::create(&std::env::temp_dir(), "menwei-backup-download")?;
    let dir = bucket.download(&scratch.0).await?;
    Ok((dir, Some(scratch)))
}

/// `--passphrase-file`, or the configuration's `[backup] passphrase_file` when there is one.
fn passphrase_path(given: Option<PathBuf>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let from_config = load_config(config)
        .ok()
        .and_then(|c| c.backup.map(|b| b.passphrase_file));
    from_config.ok_or_else(|| {
        anyhow::anyhow!(
            "no passphrase: pass --passphrase-file FILE (or set [backup] passphrase_file)"
        )
    })
}

pub(super) async fn run(config: Option<&Path>, cmd: BackupCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BackupCommand::Create {
            to,
            s3,
            passphrase_file,
        } => {
            let bucket = if crate::config::is_object_store(&to) {
                Some(s3.bucket(&to, config)?)
            } else {
                None
            };
            let pass = backup::seal::read_passphrase(&passphrase_path(passphrase_file, config)?)?;
            let ctx = Ctx::open(config).await?;
            // Into a bucket: made in a scratch directory beside the data, then uploaded.
            let staging = match &bucket {
                Some(_) => Some(backup::Scratch::create(
                    &ctx.config.dir,
                    ".menwei-backup-staging",
                )?),
                None => None,
            };
            let dir = staging
                .as_ref()
                .map_or_else(|| PathBuf::from(&to), |s| s.0.clone());
            let created = backup::create(&ctx.config, &ctx.db, &dir, pass).await?;
            let place = match &bucket {
                Some(b) => b.upload(&created.path).await?,
                None => created.path.display().to_string(),
            };
            drop(staging);
            ctx.audit(
                AuditEvent::new(os_actor(), "backup.created", place.clone()).with_detail(json!({
                    "name": created.name,
                    "bytes": created.bytes,
                    "recordings": created.recordings,
                    "missing_recordings": created.missing_recordings,
                    "via": "cli",
                })),
            )
            .await?;
            if !created.missing_recordings.is_empty() {
                eprintln!(
                    "warning: no recording found, in the recordings directory or the store, for sessions {}",
                    created.missing_recordings.join(", ")
                );
            }
            println!("{place}");
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Verify {
            backup: name,
            s3,
            passphrase_file,
        } => {
            let pass = backup::seal::read_passphrase(&passphrase_path(passphrase_file, config)?)?;
            let result = match local_copy(&name, s3, config).await {
                Ok((dir, _scratch)) => backup::verify(&dir, pass).await,
                Err(e) => Err(backup::BackupError::Io(format!("{e:#}"))),
            };
            // Audited on this gateway when there is one (an auditor's machine may have none).
            if let Ok(ctx) = Ctx::open(config).await {
                let outcome = match &result {
                    Ok(v) if v.problems.is_empty() => {
                        json!({"intact": true, "recordings": v.recordings, "audit_entries": v.audit_entries})
                    }
                    Ok(v) => json!({"intact": false, "problems": v.problems}),
                    Err(e) => json!({"intact": false, "problems": [e.to_string()]}),
                };
                ctx.audit(
                    AuditEvent::new(os_actor(), "backup.verify", name.clone()).with_detail(outcome),
                )
                .await?;
            }
            let v = result?;
            if v.problems.is_empty() {
                println!(
                    "backup {name}: intact; audit chain of {} entries verified; {} recordings verified ({} sealed)",
                    v.audit_entries,
                    v.recordings,
                    v.sealed
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: backup {name}: {}", v.problems.join("; "));
                Ok(ExitCode::FAILURE)
            }
        }
        BackupCommand::Restore {
            backup: name,
            s3,
            data_dir,
            passphrase_file,
            force,
        } => {
            let pass = backup::seal::read_passphrase(&passphrase_path(passphrase_file, config)?)?;
            let (dir, scratch) = local_copy(&name, s3, config).await?;
            let restored = backup::restore(&dir, pass, &data_dir, force).await?;
            drop(scratch);
            let config = crate::config::Config::load(&restored.config)?;
            let db = Db::connect(&config.database.url).await?;
            audit::append(
                &db,
                &config.node_name,
                AuditEvent::new(os_actor(), "backup.restored", name.clone()).with_detail(json!({
                    "data_dir": data_dir.display().to_string(),
                    "recordings": restored.recordings,
                    "database": restored.database,
                })),
            )
            .await?;
            db.close().await;
            println!(
                "restored {name} ({} recordings, database {}); run: menwei --config {} serve",
                restored.recordings,
                restored.database,
                restored.config.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
