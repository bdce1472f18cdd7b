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
        /// Where: a directory (created if missing).
        #[arg(long, value_name = "DIR")]
        to: String,
        /// The file holding the backup passphrase (at least 12 characters); default: the
        /// configuration's `[backup] passphrase_file`.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore a backup into a scratch directory and check it: every member's hash, the
    /// passphrase, the audit log's chain and every recording's signature. Exit 1 naming
    /// what is wrong.
    Verify {
        /// The backup directory (menwei-backup-…).
        #[arg(value_name = "BACKUP")]
        backup: PathBuf,
        /// The file holding the backup passphrase.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore a backup: configuration, keys, database and recordings into DIR (and the
    /// database its configuration names). Refuses a non-empty DIR or database unless --force.
    Restore {
        /// The backup directory (menwei-backup-…).
        #[arg(value_name = "BACKUP")]
        backup: PathBuf,
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
            passphrase_file,
        } => {
            if crate::config::is_object_store(&to) {
                anyhow::bail!("--to {to}: {}", crate::config::S3_NOT_YET);
            }
            let pass = backup::seal::read_passphrase(&passphrase_path(passphrase_file, config)?)?;
            let ctx = Ctx::open(config).await?;
            let created = backup::create(&ctx.config, &ctx.db, Path::new(&to), pass).await?;
            ctx.audit(
                AuditEvent::new(
                    os_actor(),
                    "backup.created",
                    created.path.display().to_string(),
                )
                .with_detail(json!({
                    "name": created.name,
                    "bytes": created.bytes,
                    "recordings": created.recordings,
                    "via": "cli",
                })),
            )
            .await?;
            println!("{}", created.path.display());
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Verify {
            backup: dir,
            passphrase_file,
        } => {
            let pass = backup::seal::read_passphrase(&passphrase_path(passphrase_file, config)?)?;
            let result = backup::verify(&dir, pass).await;
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
                    AuditEvent::new(os_actor(), "backup.verify", dir.display().to_string())
                        .with_detail(outcome),
                )
                .await?;
            }
            let v = result?;
            if v.problems.is_empty() {
                println!(
                    "backup {}: intact; audit chain of {} entries verified; {} recordings verified ({} sealed)",
                    dir.display(),
                    v.audit_entries,
                    v.recordings,
                    v.sealed
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: backup {}: {}", dir.display(), v.problems.join("; "));
                Ok(ExitCode::FAILURE)
            }
        }
        BackupCommand::Restore {
            backup: dir,
            data_dir,
            passphrase_file,
            force,
        } => {
            let pass = backup::seal::read_passphrase(&passphrase_path(passphrase_file, config)?)?;
            let restored = backup::restore(&dir, pass, &data_dir, force).await?;
            let config = crate::config::Config::load(&restored.config)?;
            let db = Db::connect(&config.database.url).await?;
            audit::append(
                &db,
                &config.node_name,
                AuditEvent::new(os_actor(), "backup.restored", dir.display().to_string())
                    .with_detail(json!({
                        "data_dir": data_dir.display().to_string(),
                        "recordings": restored.recordings,
                        "database": restored.database,
                    })),
            )
            .await?;
            db.close().await;
            println!(
                "restored {} ({} recordings, database {}); run: menwei --config {} serve",
                dir.display(),
                restored.recordings,
                restored.database,
                restored.config.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
