//! `menwei audit verify | export`: checks the audit log's hash chain and exports it as JSON
//! lines or CSV. Both are themselves audited. The chain itself is [`crate::audit`].

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::{os_actor, Ctx};
use crate::audit::{self, AuditEvent, ExportFormat};

/// `menwei audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exit 1 naming the first bad entry.
    Verify,
    /// Write the log to stdout.
    Export {
        /// jsonl or csv.
        #[arg(long, value_enum)]
        format: Format,
        /// Only entries at or after this instant (RFC 3339, e.g. 2026-11-29T08:00:00Z).
        #[arg(long, value_name = "RFC3339")]
        since: Option<String>,
    },
}

/// Export formats on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header line.
    Csv,
}

pub(super) async fn run(ctx: &Ctx, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify => {
            let report = audit::verify(&ctx.db).await?;
            let problem = report.problem.as_ref().map(|(seq, _)| *seq);
            ctx.audit(
                AuditEvent::new(os_actor(), "audit.verify", "audit_log").with_detail(json!({
                    "entries": report.entries,
                    "intact": report.intact(),
                    "first_bad_seq": problem,
                })),
            )
            .await?;
            println!("{report}");
            if report.intact() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: {report}");
                Ok(ExitCode::FAILURE)
            }
        }
        AuditCommand::Export { format, since } => {
            let since_ms = since
                .as_deref()
                .map(crate::time::parse_rfc3339)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let format = match format {
                Format::Jsonl => ExportFormat::Jsonl,
                Format::Csv => ExportFormat::Csv,
            };
            // Audit first, so the export includes its own entry.
            ctx.audit(
                AuditEvent::new(os_actor(), "audit.export", "audit_log").with_detail(json!({
                    "format": match format { ExportFormat::Jsonl => "jsonl", ExportFormat::Csv => "csv" },
                    "since": since,
                })),
            )
            .await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            audit::export(&ctx.db, format, since_ms, &mut out).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
