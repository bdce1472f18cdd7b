//! Queries of `recordings_expired`: which recordings are past their retention, the claim
//! to remove one, and whether a session's recording was removed.

use policy::Millis;

use super::{get, Db, DbError};

impl Db {
    /// Up to `limit` sessions that ended before `before` and whose recording has not been
    /// removed yet, oldest first: `(id, recording file the row names)`. `node` limits them
    /// to one node's (its recordings directory holds only its own).
    pub async fn recordings_past(
        &self,
        before: Millis,
        node: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, Option<String>)>, DbError> {
        let on_node = if node.is_some() {
            "AND s.node = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT s.id AS id, s.recording AS recording FROM sessions s
             WHERE s.ended_at IS NOT NULL AND s.ended_at < $1 {on_node}
               AND NOT EXISTS (SELECT 1 FROM recordings_expired e WHERE e.session_id = s.id)
             ORDER BY s.ended_at, s.id LIMIT $2"
        );
        let mut q = sqlx::query(&sql).bind(before).bind(limit);
        if let Some(node) = node {
            q = q.bind(node);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing recordings past their retention"))?;
        rows.iter()
            .map(|r| Ok((get(r, "id")?, get(r, "recording")?)))
            .collect()
    }

    /// Claims the removal of session `id`'s recording; true for the one caller that got it.
    pub async fn claim_recording_expiry(
        &self,
        id: &str,
        at: Millis,
        node: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO recordings_expired (session_id, expired_at, node) VALUES ($1, $2, $3)
             ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(id)
        .bind(at)
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("claiming the expiry of {id:?}")))?;
        Ok(done.rows_affected() == 1)
    }

    /// The sessions whose recording was removed under the retention.
    pub async fn expired_recordings(&self) -> Result<std::collections::BTreeSet<String>, DbError> {
        let rows = sqlx::query("SELECT session_id FROM recordings_expired")
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing expired recordings"))?;
        rows.iter().map(|r| get(r, "session_id")).collect()
    }

    /// When session `id`'s recording was removed under the retention, if it was.
    pub async fn recording_expired_at(&self, id: &str) -> Result<Option<Millis>, DbError> {
        let row = sqlx::query("SELECT expired_at FROM recordings_expired WHERE session_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query(format!("reading the expiry of {id:?}")))?;
        row.map(|r| get(&r, "expired_at")).transpose()
    }
}
