//! `menwei session list`: the sessions the gateway has carried, from the database. Not live
//! control of sessions (terminating one is the enforcer's and a later issue's job).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::output;
use super::Ctx;

/// `menwei session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List sessions, oldest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: SessionCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SessionCommand::List { json } => list(ctx, json).await,
    }
}

async fn list(ctx: &Ctx, as_json: bool) -> anyhow::Result<ExitCode> {
    let sessions = ctx.db.sessions().await?;
    if as_json {
        let items = sessions
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "engineer": s.engineer,
                    "target": s.target,
                    "grant_id": s.grant_id,
                    "started_at": crate::time::rfc3339(s.started_at),
                    "ended_at": s.ended_at.map(crate::time::rfc3339),
                    "end_reason": s.end_reason,
                    "recording": s.recording,
                    "node": s.node,
                    "client_addr": s.client_addr,
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(items))?;
    } else {
        let rows: Vec<Vec<String>> = sessions
            .iter()
            .map(|s| {
                vec![
                    output::clean(&s.id),
                    output::clean(&s.engineer),
                    output::clean(&s.target),
                    output::clean(&s.grant_id),
                    crate::time::rfc3339(s.started_at),
                    output::time_or_dash(s.ended_at),
                    s.end_reason
                        .as_deref()
                        .map_or_else(|| "(live)".to_string(), output::clean),
                    output::clean(&s.node),
                ]
            })
            .collect();
        output::table(
            &[
                "ID",
                "ENGINEER",
                "TARGET",
                "GRANT",
                "STARTED",
                "ENDED",
                "END REASON",
                "NODE",
            ],
            &rows,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
