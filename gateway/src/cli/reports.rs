//! `menwei report fault|service|daily`: the tender's documents from the database (the same
//! code as `/api/v1/reports/…`), to stdout or a file, audited as `report.made`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{os_actor, Ctx};
use crate::audit::AuditEvent;
use crate::reports::output::{produce, Kind};
use crate::reports::{Format, Lang};

/// `menwei report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// 《故障处理报告》: one incident number's requests, approvals, response and resolution
    /// times against the tender's limits, sessions, commands, break-glass and sign-off.
    Fault {
        /// The incident number the requests carry, e.g. INC-42.
        incident: String,
        #[command(flatten)]
        out: OutArgs,
    },
    /// 《服务报告》: requests and incidents per level, response and resolution compliance,
    /// break-glass, sessions and hours per engineer and target, refusals, transfer detections
    /// and the audit chain, for a month, quarter or year.
    Service {
        /// `2026-11`, `2026-Q4` or `2026` (in `[reports] utc_offset`'s days).
        #[arg(long, value_name = "PERIOD")]
        period: String,
        #[command(flatten)]
        out: OutArgs,
    },
    /// 《监控日志》: one day's sessions, refusals, alerts, failed logins, nodes and storage.
    Daily {
        /// The day, `YYYY-MM-DD`.
        #[arg(long, value_name = "DATE")]
        date: String,
        #[command(flatten)]
        out: OutArgs,
    },
}

/// Format, language and where to write.
#[derive(Debug, Args)]
pub struct OutArgs {
    /// json, csv, html or pdf.
    #[arg(long, default_value = "json")]
    format: String,
    /// zh (中文) or en.
    #[arg(long, default_value = "zh")]
    lang: String,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(super) async fn run(ctx: &Ctx, cmd: ReportCommand) -> anyhow::Result<ExitCode> {
    let (kind, out) = match cmd {
        ReportCommand::Fault { incident, out } => (Kind::Fault(incident), out),
        ReportCommand::Service { period, out } => (Kind::Service(period), out),
        ReportCommand::Daily { date, out } => (Kind::Daily(date), out),
    };
    write(ctx, kind, out).await
}

/// Makes `kind` in `out`'s format and language, audits it as `report.made` and writes it
/// (also `menwei inspection report`).
pub(super) async fn write(ctx: &Ctx, kind: Kind, out: OutArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(Some(&out.format)).map_err(anyhow::Error::msg)?;
    let lang = Lang::parse(Some(&out.lang)).map_err(anyhow::Error::msg)?;
    let actor = os_actor();
    let window = ctx.config.policy.response_window_ms;
    let made = produce(&ctx.config, &ctx.db, window, &kind, format, lang, &actor).await?;
    ctx.audit(
        AuditEvent::new(actor, "report.made", made.file_name.clone())
            .with_detail(json!({"via": "cli", "kind": format!("{kind:?}")})),
    )
    .await?;
    match out.output {
        Some(path) => std::fs::write(&path, &made.body)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        None => std::io::stdout().write_all(&made.body)?,
    }
    Ok(ExitCode::SUCCESS)
}
