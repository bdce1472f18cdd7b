//! The `nodes` table: each node's heartbeat, and marking a silent one lost once. Reads
//! and writes rows only; when to beat and what a lost node means is [`crate::nodes`].

use policy::Millis;
use sqlx::any::AnyRow;

use super::{get, Db, DbError};

/// A node as the table knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// `node_name`.
    pub name: String,
    /// Where it listens for SSH (and HTTPS, when on).
    pub address: String,
    /// Its `menwei` version.
    pub version: String,
    /// When it last started.
    pub started_at: Millis,
    /// Its last heartbeat.
    pub heartbeat_at: Millis,
    /// Live sessions at its last heartbeat.
    pub live_sessions: i64,
    /// When it stopped cleanly, if it did since it last started.
    pub stopped_at: Option<Millis>,
    /// When another node found it silent, if one did since it last started.
    pub lost_at: Option<Millis>,
}

const NODE_COLUMNS: &str =
    "name, address, version, started_at, heartbeat_at, live_sessions, stopped_at, lost_at";

fn node_from_row(r: &AnyRow) -> Result<NodeRow, DbError> {
    Ok(NodeRow {
        name: get(r, "name")?,
        address: get(r, "address")?,
        version: get(r, "version")?,
        started_at: get(r, "started_at")?,
        heartbeat_at: get(r, "heartbeat_at")?,
        live_sessions: get(r, "live_sessions")?,
        stopped_at: get(r, "stopped_at")?,
        lost_at: get(r, "lost_at")?,
    })
}

impl Db {
    /// Records that node `name` started at `now` (a new row, or the old one made alive
    /// again: not stopped, not lost, no sessions yet).
    pub async fn node_up(
        &self,
        name: &str,
        address: &str,
        version: &str,
        now: Millis,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO nodes (name, address, version, started_at, heartbeat_at, live_sessions)
             VALUES ($1, $2, $3, $4, $4, 0)
             ON CONFLICT (name) DO UPDATE SET address = $2, version = $3, started_at = $4,
                 heartbeat_at = $4, live_sessions = 0, stopped_at = NULL, lost_at = NULL",
        )
        .bind(name)
        .bind(address)
        .bind(version)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "recording that node {name:?} started"
        )))?;
        Ok(())
    }

    /// Writes node `name`'s heartbeat. When another node had marked it lost meanwhile (it
    /// could not reach the database for `[cluster] dead_after`), the mark is cleared and
    /// its time returned: the sessions it held were ended in the table then, and this node
    /// must end them too ([`crate::nodes`]).
    pub async fn node_heartbeat(
        &self,
        name: &str,
        now: Millis,
        live: i64,
    ) -> Result<Option<Millis>, DbError> {
        let what = || format!("node {name:?}'s heartbeat");
        // The beat first: once it is in, no node can mark this one lost anew, so the mark
        // read next is one made before, and clearing exactly that one loses none.
        sqlx::query("UPDATE nodes SET heartbeat_at = $1, live_sessions = $2 WHERE name = $3")
            .bind(now)
            .bind(live)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(DbError::query(what()))?;
        let lost_at: Option<Millis> = match sqlx::query("SELECT lost_at FROM nodes WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query(what()))?
        {
            Some(r) => get(&r, "lost_at")?,
            None => None,
        };
        if let Some(at) = lost_at {
            sqlx::query("UPDATE nodes SET lost_at = NULL WHERE name = $1 AND lost_at = $2")
                .bind(name)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(DbError::query(what()))?;
        }
        Ok(lost_at)
    }

    /// Node `name` stopped cleanly at `now` (its sessions are ended already).
    pub async fn node_stopped(&self, name: &str, now: Millis) -> Result<(), DbError> {
        sqlx::query("UPDATE nodes SET stopped_at = $1, live_sessions = 0 WHERE name = $2")
            .bind(now)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(DbError::query(format!(
                "recording that node {name:?} stopped"
            )))?;
        Ok(())
    }

    /// Every node, by name.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>, DbError> {
        let rows = sqlx::query(&format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing nodes"))?;
        rows.iter().map(node_from_row).collect()
    }

    /// Marks node `name` lost at `now` if it is still silent since before `silent_before`,
    /// was not stopped and not marked already: true for exactly one caller in the cluster.
    pub async fn node_mark_lost(
        &self,
        name: &str,
        now: Millis,
        silent_before: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE nodes SET lost_at = $1
             WHERE name = $2 AND lost_at IS NULL AND stopped_at IS NULL AND heartbeat_at < $3",
        )
        .bind(now)
        .bind(name)
        .bind(silent_before)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("marking node {name:?} lost")))?;
        Ok(done.rows_affected() == 1)
    }
}
