//! Users' TOTP secrets (`users.totp_secret`, sealed by the vault, and `totp_enrolled_at`).
//! Stores and fetches sealed text only; sealing, opening and checking codes is
//! [`crate::totp`]'s and the SSH server's.

use policy::Millis;

use super::{get, Db, DbError};

impl Db {
    /// Stores `sealed` as `name`'s TOTP secret, replacing any earlier one, and forgets the
    /// last step used (it counted the old secret's codes). False when there is no such user.
    pub async fn totp_enroll(
        &self,
        name: &str,
        sealed: &str,
        now: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE users SET totp_secret = $1, totp_enrolled_at = $2, totp_last_step = NULL \
             WHERE name = $3",
        )
        .bind(sealed)
        .bind(now)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "storing the TOTP secret of user {name:?}"
        )))?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that `name` used the code of 30-second `step`: true when it is the first use
    /// of this step or a later one, false when a code of this step or a later one was already
    /// accepted (on any node, before any restart). One conditional UPDATE, so two nodes
    /// given the same code at once accept it once.
    pub async fn totp_use(&self, name: &str, step: u64) -> Result<bool, DbError> {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $1
             WHERE name = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "recording the TOTP code use of user {name:?}"
        )))?;
        Ok(done.rows_affected() == 1)
    }

    /// `name`'s sealed TOTP secret and when it was enrolled; `None` when not enrolled (or no
    /// such user).
    pub async fn totp_secret(&self, name: &str) -> Result<Option<(String, Millis)>, DbError> {
        let row = sqlx::query(
            "SELECT totp_secret, totp_enrolled_at FROM users
             WHERE name = $1 AND totp_secret IS NOT NULL",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "reading the TOTP secret of user {name:?}"
        )))?;
        row.map(|r| {
            let sealed: String = get(&r, "totp_secret")?;
            let at: Option<Millis> = get(&r, "totp_enrolled_at")?;
            Ok((sealed, at.unwrap_or(0)))
        })
        .transpose()
    }
}
