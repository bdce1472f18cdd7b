//! The database part of a backup: a consistent snapshot out (SQLite's `VACUUM INTO`, or
//! `pg_dump` of the configured PostgreSQL database in its custom format) and back in
//! (the SQLite file, or `pg_restore`), and a scratch PostgreSQL database for
//! `backup verify`. `pg_dump` and `pg_restore` are taken from the server's own major
//! version (`/usr/lib/postgresql/MAJOR/bin`) when installed, since a `pg_dump` older than
//! the server refuses to dump it. The password never appears on a command line: it is
//! handed over in `PGPASSWORD`. Not the sealing of the snapshot ([`super::seal`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection as _;

use super::BackupError;
use crate::db::Db;

/// Which database a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A SQLite file.
    Sqlite,
    /// A `pg_dump --format=custom` archive.
    Postgres,
}

impl Kind {
    /// Of a database URL.
    pub fn of(url: &str) -> Kind {
        if crate::db::is_sqlite_url(url) {
            Kind::Sqlite
        } else {
            Kind::Postgres
        }
    }

    /// Its name in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }

    /// The member holding the snapshot.
    pub fn member(self) -> &'static str {
        match self {
            Kind::Sqlite => "database.sqlite.sealed",
            Kind::Postgres => "database.pgdump.sealed",
        }
    }
}

/// The file of a `sqlite://FILE` URL.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let file = rest.split('?').next().unwrap_or(rest);
    (file != ":memory:" && !file.is_empty()).then(|| PathBuf::from(file))
}

/// Writes a consistent snapshot of the database at `url` (open as `db`) to the new file `to`.
pub async fn snapshot(db: &Db, url: &str, to: &Path) -> Result<(), BackupError> {
    match Kind::of(url) {
        Kind::Sqlite => Ok(db.snapshot_sqlite(to).await?),
        Kind::Postgres => {
            let tool = pg_tool("pg_dump", url).await;
            let mut c = pg_command(&tool, url);
            c.arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(to);
            run(c, "pg_dump").await
        }
    }
}

/// Loads a `pg_dump` archive into the PostgreSQL database at `url`; with `clean`, what is
/// there is dropped first.
pub async fn pg_restore(url: &str, dump: &Path, clean: bool) -> Result<(), BackupError> {
    let tool = pg_tool("pg_restore", url).await;
    let mut c = pg_command(&tool, url);
    c.arg("--no-owner").arg("--exit-on-error");
    if clean {
        c.arg("--clean").arg("--if-exists");
    }
    c.arg(dump);
    run(c, "pg_restore").await
}

/// How many tables the PostgreSQL database at `url` has in its `public` schema.
pub async fn pg_tables(url: &str) -> Result<i64, BackupError> {
    let mut c = connect(url).await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut c)
    .await
    .map_err(|e| BackupError::Database(format!("cannot count tables: {e}")))?;
    let _ = c.close().await;
    Ok(n)
}

/// A new empty database on the server of `url`, for verifying a backup; its URL and name.
pub async fn create_scratch(url: &str) -> Result<(String, String), BackupError> {
    let name = format!(
        "menwei_backup_verify_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let mut c = connect(url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .map_err(|e| {
            BackupError::Database(format!(
                "cannot create a scratch database to verify into (the role needs CREATEDB): {}",
                e.to_string().replace('\n', " ")
            ))
        })?;
    let _ = c.close().await;
    Ok((with_database(url, &name), name))
}

/// Drops the scratch database `name` made by [`create_scratch`].
pub async fn drop_scratch(url: &str, name: &str) {
    if let Ok(mut c) = connect(url).await {
        if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await
        {
            tracing::warn!(database = name, error = %e, "cannot drop the scratch database");
        }
        let _ = c.close().await;
    }
}

async fn connect(url: &str) -> Result<sqlx::AnyConnection, BackupError> {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.map_err(|e| {
        BackupError::Database(format!(
            "cannot connect to {}: {}",
            crate::db::redact_url(url),
            e.to_string().replace('\n', " ")
        ))
    })
}

/// `pg_dump`/`pg_restore` of the server's major version if installed, else from `PATH`.
async fn pg_tool(name: &str, url: &str) -> PathBuf {
    let major = async {
        let mut c = connect(url).await.ok()?;
        let v: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
            .fetch_one(&mut c)
            .await
            .ok()?;
        let _ = c.close().await;
        v.trim().parse::<u32>().ok().map(|n| n / 10000)
    }
    .await;
    if let Some(major) = major {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin/{name}"));
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// The tool with `--dbname` = the URL without its password, which goes in `PGPASSWORD`.
fn pg_command(tool: &Path, url: &str) -> Command {
    let (url, password) = split_password(url);
    let mut c = Command::new(tool);
    c.arg("--dbname").arg(url);
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    c
}

async fn run(mut c: Command, what: &str) -> Result<(), BackupError> {
    let out = tokio::task::spawn_blocking(move || c.output())
        .await
        .map_err(|e| BackupError::Database(format!("{what}: {e}")))?
        .map_err(|e| BackupError::Database(format!("cannot run {what}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message");
    Err(BackupError::Database(format!(
        "{what} failed ({}): {}",
        out.status,
        line.trim()
    )))
}

/// `postgres://user:password@host/db` → (`postgres://user@host/db`, the decoded password).
pub fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let (head, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_string(), None);
    };
    (
        format!("{head}{user}@{host}{tail}"),
        Some(percent_decode(password)),
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` naming database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let (head, rest) = base.split_at(after_scheme);
    let host = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{head}{host}/{name}?{q}"),
        None => format!("{head}{host}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://menwei:p%40ss@127.0.0.1:5432/db?sslmode=disable"),
            (
                "postgres://menwei@127.0.0.1:5432/db?sslmode=disable".to_string(),
                Some("p@ss".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://h/db"),
            ("postgres://h/db".to_string(), None)
        );
        assert_eq!(
            with_database("postgres://u:p@h:5432/db?x=1", "other"),
            "postgres://u:p@h:5432/other?x=1"
        );
    }
}
