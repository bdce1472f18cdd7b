//! The audit log: an append-only, hash-chained record of every login, session, refusal,
//! grant change and admin action, kept in the database's `audit_log` table.
//!
//! Each entry's hash is SHA-256 over a length-prefixed encoding of its fields and the previous
//! entry's hash, so changing, deleting, inserting or reordering a row breaks the chain, and
//! [`verify`] names the first bad seq. Several nodes may append at once (shared PostgreSQL):
//! the seq is the primary key, and a writer that loses the race re-reads the head and retries.
//! Not a place for secrets: the log is exported and handed on, so `detail` never holds
//! passwords, keys, or a target's address or login. Not tamper-proof against someone who can
//! rewrite the whole table from some row on; that needs an external anchor (a later issue).
//!
//! One way in, [`append`], and one failure rule: its error always goes back to the caller,
//! and what happens next depends only on whether the audited action has taken effect. An
//! action that has not (a login about to succeed, a session about to start, an upload about
//! to reach the target, the gateway starting) is refused: it does not happen without its
//! entry (fail closed, like a recording that cannot be written). An event that has already
//! happened (a refusal, a failed login, a warning shown, a session's end) cannot be undone,
//! so its entry goes in full to the node's log at error level ([`unwritten`]) instead of
//! vanishing. A change made through the CLI or the API is written, then audited in the same
//! call; if its entry cannot be written the caller is told (a failed command, a 503), never
//! silently.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::{AuditRow, Db, DbError};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something that happened, to be appended.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Who acted: a user name, `os:<login>` for the CLI, or `gateway`.
    pub actor: String,
    /// What happened, dotted: `user.add`, `grant.create`, `session.start`, `auth.fail`, …
    pub action: &'static str,
    /// What it happened to: a user, target, grant or session id.
    pub subject: String,
    /// Further facts as a JSON object. No secrets.
    pub detail: Value,
    /// When it happened (unix ms), for an entry written later than that
    /// ([`crate::outbox`]); `None`: now, as it is appended.
    pub at: Option<i64>,
}

impl AuditEvent {
    /// An event with an empty detail object.
    pub fn new(actor: impl Into<String>, action: &'static str, subject: impl Into<String>) -> Self {
        AuditEvent {
            actor: actor.into(),
            action,
            subject: subject.into(),
            detail: Value::Object(serde_json::Map::new()),
            at: None,
        }
    }

    /// The same event with `detail`.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// The same event, which happened at `at` (unix ms).
    pub fn at(mut self, at: i64) -> Self {
        self.at = Some(at);
        self
    }
}

/// Why an entry could not be appended or the log not read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error("audit log: {0}")]
    Db(#[from] DbError),
    /// Too many writers raced for the same seq.
    #[error("audit log: could not append after {0} attempts (too many concurrent writers)")]
    Contention(u32),
    /// The detail could not be encoded.
    #[error("audit log: cannot encode detail: {0}")]
    Encode(String),
}

