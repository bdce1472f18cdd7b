//! `menwei review list | approve | deny`: the approvers' queue and their answers. Approving
//! and denying go through [`crate::approvals`] (policy decides, grants are written in the
//! same transaction); this file parses arguments and prints, showing how long each request
//! has waited against the policy's response window.

use std::process::ExitCode;

use clap::Subcommand;
use policy::{format_duration, ReviewOutcome, Verdict};
use serde_json::Value;

use super::output;
use super::proof::{prove, ProofArgs};
use super::requests::desk;
use super::Ctx;
use crate::approvals;
use crate::views::{approvals, request_json};

/// `menwei review …`.
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// The pending requests, oldest first, with how long each has waited.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a request; grants exist once enough distinct approvers approved.
    Approve {
        /// Request id.
        id: String,
        /// The approver (proved by their TOTP code or MENWEI_TOKEN).
        #[arg(long = "by", value_name = "APPROVER")]
        by: String,
        /// How the approver proves it is them.
        #[command(flatten)]
        proof: ProofArgs,
        /// A comment for the record.
        #[arg(long, value_name = "TEXT", default_value = "")]
        comment: String,
        /// Shorten the window to this (never longer than requested), e.g. 30m.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Deny a request; it ends at once.
    Deny {
        /// Request id.
        id: String,
        /// The approver (proved by their TOTP code or MENWEI_TOKEN).
        #[arg(long = "by", value_name = "APPROVER")]
        by: String,
        /// How the approver proves it is them.
        #[command(flatten)]
        proof: ProofArgs,
        /// Why.
        #[arg(long, value_name = "TEXT")]
        comment: String,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: ReviewCommand) -> anyhow::Result<ExitCode> {
    let unproven = super::proof::unproven();
    let now = crate::time::now_ms();
    approvals::lapse_due(&desk(ctx, &unproven), now).await?;
    match cmd {
        ReviewCommand::List { json } => list(ctx, now, json).await,
        ReviewCommand::Approve {
            id,
            by,
            proof,
            comment,
            duration,
        } => {
            let proof = prove(ctx, &by, &proof).await?;
            let done = approvals::review(
                &desk(ctx, &proof),
                &id,
                &by,
                Verdict::Approve,
                &comment,
                duration.as_deref(),
                now,
            )
            .await?;
            match done.outcome {
                ReviewOutcome::Pending { approvals, needed } => println!(
                    "request {} approved by {}: {approvals} of {needed} approvals; waiting for {} more",
                    done.before.id,
                    output::clean(&by),
                    needed.saturating_sub(approvals)
                ),
                ReviewOutcome::Approved { starts_at, ends_at } => {
                    println!(
                        "request {} approved: {} on {} from {} to {}",
                        done.before.id,
                        output::clean(&done.before.engineer),
                        output::clean(&done.before.targets.join(",")),
                        crate::time::rfc3339(starts_at),
                        crate::time::rfc3339(ends_at)
                    );
                    for g in &done.grants {
                        println!("grant {} {}", g.id, output::clean(&g.target));
                    }
                }
                ReviewOutcome::Denied => println!("request {} denied", done.before.id),
            }
            Ok(ExitCode::SUCCESS)
        }
        ReviewCommand::Deny {
            id,
            by,
            proof,
            comment,
        } => {
            let proof = prove(ctx, &by, &proof).await?;
            let desk = desk(ctx, &proof);
            let done =
                approvals::review(&desk, &id, &by, Verdict::Deny, &comment, None, now).await?;
            println!("request {} denied", done.before.id);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn list(ctx: &Ctx, now: i64, as_json: bool) -> anyhow::Result<ExitCode> {
    let rows = ctx.db.pending_requests().await?;
    let window = ctx.config.policy.response_window_ms;
    if as_json {
        let items = rows
            .iter()
            .map(|row| {
                let waited = now.saturating_sub(row.request.filed_at).max(0);
                let mut v = request_json(row);
                if let Value::Object(m) = &mut v {
                    m.insert("waiting_ms".into(), waited.into());
                    m.insert("response_window_ms".into(), window.into());
                    m.insert("overdue".into(), (waited > window).into());
                }
                v
            })
            .collect();
        output::json(&Value::Array(items))?;
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let r = &row.request;
            let waited = now.saturating_sub(r.filed_at).max(0);
            let waiting = format!(
                "{} of {}{}",
                format_duration(waited),
                format_duration(window),
                if waited > window { " OVERDUE" } else { "" }
            );
            vec![
                output::clean(&r.id),
                waiting,
                output::clean(&r.engineer),
                output::clean(&r.targets.join(",")),
                r.level.to_string(),
                format_duration(r.duration_ms),
                format!("{}/{}", approvals(row), r.approvals_needed),
                output::clean(&row.incident),
                output::clean(&row.reason),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "WAITING",
            "ENGINEER",
            "TARGETS",
            "LEVEL",
            "FOR",
            "APPROVALS",
            "INCIDENT",
            "REASON",
        ],
        &table,
    )?;
    Ok(ExitCode::SUCCESS)
}
