//! `menwei notify list [--failed]`: the webhook notifications the gateway stored, delivered,
//! still being tried, or given up on (kept, so an undeliverable one is never lost silently).
//! Not the sending (that is [`crate::notify`], inside `menwei serve`).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::output;
use super::Ctx;
use crate::db::notify::{Notification, NEVER};

/// `menwei notify …`.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// List webhook notifications, newest first.
    List {
        /// Only those given up on after their last attempt.
        #[arg(long)]
        failed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: NotifyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NotifyCommand::List { failed, json } => list(ctx, failed, json).await,
    }
}

fn next_attempt(n: &Notification) -> Option<i64> {
    (n.delivered_at.is_none() && n.next_attempt_at != NEVER).then_some(n.next_attempt_at)
}

async fn list(ctx: &Ctx, failed: bool, as_json: bool) -> anyhow::Result<ExitCode> {
    let rows = ctx.db.notifications(failed).await?;
    if as_json {
        output::json(&serde_json::Value::Array(
            rows.iter()
                .map(|n| {
                    json!({
                        "id": n.id,
                        "event": n.kind,
                        "state": n.state(),
                        "webhook": n.webhook,
                        "attempts": n.attempts,
                        "created_at": crate::time::rfc3339(n.created_at),
                        "delivered_at": n.delivered_at.map(crate::time::rfc3339),
                        "next_attempt_at": next_attempt(n).map(crate::time::rfc3339),
                        "last_error": n.last_error,
                        "payload": serde_json::from_str::<serde_json::Value>(&n.payload)
                            .unwrap_or(serde_json::Value::String(n.payload.clone())),
                    })
                })
                .collect(),
        ))?;
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|n| {
                vec![
                    n.id.clone(),
                    output::clean(&n.kind),
                    n.state().to_string(),
                    n.attempts.to_string(),
                    crate::time::rfc3339(n.created_at),
                    output::time_or_dash(n.delivered_at.or(next_attempt(n))),
                    output::clean(&n.webhook),
                    output::clean(n.last_error.as_deref().unwrap_or("-")),
                ]
            })
            .collect();
        output::table(
            &[
                "ID",
                "EVENT",
                "STATE",
                "ATTEMPTS",
                "CREATED",
                "DELIVERED/NEXT",
                "WEBHOOK",
                "LAST ERROR",
            ],
            &table,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
