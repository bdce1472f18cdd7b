//! Grants: who may reach which target when, and their revocation.

use super::*;

/// A grant with the bookkeeping columns [`policy::Grant`] does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// The grant.
    pub grant: Grant,
    /// Who revoked it, if anyone.
    pub revoked_by: Option<String>,
    /// When it was created.
    pub created_at: Millis,
    /// The request it was made for, if any (not for `menwei grant add`).
    pub request_id: Option<String>,
    /// A break-glass grant, opened by the engineer without approval, to be signed off.
    pub emergency: bool,
}

impl Db {
    /// All of the engineer's grants that did not end more than a day ago (live, future,
    /// recently expired or revoked), by start.
    pub async fn grants_for(&self, engineer: &str) -> Result<Vec<Grant>, DbError> {
        let since = crate::time::now_ms().saturating_sub(24 * 3600 * 1000);
        let rows = sqlx::query(&format!(
            "{GRANT_SELECT} WHERE engineer = $1 AND ends_at > $2 ORDER BY starts_at, id"
        ))
        .bind(engineer)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query(format!("reading grants of {engineer:?}")))?;
        rows.iter()
            .map(|r| grant_from_row(r).map(|g| g.grant))
            .collect()
    }

    /// The grant with this id.
    pub async fn grant(&self, id: &str) -> Result<Option<Grant>, DbError> {
        // An inspection run's grant (`ig-…`) lives with its run, not among engineers' grants.
        if id.starts_with(crate::inspections::GRANT_PREFIX) {
            return self.inspection_grant(id).await;
        }
        Ok(self.grant_record(id).await?.map(|g| g.grant))
    }

    /// The grant with this id, with its bookkeeping columns.
    pub async fn grant_record(&self, id: &str) -> Result<Option<GrantRecord>, DbError> {
        let row = sqlx::query(&format!("{GRANT_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query(format!("reading grant {id:?}")))?;
        row.map(|r| grant_from_row(&r)).transpose()
    }

    /// All grants, newest first.
    pub async fn grants(&self) -> Result<Vec<GrantRecord>, DbError> {
        let rows = sqlx::query(&format!("{GRANT_SELECT} ORDER BY created_at DESC, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing grants"))?;
        rows.iter().map(grant_from_row).collect()
    }

    /// Grants that ran out (not revoked) at an instant in `(after, upto]`, oldest first.
    pub async fn grants_expired_between(
        &self,
        after: Millis,
        upto: Millis,
    ) -> Result<Vec<GrantRecord>, DbError> {
        let rows = sqlx::query(&format!(
            "{GRANT_SELECT} WHERE ends_at > $1 AND ends_at <= $2 AND revoked_at IS NULL ORDER BY ends_at, id"
        ))
        .bind(after)
        .bind(upto)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("listing expired grants"))?;
        rows.iter().map(grant_from_row).collect()
    }

    /// Stores a new grant.
    pub async fn grant_add(&self, g: &Grant, created_at: Millis) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO grants (id, engineer, target, starts_at, ends_at, revoked_at,
                revoked_by, reason, granted_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&g.id)
        .bind(&g.engineer)
        .bind(&g.target)
        .bind(g.starts_at)
        .bind(g.ends_at)
        .bind(g.revoked_at)
        .bind(None::<String>)
        .bind(&g.reason)
        .bind(&g.granted_by)
        .bind(created_at)
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!("grant {:?} already exists", g.id),
            format!("adding grant {:?}", g.id),
        ))?;
        Ok(())
    }

    /// Revokes a grant that is not revoked yet; returns false if it was already revoked or
    /// does not exist.
    pub async fn grant_revoke(&self, id: &str, by: &str, at: Millis) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE grants SET revoked_at = $1, revoked_by = $2
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(by)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("revoking grant {id:?}")))?;
        Ok(done.rows_affected() > 0)
    }
}

pub(super) const GRANT_SELECT: &str =
    "SELECT id, engineer, target, starts_at, ends_at, revoked_at, \
    revoked_by, reason, granted_by, created_at, request_id, emergency FROM grants";

pub(super) fn grant_from_row(r: &AnyRow) -> Result<GrantRecord, DbError> {
    let emergency: i64 = get(r, "emergency")?;
    Ok(GrantRecord {
        grant: Grant {
            id: get(r, "id")?,
            engineer: get(r, "engineer")?,
            target: get(r, "target")?,
            starts_at: get(r, "starts_at")?,
            ends_at: get(r, "ends_at")?,
            revoked_at: get(r, "revoked_at")?,
            reason: get(r, "reason")?,
            granted_by: get(r, "granted_by")?,
        },
        revoked_by: get(r, "revoked_by")?,
        created_at: get(r, "created_at")?,
        request_id: get(r, "request_id")?,
        emergency: emergency != 0,
    })
}
