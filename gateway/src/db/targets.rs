//! Targets: the servers behind the gateway, with their vaulted credentials and pinned host keys (secret towards engineers).

use super::*;

/// A server engineers reach through the gateway. `address`, `login` and `password_enc` are
/// secret towards engineers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Name engineers use (`alice:web01@gateway`).
    pub name: String,
    /// HOST:PORT.
    pub address: String,
    /// The account the gateway logs in as.
    pub login: String,
    /// Free text shown in the engineer's menu.
    pub description: String,
    /// Pinned host key, OpenSSH public key line, if pinned by `menwei target pin`.
    pub host_key: Option<String>,
    /// Pinned host key fingerprint (`SHA256:…`).
    pub host_key_fingerprint: Option<String>,
    /// Password sealed by the vault, if the target uses one.
    pub password_enc: Option<String>,
    /// When it was added.
    pub created_at: Millis,
}

impl Db {
    /// The target called `name`.
    pub async fn target(&self, name: &str) -> Result<Option<Target>, DbError> {
        let row = sqlx::query(&format!("{TARGET_SELECT} WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query(format!("reading target {name:?}")))?;
        row.map(|r| target_from_row(&r)).transpose()
    }

    /// All targets, by name.
    pub async fn targets(&self) -> Result<Vec<Target>, DbError> {
        let rows = sqlx::query(&format!("{TARGET_SELECT} ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing targets"))?;
        rows.iter().map(target_from_row).collect()
    }

    /// Adds a target. Fails with [`DbError::Conflict`] if the name is taken.
    pub async fn target_add(&self, t: &Target) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO targets (name, address, login, description, host_key,
                host_key_fingerprint, password_enc, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.name)
        .bind(&t.address)
        .bind(&t.login)
        .bind(&t.description)
        .bind(t.host_key.clone())
        .bind(t.host_key_fingerprint.clone())
        .bind(t.password_enc.clone())
        .bind(t.created_at)
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!("target {:?} already exists", t.name),
            format!("adding target {:?}", t.name),
        ))?;
        Ok(())
    }

    /// Pins a target's host key (OpenSSH public key line and its fingerprint).
    pub async fn target_pin(
        &self,
        name: &str,
        host_key: &str,
        fingerprint: &str,
    ) -> Result<(), DbError> {
        let done = sqlx::query(
            "UPDATE targets SET host_key = $1, host_key_fingerprint = $2 WHERE name = $3",
        )
        .bind(host_key)
        .bind(fingerprint)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("pinning target {name:?}")))?;
        if done.rows_affected() == 0 {
            return Err(DbError::Invalid(format!("target {name:?} vanished")));
        }
        Ok(())
    }
}

pub(super) const TARGET_SELECT: &str = "SELECT name, address, login, description, host_key, \
    host_key_fingerprint, password_enc, created_at FROM targets";

pub(super) fn target_from_row(r: &AnyRow) -> Result<Target, DbError> {
    Ok(Target {
        name: get(r, "name")?,
        address: get(r, "address")?,
        login: get(r, "login")?,
        description: get(r, "description")?,
        host_key: get(r, "host_key")?,
        host_key_fingerprint: get(r, "host_key_fingerprint")?,
        password_enc: get(r, "password_enc")?,
        created_at: get(r, "created_at")?,
    })
}
