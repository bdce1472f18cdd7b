//! Runtime state in the database: users and their keys, targets, grants, sessions, requests
//! and their reviews (`requests.rs`), and the audit log's rows.
//!
//! One [`Db`] handle (cheap to clone) over a sqlx `AnyPool`, so the same queries run on SQLite
//! (the default; the file is created if missing, WAL, busy timeout) and PostgreSQL (several
//! nodes). Queries are portable SQL with `$1, $2, …` placeholders in order; instants are unix
//! milliseconds. This module stores and fetches; it does not decide (that is `policy`) and
//! does not chain audit entries (that is [`crate::audit`]).

mod audit_rows;
mod grants;
mod inspections;
mod lists;
mod login_failures;
mod migrations;
mod nodes;
pub mod notify;
mod pages;
mod requests;
mod retention;
mod sessions;
mod targets;
mod totp;
mod users;
mod web;

use std::time::Duration;

use policy::{Grant, Millis, Role};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use audit_rows::AuditRow;
pub(crate) use audit_rows::{audit_from_row, AUDIT_SELECT};
pub use grants::GrantRecord;
use grants::{grant_from_row, GRANT_SELECT};
pub use inspections::{InspectionRun, RunbookApproval};
pub use lists::{
    AuditFilter, GrantFilter, RequestListFilter, SessionFilter, SessionListRow, AUDIT_SORTS,
    GRANT_SORTS, REQUEST_SORTS, SESSION_SORTS,
};
pub use nodes::NodeRow;
pub use pages::{KeyValue, Page, PageSpec, SortColumn};
pub use requests::{new_id, BreakGlassWrite, NewReview, RequestFilter, RequestRow, ReviewWrite};
pub use sessions::{NewSession, Session};
pub use targets::Target;
pub use users::{User, UserKey};
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
    /// The database gave no answer in time (stopped, refusing connections, or hung).
    #[error("database did not answer within {waited:?} while {what}")]
    NoAnswer {
        /// What was being done.
        what: String,
        /// How long it was given.
        waited: Duration,
    },
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
        move |e| {
            crate::metrics::db_error();
            DbError::Query {
                what,
                message: one_line(&e.to_string()),
            }
        }
    }
}

/// How long a caller who owes someone a prompt answer waits for the database: a login or a
/// session about to open (refused `database_unavailable` after it), a session's end (kept in
/// the [`crate::outbox`] after it), the enforcer's look at a grant. Well inside the 3 s an
/// engineer is promised an answer in, whether the server is stopped, refusing or hung.
pub const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// How long any query waits for a pooled connection (the pool's `acquire_timeout`). A
/// stopped server makes sqlx retry its connect until then, so this bounds every caller that
/// does not bound itself with [`within`].
const ACQUIRE_WAIT: Duration = Duration::from_secs(10);

/// `query`, or [`DbError::NoAnswer`] once `wait` has passed without an answer: the bound for
/// callers that must answer a person in time. A query cut short is dropped with its
/// connection; nothing half-done stays in the pool.
pub async fn within<T>(
    wait: Duration,
    what: &str,
    query: impl std::future::Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    tokio::time::timeout(wait, query).await.unwrap_or_else(|_| {
        Err(DbError::NoAnswer {
            what: what.to_string(),
            waited: wait,
        })
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
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
            .acquire_timeout(ACQUIRE_WAIT)
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

    /// Writes a consistent copy of this SQLite database to the new file `to` with
    /// `VACUUM INTO`, while other connections go on writing (for backups).
    pub async fn snapshot_sqlite(&self, to: &std::path::Path) -> Result<(), DbError> {
        let to = to.to_str().ok_or_else(|| DbError::Query {
            what: "writing a snapshot".to_string(),
            message: "the snapshot path is not UTF-8".to_string(),
        })?;
        sqlx::query(&format!("VACUUM INTO '{}'", to.replace('\'', "''")))
            .execute(&self.pool)
            .await
            .map_err(DbError::query("writing a snapshot (VACUUM INTO)"))?;
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

fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T, DbError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col)
        .map_err(|e| DbError::Invalid(format!("column {col}: {}", one_line(&e.to_string()))))
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
        let names = |v: Vec<User>| {
            let mut n: Vec<String> = v.into_iter().map(|u| u.name).collect();
            n.sort();
            n
        };
        let asked = ["bob".to_string(), "nobody".into(), "alice".into()];
        assert_eq!(
            names(db.users_named(&asked).await.unwrap()),
            ["alice", "bob"]
        );
        assert!(db.users_named(&[]).await.unwrap().is_empty());
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
