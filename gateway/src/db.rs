//! Runtime state in the database: users and their keys, targets, grants, sessions, requests
//! and their reviews (`requests.rs`), and the audit log's rows.
//!
//! One [`Db`] handle (cheap to clone) over a sqlx `AnyPool`, so the same queries run on SQLite
//! (the default; the file is created if missing, WAL, busy timeout) and PostgreSQL (several
//! nodes). Queries are portable SQL with `$1, $2, …` placeholders in order; instants are unix
//! milliseconds. This module stores and fetches; it does not decide (that is `policy`) and
//! does not chain audit entries (that is [`crate::audit`]).

mod migrations;
pub mod notify;
mod requests;
mod totp;
mod web;

use std::time::Duration;

use policy::{Grant, Millis, Role};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use requests::{new_id, BreakGlassWrite, NewReview, RequestFilter, RequestRow, ReviewWrite};
pub use web::{ApiToken, Change, WebSession};

/// A database failure, in one line, naming what was being done; never carries secrets.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be opened.
    #[error("cannot open database {url}: {message}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// The cause.
        message: String,
    },
    /// A migration failed.
    #[error("database migration {version} ({name}) failed: {message}")]
    Migrate {
        /// Its version.
        version: i64,
        /// What it does.
        name: &'static str,
        /// The cause.
        message: String,
    },
    /// The database was migrated by a newer menwei.
    #[error(
        "database schema version {found} is newer than this menwei knows ({known}); upgrade menwei"
    )]
    TooNew {
        /// Version in the database.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// A query failed.
    #[error("database error while {what}: {message}")]
    Query {
        /// What was being done.
        what: String,
        /// The cause.
        message: String,
    },
    /// The row already exists (unique key).
    #[error("{0}")]
    Conflict(String),
    /// A stored value makes no sense (e.g. an unknown role).
    #[error("database holds an invalid value: {0}")]
    Invalid(String),
}

