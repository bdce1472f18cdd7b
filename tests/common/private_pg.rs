//! A PostgreSQL server of the test's own, to stop, kill and freeze: the shared one at
//! `MENWEI_TEST_PG_URL` serves every other test at once and must never go down.
//!
//! `initdb` in a tempdir and `pg_ctl` on a free loopback port, its socket in the same
//! tempdir; trust authentication (loopback only, for the test's lifetime). Run as the
//! `postgres` user when the tests run as root (PostgreSQL refuses to run as root). `Drop`
//! wakes a frozen server and stops it at once, then removes its files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{free_port, run, signal, wait_until, Out, Stdin};

/// A private PostgreSQL cluster on `127.0.0.1:port`.
pub struct PrivatePostgres {
    dir: TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    frozen: bool,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries are missing (/usr/lib/postgresql); run scripts/setup")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin; run scripts/setup")
}

fn is_root() -> bool {
    let out = run(
        {
            let mut c = Command::new("id");
            c.arg("-u");
            c
        },
        Stdin::Null,
        Duration::from_secs(10),
    );
    out.stdout_text().trim() == "0"
}

impl PrivatePostgres {
    /// A new cluster, started.
    pub fn start() -> PrivatePostgres {
        let dir = tempfile::Builder::new()
            .prefix("menwei-pg-")
            .tempdir()
            .unwrap();
        if is_root() {
            let out = run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(dir.path());
                    c
                },
                Stdin::Null,
                Duration::from_secs(10),
            );
            assert!(out.success(), "chown of the cluster dir failed:\n{out}");
        }
        let pg = PrivatePostgres {
            bin: pg_bin(),
            port: free_port("127.0.0.1"),
            dir,
            frozen: false,
        };
        let out = pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "--auth=trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            Duration::from_secs(120),
        );
        assert!(out.success(), "initdb failed:\n{out}");
        pg.start_server();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn as_postgres(&self, tool: &str, args: &[&str], timeout: Duration) -> Out {
        let exe = self.bin.join(tool);
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.args(args).current_dir(self.dir.path());
        run(c, Stdin::Null, timeout)
    }

    fn pg_ctl(&self, args: &[&str]) -> Out {
        let data = self.data().display().to_string();
        let mut all = vec!["-D", data.as_str(), "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.as_postgres("pg_ctl", &all, Duration::from_secs(90))
    }

    fn start_server(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.socket_dir().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let out = self.pg_ctl(&["-o", &opts, "-l", &log, "start"]);
        assert!(
            out.success(),
            "pg_ctl start failed:\n{out}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Starts the server again after [`PrivatePostgres::stop`] or [`PrivatePostgres::kill`].
    pub fn restart(&mut self) {
        self.start_server();
    }

    /// Stops the server (`pg_ctl stop -m fast`: connections are closed, new ones refused).
    pub fn stop(&mut self) {
        let out = self.pg_ctl(&["stop", "-m", "fast"]);
        assert!(out.success(), "pg_ctl stop failed:\n{out}");
    }

    /// Stops the server at once (`-m immediate`, like a crash).
    pub fn kill(&mut self) {
        let out = self.pg_ctl(&["stop", "-m", "immediate"]);
        assert!(out.success(), "pg_ctl stop -m immediate failed:\n{out}");
    }

    /// The postmaster's pid and every backend's (its children).
    fn pids(&self) -> Vec<u32> {
        let pidfile = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .expect("the server is not running (no postmaster.pid)");
        let main: u32 = pidfile.lines().next().unwrap().trim().parse().unwrap();
        let mut pids = vec![main];
        let out = run(
            {
                let mut c = Command::new("pgrep");
                c.arg("-P").arg(main.to_string());
                c
            },
            Stdin::Null,
            Duration::from_secs(10),
        );
        pids.extend(
            out.stdout_text()
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok()),
        );
        pids
    }

    /// Freezes the server and every backend (SIGSTOP): connections stay open and nothing
    /// answers, as a hung server.
    pub fn sigstop(&mut self) {
        for pid in self.pids() {
            signal(pid, "STOP");
        }
        self.frozen = true;
    }

    /// Wakes a frozen server (SIGCONT).
    pub fn sigcont(&mut self) {
        for pid in self.pids() {
            signal(pid, "CONT");
        }
        self.frozen = false;
    }

    /// Waits until the server accepts connections.
    pub fn wait_ready(&self) {
        let port = self.port.to_string();
        wait_until(
            "the private PostgreSQL to accept connections",
            Duration::from_secs(60),
            || {
                let out = self.as_postgres(
                    "pg_isready",
                    &["-h", "127.0.0.1", "-p", &port],
                    Duration::from_secs(10),
                );
                out.success().then_some(())
            },
        );
    }

    /// Runs SQL as the superuser against database `db`; output unaligned, `|`-separated.
    pub fn sql(&self, db: &str, sql: &str) -> Out {
        crate::database::psql(&self.url(db), sql)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.frozen {
            self.sigcont();
        }
        if self.data().join("postmaster.pid").is_file() {
            let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
        }
    }
}
