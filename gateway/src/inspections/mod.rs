//! Inspections (巡检): approved read-only runbooks (`[inspections.NAME]`) run on targets
//! through the gateway's own session path, judged against thresholds, filed as the
//! 《服务器巡检报告》 (`crate::reports`).
//!
//! A runbook version (a hash of its targets, commands and thresholds) runs only once enough
//! distinct approvers approved that version ([`approve`], the rules in
//! [`policy::inspection`]); a changed runbook is a new version with no approvals. A run
//! ([`runner`]) opens one session per target as the system identity `inspection:NAME`
//! under a grant of its own (in `inspection_grants`, enforced like any grant), execs only
//! the listed commands, records and audits like any session. `serve` runs the slots
//! ([`schedule`]: each slot claimed once across nodes) and the runs asked for
//! ([`ask`]). An unapproved or changed runbook is refused, audited as
//! `inspection.refused`, and its run row says so.

pub mod runner;
pub mod schedule;

use policy::inspection::approve_runbook;
use policy::{Decision, Millis, Refusal};
use serde_json::json;

use crate::approvals::{ApprovalError, Proof};
use crate::audit::AuditEvent;
use crate::config::{Config, Runbook};
use crate::db::{Db, DbError, InspectionRun, RunbookApproval};

/// The id prefix of an inspection run's grants (`crate::db` reads them from their table).
pub const GRANT_PREFIX: &str = "ig-";

/// The system identity a runbook's sessions run as.
pub fn identity(runbook: &str) -> String {
    format!("inspection:{runbook}")
}

/// Whether a session's engineer is an inspection's identity (no account).
pub fn is_identity(name: &str) -> bool {
    name.starts_with("inspection:")
}

/// A runbook with the approvals of its current version.
#[derive(Debug, Clone)]
pub struct Status {
    /// The runbook as configured now.
    pub runbook: Runbook,
    /// Approvals of this version.
    pub approvals: Vec<RunbookApproval>,
    /// Whether this version may run.
    pub approved: bool,
    /// Its latest runs, newest first.
    pub runs: Vec<InspectionRun>,
}

impl Status {
    /// The approvers' names.
    pub fn approvers(&self) -> Vec<String> {
        self.approvals.iter().map(|a| a.approver.clone()).collect()
    }

    /// As JSON for the CLI and the API (target names only; never their addresses).
    pub fn json(&self) -> serde_json::Value {
        let r = &self.runbook;
        json!({
            "name": r.name,
            "version": r.version,
            "targets": r.targets,
            "group": r.group,
            "commands": r.checks,
            "thresholds": r.thresholds,
            "schedule": r.schedule_text,
            "approvers_needed": r.approvers,
            "approved": self.approved,
            "approvals": self.approvals.iter().map(|a| json!({
                "approver": a.approver, "comment": a.comment, "at": crate::time::rfc3339(a.at),
            })).collect::<Vec<_>>(),
            "runs": self.runs.iter().map(run_json).collect::<Vec<_>>(),
        })
    }
}

/// A run as JSON.
pub fn run_json(r: &InspectionRun) -> serde_json::Value {
    let findings: Option<serde_json::Value> = r
        .findings
        .as_deref()
        .and_then(|f| serde_json::from_str(f).ok());
    json!({
        "id": r.id,
        "runbook": r.runbook,
        "version": r.version,
        "state": r.state,
        "asked_by": r.asked_by,
        "created_at": crate::time::rfc3339(r.created_at),
        "started_at": r.started_at.map(crate::time::rfc3339),
        "ended_at": r.ended_at.map(crate::time::rfc3339),
        "findings": findings.as_ref().and_then(|f| f.get("findings")).cloned(),
        "refusal": findings.as_ref().and_then(|f| f.get("refusal")).cloned(),
    })
}

/// The refusal for a name no runbook has.
pub fn unknown(name: &str) -> Refusal {
    Refusal::new(
        policy::codes::UNKNOWN_RUNBOOK,
        format!(
            "no inspection runbook {:?}; see: menwei inspection list",
            name.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        ),
    )
}

/// A runbook's status now.
pub async fn status(config: &Config, db: &Db, name: &str) -> Result<Option<Status>, DbError> {
    let Some(runbook) = config.inspections.get(name).cloned() else {
        return Ok(None);
    };
    let approvals = db.runbook_approvals(name, &runbook.version).await?;
    let names: Vec<String> = approvals.iter().map(|a| a.approver.clone()).collect();
    let approved = policy::inspection::runbook_runs(name, &names, runbook.approvers).is_allow();
    let runs = db.inspection_runs(name, 20).await?;
    Ok(Some(Status {
        runbook,
        approvals,
        approved,
        runs,
    }))
}