/// The hash of an entry (its own `hash` field is ignored): SHA-256 over each field as an
/// 8-byte big-endian length followed by its UTF-8 bytes, in the order seq, at, node, actor,
/// action, subject, detail, prev_hash (seq and at in decimal), as lowercase hex.
pub fn entry_hash(r: &AuditRow) -> String {
    let mut h = Sha256::new();
    h.update(b"menwei-audit-v1");
    for field in [
        r.seq.to_string().as_str(),
        r.at.to_string().as_str(),
        &r.node,
        &r.actor,
        &r.action,
        &r.subject,
        &r.detail,
        &r.prev_hash,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

const MAX_ATTEMPTS: u32 = 50;

/// Appends `ev` as written by `node`, chained to the newest entry. Returns the new seq.
pub async fn append(db: &Db, node: &str, ev: AuditEvent) -> Result<i64, AuditError> {
    let detail =
        serde_json::to_string(&ev.detail).map_err(|e| AuditError::Encode(e.to_string()))?;
    for attempt in 0..MAX_ATTEMPTS {
        let (last_seq, prev_hash) = db
            .audit_last()
            .await?
            .unwrap_or_else(|| (0, GENESIS.to_string()));
        let seq = last_seq.saturating_add(1);
        let at = ev.at.unwrap_or_else(crate::time::now_ms);
        let mut row = AuditRow {
            seq,
            at,
            node: node.to_string(),
            actor: ev.actor.clone(),
            action: ev.action.to_string(),
            subject: ev.subject.clone(),
            detail: detail.clone(),
            prev_hash,
            hash: String::new(),
        };
        row.hash = entry_hash(&row);
        match db.audit_insert(&row).await {
            Ok(()) => {
                db.audit_head_advance(seq, &row.hash).await?;
                return Ok(seq);
            }
            Err(DbError::Conflict(_)) => {
                // Another writer took this seq; back off a little, more each time.
                let jitter = u64::from(rand::random::<u8>() % 8);
                let ms = u64::from(attempt.min(10)) * 2 + jitter;
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AuditError::Contention(MAX_ATTEMPTS))
}

/// Whether `ev` (which carries its own time, [`AuditEvent::at`]) is already in the log after
/// seq `after`, written by `node`: an append whose answer was lost (the connection died
/// after the commit, or between the row and the head) must not be appended twice.
pub async fn landed(db: &Db, node: &str, ev: &AuditEvent, after: i64) -> Result<bool, AuditError> {
    let Some(at) = ev.at else { return Ok(false) };
    let detail =
        serde_json::to_string(&ev.detail).map_err(|e| AuditError::Encode(e.to_string()))?;
    let mut after = after;
    loop {
        let rows = db.audit_rows(after, PAGE).await?;
        let Some(last) = rows.last() else {
            return Ok(false);
        };
        after = last.seq;
        if rows.iter().any(|r| {
            r.at == at
                && r.node == node
                && r.actor == ev.actor
                && r.action == ev.action
                && r.subject == ev.subject
                && r.detail == detail
        }) {
            return Ok(true);
        }
    }
}

/// Keeps an entry that could not be appended, for an event that has already happened: in
/// full on the node's log (the detail never holds secrets), so an operator can re-enter it.
pub fn unwritten(node: &str, ev: &AuditEvent, e: &AuditError) {
    let entry = serde_json::json!({
        "node": node,
        "actor": ev.actor,
        "action": ev.action,
        "subject": ev.subject,
        "detail": ev.detail,
    });
    crate::metrics::audit_failed();
    tracing::error!(
        node,
        action = ev.action,
        "cannot append to the audit log: {e}; unwritten entry: {entry}"
    );
}

/// How the chain is broken at the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The row's content no longer matches its hash.
    Changed,
    /// Rows `from..=to` are missing.
    Deleted {
        /// First missing seq.
        from: i64,
        /// Last missing seq.
        to: i64,
    },
    /// The row does not link to the row before it: a row was inserted or rows reordered, or
    /// the row before was changed and re-hashed.
    Inserted,
    /// The row is intact but sits at another seq than it was written at: rows were inserted
    /// before it, or reordered.
    Moved {
        /// The seq it was written at.
        original: i64,
    },
    /// Rows after the last one were deleted: the head records a later entry.
    Truncated {
        /// The newest seq the head recorded.
        head_seq: i64,
    },
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rows read.
    pub entries: u64,
    /// The first problem: its seq and kind. `None`: intact.
    pub problem: Option<(i64, Problem)>,
}

impl VerifyReport {
    /// Whether the chain is intact.
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            None => write!(f, "audit log intact: {} entries", self.entries),
            Some((seq, Problem::Changed)) => write!(
                f,
                "audit log broken at seq {seq}: entry was changed (its hash does not match its content)"
            ),
            Some((seq, Problem::Deleted { from, to })) if from == to => write!(
                f,
                "audit log broken at seq {seq}: entry {from} was deleted (gap in the sequence)"
            ),
            Some((seq, Problem::Deleted { from, to })) => write!(
                f,
                "audit log broken at seq {seq}: entries {from} to {to} were deleted (gap in the sequence)"
            ),
            Some((seq, Problem::Inserted)) => write!(
                f,
                "audit log broken at seq {seq}: entry does not follow the one before it (inserted or reordered, or the previous entry was changed and re-hashed)"
            ),
            Some((seq, Problem::Moved { original })) => write!(
                f,
                "audit log broken at seq {seq}: entry was written as seq {original} (entries inserted or reordered)"
            ),
            Some((seq, Problem::Truncated { head_seq })) => write!(
                f,
                "audit log broken at seq {seq}: entries {seq} to {head_seq} were deleted from the end (the head records entry {head_seq})"
            ),
        }
    }
}

const PAGE: i64 = 1000;

/// If `r` hashes correctly under a nearby seq, that seq: the row was renumbered.
fn original_seq(r: &AuditRow) -> Option<i64> {
    let mut moved = r.clone();
    (1..=256i64)
        .flat_map(|d| [r.seq.saturating_sub(d), r.seq.saturating_add(d)])
        .filter(|s| *s >= 1)
        .find(|s| {
            moved.seq = *s;
            entry_hash(&moved) == r.hash
        })
}

/// Walks the whole chain and reports the first broken entry.
pub async fn verify(db: &Db) -> Result<VerifyReport, AuditError> {
    let mut entries = 0u64;
    let mut expected = 1i64;
    let mut prev_hash = GENESIS.to_string();
    let mut after = 0i64;
    loop {
        let rows = db.audit_rows(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in &rows {
            entries += 1;
            let problem = if r.seq > expected {
                Some(Problem::Deleted {
                    from: expected,
                    to: r.seq - 1,
                })
            } else if r.seq < expected {
                Some(Problem::Inserted)
            } else if entry_hash(r) != r.hash {
                Some(match original_seq(r) {
                    Some(original) => Problem::Moved { original },
                    None => Problem::Changed,
                })
            } else if r.prev_hash != prev_hash {
                Some(Problem::Inserted)
            } else {
                None
            };
            if let Some(p) = problem {
                let seq = match p {
                    Problem::Deleted { from, .. } => from,
                    _ => r.seq,
                };
                return Ok(VerifyReport {
                    entries,
                    problem: Some((seq, p)),
                });
            }
            expected = r.seq.saturating_add(1);
            prev_hash.clone_from(&r.hash);
        }
    }
    let last_seq = expected - 1;
    if let Some((head_seq, head_hash)) = db.audit_head().await? {
        if head_seq > last_seq {
            return Ok(VerifyReport {
                entries,
                problem: Some((last_seq + 1, Problem::Truncated { head_seq })),
            });
        }
        // The head may lag (a writer stopped between insert and head update) but must agree
        // with the row it names.
        if head_seq == last_seq && head_hash != prev_hash {
            return Ok(VerifyReport {
                entries,
                problem: Some((head_seq, Problem::Changed)),
            });
        }
    }
    Ok(VerifyReport {
        entries,
        problem: None,
    })
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header line.
    Csv,
}

const CSV_HEADER: &str = "seq,at,node,actor,action,subject,detail,prev_hash,hash";

/// Writes every entry at or after `since` (unix ms) to `out`. Returns the number written.
pub async fn export(
    db: &Db,
    format: ExportFormat,
    since: Option<i64>,
    out: &mut dyn std::io::Write,
) -> Result<u64, ExportError> {
    if format == ExportFormat::Csv {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let mut n = 0u64;
    let mut after = 0i64;
    loop {
        let rows = db.audit_rows(after, PAGE).await.map_err(AuditError::from)?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in rows.iter().filter(|r| since.is_none_or(|s| r.at >= s)) {
            match format {
                ExportFormat::Jsonl => writeln!(out, "{}", json_line(r))?,
                ExportFormat::Csv => writeln!(out, "{}", csv_line(r))?,
            }
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Writing failed.
    #[error("cannot write export: {0}")]
    Io(#[from] std::io::Error),
}

fn json_line(r: &AuditRow) -> String {
    let detail: Value =
        serde_json::from_str(&r.detail).unwrap_or_else(|_| Value::String(r.detail.clone()));
    serde_json::json!({
        "seq": r.seq,
        "at": crate::time::rfc3339(r.at),
        "at_ms": r.at,
        "node": r.node,
        "actor": r.actor,
        "action": r.action,
        "subject": r.subject,
        "detail": detail,
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    })
    .to_string()
}

fn csv_line(r: &AuditRow) -> String {
    [
        r.seq.to_string(),
        crate::time::rfc3339(r.at),
        r.node.clone(),
        r.actor.clone(),
        r.action.clone(),
        r.subject.clone(),
        r.detail.clone(),
        r.prev_hash.clone(),
        r.hash.clone(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

/// One CSV field, quoted when it holds a comma, quote, CR or LF (RFC 4180), and with a
/// leading `'` when it would start a spreadsheet formula.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::sqlite;
    use sqlx::Row;

    async fn fill(db: &Db, n: usize) {
        for i in 0..n {
            let ev = AuditEvent::new("os:root", "user.add", format!("user{i}"))
                .with_detail(serde_json::json!({"role": "engineer", "i": i}));
            append(db, "gw1", ev).await.unwrap();
        }
    }

    async fn exec(db: &Db, sql: &str) {
        sqlx::query(sql).execute(db.pool()).await.unwrap();
    }

    #[tokio::test]
    async fn intact_chain_verifies() {
        let (_d, db) = sqlite().await;
        assert_eq!(
            verify(&db).await.unwrap().to_string(),
            "audit log intact: 0 entries"
        );
        fill(&db, 5).await;
        let r = verify(&db).await.unwrap();
        assert!(r.intact());
        assert_eq!(r.to_string(), "audit log intact: 5 entries");
    }

    #[tokio::test]
    async fn changed_row_is_named() {
        let (_d, db) = sqlite().await;
        fill(&db, 5).await;
        exec(&db, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.problem, Some((3, Problem::Changed)));
        assert!(r.to_string().contains("seq 3"), "{r}");
        assert!(r.to_string().contains("changed"), "{r}");
    }

    #[tokio::test]
    async fn changed_and_rehashed_row_breaks_the_next_link() {
        let (_d, db) = sqlite().await;
        fill(&db, 5).await;
        let mut row = db.audit_rows(2, 1).await.unwrap().remove(0);
        row.actor = "mallory".into();
        let hash = entry_hash(&row);
        sqlx::query("UPDATE audit_log SET actor = 'mallory', hash = $1 WHERE seq = 3")
            .bind(hash)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            verify(&db).await.unwrap().problem,
            Some((4, Problem::Inserted))
        );
    }

    #[tokio::test]
    async fn deleted_row_is_named() {
        let (_d, db) = sqlite().await;
        fill(&db, 5).await;
        exec(&db, "DELETE FROM audit_log WHERE seq = 2").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.problem, Some((2, Problem::Deleted { from: 2, to: 2 })));
        assert!(r.to_string().contains("deleted"), "{r}");
    }

    #[tokio::test]
    async fn deleted_tail_is_named() {
        let (_d, db) = sqlite().await;
        fill(&db, 5).await;
        exec(&db, "DELETE FROM audit_log WHERE seq >= 4").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.problem, Some((4, Problem::Truncated { head_seq: 5 })));
    }

    #[tokio::test]
    async fn inserted_row_is_named() {
        let (_d, db) = sqlite().await;
        fill(&db, 3).await;
        // Renumber to make room, then insert a forged row that links to row 1 correctly.
        exec(&db, "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 2").await;
        exec(&db, "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100").await;
        let prev: String = sqlx::query("SELECT hash FROM audit_log WHERE seq = 1")
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get(0);
        let hash = entry_hash(&AuditRow {
            seq: 2,
            at: 1,
            node: "gw1".into(),
            actor: "x".into(),
            action: "user.add".into(),
            subject: "eve".into(),
            detail: "{}".into(),
            prev_hash: prev.clone(),
            hash: String::new(),
        });
        sqlx::query(
            "INSERT INTO audit_log (seq, at, node, actor, action, subject, detail, prev_hash, hash)
             VALUES (2, 1, 'gw1', 'x', 'user.add', 'eve', '{}', $1, $2)",
        )
        .bind(prev)
        .bind(hash)
        .execute(db.pool())
        .await
        .unwrap();
        let r = verify(&db).await.unwrap();
        assert_eq!(r.problem, Some((3, Problem::Moved { original: 2 })));
        assert!(r.to_string().contains("inserted or reordered"), "{r}");
    }

    #[tokio::test]
    async fn swapped_rows_are_named() {
        let (_d, db) = sqlite().await;
        fill(&db, 4).await;
        exec(&db, "UPDATE audit_log SET seq = 100 WHERE seq = 2").await;
        exec(&db, "UPDATE audit_log SET seq = 2 WHERE seq = 3").await;
        exec(&db, "UPDATE audit_log SET seq = 3 WHERE seq = 100").await;
        let r = verify(&db).await.unwrap();
        assert_eq!(r.problem, Some((2, Problem::Moved { original: 3 })));
    }

    #[tokio::test]
    async fn postgres_chain_detects_a_changed_row() {
        let db = crate::db::tests::postgres().await;
        fill(&db, 4).await;
        assert!(verify(&db).await.unwrap().intact());
        exec(&db, "UPDATE audit_log SET subject = 'x' WHERE seq = 2").await;
        assert_eq!(
            verify(&db).await.unwrap().problem,
            Some((2, Problem::Changed))
        );
        exec(&db, "DELETE FROM audit_log WHERE seq = 2").await;
        assert_eq!(
            verify(&db).await.unwrap().problem,
            Some((2, Problem::Deleted { from: 2, to: 2 }))
        );
    }

    #[tokio::test]
    async fn concurrent_appends_keep_one_chain() {
        let (_d, db) = sqlite().await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                for j in 0..5 {
                    append(&db, "gw1", AuditEvent::new("a", "t", format!("{i}-{j}")))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let r = verify(&db).await.unwrap();
        assert!(r.intact(), "{r}");
        assert_eq!(r.entries, 40);
    }

    #[tokio::test]
    async fn exports_quote_csv_and_filter_by_time() {
        let (_d, db) = sqlite().await;
        append(
            &db,
            "gw1",
            AuditEvent::new("os:root", "target.add", "web01")
                .with_detail(serde_json::json!({"description": "a \"b\", c\nd"})),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        assert_eq!(
            export(&db, ExportFormat::Csv, None, &mut out)
                .await
                .unwrap(),
            1
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(CSV_HEADER), "{text}");
        assert!(
            text.contains(r#""{""description"":""a \""b\"", c\nd""}""#),
            "{text}"
        );
        let mut out = Vec::new();
        export(&db, ExportFormat::Jsonl, None, &mut out)
            .await
            .unwrap();
        let line: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["action"], "target.add");
        assert_eq!(line["seq"], 1);
        let mut out = Vec::new();
        let future = crate::time::now_ms() + 60_000;
        assert_eq!(
            export(&db, ExportFormat::Jsonl, Some(future), &mut out)
                .await
                .unwrap(),
            0
        );
        assert!(out.is_empty());
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
