//! Accounts and their SSH public keys.

use super::*;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Its one role.
    pub role: Role,
    /// Disabled accounts cannot log in, grant or be granted.
    pub disabled: bool,
    /// Why it was disabled, as the admin said.
    pub disabled_reason: Option<String>,
    /// When it was last cut off: web logins and live sessions begun before end.
    pub cut_off_at: Option<Millis>,
    /// When an admin removed it (it is then disabled for good; its name stays taken).
    pub removed_at: Option<Millis>,
    /// When it was created.
    pub created_at: Millis,
}

/// The columns [`user_from_row`] reads.
const USER_COLUMNS: &str =
    "name, role, disabled, disabled_reason, cut_off_at, removed_at, created_at";

/// One public key of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKey {
    /// Owner.
    pub user_name: String,
    /// OpenSSH public key line.
    pub public_key: String,
    /// `SHA256:…`.
    pub fingerprint: String,
    /// When it was added.
    pub added_at: Millis,
}

impl UserKey {
    /// The key line's comment (what follows the type and the key), often `user@host`;
    /// empty when it has none.
    pub fn comment(&self) -> &str {
        let mut fields = self.public_key.trim().splitn(3, char::is_whitespace);
        fields.nth(2).map(str::trim).unwrap_or("")
    }
}

impl Db {
    /// The user called `name`.
    pub async fn user(&self, name: &str) -> Result<Option<User>, DbError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query(format!("reading user {name:?}")))?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    /// The users among `names` that exist, in one query (the enforcer's tick asks for every
    /// account holding a live session at once). At most 1,000 names per call.
    pub async fn users_named(&self, names: &[String]) -> Result<Vec<User>, DbError> {
        let names = names.get(..names.len().min(1000)).unwrap_or(names);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE name IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for n in names {
            q = q.bind(n);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("reading the accounts of live sessions"))?;
        rows.iter().map(user_from_row).collect()
    }

    /// All users, by name.
    pub async fn users(&self) -> Result<Vec<User>, DbError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing users"))?;
        rows.iter().map(user_from_row).collect()
    }

    /// Creates a user. Fails with [`DbError::Conflict`] if the name is taken.
    pub async fn user_add(&self, name: &str, role: Role, now: Millis) -> Result<(), DbError> {
        sqlx::query("INSERT INTO users (name, role, created_at, disabled) VALUES ($1, $2, $3, 0)")
            .bind(name)
            .bind(role.as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(DbError::insert(
                format!("user {name:?} already exists"),
                format!("adding user {name:?}"),
            ))?;
        Ok(())
    }

    /// The user's public keys as OpenSSH lines.
    pub async fn user_keys(&self, name: &str) -> Result<Vec<String>, DbError> {
        Ok(self
            .user_key_rows(name)
            .await?
            .into_iter()
            .map(|k| k.public_key)
            .collect())
    }

    /// The user's keys with fingerprints, oldest first.
    pub async fn user_key_rows(&self, name: &str) -> Result<Vec<UserKey>, DbError> {
        let rows = sqlx::query(
            "SELECT user_name, public_key, fingerprint, added_at FROM user_keys
             WHERE user_name = $1 ORDER BY added_at, fingerprint",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query(format!("reading keys of user {name:?}")))?;
        rows.iter()
            .map(|r| {
                Ok(UserKey {
                    user_name: get(r, "user_name")?,
                    public_key: get(r, "public_key")?,
                    fingerprint: get(r, "fingerprint")?,
                    added_at: get(r, "added_at")?,
                })
            })
            .collect()
    }

    /// Adds a key to a user. Fails with [`DbError::Conflict`] if the user has it already.
    pub async fn user_key_add(&self, key: &UserKey) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO user_keys (user_name, public_key, fingerprint, added_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.user_name)
        .bind(&key.public_key)
        .bind(&key.fingerprint)
        .bind(key.added_at)
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!(
                "user {:?} already has key {}",
                key.user_name, key.fingerprint
            ),
            format!("adding a key to user {:?}", key.user_name),
        ))?;
        Ok(())
    }
}

