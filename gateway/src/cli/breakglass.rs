//! `menwei breakglass list | signoff`: emergency grants engineers opened without approval,
//! kept on a list until an approver signs each off. Opening one happens inside `ssh`
//! ([`crate::approvals::break_glass`]); this file only lists and signs off.

use std::process::ExitCode;

use clap::Subcommand;
use policy::format_duration;
use serde_json::Value;

use super::output;
use super::proof::{prove, ProofArgs};
use super::requests::desk;
use super::Ctx;
use crate::approvals;
use crate::views::request_json;

/// `menwei breakglass …`.
#[derive(Debug, Subcommand)]
pub enum BreakglassCommand {
    /// Emergency grants awaiting an approver's sign-off, oldest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign off the emergency grant of a request after reviewing what was done.
    Signoff {
        /// Request id.
        id: String,
        /// The approver (proved by their TOTP code or MENWEI_TOKEN).
        #[arg(long = "by", value_name = "APPROVER")]
        by: String,
        /// How the approver proves it is them.
        #[command(flatten)]
        proof: ProofArgs,
        /// What the review found.
        #[arg(long, value_name = "TEXT")]
        comment: String,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: BreakglassCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BreakglassCommand::List { json } => {
            let rows = ctx.db.break_glass_unsigned().await?;
            if json {
                output::json(&Value::Array(rows.iter().map(request_json).collect()))?;
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|row| {
                        let r = &row.request;
                        vec![
                            output::clean(&r.id),
                            output::clean(&r.engineer),
                            output::clean(&r.targets.join(",")),
                            r.level.to_string(),
                            format_duration(r.duration_ms),
                            output::time_or_dash(row.decided_at),
                            output::clean(&row.incident),
                            output::clean(&row.reason),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID", "ENGINEER", "TARGETS", "LEVEL", "FOR", "OPENED", "INCIDENT", "REASON",
                    ],
                    &table,
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        BreakglassCommand::Signoff {
            id,
            by,
            proof,
            comment,
        } => {
            let proof = prove(ctx, &by, &proof).await?;
            let desk = desk(ctx, &proof);
            approvals::sign_off(&desk, &id, &by, &comment, crate::time::now_ms()).await?;
            println!("break-glass of request {} signed off", output::clean(&id));
            Ok(ExitCode::SUCCESS)
        }
    }
}
