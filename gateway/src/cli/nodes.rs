//! `menwei node list`: the nodes sharing this database, from their heartbeats
//! ([`crate::nodes`]): name, address, version, state, started, last heartbeat, live sessions.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use super::output;
use super::Ctx;

/// `menwei node …`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// The nodes sharing this database: alive, silent, lost or stopped.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: NodeCommand) -> anyhow::Result<ExitCode> {
    let NodeCommand::List { json } = cmd;
    let nodes = ctx.db.nodes().await?;
    let now = crate::time::now_ms();
    let beat = ctx.config.cluster.heartbeat;
    if json {
        let items = nodes.iter().map(|n| crate::nodes::json(n, now, beat));
        output::json(&Value::Array(items.collect()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                output::clean(&n.name),
                crate::nodes::state(n, now, beat).to_string(),
                output::clean(&n.address),
                output::clean(&n.version),
                crate::time::rfc3339(n.started_at),
                crate::time::rfc3339(n.heartbeat_at),
                n.live_sessions.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "NAME",
            "STATE",
            "ADDRESS",
            "VERSION",
            "STARTED",
            "LAST HEARTBEAT",
            "SESSIONS",
        ],
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}
