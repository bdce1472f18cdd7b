//! `menwei inspection list | show | approve | run | report`: the inspection runbooks, their
//! approvals and runs ([`crate::inspections`] does the work; `serve` runs them). `approve`
//! and `run` act as a named approver (or auditor, for `run`) proved like `review approve`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::output;
use super::proof::{prove, ProofArgs};
use super::reports::OutArgs;
use super::Ctx;
use crate::inspections;
use crate::reports::output::Kind;

/// `menwei inspection …`.
#[derive(Debug, Subcommand)]
pub enum InspectionCommand {
    /// The runbooks: version, schedule, approvals against those needed, last run.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One runbook: its targets, commands, thresholds, approvals of this version, its runs.
    Show {
        /// The runbook's name (`[inspections.NAME]`).
        name: String,
    },
    /// Approve the runbook's current version (a changed runbook needs approval again).
    Approve {
        /// The runbook's name.
        name: String,
        /// The approver (proved by their TOTP code or MENWEI_TOKEN).
        #[arg(long = "by", value_name = "APPROVER")]
        by: String,
        /// How the approver proves it is them.
        #[command(flatten)]
        proof: ProofArgs,
        /// A comment for the record.
        #[arg(long, value_name = "TEXT", default_value = "")]
        comment: String,
    },
    /// Ask `serve` to run the runbook now (an approved version only), wait for it and print
    /// its run id, state and findings.
    Run {
        /// The runbook's name.
        name: String,
        /// The approver or auditor asking (proved by their TOTP code or MENWEI_TOKEN).
        #[arg(long = "by", value_name = "ACCOUNT")]
        by: String,
        /// How they prove it is them.
        #[command(flatten)]
        proof: ProofArgs,
        /// Return at once with the run id instead of waiting (at most 10 minutes).
        #[arg(long)]
        no_wait: bool,
    },
    /// 《服务器巡检报告》 of a run.
    Report {
        /// The run id (`ir-…`, from `show` or `run`).
        run: String,
        #[command(flatten)]
        out: OutArgs,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: InspectionCommand) -> anyhow::Result<ExitCode> {
    let now = crate::time::now_ms();
    match cmd {
        InspectionCommand::List { json } => {
            let all = inspections::list(&ctx.config, &ctx.db).await?;
            if json {
                output::json(&serde_json::Value::Array(
                    all.iter().map(inspections::Status::json).collect(),
                ))?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|s| {
                    let r = &s.runbook;
                    vec![
                        output::clean(&r.name),
                        r.version.chars().take(12).collect(),
                        output::clean(r.schedule_text.as_deref().unwrap_or("-")),
                        format!("{}/{}", s.approvals.len(), r.approvers),
                        if s.approved {
                            "approved"
                        } else {
                            "NOT APPROVED"
                        }
                        .into(),
                        s.runs
                            .first()
                            .map_or_else(|| "-".into(), |run| format!("{} {}", run.id, run.state)),
                    ]
                })
                .collect();
            output::table(
                &[
                    "NAME",
                    "VERSION",
                    "SCHEDULE",
                    "APPROVALS",
                    "STATE",
                    "LAST RUN",
                ],
                &rows,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        InspectionCommand::Show { name } => {
            let Some(s) = inspections::status(&ctx.config, &ctx.db, &name).await? else {
                anyhow::bail!("{}", inspections::unknown(&name).message);
            };
            output::json(&s.json())?;
            Ok(ExitCode::SUCCESS)
        }
        InspectionCommand::Approve {
            name,
            by,
            proof,
            comment,
        } => {
            let proof = prove(ctx, &by, &proof).await?;
            let s = inspections::approve(&ctx.config, &ctx.db, &proof, &name, &by, &comment, now)
                .await?;
            println!(
                "runbook {} version {} approved by {}: {} of {} approvals{}",
                output::clean(&name),
                s.runbook.version.chars().take(12).collect::<String>(),
                output::clean(&by),
                s.approvals.len(),
                s.runbook.approvers,
                if s.approved { "; it runs" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        InspectionCommand::Run {
            name,
            by,
            proof,
            no_wait,
        } => {
            let proof = prove(ctx, &by, &proof).await?;
            let id = inspections::ask(&ctx.config, &ctx.db, &proof, &name, &by, now).await?;
            if no_wait {
                println!("{id}");
                return Ok(ExitCode::SUCCESS);
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            loop {
                let run = ctx.db.inspection_run(&id).await?;
                match run {
                    Some(r) if r.state == "done" || r.state == "refused" || r.state == "failed" => {
                        let v = inspections::run_json(&r);
                        output::json(&v)?;
                        return Ok(if r.state == "done" {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::FAILURE
                        });
                    }
                    _ if std::time::Instant::now() > deadline => anyhow::bail!(
                        "run {id} was not finished within 10 minutes; is `menwei serve` running? see: menwei inspection show {name}"
                    ),
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
        InspectionCommand::Report { run, out } => {
            super::reports::write(ctx, Kind::Inspection(run), out).await
        }
    }
}
