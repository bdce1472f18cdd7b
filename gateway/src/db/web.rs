//! The web side's rows: users' password hashes, web logins (`web_sessions`, one per JWT
//! `jti`), API tokens (stored as SHA-256 of the secret), approvers' session stops, and the
//! narrow reads the web side polls (what changed since an instant, audit entries in a
//! period). Stores and fetches only: hashing passwords and checking tokens is
//! [`crate::web::auth`]'s.

use policy::Millis;
use sqlx::any::AnyRow;

use super::{audit_from_row, get, AuditRow, Db, DbError, AUDIT_SELECT};

/// One web login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The JWT id.
    pub jti: String,
    /// Who logged in.
    pub user_name: String,
    /// The double-submit CSRF token of this login.
    pub csrf: String,
    /// When.
    pub created_at: Millis,
    /// When it ends unless renewed.
    pub expires_at: Millis,
    /// When it was ended (logout, admin), if it was.
    pub revoked_at: Option<Millis>,
}

/// One API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// `t-…`.
    pub id: String,
    /// The account it acts as.
    pub user_name: String,
    /// SHA-256 of the secret, hex.
    pub token_hash: String,
    /// When it was issued.
    pub created_at: Millis,
    /// Who issued it.
    pub created_by: String,
    /// When it stops working, if ever.
    pub expires_at: Option<Millis>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
    /// Last use.
    pub last_used_at: Option<Millis>,
}

/// Something the live page may want to hear about, as read from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `request`, `decision`, `session` or `grant`.
    pub kind: &'static str,
    /// The row's id.
    pub id: String,
    /// The engineer it concerns.
    pub engineer: String,
    /// Its state now (`pending`, `approved`, `live`, `ended`, `revoked`, …).
    pub state: String,
    /// When the change happened.
    pub at: Millis,
}

const TOKEN_SELECT: &str = "SELECT id, user_name, token_hash, created_at, created_by, \
    expires_at, revoked_at, last_used_at FROM api_tokens";