impl DbError {
    /// For an INSERT: a unique violation is a [`DbError::Conflict`] saying `conflict`, any
    /// other failure a query error while `what`.
    fn insert(conflict: String, what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> DbError {
        let what = what.into();
        move |e| {
            if is_unique_violation(&e) {
                DbError::Conflict(conflict)
            } else {
                DbError::query(what)(e)
            }
        }
    }

    fn query(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> DbError {
        let what = what.into();
        move |e| DbError::Query {
            what,
            message: one_line(&e.to_string()),
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Its one role.
    pub role: Role,
    /// Disabled accounts cannot log in, grant or be granted.
    pub disabled: bool,
    /// When it was created.
    pub created_at: Millis,
}

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

/// One row of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Instant.
    pub at: Millis,
    /// Node that wrote it.
    pub node: String,
    /// Who acted.
    pub actor: String,
    /// What happened (`grant.create`, …).
    pub action: String,
    /// What it happened to.
    pub subject: String,
    /// JSON text.
    pub detail: String,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// Hash of this row.
    pub hash: String,
}

/// The handle to the database. Clone freely.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    postgres: bool,
}

/// Removes the password from a database URL for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Whether `url` points at SQLite.
pub fn is_sqlite_url(url: &str) -> bool {
    url.starts_with("sqlite:")
}

impl Db {
    /// Opens the database at `url` (`sqlite://FILE` or `postgres://…`) and brings its schema
    /// up to date.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let connect_err = |e: sqlx::Error| DbError::Connect {
            url: redact_url(url),
            message: one_line(&e.to_string()),
        };
        let mut full = url.to_string();
        if is_sqlite_url(url) && !url.contains("mode=") {
            full.push(if url.contains('?') { '&' } else { '?' });
            full.push_str("mode=rwc");
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if postgres { 10 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if !postgres {
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&full)
            .await
            .map_err(connect_err)?;
        let db = Db { pool, postgres };
        db.migrate().await?;
        Ok(db)
    }

    /// Whether this is PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Applies the migrations not yet applied; running it again changes nothing.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(DbError::query("acquiring a connection for migrations"))?;
        // Several nodes may start at once against one PostgreSQL: take turns.
        if self.postgres {
            sqlx::query("SELECT pg_advisory_lock(7340001)")
                .execute(&mut *conn)
                .await
                .map_err(DbError::query("locking for migrations"))?;
        }
        let result = apply_migrations(&mut conn).await;
        if self.postgres {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock(7340001)")
                .execute(&mut *conn)
                .await
                .map_err(DbError::query("unlocking after migrations"));
            result?;
            unlocked?;
            return Ok(());
        }
        result
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(DbError::query("pinging the database"))?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests that tamper with rows.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    // ---- users ----

    /// The user called `name`.
    pub async fn user(&self, name: &str) -> Result<Option<User>, DbError> {
        let row = sqlx::query("SELECT name, role, disabled, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query(format!("reading user {name:?}")))?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    /// All users, by name.
    pub async fn users(&self) -> Result<Vec<User>, DbError> {
        let rows = sqlx::query("SELECT name, role, disabled, created_at FROM users ORDER BY name")
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

    // ---- targets ----

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

    // ---- grants ----

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

    // ---- sessions ----

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
        sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(ended_at)
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("recording end of session {id:?}")))?;
        Ok(())
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

    // ---- audit rows (chaining is crate::audit's job) ----

    /// The newest audit row's seq and hash.
    pub async fn audit_last(&self) -> Result<Option<(i64, String)>, DbError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query("reading the newest audit entry"))?;
        row.map(|r| Ok((get(&r, "seq")?, get(&r, "hash")?)))
            .transpose()
    }

    /// Inserts an audit row; [`DbError::Conflict`] if its seq is taken (another writer won).
    pub async fn audit_insert(&self, r: &AuditRow) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO audit_log (seq, at, node, actor, action, subject, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(r.seq)
        .bind(r.at)
        .bind(&r.node)
        .bind(&r.actor)
        .bind(&r.action)
        .bind(&r.subject)
        .bind(&r.detail)
        .bind(&r.prev_hash)
        .bind(&r.hash)
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!("audit seq {} is taken", r.seq),
            "appending to the audit log",
        ))?;
        Ok(())
    }

    /// Moves the audit head forward to (seq, hash) unless it is already there or further.
    pub async fn audit_head_advance(&self, seq: i64, hash: &str) -> Result<(), DbError> {
        let what = "advancing the audit head";
        let done =
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq < $3")
                .bind(seq)
                .bind(hash)
                .bind(seq)
                .execute(&self.pool)
                .await
                .map_err(DbError::query(what))?;
        if done.rows_affected() == 0 {
            let r = sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)")
                .bind(seq)
                .bind(hash)
                .execute(&self.pool)
                .await;
            match r {
                Ok(_) => {}
                // The head exists and is already at or past seq.
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(DbError::query(what)(e)),
            }
        }
        Ok(())
    }

    /// The audit head: the newest (seq, hash) any writer recorded.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>, DbError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query("reading the audit head"))?;
        row.map(|r| Ok((get(&r, "seq")?, get(&r, "hash")?)))
            .transpose()
    }

    /// Audit rows with seq > `after_seq`, oldest first, at most `limit`.
    pub async fn audit_rows(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>, DbError> {
        let rows = sqlx::query(&format!(
            "{AUDIT_SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("reading the audit log"))?;
        rows.iter().map(audit_from_row).collect()
    }
}

async fn apply_migrations(conn: &mut sqlx::pool::PoolConnection<sqlx::Any>) -> Result<(), DbError> {
    use migrations::{BOOKKEEPING, MIGRATIONS};
    use sqlx::Connection as _;
    sqlx::query(BOOKKEEPING)
        .execute(&mut **conn)
        .await
        .map_err(DbError::query("creating schema_migrations"))?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&mut **conn)
        .await
        .map_err(DbError::query("reading schema_migrations"))?
        .iter()
        .map(|r| get::<i64>(r, "version"))
        .collect::<Result<_, _>>()?;
    let known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(&found) = applied.iter().max() {
        if found > known {
            return Err(DbError::TooNew { found, known });
        }
    }
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let fail = |e: sqlx::Error| DbError::Migrate {
            version: m.version,
            name: m.name,
            message: one_line(&e.to_string()),
        };
        let mut tx = conn.begin().await.map_err(fail)?;
        for statement in m.statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(m.version)
            .bind(crate::time::now_ms())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
    }
    Ok(())
}

