//! `menwei grant add | revoke | list`: an approver gives an engineer time-limited access to
//! one target, or takes it back. Who may do so is `policy`'s decision; this file gathers the
//! facts (roles from the database, the cap from the configuration), stores and audits.
//! Ending live sessions on revocation is the enforcer's job, not this one's.

use std::process::ExitCode;

use clap::Subcommand;
use policy::{Actor, Grant};
use serde_json::json;

use super::output;
use super::proof::{prove, ProofArgs};
use super::Ctx;
use crate::audit::AuditEvent;
use crate::views::{grant_json, state_name};

/// `menwei grant …`.
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Grant an engineer access to a target, starting now. Prints the grant id.
    Add {
        /// The engineer.
        #[arg(long, value_name = "NAME")]
        engineer: String,
        /// The target.
        #[arg(long, value_name = "NAME")]
        target: String,
        /// How long, e.g. 2h, 90m.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why (incident reference, fault level).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// The approver granting it (proved by their TOTP code or MENWEI_TOKEN).
        #[arg(long = "by", value_name = "APPROVER")]
        by: String,
        /// How the approver proves it is them.
        #[command(flatten)]
        proof: ProofArgs,
    },
    /// Revoke a grant; live sessions under it are disconnected.
    Revoke {
        /// Grant id.
        id: String,
        /// The approver revoking it (proved by their TOTP code or MENWEI_TOKEN).
        #[arg(long = "by", value_name = "APPROVER")]
        by: String,
        /// How the approver proves it is them.
        #[command(flatten)]
        proof: ProofArgs,
    },
    /// List grants, newest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: GrantCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GrantCommand::Add {
            engineer,
            target,
            duration,
            reason,
            by,
            proof,
        } => add(ctx, &engineer, &target, &duration, &reason, &by, &proof).await,
        GrantCommand::Revoke { id, by, proof } => revoke(ctx, &id, &by, &proof).await,
        GrantCommand::List { json } => list(ctx, json).await,
    }
}

/// A new grant id: `g-` and 8 random hex digits.
pub fn new_grant_id() -> String {
    format!("g-{}", hex::encode(rand::random::<[u8; 4]>()))
}

async fn known_user(ctx: &Ctx, name: &str, what: &str) -> anyhow::Result<crate::db::User> {
    policy::validate_name("user", name).map_err(|r| anyhow::anyhow!("{what}: {r}"))?;
    let user = ctx
        .db
        .user(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{what}: no user {name:?}"))?;
    if user.disabled {
        anyhow::bail!("{what}: user {name:?} is disabled");
    }
    Ok(user)
}

async fn add(
    ctx: &Ctx,
    engineer: &str,
    target: &str,
    duration: &str,
    reason: &str,
    by: &str,
    proof: &ProofArgs,
) -> anyhow::Result<ExitCode> {
    let duration =
        crate::time::parse_duration(duration).map_err(|e| anyhow::anyhow!("--for: {e}"))?;
    let duration_ms = crate::time::duration_ms(duration);
    let reason = policy::visible_text(reason);
    let reason = reason.trim();
    if let Some(refusal) =
        crate::approvals::check_text("--reason", reason, crate::approvals::MAX_TEXT)
    {
        anyhow::bail!("{} (say why: incident, fault level)", refusal.message);
    }
    let approver = known_user(ctx, by, "--by").await?;
    let eng = known_user(ctx, engineer, "--engineer").await?;
    policy::validate_name("target", target).map_err(|r| anyhow::anyhow!("--target: {r}"))?;
    if ctx.db.target(target).await?.is_none() {
        anyhow::bail!("--target: no target {target:?}; see: menwei target list");
    }
    let proof = prove(ctx, &approver.name, proof).await?;
    let max_ms = ctx.config.policy.max_grant_ms;
    let decision = policy::create_grant(
        &Actor {
            name: &approver.name,
            role: approver.role,
        },
        &Actor {
            name: &eng.name,
            role: eng.role,
        },
        duration_ms,
        max_ms,
    );
    if let Err(refusal) = decision.into_result() {
        let mut detail = json!({
            "engineer": eng.name,
            "duration_ms": duration_ms,
            "code": refusal.code,
            "reason": reason,
        });
        proof.stamp(&mut detail);
        ctx.audit(
            AuditEvent::new(approver.name.clone(), "grant.create.refused", target)
                .with_detail(detail),
        )
        .await?;
        anyhow::bail!("{}", refusal.message);
    }
    let now = crate::time::now_ms();
    let grant = Grant {
        id: new_grant_id(),
        engineer: eng.name.clone(),
        target: target.to_string(),
        starts_at: now,
        ends_at: now.saturating_add(duration_ms),
        revoked_at: None,
        reason: reason.to_string(),
        granted_by: approver.name.clone(),
    };
    ctx.db.grant_add(&grant, now).await?;
    let mut detail = json!({
        "engineer": grant.engineer,
        "target": grant.target,
        "starts_at": crate::time::rfc3339(grant.starts_at),
        "ends_at": crate::time::rfc3339(grant.ends_at),
        "reason": grant.reason,
    });
    proof.stamp(&mut detail);
    ctx.audit(
        AuditEvent::new(approver.name.clone(), "grant.create", grant.id.clone())
            .with_detail(detail),
    )
    .await?;
    println!("{}", grant.id);
    Ok(ExitCode::SUCCESS)
}

async fn revoke(ctx: &Ctx, id: &str, by: &str, proof: &ProofArgs) -> anyhow::Result<ExitCode> {
    let proof = prove(ctx, by, proof).await?;
    let desk = super::requests::desk(ctx, &proof);
    let grant = crate::approvals::revoke(&desk, id, by, crate::time::now_ms()).await?;
    println!("grant {} revoked", grant.id);
    Ok(ExitCode::SUCCESS)
}

async fn list(ctx: &Ctx, as_json: bool) -> anyhow::Result<ExitCode> {
    let grants = ctx.db.grants().await?;
    let now = crate::time::now_ms();
    if as_json {
        output::json(&serde_json::Value::Array(
            grants.iter().map(|r| grant_json(r, now)).collect(),
        ))?;
    } else {
        let rows: Vec<Vec<String>> = grants
            .iter()
            .map(|r| {
                let g = &r.grant;
                vec![
                    g.id.clone(),
                    output::clean(&g.engineer),
                    output::clean(&g.target),
                    state_name(g, now).to_string(),
                    crate::time::rfc3339(g.starts_at),
                    crate::time::rfc3339(g.ends_at),
                    output::clean(&g.granted_by),
                    output::clean(&g.reason),
                ]
            })
            .collect();
        output::table(
            &[
                "ID", "ENGINEER", "TARGET", "STATE", "STARTS", "ENDS", "BY", "REASON",
            ],
            &rows,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