/// Every runbook's status, by name.
pub async fn list(config: &Config, db: &Db) -> Result<Vec<Status>, DbError> {
    let mut out = Vec::new();
    for name in config.inspections.keys() {
        if let Some(s) = status(config, db, name).await? {
            out.push(s);
        }
    }
    Ok(out)
}

async fn audit(
    db: &Db,
    config: &Config,
    proof: &Proof,
    mut ev: AuditEvent,
) -> Result<(), ApprovalError> {
    proof.stamp(&mut ev.detail);
    crate::audit::append(db, &config.node_name, ev).await?;
    Ok(())
}

/// `approver` approves runbook `name`'s current version ([`approve_runbook`]): audited as
/// `inspection.approve`, or `inspection.refused` with the refusal.
pub async fn approve(
    config: &Config,
    db: &Db,
    proof: &Proof,
    name: &str,
    approver: &str,
    comment: &str,
    now: Millis,
) -> Result<Status, ApprovalError> {
    let refuse = |r: Refusal, version: Option<String>| async move {
        let ev = AuditEvent::new(approver, "inspection.refused", name).with_detail(json!({
            "action": "approve", "version": version, "code": r.code, "message": r.message,
        }));
        match audit(db, config, proof, ev).await {
            Ok(()) => ApprovalError::Refused(r),
            Err(e) => e,
        }
    };
    let Some(before) = status(config, db, name).await? else {
        return Err(refuse(unknown(name), None).await);
    };
    let version = before.runbook.version.clone();
    let user = match db.user(approver).await? {
        Some(u) if !u.disabled => u,
        _ => {
            let r = Refusal::new(policy::codes::UNKNOWN_USER, format!("no user {approver:?}"));
            return Err(refuse(r, Some(version)).await);
        }
    };
    let comment = policy::visible_text(comment);
    let decided = approve_runbook(
        &user.name,
        user.role,
        before.runbook.author.as_deref(),
        &before.approvers(),
    );
    if let Decision::Deny(r) = decided {
        return Err(refuse(r, Some(version)).await);
    }
    match db
        .runbook_approve(name, &version, &user.name, &comment, now)
        .await
    {
        Ok(()) => {}
        Err(DbError::Conflict(message)) => {
            let r = Refusal::new(policy::codes::ALREADY_REVIEWED, message);
            return Err(refuse(r, Some(version)).await);
        }
        Err(e) => return Err(e.into()),
    }
    let after = status(config, db, name)
        .await?
        .ok_or_else(|| ApprovalError::Failed(format!("runbook {name:?} is gone")))?;
    audit(
        db,
        config,
        proof,
        AuditEvent::new(user.name.clone(), "inspection.approve", name).with_detail(json!({
            "version": version,
            "targets": after.runbook.targets,
            "comment": comment,
            "approvals": after.approvals.len(),
            "needed": after.runbook.approvers,
            "approved": after.approved,
        })),
    )
    .await?;
    Ok(after)
}

/// Queues a run of `name` for `serve` to take (whichever node sees it first): the run's id.
/// Whether the version is approved is decided when it runs, and refused there.
pub async fn ask(
    config: &Config,
    db: &Db,
    proof: &Proof,
    name: &str,
    by: &str,
    now: Millis,
) -> Result<String, ApprovalError> {
    let Some(runbook) = config.inspections.get(name) else {
        let r = unknown(name);
        let ev = AuditEvent::new(by, "inspection.refused", name).with_detail(json!({
            "action": "run", "code": r.code, "message": r.message,
        }));
        audit(db, config, proof, ev).await?;
        return Err(ApprovalError::Refused(r));
    };
    let allowed = matches!(
        db.user(by).await?,
        Some(u) if !u.disabled && matches!(u.role, policy::Role::Approver | policy::Role::Auditor)
    );
    if !allowed {
        let r = Refusal::new(
            policy::codes::NOT_APPROVER,
            "only approvers and auditors can run an inspection",
        );
        let ev = AuditEvent::new(by, "inspection.refused", name).with_detail(json!({
            "action": "run", "code": r.code, "message": r.message,
        }));
        audit(db, config, proof, ev).await?;
        return Err(ApprovalError::Refused(r));
    }
    let id = crate::db::new_id("ir");
    let run = InspectionRun {
        id: id.clone(),
        runbook: name.to_string(),
        version: runbook.version.clone(),
        slot: format!("asked:{id}"),
        asked_by: Some(by.to_string()),
        state: "queued".into(),
        created_at: now,
        started_at: None,
        ended_at: None,
        node: None,
        findings: None,
    };
    audit(
        db,
        config,
        proof,
        AuditEvent::new(by, "inspection.asked", name)
            .with_detail(json!({"run": id, "version": runbook.version})),
    )
    .await?;
    db.inspection_claim(&run).await?;
    Ok(id)
}