impl Db {
    /// Disables (with `reason`) or enables `name`; disabling also cuts the account off at
    /// `now`. False when there is no such user.
    pub async fn user_set_disabled(
        &self,
        name: &str,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<bool, DbError> {
        let done = match reason {
            Some(reason) => sqlx::query(
                "UPDATE users SET disabled = 1, disabled_reason = $1, cut_off_at = $2 WHERE name = $3",
            )
            .bind(reason)
            .bind(now)
            .bind(name),
            None => sqlx::query(
                "UPDATE users SET disabled = 0, disabled_reason = NULL WHERE name = $1",
            )
            .bind(name),
        }
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("disabling or enabling user {name:?}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives `name` the one role `role` and cuts it off at `now` (what it had open was
    /// opened under the old role). False when there is no such user.
    pub async fn user_set_role(
        &self,
        name: &str,
        role: Role,
        now: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE users SET role = $1, cut_off_at = $2 WHERE name = $3")
            .bind(role.as_str())
            .bind(now)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(DbError::query(format!(
                "changing the role of user {name:?}"
            )))?;
        Ok(done.rows_affected() > 0)
    }

    /// Cuts `name` off at `now`: its web logins and live sessions begun before end on every
    /// node. False when there is no such user.
    pub async fn user_cut_off(&self, name: &str, now: Millis) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE users SET cut_off_at = $1 WHERE name = $2")
            .bind(now)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(DbError::query(format!("cutting off user {name:?}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes `name` at `now`, keeping its row (and so its history and its name): disabled
    /// for good with `reason`, cut off, its keys, password and TOTP secret deleted, in one
    /// transaction; how many keys it had. `None` when there is no such account or it was
    /// removed already. Its web logins and API tokens are the caller's to end (a disabled
    /// account's are refused already).
    pub async fn user_remove(
        &self,
        name: &str,
        reason: &str,
        now: Millis,
    ) -> Result<Option<u64>, DbError> {
        let what = format!("removing user {name:?}");
        let mut tx = self.pool.begin().await.map_err(DbError::query(&what))?;
        let marked = sqlx::query(
            "UPDATE users SET disabled = 1, disabled_reason = $1, cut_off_at = $2, removed_at = $2,
                 password_hash = NULL, password_set_at = NULL,
                 totp_secret = NULL, totp_enrolled_at = NULL
             WHERE name = $3 AND removed_at IS NULL",
        )
        .bind(reason)
        .bind(now)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(DbError::query(&what))?;
        if marked.rows_affected() == 0 {
            return Ok(None);
        }
        let keys = sqlx::query("DELETE FROM user_keys WHERE user_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(DbError::query(&what))?
            .rows_affected();
        tx.commit().await.map_err(DbError::query(&what))?;
        Ok(Some(keys))
    }

    /// Removes one of `name`'s keys by fingerprint. False when it has no such key.
    pub async fn user_key_remove(&self, name: &str, fingerprint: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM user_keys WHERE user_name = $1 AND fingerprint = $2")
            .bind(name)
            .bind(fingerprint)
            .execute(&self.pool)
            .await
            .map_err(DbError::query(format!("removing a key of user {name:?}")))?;
        Ok(done.rows_affected() > 0)
    }
}

pub(super) fn user_from_row(r: &AnyRow) -> Result<User, DbError> {
    let role: String = get(r, "role")?;
    let disabled: i64 = get(r, "disabled")?;
    Ok(User {
        name: get(r, "name")?,
        role: role
            .parse()
            .map_err(|_| DbError::Invalid(format!("unknown role {role:?}")))?,
        disabled: disabled != 0,
        disabled_reason: get(r, "disabled_reason")?,
        cut_off_at: get(r, "cut_off_at")?,
        removed_at: get(r, "removed_at")?,
        created_at: get(r, "created_at")?,
    })
}
