//! The inspection tables: approvals per runbook version, runs (a slot's row is its claim,
//! so a slot runs once across nodes) and the grants a run's sessions hold. Reads and writes
//! rows only; what a run does is `crate::inspections`.

use policy::{Grant, Millis};
use sqlx::any::AnyRow;

use super::{get, Db, DbError};

/// One approval of a runbook version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookApproval {
    /// The approver.
    pub approver: String,
    /// Their comment.
    pub comment: String,
    /// When.
    pub at: Millis,
}

/// One run of a runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionRun {
    /// `ir-…`.
    pub id: String,
    /// The runbook's name.
    pub runbook: String,
    /// The version it ran (or was refused) at.
    pub version: String,
    /// The slot it claimed: epoch milliseconds, or `asked:<id>`.
    pub slot: String,
    /// Who asked for it, for a run not on schedule.
    pub asked_by: Option<String>,
    /// `queued`, `running`, `done`, `refused` or `failed`.
    pub state: String,
    /// When the row was made.
    pub created_at: Millis,
    /// When it started.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub ended_at: Option<Millis>,
    /// The node that ran it.
    pub node: Option<String>,
    /// The findings (JSON), once done.
    pub findings: Option<String>,
}

const RUN_COLUMNS: &str = "id, runbook, version, slot, asked_by, state, created_at, started_at, \
    ended_at, node, findings";

fn run_from_row(r: &AnyRow) -> Result<InspectionRun, DbError> {
    Ok(InspectionRun {
        id: get(r, "id")?,
        runbook: get(r, "runbook")?,
        version: get(r, "version")?,
        slot: get(r, "slot")?,
        asked_by: get(r, "asked_by")?,
        state: get(r, "state")?,
        created_at: get(r, "created_at")?,
        started_at: get(r, "started_at")?,
        ended_at: get(r, "ended_at")?,
        node: get(r, "node")?,
        findings: get(r, "findings")?,
    })
}

impl Db {
    /// The approvals of one runbook version, oldest first.
    pub async fn runbook_approvals(
        &self,
        runbook: &str,
        version: &str,
    ) -> Result<Vec<RunbookApproval>, DbError> {
        let rows = sqlx::query(
            "SELECT approver, comment, at FROM inspection_approvals
             WHERE runbook = $1 AND version = $2 ORDER BY at, approver",
        )
        .bind(runbook)
        .bind(version)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "reading approvals of runbook {runbook:?}"
        )))?;
        rows.iter()
            .map(|r| {
                Ok(RunbookApproval {
                    approver: get(r, "approver")?,
                    comment: get(r, "comment")?,
                    at: get(r, "at")?,
                })
            })
            .collect()
    }

    /// Stores one approval; a second by the same approver is a conflict.
    pub async fn runbook_approve(
        &self,
        runbook: &str,
        version: &str,
        approver: &str,
        comment: &str,
        at: Millis,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO inspection_approvals (runbook, version, approver, comment, at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(runbook)
        .bind(version)
        .bind(approver)
        .bind(comment)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!("{approver} has already approved this version of runbook {runbook:?}"),
            format!("approving runbook {runbook:?}"),
        ))?;
        Ok(())
    }

    /// Claims `slot` of `runbook` with a new run row in `state`: false if another node (or
    /// an earlier pass) claimed it first.
    pub async fn inspection_claim(&self, run: &InspectionRun) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO inspection_runs (id, runbook, version, slot, asked_by, state, created_at, node)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (runbook, slot) DO NOTHING",
        )
        .bind(&run.id)
        .bind(&run.runbook)
        .bind(&run.version)
        .bind(&run.slot)
        .bind(&run.asked_by)
        .bind(&run.state)
        .bind(run.created_at)
        .bind(&run.node)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("claiming a run of {:?}", run.runbook)))?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes a queued run (asked for) for this node: false if another node took it first.
    pub async fn inspection_take(
        &self,
        id: &str,
        version: &str,
        node: &str,
        now: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE inspection_runs SET state = 'running', node = $1, started_at = $2, version = $3
             WHERE id = $4 AND state = 'queued'",
        )
        .bind(node)
        .bind(now)
        .bind(version)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("taking run {id:?}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends a run in `state` with its findings.
    pub async fn inspection_finish(
        &self,
        id: &str,
        state: &str,
        findings: &str,
        now: Millis,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE inspection_runs SET state = $1, findings = $2, ended_at = $3,
                started_at = COALESCE(started_at, $3)
             WHERE id = $4",
        )
        .bind(state)
        .bind(findings)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("ending run {id:?}")))?;
        Ok(())
    }

    /// Ends as `failed` the runs this node left running when it stopped without finishing
    /// them (a crash): how many.
    pub async fn inspections_abandoned(&self, node: &str, now: Millis) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE inspection_runs SET state = 'failed', ended_at = $1,
                findings = '{\"findings\": 0, \"targets\": [], \"refusal\": {\"code\": \"node_restarted\", \"message\": \"the node running it stopped before it finished\"}}'
             WHERE state = 'running' AND node = $2",
        )
        .bind(now)
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(DbError::query("ending abandoned inspection runs"))?;
        Ok(done.rows_affected())
    }

    /// Runs asked for and not yet taken, oldest first.
    pub async fn inspections_queued(&self) -> Result<Vec<InspectionRun>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM inspection_runs WHERE state = 'queued' ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("listing queued inspection runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    /// One run.
    pub async fn inspection_run(&self, id: &str) -> Result<Option<InspectionRun>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM inspection_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(DbError::query(format!("reading run {id:?}")))?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// A runbook's runs, newest first (at most `limit`).
    pub async fn inspection_runs(
        &self,
        runbook: &str,
        limit: i64,
    ) -> Result<Vec<InspectionRun>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM inspection_runs WHERE runbook = $1
             ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(runbook)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query(format!("listing runs of {runbook:?}")))?;
        rows.iter().map(run_from_row).collect()
    }

    /// Stores the grant a run's session on one target runs under.
    pub async fn inspection_grant_add(&self, run_id: &str, g: &Grant) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO inspection_grants (id, run_id, identity, target, starts_at, ends_at,
                reason, approved_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&g.id)
        .bind(run_id)
        .bind(&g.engineer)
        .bind(&g.target)
        .bind(g.starts_at)
        .bind(g.ends_at)
        .bind(&g.reason)
        .bind(&g.granted_by)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "adding inspection grant {:?}",
            g.id
        )))?;
        Ok(())
    }

    /// An inspection run's grant by id (the enforcer reads it like any grant).
    pub(super) async fn inspection_grant(&self, id: &str) -> Result<Option<Grant>, DbError> {
        let row = sqlx::query(
            "SELECT id, identity, target, starts_at, ends_at, revoked_at, reason, approved_by
             FROM inspection_grants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(DbError::query(format!("reading inspection grant {id:?}")))?;
        row.map(|r| {
            Ok(Grant {
                id: get(&r, "id")?,
                engineer: get(&r, "identity")?,
                target: get(&r, "target")?,
                starts_at: get(&r, "starts_at")?,
                ends_at: get(&r, "ends_at")?,
                revoked_at: get(&r, "revoked_at")?,
                reason: get(&r, "reason")?,
                granted_by: get(&r, "approved_by")?,
            })
        })
        .transpose()
    }
}
