//! The audit log's rows and its head, as stored (chaining them is `crate::audit`'s job).

use super::*;

/// One row of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Instant.
    pub at: Millis,
    /// Node that wrote it.
    pub node: String,
    /// Who acted.
    pub actor: String,
    /// What happened (`grant.create`, …).
    pub action: String,
    /// What it happened to.
    pub subject: String,
    /// JSON text.
    pub detail: String,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// Hash of this row.
    pub hash: String,
}

impl Db {
    /// The newest audit row's seq and hash.
    pub async fn audit_last(&self) -> Result<Option<(i64, String)>, DbError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query("reading the newest audit entry"))?;
        row.map(|r| Ok((get(&r, "seq")?, get(&r, "hash")?)))
            .transpose()
    }

    /// Inserts an audit row; [`DbError::Conflict`] if its seq is taken (another writer won).
    pub async fn audit_insert(&self, r: &AuditRow) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO audit_log (seq, at, node, actor, action, subject, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(r.seq)
        .bind(r.at)
        .bind(&r.node)
        .bind(&r.actor)
        .bind(&r.action)
        .bind(&r.subject)
        .bind(&r.detail)
        .bind(&r.prev_hash)
        .bind(&r.hash)
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!("audit seq {} is taken", r.seq),
            "appending to the audit log",
        ))?;
        Ok(())
    }

    /// Moves the audit head forward to (seq, hash) unless it is already there or further.
    pub async fn audit_head_advance(&self, seq: i64, hash: &str) -> Result<(), DbError> {
        let what = "advancing the audit head";
        let done =
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq < $3")
                .bind(seq)
                .bind(hash)
                .bind(seq)
                .execute(&self.pool)
                .await
                .map_err(DbError::query(what))?;
        if done.rows_affected() == 0 {
            let r = sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)")
                .bind(seq)
                .bind(hash)
                .execute(&self.pool)
                .await;
            match r {
                Ok(_) => {}
                // The head exists and is already at or past seq.
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(DbError::query(what)(e)),
            }
        }
        Ok(())
    }

    /// The audit head: the newest (seq, hash) any writer recorded.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>, DbError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query("reading the audit head"))?;
        row.map(|r| Ok((get(&r, "seq")?, get(&r, "hash")?)))
            .transpose()
    }

    /// Audit rows with seq > `after_seq`, oldest first, at most `limit`.
    pub async fn audit_rows(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>, DbError> {
        let rows = sqlx::query(&format!(
            "{AUDIT_SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading the audit log"))?;
        rows.iter().map(audit_from_row).collect()
    }

    /// How many `action` entries about `subject` were appended at or after `since` (unix
    /// ms): e.g. refused CLI proofs of one account, to limit guessing.
    pub async fn audit_count_since(
        &self,
        action: &str,
        subject: &str,
        since: i64,
    ) -> Result<i64, DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM audit_log WHERE action = $1 AND subject = $2 AND at >= $3",
        )
        .bind(action)
        .bind(subject)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .map_err(DbError::query(format!("counting {action} entries")))?;
        get(&row, "n")
    }
}

pub(crate) const AUDIT_SELECT: &str =
    "SELECT seq, at, node, actor, action, subject, detail, prev_hash, hash FROM audit_log";

pub(crate) fn audit_from_row(r: &AnyRow) -> Result<AuditRow, DbError> {
    Ok(AuditRow {
        seq: get(r, "seq")?,
        at: get(r, "at")?,
        node: get(r, "node")?,
        actor: get(r, "actor")?,
        action: get(r, "action")?,
        subject: get(r, "subject")?,
        detail: get(r, "detail")?,
        prev_hash: get(r, "prev_hash")?,
        hash: get(r, "hash")?,
    })
}
