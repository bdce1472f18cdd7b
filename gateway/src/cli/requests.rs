//! `menwei request add | list | show | withdraw`: an engineer's requests for access, filed
//! and followed from the command line. Filing and withdrawing go through
//! [`crate::approvals`] (the same path as the SSH prompt); this file parses arguments and
//! prints. Also home of the request's JSON and table shapes that `review` and `breakglass`
//! reuse.

use std::process::ExitCode;

use clap::Subcommand;
use policy::{format_duration, Millis, RequestState};
use serde_json::{json, Value};

use super::output;
use super::proof::ProofArgs;
use super::Ctx;
use crate::approvals::{self, Desk, Proof, RequestInput};
use crate::db::{RequestFilter, RequestRow};
use crate::views::{approvals as approved_by, request_json};

/// `menwei request …`.
#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// File a request for access; prints its id.
    Add {
        /// The engineer the access is for.
        #[arg(long, value_name = "NAME")]
        engineer: String,
        /// A target (repeat for several).
        #[arg(
            long = "target",
            value_name = "NAME",
            required_unless_present = "group",
            conflicts_with = "group"
        )]
        targets: Vec<String>,
        /// A target group from the policy, instead of targets.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Why.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Incident reference, e.g. INC-1.
        #[arg(long, value_name = "REF")]
        incident: String,
        /// Fault level: A, B, C or D.
        #[arg(long, value_name = "LEVEL")]
        level: String,
        /// Wanted duration, e.g. 1h, within the level's cap.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Wanted start (RFC 3339); default: as soon as approved.
        #[arg(long, value_name = "RFC3339")]
        start: Option<String>,
    },
    /// List requests, newest first.
    List {
        /// Only requests in this state.
        #[arg(long, value_name = "STATE", value_parser = ["pending", "approved", "denied", "withdrawn", "lapsed"])]
        state: Option<String>,
        /// Only this engineer's requests.
        #[arg(long, value_name = "NAME")]
        engineer: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one request with its reviews and grants.
    Show {
        /// Request id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a pending request.
    Withdraw {
        /// Request id.
        id: String,
        /// The engineer who filed it (proved by their TOTP code or MENWEI_TOKEN).
        #[arg(long = "by", value_name = "ENGINEER")]
        by: String,
        /// How the engineer proves it is them.
        #[command(flatten)]
        proof: ProofArgs,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: RequestCommand) -> anyhow::Result<ExitCode> {
    let unproven = super::proof::unproven();
    let desk = desk(ctx, &unproven);
    let now = crate::time::now_ms();
    approvals::lapse_due(&desk, now).await?;
    match cmd {
        RequestCommand::Add {
            engineer,
            targets,
            group,
            reason,
            incident,
            level,
            duration,
            start,
        } => {
            let input = RequestInput {
                engineer,
                targets,
                group,
                reason,
                incident,
                level,
                duration,
                start,
                extends_grant: None,
            };
            let filed = approvals::file(&desk, &input, now).await?;
            println!("{}", filed.row.request.id);
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::List {
            state,
            engineer,
            json,
        } => {
            let state = state
                .map(|s| s.parse::<RequestState>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
            let rows = ctx.db.requests(&RequestFilter { state, engineer }).await?;
            print_list(&rows, json)?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Show { id, json } => show(ctx, &id, json).await,
        RequestCommand::Withdraw { id, by, proof } => {
            let proof = super::proof::prove(ctx, &by, &proof).await?;
            let req = approvals::withdraw(&self::desk(ctx, &proof), &id, &by, now).await?;
            println!("request {} withdrawn", req.id);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The approvals desk of this CLI invocation, its actions proved by `proof`.
pub(super) fn desk<'a>(ctx: &'a Ctx, proof: &'a Proof) -> Desk<'a> {
    Desk {
        db: &ctx.db,
        policy: &ctx.config.policy,
        config: &ctx.config,
        proof,
    }
}

fn targets_text(row: &RequestRow) -> String {
    let t = output::clean(&row.request.targets.join(","));
    match &row.group {
        Some(g) => format!("{t} (group {})", output::clean(g)),
        None => t,
    }
}

fn print_list(rows: &[RequestRow], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        output::json(&Value::Array(rows.iter().map(request_json).collect()))?;
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let r = &row.request;
            vec![
                output::clean(&r.id),
                output::clean(&r.engineer),
                targets_text(row),
                r.level.to_string(),
                format_duration(r.duration_ms),
                r.state.to_string(),
                format!("{}/{}", approved_by(row), r.approvals_needed),
                crate::time::rfc3339(r.filed_at),
                output::clean(&row.incident),
                output::clean(&row.reason),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "ENGINEER",
            "TARGETS",
            "LEVEL",
            "FOR",
            "STATE",
            "APPROVALS",
            "FILED",
            "INCIDENT",
            "REASON",
        ],
        &table,
    )?;
    Ok(())
}

async fn show(ctx: &Ctx, id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let Some(row) = ctx.db.request_row(id).await? else {
        anyhow::bail!(
            "no request {:?}; see: menwei request list",
            output::clean(id)
        );
    };
    let grants = ctx.db.grants_for_request(&row.request.id).await?;
    let now = crate::time::now_ms();
    if as_json {
        let mut v = request_json(&row);
        if let Value::Object(m) = &mut v {
            m.insert(
                "grants".into(),
                Value::Array(
                    grants
                        .iter()
                        .map(|g| {
                            json!({
                                "id": g.grant.id,
                                "target": g.grant.target,
                                "starts_at": crate::time::rfc3339(g.grant.starts_at),
                                "ends_at": crate::time::rfc3339(g.grant.ends_at),
                                "state": crate::views::state_name(&g.grant, now),
                                "emergency": g.emergency,
                            })
                        })
                        .collect(),
                ),
            );
        }
        output::json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let r = &row.request;
    let mut lines = vec![
        ("id", output::clean(&r.id)),
        ("engineer", output::clean(&r.engineer)),
        ("targets", targets_text(&row)),
        ("level", r.level.to_string()),
        ("for", format_duration(r.duration_ms)),
        ("start", output::time_or_dash(r.starts_at)),
        ("state", r.state.to_string()),
        (
            "approvals",
            format!("{} of {}", approved_by(&row), r.approvals_needed),
        ),
        ("incident", output::clean(&row.incident)),
        ("reason", output::clean(&row.reason)),
        ("filed", crate::time::rfc3339(r.filed_at)),
        ("decided", output::time_or_dash(row.decided_at)),
        ("lapses", crate::time::rfc3339(r.lapses_at)),
    ];
    if r.break_glass {
        lines.push((
            "break-glass",
            match (&row.signed_off_by, row.signed_off_at) {
                (Some(by), Some(at)) => format!(
                    "signed off by {} at {}: {}",
                    output::clean(by),
                    crate::time::rfc3339(at),
                    output::clean(row.signoff_comment.as_deref().unwrap_or(""))
                ),
                _ => "awaiting sign-off".to_string(),
            },
        ));
    }
    if let Some(g) = &r.extends_grant {
        lines.push(("extends", output::clean(g)));
    }
    for (k, v) in lines {
        println!("{k:<12}{v}");
    }
    for (v, comment) in r.reviews.iter().zip(&row.review_comments) {
        let shortened = v
            .duration_ms
            .map(|ms: Millis| format!(" (for {})", format_duration(ms)))
            .unwrap_or_default();
        println!(
            "{:<12}{} {} at {}{shortened}: {}",
            "review",
            output::clean(&v.approver),
            v.verdict,
            crate::time::rfc3339(v.at),
            output::clean(comment)
        );
    }
    for g in &grants {
        println!(
            "{:<12}{} {} {} to {} ({})",
            "grant",
            g.grant.id,
            output::clean(&g.grant.target),
            crate::time::rfc3339(g.grant.starts_at),
            crate::time::rfc3339(g.grant.ends_at),
            crate::views::state_name(&g.grant, now)
        );
    }
    Ok(ExitCode::SUCCESS)
}
