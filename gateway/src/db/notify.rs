//! Webhook deliveries (`notifications`): one row per event and webhook, kept after delivery
//! and after giving up. Stores, claims and fetches; sending is [`crate::notify`]'s.
//!
//! A row is pending while `delivered_at` is NULL and `next_attempt_at` is an instant; it is
//! failed (kept, never tried again) when `next_attempt_at` is [`NEVER`]. A node claims a due
//! row by moving its `next_attempt_at` forward with a compare-and-set, so several nodes
//! sharing one database never send the same attempt twice.

use policy::Millis;
use sqlx::any::AnyRow;

use super::{get, Db, DbError};

/// `next_attempt_at` of a notification that was given up on.
pub const NEVER: Millis = Millis::MAX;

/// One stored notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `n-…`, also sent as `X-Menwei-Delivery`.
    pub id: String,
    /// Event kind (`request`, `decision`, …).
    pub kind: String,
    /// The exact JSON body sent.
    pub payload: String,
    /// When it was stored.
    pub created_at: Millis,
    /// Attempts made so far.
    pub attempts: i64,
    /// When it is next due, or [`NEVER`].
    pub next_attempt_at: Millis,
    /// When a receiver accepted it.
    pub delivered_at: Option<Millis>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The webhook URL it goes to.
    pub webhook: String,
}

impl Notification {
    /// `delivered`, `failed` or `pending`.
    pub fn state(&self) -> &'static str {
        match (self.delivered_at, self.next_attempt_at) {
            (Some(_), _) => "delivered",
            (None, NEVER) => "failed",
            (None, _) => "pending",
        }
    }
}

const SELECT: &str = "SELECT id, kind, payload, created_at, attempts, next_attempt_at,
    delivered_at, last_error, webhook FROM notifications";

fn from_row(r: &AnyRow) -> Result<Notification, DbError> {
    Ok(Notification {
        id: get(r, "id")?,
        kind: get(r, "kind")?,
        payload: get(r, "payload")?,
        created_at: get(r, "created_at")?,
        attempts: get(r, "attempts")?,
        next_attempt_at: get(r, "next_attempt_at")?,
        delivered_at: get(r, "delivered_at")?,
        last_error: get(r, "last_error")?,
        webhook: get(r, "webhook")?,
    })
}

