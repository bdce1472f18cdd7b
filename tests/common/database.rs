//! The database a test's gateway uses: SQLite in its data dir, or a fresh PostgreSQL
//! database created for the test and dropped afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{run, Out, Stdin};
use crate::SHORT;

/// Which database the gateway under test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    /// `menwei init`'s default: `sqlite://DIR/menwei.db`.
    Sqlite,
    /// A database of its own on the server at `MENWEI_TEST_PG_URL`.
    Postgres,
}

/// One test's database; a PostgreSQL one is dropped on `Drop`.
pub struct Database {
    kind: Db,
    /// `--database-url` for `menwei init`; `None` for the SQLite default.
    url: Option<String>,
    /// The maintenance URL the database was created from (PostgreSQL).
    admin_url: String,
    name: String,
    sqlite_file: Option<PathBuf>,
    /// Whether dropping this drops the PostgreSQL database (false for a second node's view).
    owned: bool,
}

/// Where the tests' PostgreSQL server is; `.ci/run` creates the role.
pub fn pg_admin_url() -> String {
    std::env::var("MENWEI_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://menwei:menwei@127.0.0.1:5432/postgres".to_string())
}

fn with_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // postgres://user:pass@host:port/dbname: replace (or add) the path.
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs `sql` with `psql` against `url`; output unaligned, `|`-separated.
pub(crate) fn psql(url: &str, sql: &str) -> Out {
    let mut c = Command::new("psql");
    c.args([
        url,
        "-v",
        "ON_ERROR_STOP=1",
        "-X",
        "-q",
        "-t",
        "-A",
        "-c",
        sql,
    ]);
    run(c, Stdin::Null, SHORT)
}

impl Database {
    /// Prepares a database of kind `kind` for a gateway whose data dir is `data_dir`.
    pub fn create(kind: Db, data_dir: &Path) -> Database {
        match kind {
            Db::Sqlite => Database {
                kind,
                url: None,
                admin_url: String::new(),
                name: String::new(),
                sqlite_file: Some(data_dir.join("menwei.db")),
                owned: true,
            },
            Db::Postgres => {
                let admin_url = pg_admin_url();
                let name = format!(
                    "menwei_e2e_{}_{:08x}",
                    std::process::id(),
                    rand::random::<u32>()
                );
                let out = psql(&admin_url, &format!("CREATE DATABASE {name}"));
                assert!(
                    out.success(),
                    "cannot create a PostgreSQL database at MENWEI_TEST_PG_URL={admin_url} \
                     (run .ci/run, or start PostgreSQL and create role menwei):\n{out}"
                );
                Database {
                    kind,
                    url: Some(with_db_name(&admin_url, &name)),
                    admin_url,
                    name,
                    sqlite_file: None,
                    owned: true,
                }
            }
        }
    }

    /// The same PostgreSQL database, for a second gateway node; dropping it leaves the
    /// database to the first.
    pub fn shared(&self) -> Database {
        assert_eq!(
            self.kind,
            Db::Postgres,
            "nodes share a PostgreSQL database, not SQLite"
        );
        Database {
            kind: self.kind,
            url: self.url.clone(),
            admin_url: self.admin_url.clone(),
            name: self.name.clone(),
            sqlite_file: None,
            owned: false,
        }
    }

    /// A PostgreSQL database at `url` that the test manages itself (a
    /// [`crate::PrivatePostgres`]'s); not dropped.
    pub fn external(url: &str) -> Database {
        Database {
            kind: Db::Postgres,
            url: Some(url.to_string()),
            admin_url: String::new(),
            name: String::new(),
            sqlite_file: None,
            owned: false,
        }
    }

    /// Which kind.
    pub fn kind(&self) -> Db {
        self.kind
    }

    /// The `--database-url` to pass to `menwei init`, if not the default.
    pub fn init_url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Runs SQL against the gateway's database directly (behind the product's back), the
    /// way an attacker with database access would. Output is unaligned, `|`-separated.
    pub fn sql(&self, sql: &str) -> Out {
        match self.kind {
            Db::Sqlite => {
                let file = self.sqlite_file.as_ref().unwrap();
                let mut c = Command::new("sqlite3");
                c.arg("-batch").arg(file).arg(sql);
                run(c, Stdin::Null, SHORT)
            }
            Db::Postgres => psql(self.url.as_ref().unwrap(), sql),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if self.kind == Db::Postgres && self.owned {
            let _ = psql(
                &self.admin_url,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}
