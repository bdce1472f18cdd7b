//! `menwei policy check`: validates the `[policy]` of the configuration (and the file it
//! names) and, when the database can be opened, that every group's targets exist. Prints one
//! summary line when it is good, else every problem as `FILE:LINE:COL: KEY: message`.
//! Not where the policy is parsed ([`crate::config`]) or decided (`policy`).

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use policy::format_duration;

use crate::config::{Config, ConfigError, PolicyIssue};
use crate::db::Db;

/// `menwei policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate the policy; exit 0 with a one-line summary, or list every problem.
    Check,
}

pub(super) async fn run(config: Option<&Path>, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check => check(config).await,
    }
}

fn print_issues(issues: &[PolicyIssue]) -> ExitCode {
    for issue in issues {
        eprintln!("{issue}");
    }
    ExitCode::FAILURE
}

async fn check(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(e) => match e.downcast_ref::<ConfigError>() {
            Some(ConfigError::Policy(issues)) => return Ok(print_issues(issues)),
            _ => return Err(e),
        },
    };
    let mut note = String::new();
    match Db::connect(&config.database.url).await {
        Ok(db) => {
            let names: Vec<String> = db.targets().await?.into_iter().map(|t| t.name).collect();
            db.close().await;
            let issues = config.policy_problems_with_targets(&names);
            if !issues.is_empty() {
                return Ok(print_issues(&issues));
            }
        }
        Err(e) => {
            note = format!("; targets not checked against the database: {e}");
        }
    }
    println!("{}{note}", summary(&config));
    Ok(ExitCode::SUCCESS)
}

/// `policy ok: 2 groups, 3 targets, break-glass off`.
pub fn summary(config: &Config) -> String {
    let p = &config.policy;
    let mut targets: Vec<&str> = p
        .groups
        .values()
        .flat_map(|g| g.targets.iter().map(String::as_str))
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let plural = |n: usize, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    let break_glass = if p.break_glass.enabled {
        format!(
            "break-glass on (at most {})",
            format_duration(p.break_glass.max_ms)
        )
    } else {
        "break-glass off".to_string()
    };
    format!(
        "policy ok: {}, {}, {break_glass}",
        plural(p.groups.len(), "group"),
        plural(targets.len(), "target")
    )
}
