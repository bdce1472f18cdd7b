//! The `login_failures` table: the failed logins each node counted, so that every node's
//! throttle counts the whole cluster's. Rows only; what counts and for how long is
//! [`crate::throttle`]'s.

use policy::Millis;

use super::{get, Db, DbError};

/// Rows read back at most per refresh: past it the newest count (a flood is throttled
/// anyway; memory stays bounded).
pub const MAX_READ: i64 = 100_000;

impl Db {
    /// Adds the failures `node` counted for `scope`: (key, at) each.
    pub async fn login_failures_add(
        &self,
        node: &str,
        scope: &str,
        rows: &[(String, Millis)],
    ) -> Result<(), DbError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(DbError::query("adding failed logins"))?;
        for (key, at) in rows {
            sqlx::query(
                "INSERT INTO login_failures (node, scope, key, at) VALUES ($1, $2, $3, $4)",
            )
            .bind(node)
            .bind(scope)
            .bind(key)
            .bind(*at)
            .execute(&mut *tx)
            .await
            .map_err(DbError::query("adding a failed login"))?;
        }
        tx.commit()
            .await
            .map_err(DbError::query("adding failed logins"))
    }

    /// Takes back failures `node` counted for `scope` that turned out successes.
    pub async fn login_failures_remove(
        &self,
        node: &str,
        scope: &str,
        rows: &[(String, Millis)],
    ) -> Result<(), DbError> {
        for (key, at) in rows {
            sqlx::query(
                "DELETE FROM login_failures WHERE node = $1 AND scope = $2 AND key = $3 AND at = $4",
            )
            .bind(node)
            .bind(scope)
            .bind(key)
            .bind(*at)
            .execute(&self.pool)
            .await
            .map_err(DbError::query("taking back a failed login"))?;
        }
        Ok(())
    }

    /// Forgets failures older than `before` (any node's: they are out of every window).
    pub async fn login_failures_trim(&self, before: Millis) -> Result<(), DbError> {
        sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(DbError::query("trimming failed logins"))?;
        Ok(())
    }

    /// The failures other nodes than `node` counted for `scope` since `since`, newest first,
    /// at most [`MAX_READ`].
    pub async fn login_failures_elsewhere(
        &self,
        node: &str,
        scope: &str,
        since: Millis,
    ) -> Result<Vec<(String, Millis)>, DbError> {
        let rows = sqlx::query(
            "SELECT key, at FROM login_failures WHERE node <> $1 AND scope = $2 AND at >= $3
             ORDER BY at DESC LIMIT $4",
        )
        .bind(node)
        .bind(scope)
        .bind(since)
        .bind(MAX_READ)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading failed logins"))?;
        rows.iter()
            .map(|r| Ok((get(r, "key")?, get(r, "at")?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::{postgres, sqlite};

    async fn exercise(db: &Db) {
        let rows = vec![
            ("k1".to_string(), 100),
            ("k1".to_string(), 200),
            ("k2".to_string(), 300),
        ];
        db.login_failures_add("n1", "web", &rows).await.unwrap();
        db.login_failures_add("n2", "web", &[("k1".into(), 250)])
            .await
            .unwrap();
        db.login_failures_add("n2", "ssh", &[("k1".into(), 260)])
            .await
            .unwrap();
        let seen = db.login_failures_elsewhere("n2", "web", 150).await.unwrap();
        assert_eq!(seen, vec![("k2".to_string(), 300), ("k1".to_string(), 200)]);
        db.login_failures_remove("n1", "web", &[("k2".into(), 300)])
            .await
            .unwrap();
        assert_eq!(
            db.login_failures_elsewhere("n2", "web", 0).await.unwrap(),
            vec![("k1".to_string(), 200), ("k1".to_string(), 100)]
        );
        db.login_failures_trim(150).await.unwrap();
        assert_eq!(
            db.login_failures_elsewhere("n2", "web", 0).await.unwrap(),
            vec![("k1".to_string(), 200)]
        );
        assert_eq!(
            db.login_failures_elsewhere("n1", "ssh", 0).await.unwrap(),
            vec![("k1".to_string(), 260)]
        );
    }

    #[tokio::test]
    async fn sqlite_failed_logins_are_shared_by_scope_and_trimmed() {
        let (_dir, db) = sqlite().await;
        exercise(&db).await;
    }

    #[tokio::test]
    async fn postgres_failed_logins_are_shared_by_scope_and_trimmed() {
        let db = postgres().await;
        exercise(&db).await;
    }
}
