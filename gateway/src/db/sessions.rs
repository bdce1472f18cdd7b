//! Sessions: one row per live or ended session, with how it ended.

use super::*;

/// A session as it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Session id (also the recording's name).
    pub id: String,
    /// Engineer.
    pub engineer: String,
    /// Target name.
    pub target: String,
    /// The grant it runs under.
    pub grant_id: String,
    /// Start instant.
    pub started_at: Millis,
    /// Recording file (path, or name in the recordings directory).
    pub recording: String,
    /// Gateway node holding it.
    pub node: String,
    /// Engineer's address (IP:port).
    pub client_addr: String,
}

/// A session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Engineer.
    pub engineer: String,
    /// Target name.
    pub target: String,
    /// Grant id.
    pub grant_id: String,
    /// Start instant.
    pub started_at: Millis,
    /// End instant, if ended.
    pub ended_at: Option<Millis>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// Recording file.
    pub recording: Option<String>,
    /// Node.
    pub node: String,
    /// Engineer's address.
    pub client_addr: Option<String>,
}

impl Db {
    /// Records a session's start.
    pub async fn session_start(&self, s: &NewSession) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO sessions (id, engineer, target, grant_id, started_at, recording,
                node, client_addr)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id)
        .bind(&s.engineer)
        .bind(&s.target)
        .bind(&s.grant_id)
        .bind(s.started_at)
        .bind(&s.recording)
        .bind(&s.node)
        .bind(&s.client_addr)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "recording start of session {:?}",
            s.id
        )))?;
        Ok(())
    }

    /// Records a session's end (only the first end counts).
    pub async fn session_end(
        &self,
        id: &str,
        ended_at: Millis,
        reason: &str,
    ) -> Result<(), DbError> {
        self.session_end_first(id, ended_at, reason)
            .await
            .map(|_| ())
    }

    /// [`Db::session_end`], saying whether this call was the one that ended it (one
    /// conditional UPDATE: of two nodes ending the same session, one gets true).
    pub async fn session_end_first(
        &self,
        id: &str,
        ended_at: Millis,
        reason: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(ended_at)
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("recording end of session {id:?}")))?;
        Ok(done.rows_affected() == 1)
    }

    /// The session with this id.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, DbError> {
        let row = sqlx::query(&format!("{SESSION_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query(format!("reading session {id:?}")))?;
        row.map(|r| session_from_row(&r)).transpose()
    }

    /// All sessions, oldest first.
    pub async fn sessions(&self) -> Result<Vec<Session>, DbError> {
        let rows = sqlx::query(&format!("{SESSION_SELECT} ORDER BY started_at, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing sessions"))?;
        rows.iter().map(session_from_row).collect()
    }

    /// How many sessions of `engineer` are live on any node (started, no end recorded).
    pub async fn live_session_count(&self, engineer: &str) -> Result<u64, DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM sessions WHERE engineer = $1 AND ended_at IS NULL",
        )
        .bind(engineer)
        .fetch_one(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "counting live sessions of {engineer:?}"
        )))?;
        let n: i64 = get(&row, "n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Sessions on `node` that never recorded an end (e.g. after a crash), oldest first.
    pub async fn sessions_open_on(&self, node: &str) -> Result<Vec<Session>, DbError> {
        let rows = sqlx::query(&format!(
            "{SESSION_SELECT} WHERE node = $1 AND ended_at IS NULL ORDER BY started_at, id"
        ))
        .bind(node)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "listing open sessions on node {node:?}"
        )))?;
        rows.iter().map(session_from_row).collect()
    }

    /// Ids of the sessions on `node` ended with `reason` at or after `since` (another node
    /// ended them `node_lost` while `node` could not reach the database).
    pub async fn sessions_ended_on(
        &self,
        node: &str,
        reason: &str,
        since: Millis,
    ) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT id FROM sessions WHERE node = $1 AND end_reason = $2 AND ended_at >= $3",
        )
        .bind(node)
        .bind(reason)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "listing node {node:?}'s sessions ended {reason}"
        )))?;
        rows.iter().map(|r| get(r, "id")).collect()
    }
}

pub(super) const SESSION_SELECT: &str =
    "SELECT id, engineer, target, grant_id, started_at, ended_at, \
    end_reason, recording, node, client_addr FROM sessions";

pub(super) fn session_from_row(r: &AnyRow) -> Result<Session, DbError> {
    Ok(Session {
        id: get(r, "id")?,
        engineer: get(r, "engineer")?,
        target: get(r, "target")?,
        grant_id: get(r, "grant_id")?,
        started_at: get(r, "started_at")?,
        ended_at: get(r, "ended_at")?,
        end_reason: get(r, "end_reason")?,
        recording: get(r, "recording")?,
        node: get(r, "node")?,
        client_addr: get(r, "client_addr")?,
    })
}
