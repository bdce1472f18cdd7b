//! The `login_failures` and `login_alerts` tables: the failed logins each node counted, so
//! that every node's throttle and the failed-login alert count the whole cluster's, and
//! when an account's alert last went out. Rows only; what counts and for how long is
//! [`crate::throttle`]'s and [`crate::login_alert`]'s.

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

    /// Forgets failures of `scope` older than `before` (any node's: they are out of the
    /// window).
    pub async fn login_failures_trim(&self, scope: &str, before: Millis) -> Result<(), DbError> {
        sqlx::query("DELETE FROM login_failures WHERE scope = $1 AND at < $2")
            .bind(scope)
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(DbError::query("trimming failed logins"))?;
        Ok(())
    }

    /// The failures other nodes than `node` counted for `scope` since `since`, newest first,
    /// at most `MAX_READ`.
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

/// The failed-login alert's scope.
const ACCOUNT: &str = "account";

/// Distinct source addresses read back per account.
const MAX_SOURCES: i64 = 16;

impl Db {
    /// Counts a failed login of the existing `account` from `source` at `at`, seen by
    /// `node`, and forgets the account's failures before `since`; then the cluster's
    /// failures of the account since `since` and up to `MAX_SOURCES` of their addresses.
    pub async fn account_failure(
        &self,
        node: &str,
        account: &str,
        source: Option<&str>,
        at: Millis,
        since: Millis,
    ) -> Result<(i64, Vec<String>), DbError> {
        sqlx::query(
            "INSERT INTO login_failures (node, scope, key, at, source) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(node)
        .bind(ACCOUNT)
        .bind(account)
        .bind(at)
        .bind(source)
        .execute(&self.pool)
        .await
        .map_err(DbError::query("counting a failed login"))?;
        sqlx::query("DELETE FROM login_failures WHERE scope = $1 AND key = $2 AND at < $3")
            .bind(ACCOUNT)
            .bind(account)
            .bind(since)
            .execute(&self.pool)
            .await
            .map_err(DbError::query("trimming failed logins"))?;
        let count = sqlx::query(
            "SELECT COUNT(*) AS n FROM login_failures WHERE scope = $1 AND key = $2 AND at >= $3",
        )
        .bind(ACCOUNT)
        .bind(account)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .map_err(DbError::query("counting failed logins"))?;
        let sources = sqlx::query(
            "SELECT DISTINCT source FROM login_failures
             WHERE scope = $1 AND key = $2 AND at >= $3 AND source IS NOT NULL
             ORDER BY source LIMIT $4",
        )
        .bind(ACCOUNT)
        .bind(account)
        .bind(since)
        .bind(MAX_SOURCES)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading failed logins"))?;
        Ok((
            get(&count, "n")?,
            sources
                .iter()
                .map(|r| get(r, "source"))
                .collect::<Result<_, _>>()?,
        ))
    }

    /// Claims the failed-login alert of `account` at `now` unless one went out since
    /// `since`: true for exactly one caller in the cluster.
    pub async fn login_alert_claim(
        &self,
        account: &str,
        now: Millis,
        since: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO login_alerts (account, alerted_at) VALUES ($1, $2)
             ON CONFLICT (account) DO UPDATE SET alerted_at = $2
             WHERE login_alerts.alerted_at < $3",
        )
        .bind(account)
        .bind(now)
        .bind(since)
        .execute(&self.pool)
        .await
        .map_err(DbError::query("claiming a failed-login alert"))?;
        Ok(done.rows_affected() == 1)
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
        db.login_failures_trim("web", 150).await.unwrap();
        assert_eq!(
            db.login_failures_elsewhere("n2", "web", 0).await.unwrap(),
            vec![("k1".to_string(), 200)]
        );
        assert_eq!(
            db.login_failures_elsewhere("n1", "ssh", 0).await.unwrap(),
            vec![("k1".to_string(), 260)]
        );

        // The alert's count is every node's, its sources distinct; it goes out once.
        let (n, _) = db
            .account_failure("n1", "alice", Some("10.0.0.1"), 1000, 0)
            .await
            .unwrap();
        assert_eq!(n, 1);
        db.account_failure("n2", "alice", Some("10.0.0.2"), 1001, 0)
            .await
            .unwrap();
        db.account_failure("n2", "bob", Some("10.0.0.9"), 1001, 0)
            .await
            .unwrap();
        let (n, sources) = db
            .account_failure("n1", "alice", Some("10.0.0.1"), 1002, 0)
            .await
            .unwrap();
        assert_eq!(
            (n, sources),
            (3, vec!["10.0.0.1".to_string(), "10.0.0.2".to_string()])
        );
        let (n, _) = db
            .account_failure("n1", "alice", None, 1100, 1001)
            .await
            .unwrap();
        assert_eq!(n, 3, "the first fell out of the window");
        assert!(db.login_alert_claim("alice", 1100, 1000).await.unwrap());
        assert!(
            !db.login_alert_claim("alice", 1101, 1001).await.unwrap(),
            "once per window"
        );
        assert!(db.login_alert_claim("bob", 1101, 1001).await.unwrap());
        assert!(
            db.login_alert_claim("alice", 2200, 2000).await.unwrap(),
            "a new window"
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