impl Db {
    /// Stores a new notification, due at once.
    pub async fn notification_add(&self, n: &Notification) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO notifications (id, kind, payload, created_at, attempts,
                next_attempt_at, delivered_at, last_error, webhook)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&n.id)
        .bind(&n.kind)
        .bind(&n.payload)
        .bind(n.created_at)
        .bind(n.attempts)
        .bind(n.next_attempt_at)
        .bind(n.delivered_at)
        .bind(n.last_error.clone())
        .bind(&n.webhook)
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!("notification {} already exists", n.id),
            format!("storing notification {}", n.id),
        ))?;
        Ok(())
    }

    /// Pending notifications due at `now`, oldest first, at most `limit`.
    pub async fn notifications_due(
        &self,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<Notification>, DbError> {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE delivered_at IS NULL AND next_attempt_at <= $1
             ORDER BY next_attempt_at, created_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading due notifications"))?;
        rows.iter().map(from_row).collect()
    }

    /// Claims `n` for one attempt: counts the attempt and moves its next attempt to
    /// `lease_until` (when another node may try again should this one die), if nobody else
    /// claimed it since it was read. True when this caller has it.
    pub async fn notification_claim(
        &self,
        n: &Notification,
        lease_until: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $1
             WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at = $3 AND attempts = $4",
        )
        .bind(lease_until)
        .bind(&n.id)
        .bind(n.next_attempt_at)
        .bind(n.attempts)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("claiming notification {}", n.id)))?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that a receiver accepted `id`.
    pub async fn notification_delivered(&self, id: &str, now: Millis) -> Result<(), DbError> {
        sqlx::query("UPDATE notifications SET delivered_at = $1, last_error = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(DbError::query(format!(
                "marking notification {id} delivered"
            )))?;
        Ok(())
    }

    /// Records a failed attempt of `id`: tried again at `next` ([`NEVER`]: given up).
    pub async fn notification_failed(
        &self,
        id: &str,
        error: &str,
        next: Millis,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE notifications SET last_error = $1, next_attempt_at = $2
             WHERE id = $3 AND delivered_at IS NULL",
        )
        .bind(error)
        .bind(next)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "recording a failed attempt of notification {id}"
        )))?;
        Ok(())
    }

    /// Notifications, newest first; only the failed ones when `failed_only`.
    pub async fn notifications(&self, failed_only: bool) -> Result<Vec<Notification>, DbError> {
        let rows = if failed_only {
            sqlx::query(&format!(
                "{SELECT} WHERE delivered_at IS NULL AND next_attempt_at = $1
                 ORDER BY created_at DESC, id DESC"
            ))
            .bind(NEVER)
            .fetch_all(&self.pool)
            .await
        } else {
            sqlx::query(&format!("{SELECT} ORDER BY created_at DESC, id DESC"))
                .fetch_all(&self.pool)
                .await
        }
        .map_err(DbError::query("listing notifications"))?;
        rows.iter().map(from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::{postgres, sqlite};

    fn note(id: &str, now: Millis) -> Notification {
        Notification {
            id: id.into(),
            kind: "revocation".into(),
            payload: "{}".into(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            delivered_at: None,
            last_error: None,
            webhook: "http://127.0.0.1:1/h".into(),
        }
    }

    async fn exercise(db: &Db) {
        let now = 1_000_000;
        db.notification_add(&note("n-1", now)).await.unwrap();
        db.notification_add(&note("n-2", now + 5)).await.unwrap();
        assert!(matches!(
            db.notification_add(&note("n-1", now)).await,
            Err(DbError::Conflict(_))
        ));
        // Only what is due, oldest first.
        let due = db.notifications_due(now, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        let n1 = due.into_iter().next().unwrap();
        // Two nodes read the same row: only one claim wins.
        assert!(db.notification_claim(&n1, now + 100).await.unwrap());
        assert!(!db.notification_claim(&n1, now + 100).await.unwrap());
        assert!(db
            .notifications_due(now + 50, 10)
            .await
            .unwrap()
            .iter()
            .all(|n| n.id != "n-1"));
        // Failed attempt: due again later, with the error.
        db.notification_failed("n-1", "cannot connect", now + 200)
            .await
            .unwrap();
        let n1 = db.notifications_due(now + 200, 10).await.unwrap();
        let n1 = n1.iter().find(|n| n.id == "n-1").unwrap();
        assert_eq!((n1.attempts, n1.state()), (1, "pending"));
        assert_eq!(n1.last_error.as_deref(), Some("cannot connect"));
        // Given up: kept, listed as failed, never due again.
        assert!(db.notification_claim(n1, now + 300).await.unwrap());
        db.notification_failed("n-1", "timed out", NEVER)
            .await
            .unwrap();
        assert!(db
            .notifications_due(Millis::MAX - 1, 10)
            .await
            .unwrap()
            .iter()
            .all(|n| n.id != "n-1"));
        let failed = db.notifications(true).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(
            (failed[0].id.as_str(), failed[0].attempts, failed[0].state()),
            ("n-1", 2, "failed")
        );
        // Delivered.
        let n2 = db.notifications_due(now + 5, 10).await.unwrap();
        assert!(db.notification_claim(&n2[0], now + 100).await.unwrap());
        db.notification_delivered("n-2", now + 6).await.unwrap();
        let all = db.notifications(false).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, "n-2", "newest first");
        assert_eq!(
            (all[0].state(), all[0].delivered_at),
            ("delivered", Some(now + 6))
        );
    }

    #[tokio::test]
    async fn sqlite_notifications_are_claimed_once_and_kept() {
        let (_dir, db) = sqlite().await;
        exercise(&db).await;
    }

    #[tokio::test]
    async fn postgres_notifications_are_claimed_once_and_kept() {
        let db = postgres().await;
        exercise(&db).await;
    }
}