const TARGET_SELECT: &str = "SELECT name, address, login, description, host_key, \
    host_key_fingerprint, password_enc, created_at FROM targets";
const GRANT_SELECT: &str = "SELECT id, engineer, target, starts_at, ends_at, revoked_at, \
    revoked_by, reason, granted_by, created_at, request_id, emergency FROM grants";
const SESSION_SELECT: &str = "SELECT id, engineer, target, grant_id, started_at, ended_at, \
    end_reason, recording, node, client_addr FROM sessions";
const AUDIT_SELECT: &str =
    "SELECT seq, at, node, actor, action, subject, detail, prev_hash, hash FROM audit_log";

fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T, DbError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col)
        .map_err(|e| DbError::Invalid(format!("column {col}: {}", one_line(&e.to_string()))))
}

fn user_from_row(r: &AnyRow) -> Result<User, DbError> {
    let role: String = get(r, "role")?;
    let disabled: i64 = get(r, "disabled")?;
    Ok(User {
        name: get(r, "name")?,
        role: role
            .parse()
            .map_err(|_| DbError::Invalid(format!("unknown role {role:?}")))?,
        disabled: disabled != 0,
        created_at: get(r, "created_at")?,
    })
}

fn target_from_row(r: &AnyRow) -> Result<Target, DbError> {
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

fn grant_from_row(r: &AnyRow) -> Result<GrantRecord, DbError> {
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

fn session_from_row(r: &AnyRow) -> Result<Session, DbError> {
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

fn audit_from_row(r: &AnyRow) -> Result<AuditRow, DbError> {
    Ok(AuditRow {
        seq: get(r, "seq")?,
        at: get(r, "at")?,
        node: get(r, "node")?,
        actor: get(r, "actor")?,
        action: get(r, "action")?,
        subject: get(r, "subject")?,
        detail: get(r, "detail")?,
        prev_hash: get(r, "prev_hash")?,
        hash: get(r, "hash")?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh SQLite database in a temporary directory.
    pub(crate) async fn sqlite() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        (dir, db)
    }

    /// A fresh PostgreSQL database on the server the end-to-end tests use:
    /// `MENWEI_TEST_PG_URL` (as `scripts/test` exports it), by default
    /// `postgres://menwei:menwei@127.0.0.1:5432/postgres`. A missing server fails the test
    /// instead of skipping it: a PostgreSQL test that did not run must not count as passed.
    pub(crate) async fn postgres() -> Db {
        let admin_url = std::env::var("MENWEI_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://menwei:menwei@127.0.0.1:5432/postgres".to_string());
        sqlx::any::install_default_drivers();
        let name = format!("menwei_unit_{}", hex::encode(rand::random::<[u8; 6]>()));
        let admin = sqlx::AnyPool::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at MENWEI_TEST_PG_URL ({}): {e}; \
                 run scripts/setup or point MENWEI_TEST_PG_URL at a server",
                    redact_url(&admin_url)
                )
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        Db::connect(&with_database(&admin_url, &name))
            .await
            .unwrap()
    }

    /// `url` with its database (the path) replaced by `name`, query string kept.
    fn with_database(url: &str, name: &str) -> String {
        let (base, query) = url
            .split_once('?')
            .map_or((url, None), |(b, q)| (b, Some(q)));
        let host_start = base.find("://").map_or(0, |i| i + 3);
        let base = match base[host_start..].find('/') {
            Some(i) => &base[..host_start + i],
            None => base,
        };
        match query {
            Some(q) => format!("{base}/{name}?{q}"),
            None => format!("{base}/{name}"),
        }
    }

    #[test]
    fn test_database_urls_keep_server_and_options() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "t1"),
            "postgres://u:p@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }

    async fn exercise(db: &Db) {
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        db.ping().await.unwrap();
        db.user_add("alice", Role::Engineer, 1).await.unwrap();
        db.user_add("bob", Role::Approver, 2).await.unwrap();
        assert!(matches!(
            db.user_add("alice", Role::Admin, 3).await,
            Err(DbError::Conflict(_))
        ));
        let alice = db.user("alice").await.unwrap().unwrap();
        assert_eq!(alice.role, Role::Engineer);
        assert!(!alice.disabled);
        assert_eq!(db.user("nobody").await.unwrap(), None);
        let key = UserKey {
            user_name: "alice".into(),
            public_key: "ssh-ed25519 AAAA alice".into(),
            fingerprint: "SHA256:x".into(),
            added_at: 5,
        };
        db.user_key_add(&key).await.unwrap();
        assert!(matches!(
            db.user_key_add(&key).await,
            Err(DbError::Conflict(_))
        ));
        assert_eq!(
            db.user_keys("alice").await.unwrap(),
            vec!["ssh-ed25519 AAAA alice"]
        );

        let t = Target {
            name: "web01".into(),
            address: "10.0.0.5:22".into(),
            login: "ops".into(),
            description: "web".into(),
            host_key: None,
            host_key_fingerprint: None,
            password_enc: None,
            created_at: 1,
        };
        db.target_add(&t).await.unwrap();
        assert!(matches!(db.target_add(&t).await, Err(DbError::Conflict(_))));
        db.target_pin("web01", "ssh-ed25519 AAAA", "SHA256:y")
            .await
            .unwrap();
        let t2 = db.target("web01").await.unwrap().unwrap();
        assert_eq!(t2.host_key_fingerprint.as_deref(), Some("SHA256:y"));
        assert_eq!(t2.password_enc, None);

        let now = crate::time::now_ms();
        let g = Grant {
            id: "g-1".into(),
            engineer: "alice".into(),
            target: "web01".into(),
            starts_at: now,
            ends_at: now + 3_600_000,
            revoked_at: None,
            reason: "fix".into(),
            granted_by: "bob".into(),
        };
        db.grant_add(&g, now).await.unwrap();
        assert_eq!(db.grants_for("alice").await.unwrap(), vec![g.clone()]);
        assert!(db.grant_revoke("g-1", "bob", now + 1).await.unwrap());
        assert!(!db.grant_revoke("g-1", "bob", now + 2).await.unwrap());
        let rec = db.grant_record("g-1").await.unwrap().unwrap();
        assert_eq!(rec.grant.revoked_at, Some(now + 1));
        assert_eq!(rec.revoked_by.as_deref(), Some("bob"));
        // Self-grants are refused by the schema as well as by policy.
        let mut own = g.clone();
        own.id = "g-2".into();
        own.granted_by = "alice".into();
        assert!(db.grant_add(&own, now).await.is_err());

        let s = NewSession {
            id: "s-1".into(),
            engineer: "alice".into(),
            target: "web01".into(),
            grant_id: "g-1".into(),
            started_at: now,
            recording: "s-1.mwrec".into(),
            node: "gw1".into(),
            client_addr: "127.0.0.1:50000".into(),
        };
        db.session_start(&s).await.unwrap();
        assert_eq!(db.sessions_open_on("gw1").await.unwrap().len(), 1);
        db.session_end("s-1", now + 5, "revoked").await.unwrap();
        db.session_end("s-1", now + 9, "later").await.unwrap();
        let got = db.session("s-1").await.unwrap().unwrap();
        assert_eq!(got.ended_at, Some(now + 5));
        assert_eq!(got.end_reason.as_deref(), Some("revoked"));
        assert!(db.sessions_open_on("gw1").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sqlite_migrations_are_idempotent_and_queries_work() {
        let (dir, db) = sqlite().await;
        exercise(&db).await;
        db.close().await;
        // Reopening runs the migrations again and changes nothing.
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        assert_eq!(db.users().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn sqlite_schema_refuses_unknown_roles() {
        let (_dir, db) = sqlite().await;
        let r = sqlx::query("INSERT INTO users (name, role, created_at) VALUES ('x', 'root', 1)")
            .execute(db.pool())
            .await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn postgres_migrations_are_idempotent_and_queries_work() {
        let db = postgres().await;
        exercise(&db).await;
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://menwei:secret@127.0.0.1:5432/db"),
            "postgres://menwei:***@127.0.0.1:5432/db"
        );
        assert_eq!(redact_url("sqlite:///x/y.db"), "sqlite:///x/y.db");
    }
}