impl Db {
    /// Sets `name`'s web password hash. False when there is no such user.
    pub async fn password_set(&self, name: &str, hash: &str, now: Millis) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, password_set_at = $2 WHERE name = $3",
        )
        .bind(hash)
        .bind(now)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("setting the password of {name:?}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends every live web login of `name` at `at` (logout everywhere, a password change);
    /// how many were live.
    pub async fn web_sessions_revoke_user(&self, name: &str, at: Millis) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE web_sessions SET revoked_at = $1 WHERE user_name = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("ending the web logins of {name:?}")))?;
        Ok(done.rows_affected())
    }

    /// `name`'s web password hash, if one is set.
    pub async fn password_hash(&self, name: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query(
            "SELECT password_hash FROM users WHERE name = $1 AND password_hash IS NOT NULL",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(DbError::query(format!("reading the password of {name:?}")))?;
        row.map(|r| get(&r, "password_hash")).transpose()
    }

    /// Stores a new web login.
    pub async fn web_session_add(
        &self,
        s: &WebSession,
        client_addr: Option<&str>,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO web_sessions (jti, user_name, csrf, created_at, expires_at, client_addr)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.jti)
        .bind(&s.user_name)
        .bind(&s.csrf)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(client_addr)
        .execute(&self.pool)
        .await
        .map_err(DbError::query("storing a web login"))?;
        Ok(())
    }

    /// The web login `jti`.
    pub async fn web_session(&self, jti: &str) -> Result<Option<WebSession>, DbError> {
        let row = sqlx::query(
            "SELECT jti, user_name, csrf, created_at, expires_at, revoked_at
             FROM web_sessions WHERE jti = $1",
        )
        .bind(jti)
        .fetch_optional(&self.pool)
        .await
        .map_err(DbError::query("reading a web login"))?;
        row.map(|r| {
            Ok(WebSession {
                jti: get(&r, "jti")?,
                user_name: get(&r, "user_name")?,
                csrf: get(&r, "csrf")?,
                created_at: get(&r, "created_at")?,
                expires_at: get(&r, "expires_at")?,
                revoked_at: get(&r, "revoked_at")?,
            })
        })
        .transpose()
    }

    /// Moves a live web login's end to `expires_at`.
    pub async fn web_session_renew(&self, jti: &str, expires_at: Millis) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE web_sessions SET expires_at = $1 WHERE jti = $2 AND revoked_at IS NULL",
        )
        .bind(expires_at)
        .bind(jti)
        .execute(&self.pool)
        .await
        .map_err(DbError::query("renewing a web login"))?;
        Ok(())
    }

    /// Ends a web login. False when it was already ended or never existed.
    pub async fn web_session_revoke(&self, jti: &str, at: Millis) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE web_sessions SET revoked_at = $1 WHERE jti = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(jti)
        .execute(&self.pool)
        .await
        .map_err(DbError::query("ending a web login"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a new API token.
    pub async fn token_add(&self, t: &ApiToken) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_name, token_hash, created_at, created_by, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.id)
        .bind(&t.user_name)
        .bind(&t.token_hash)
        .bind(t.created_at)
        .bind(&t.created_by)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!("token {} already exists", t.id),
            "storing an API token",
        ))?;
        Ok(())
    }

    /// The token whose secret hashes to `hash`.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, DbError> {
        let row = sqlx::query(&format!("{TOKEN_SELECT} WHERE token_hash = $1"))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query("reading an API token"))?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    /// The token `id` (a stream opened with it looks at it again, `web::auth::login_ended`).
    pub async fn token(&self, id: &str) -> Result<Option<ApiToken>, DbError> {
        let row = sqlx::query(&format!("{TOKEN_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query("reading an API token"))?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<ApiToken>, DbError> {
        let rows = sqlx::query(&format!("{TOKEN_SELECT} ORDER BY created_at DESC, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing API tokens"))?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes token `id`. False when unknown or already revoked.
    pub async fn token_revoke(&self, id: &str, at: Millis) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query("revoking an API token"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes every live API token of `name` at `at` (the account disabled); how many.
    pub async fn tokens_revoke_user(&self, name: &str, at: Millis) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_name = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "revoking the API tokens of {name:?}"
        )))?;
        Ok(done.rows_affected())
    }

    /// Notes that token `id` was used at `at`.
    pub async fn token_used(&self, id: &str, at: Millis) -> Result<(), DbError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(DbError::query("noting an API token's use"))?;
        Ok(())
    }

    /// Asks whichever node holds session `id` to end it. False when already asked.
    pub async fn session_stop(&self, id: &str, by: &str, at: Millis) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO session_stops (session_id, stopped_by, at) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(by)
        .bind(at)
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if super::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(DbError::query("asking to end a session")(e)),
        }
    }

    /// Sessions asked to end (session id, by whom), for the enforcer of the node holding them.
    pub async fn session_stops(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT t.session_id, t.stopped_by FROM session_stops t
             JOIN sessions s ON s.id = t.session_id WHERE s.ended_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("listing sessions asked to end"))?;
        rows.iter()
            .map(|r| Ok((get(r, "session_id")?, get(r, "stopped_by")?)))
            .collect()
    }

    /// Requests filed or decided, sessions started or ended and grants made or revoked at or
    /// after `since`, oldest first.
    pub async fn changes_since(&self, since: Millis) -> Result<Vec<Change>, DbError> {
        let mut out = Vec::new();
        let rows = sqlx::query(
            "SELECT id, engineer, state, filed_at, decided_at FROM requests
             WHERE filed_at >= $1 OR decided_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading changed requests"))?;
        for r in &rows {
            let filed: Millis = get(r, "filed_at")?;
            let decided: Option<Millis> = get(r, "decided_at")?;
            let id: String = get(r, "id")?;
            let engineer: String = get(r, "engineer")?;
            let state: String = get(r, "state")?;
            if filed >= since {
                out.push(Change {
                    kind: "request",
                    id: id.clone(),
                    engineer: engineer.clone(),
                    state: state.clone(),
                    at: filed,
                });
            }
            if let Some(at) = decided.filter(|d| *d >= since) {
                out.push(Change {
                    kind: "decision",
                    id,
                    engineer,
                    state,
                    at,
                });
            }
        }
        let rows = sqlx::query(
            "SELECT id, engineer, started_at, ended_at FROM sessions
             WHERE started_at >= $1 OR ended_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading changed sessions"))?;
        for r in &rows {
            let started: Millis = get(r, "started_at")?;
            let ended: Option<Millis> = get(r, "ended_at")?;
            let (state, at) = match ended {
                Some(e) if e >= since => ("ended", e),
                _ => ("live", started),
            };
            out.push(Change {
                kind: "session",
                id: get(r, "id")?,
                engineer: get(r, "engineer")?,
                state: state.to_string(),
                at,
            });
        }
        let rows = sqlx::query(
            "SELECT id, engineer, created_at, revoked_at FROM grants
             WHERE created_at >= $1 OR revoked_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading changed grants"))?;
        for r in &rows {
            let created: Millis = get(r, "created_at")?;
            let revoked: Option<Millis> = get(r, "revoked_at")?;
            let (state, at) = match revoked {
                Some(t) if t >= since => ("revoked", t),
                _ => ("created", created),
            };
            out.push(Change {
                kind: "grant",
                id: get(r, "id")?,
                engineer: get(r, "engineer")?,
                state: state.to_string(),
                at,
            });
        }
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Audit entries with `from <= at < to`, oldest first, at most `limit`.
    pub async fn audit_rows_between(
        &self,
        from: Millis,
        to: Millis,
        limit: i64,
    ) -> Result<Vec<AuditRow>, DbError> {
        let rows = sqlx::query(&format!(
            "{AUDIT_SELECT} WHERE at >= $1 AND at < $2 ORDER BY seq LIMIT $3"
        ))
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading the audit log"))?;
        rows.iter().map(audit_from_row).collect()
    }
}

fn token_from_row(r: &AnyRow) -> Result<ApiToken, DbError> {
    Ok(ApiToken {
        id: get(r, "id")?,
        user_name: get(r, "user_name")?,
        token_hash: get(r, "token_hash")?,
        created_at: get(r, "created_at")?,
        created_by: get(r, "created_by")?,
        expires_at: get(r, "expires_at")?,
        revoked_at: get(r, "revoked_at")?,
        last_used_at: get(r, "last_used_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::sqlite;

    #[tokio::test]
    async fn web_logins_tokens_and_stops_round_trip() {
        let (_d, db) = sqlite().await;
        db.user_add("olga", policy::Role::Approver, 1)
            .await
            .unwrap();
        assert!(db.password_set("olga", "$argon2id$x", 2).await.unwrap());
        assert!(!db.password_set("nobody", "$argon2id$x", 2).await.unwrap());
        assert_eq!(
            db.password_hash("olga").await.unwrap().as_deref(),
            Some("$argon2id$x")
        );
        let s = WebSession {
            jti: "j1".into(),
            user_name: "olga".into(),
            csrf: "c".into(),
            created_at: 10,
            expires_at: 20,
            revoked_at: None,
        };
        db.web_session_add(&s, Some("127.0.0.1:1")).await.unwrap();
        db.web_session_renew("j1", 30).await.unwrap();
        assert_eq!(db.web_session("j1").await.unwrap().unwrap().expires_at, 30);
        assert!(db.web_session_revoke("j1", 40).await.unwrap());
        assert!(!db.web_session_revoke("j1", 41).await.unwrap());
        assert_eq!(
            db.web_session("j1").await.unwrap().unwrap().revoked_at,
            Some(40)
        );
        let t = ApiToken {
            id: "t-1".into(),
            user_name: "olga".into(),
            token_hash: "h".into(),
            created_at: 1,
            created_by: "root".into(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        };
        db.token_add(&t).await.unwrap();
        assert_eq!(db.token_by_hash("h").await.unwrap(), Some(t));
        assert!(db.token_revoke("t-1", 5).await.unwrap());
        assert!(!db.token_revoke("t-1", 6).await.unwrap());
        assert!(db.session_stop("s-1", "olga", 7).await.unwrap());
        assert!(!db.session_stop("s-1", "olga", 8).await.unwrap());
    }
}
