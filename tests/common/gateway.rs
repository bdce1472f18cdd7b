//! The gateway under test: `menwei init` into a tempdir, `menwei serve` as a child on a
//! free port, and the CLI run against the same config.

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::database::{Database, Db};
use crate::engineer::Engineer;
use crate::process::{free_ports, run, wait_until, Out, Spawned, Stdin};
use crate::sshd::Sshd;
use crate::SHORT;

/// The built binary: `MENWEI_BIN`, or `target/debug/menwei` of this workspace.
pub fn menwei_bin() -> PathBuf {
    let p = match std::env::var_os("MENWEI_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("debug/menwei")
        }
    };
    assert!(
        p.is_file(),
        "the menwei binary is missing at {}: run `cargo build -p menwei` first \
         (or set MENWEI_BIN)",
        p.display()
    );
    p
}

/// An HTTPS client that accepts a test gateway's self-signed certificate, with the usual
/// [`SHORT`] timeout, connecting from `source` (an address on 127.0.0.0/8) when given.
pub fn https_client(source: Option<&str>) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(SHORT);
    if let Some(ip) = source {
        b = b.local_address(ip.parse::<std::net::IpAddr>().unwrap());
    }
    b.build().unwrap()
}

/// A gateway with its own data dir, database and port.
pub struct Gateway {
    serve: Option<Spawned>,
    /// `menwei.toml`.
    pub config: PathBuf,
    /// The SSH port engineers connect to on 127.0.0.1.
    pub port: u16,
    /// The HTTPS port (web page and API) on 127.0.0.1.
    pub https_port: u16,
    /// Node name given at init.
    pub node: String,
    /// The database (dropped after the gateway has stopped: field order matters).
    pub db: Database,
    /// The web password [`Gateway::web_cookie`] last set for each user: set again only when
    /// it changes (a change ends the user's other web logins).
    pub(crate) web_passwords: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// TOTP secrets, used steps and API tokens of the accounts ([`crate::proofs`]).
    pub(crate) proofs: std::sync::Mutex<crate::proofs::Proofs>,
    dir: TempDir,
}

impl Gateway {
    /// `menwei init` + `menwei serve`.
    pub fn start(db: Db) -> Gateway {
        let mut g = Gateway::init(db);
        g.serve();
        g
    }

    /// `menwei init` only; call [`Gateway::serve`] to run it.
    pub fn init(db: Db) -> Gateway {
        Gateway::init_on(|data| Database::create(db, data))
    }

    /// `menwei init` on the database `db` makes for the gateway's data dir (e.g.
    /// [`Database::external`]).
    pub fn init_on(db: impl FnOnce(&Path) -> Database) -> Gateway {
        let dir = tempfile::Builder::new()
            .prefix("menwei-gw-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let db = db(&data);
        let [port, https_port] = free_ports("127.0.0.1");
        let node = "e2e-node".to_string();
        let mut c = Command::new(menwei_bin());
        c.arg("init")
            .arg("--data-dir")
            .arg(&data)
            .arg("--ssh-listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--https-listen")
            .arg(format!("127.0.0.1:{https_port}"))
            .arg("--node-name")
            .arg(&node);
        if let Some(url) = db.init_url() {
            c.arg("--database-url").arg(url);
        }
        let out = run(c, Stdin::Null, Duration::from_secs(60));
        assert!(out.success(), "menwei init failed:\n{out}");
        let config = data.join("menwei.toml");
        assert!(
            config.is_file(),
            "menwei init wrote no {}",
            config.display()
        );
        // The default `min_free` (1 GiB) would refuse every test session on a CI machine
        // with less free disk than that; tests of `min_free` set their own.
        let text = fs::read_to_string(&config).unwrap();
        fs::write(
            &config,
            text.replace("min_free = \"1GiB\"", "min_free = \"64MiB\""),
        )
        .unwrap();
        Gateway {
            serve: None,
            config,
            port,
            https_port,
            node,
            db,
            web_passwords: Default::default(),
            proofs: Default::default(),
            dir,
        }
    }

    /// A second node of this gateway, not yet serving: the same keys, configuration and
    /// PostgreSQL database, its own ports, node name and recordings directory.
    pub fn second_node(&self, node: &str) -> Gateway {
        let dir = tempfile::Builder::new()
            .prefix("menwei-gw-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        for entry in fs::read_dir(self.data_dir()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let to = data.join(entry.file_name());
                fs::copy(entry.path(), &to).unwrap();
                let mode = entry.metadata().unwrap().permissions();
                fs::set_permissions(&to, mode).unwrap();
            }
        }
        let recordings = data.join("recordings");
        fs::create_dir(&recordings).unwrap();
        fs::set_permissions(&recordings, fs::Permissions::from_mode(0o700)).unwrap();
        let [port, https_port] = free_ports("127.0.0.1");
        let config = data.join("menwei.toml");
        let text = fs::read_to_string(&config).unwrap();
        let text = text
            .replace(
                &format!("127.0.0.1:{}\"", self.port),
                &format!("127.0.0.1:{port}\""),
            )
            .replace(
                &format!("127.0.0.1:{}\"", self.https_port),
                &format!("127.0.0.1:{https_port}\""),
            )
            .replace(
                &format!("node_name = \"{}\"", self.node),
                &format!("node_name = \"{node}\""),
            );
        fs::write(&config, text).unwrap();
        Gateway {
            serve: None,
            config,
            port,
            https_port,
            node: node.to_string(),
            db: self.db.shared(),
            web_passwords: Default::default(),
            proofs: std::sync::Mutex::new(self.proofs.lock().unwrap().clone()),
            dir,
        }
    }

    /// The data dir given to `menwei init`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// An engineer's `known_hosts` holding this gateway's host key for `[127.0.0.1]:PORT`,
    /// as an engineer who checked the fingerprint once would have it.
    pub fn known_hosts(&self) -> PathBuf {
        let file = self.dir.path().join("known_hosts");
        if !file.is_file() {
            let mut c = Command::new("ssh-keygen");
            c.arg("-y")
                .arg("-f")
                .arg(self.data_dir().join("ssh_host_ed25519_key"));
            let out = run(c, Stdin::Null, SHORT);
            assert!(out.success(), "cannot read the gateway's host key:\n{out}");
            let line = format!("[127.0.0.1]:{} {}", self.port, out.stdout_text().trim());
            fs::write(&file, line + "\n").unwrap();
        }
        file
    }

    /// A scratch directory next to the data dir, removed with the gateway.
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Appends TOML to `menwei.toml` (takes effect at the next `serve`).
    pub fn append_config(&self, toml: &str) {
        let mut s = fs::read_to_string(&self.config).unwrap();
        s.push('\n');
        s.push_str(toml);
        s.push('\n');
        fs::write(&self.config, s).unwrap();
    }

    /// Replaces the line `old` of `menwei.toml` with `new` (takes effect at the next `serve`).
    pub fn replace_config_line(&self, old: &str, new: &str) {
        let s = fs::read_to_string(&self.config).unwrap();
        assert!(
            s.lines().any(|l| l == old),
            "menwei.toml has no line {old:?}:\n{s}"
        );
        let s: Vec<&str> = s.lines().map(|l| if l == old { new } else { l }).collect();
        fs::write(&self.config, s.join("\n") + "\n").unwrap();
    }

    /// Starts `menwei serve` and waits until it listens. A port that another test took
    /// between [`free_ports`] and now is replaced by a new one (the config follows).
    pub fn serve(&mut self) {
        self.serve_under(&[]);
    }

    /// [`Gateway::serve`] with `menwei serve` run by `wrapper` (a program and its arguments
    /// that execs the command it is given, e.g. `prlimit --nofile=256:256 --`); the pid is
    /// still the gateway's.
    pub fn serve_under(&mut self, wrapper: &[&str]) {
        assert!(self.serve.is_none(), "already serving");
        let mut attempts = 0;
        let child = loop {
            let mut c = match wrapper.split_first() {
                None => Command::new(menwei_bin()),
                Some((program, args)) => {
                    let mut c = Command::new(program);
                    c.args(args).arg(menwei_bin());
                    c
                }
            };
            c.arg("serve").arg("--config").arg(&self.config);
            c.env("RUST_BACKTRACE", "1");
            let mut child = Spawned::start(c, Stdin::Null, None);
            child.wait_for(
                "\"listening on ssh://\" on stderr",
                Duration::from_secs(30),
                |_, e| {
                    crate::contains(e, b"listening on ssh://")
                        || crate::contains(e, b"Address already in use")
                },
            );
            if !crate::contains(&child.stderr_now(), b"Address already in use") || attempts == 5 {
                break child;
            }
            attempts += 1;
            child.wait(SHORT);
            self.move_ports();
        };
        let port = self.port;
        let mut child = child;
        let deadline = std::time::Instant::now() + SHORT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            // A gateway that said it listens and then stopped (or never answers) shows why.
            assert!(
                !child.exited() && std::time::Instant::now() < deadline,
                "the gateway does not answer on its SSH port {port}; its stderr:\n{}",
                String::from_utf8_lossy(&child.stderr_now())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.serve = Some(child);
    }

    /// New free ports for SSH and HTTPS, written into `menwei.toml` (listen addresses and
    /// the page's origin) and the engineers' `known_hosts`.
    fn move_ports(&mut self) {
        let [ssh, https] = free_ports("127.0.0.1");
        let text = fs::read_to_string(&self.config)
            .unwrap()
            .replace(
                &format!("127.0.0.1:{}\"", self.port),
                &format!("127.0.0.1:{ssh}\""),
            )
            .replace(
                &format!("127.0.0.1:{}\"", self.https_port),
                &format!("127.0.0.1:{https}\""),
            );
        fs::write(&self.config, text).unwrap();
        self.port = ssh;
        self.https_port = https;
        let _ = fs::remove_file(self.dir.path().join("known_hosts"));
    }

    /// The pid of `menwei serve`.
    pub fn pid(&self) -> u32 {
        self.serve.as_ref().expect("not serving").pid()
    }

    /// Is `menwei serve` running?
    pub fn serving(&mut self) -> bool {
        match self.serve.as_mut() {
            Some(c) => !c.exited(),
            None => false,
        }
    }

    /// SIGTERM, then waits for `serve` to exit; returns its output.
    pub fn stop(&mut self, timeout: Duration) -> Out {
        let mut c = self.serve.take().expect("not serving");
        c.signal("TERM");
        c.wait(timeout)
    }

    /// SIGKILL: the gateway dies without a chance to flush or seal anything.
    pub fn kill9(&mut self) {
        let mut c = self.serve.take().expect("not serving");
        c.signal("KILL");
        c.wait(SHORT);
    }

    /// The serving gateway's log (stderr) so far.
    pub fn log(&self) -> String {
        self.serve
            .as_ref()
            .map(|c| String::from_utf8_lossy(&c.stderr_now()).into_owned())
            .unwrap_or_default()
    }

    /// Runs `menwei --config F ARGS...`.
    pub fn cli(&self, args: &[&str]) -> Out {
        self.cli_with(args, Stdin::Null)
    }

    /// Runs `menwei --config F ARGS...` with stdin.
    pub fn cli_with(&self, args: &[&str], stdin: Stdin) -> Out {
        let mut c = Command::new(menwei_bin());
        c.arg("--config").arg(&self.config).args(args);
        run(c, stdin, Duration::from_secs(60))
    }

    /// `GET /api/v1{path}` with `token` as the bearer, answered within [`SHORT`].
    pub fn api_get(&self, token: &str, path: &str) -> reqwest::blocking::Response {
        self.api_get_within(token, path, SHORT)
    }

    /// [`Gateway::api_get`], answered within `timeout` (a report's PDF takes longer).
    pub fn api_get_within(
        &self,
        token: &str,
        path: &str,
        timeout: Duration,
    ) -> reqwest::blocking::Response {
        https_client(None)
            .get(format!(
                "https://127.0.0.1:{}/api/v1{path}",
                self.https_port
            ))
            .timeout(timeout)
            .bearer_auth(token)
            .send()
            .unwrap()
    }

    /// Runs `menwei --config F ARGS...` with `env` set (an empty value unsets).
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = Command::new(menwei_bin());
        c.arg("--config").arg(&self.config).args(args);
        for (k, v) in env {
            if v.is_empty() {
                c.env_remove(k);
            } else {
                c.env(k, v);
            }
        }
        run(c, Stdin::Null, Duration::from_secs(60))
    }

    /// Runs the CLI, panics unless it exits 0, returns stdout.
    #[track_caller]
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let o = self.cli(args);
        assert!(o.success(), "menwei {} failed:\n{o}", args.join(" "));
        o.stdout_text()
    }

    /// Runs a `... --json` listing and parses it.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut a = args.to_vec();
        a.push("--json");
        let s = self.cli_ok(&a);
        match serde_json::from_str::<Value>(&s) {
            Ok(Value::Array(v)) => v,
            Ok(other) => panic!("menwei {} --json: not an array: {other}", args.join(" ")),
            Err(_) => s
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str(l).unwrap_or_else(|e| {
                        panic!("menwei {} --json: bad JSON {l:?}: {e}", args.join(" "))
                    })
                })
                .collect(),
        }
    }

    /// `menwei session list --json`.
    pub fn sessions(&self) -> Vec<Value> {
        self.json(&["session", "list"])
    }

    /// `menwei grant list --json`.
    pub fn grants(&self) -> Vec<Value> {
        self.json(&["grant", "list"])
    }

    /// `menwei audit export --format jsonl`, parsed.
    #[track_caller]
    pub fn audit(&self) -> Vec<Value> {
        let s = self.cli_ok(&["audit", "export", "--format", "jsonl"]);
        s.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
            .collect()
    }

    /// Waits until the audit log has an event with `action` for which `pred` holds.
    #[track_caller]
    pub fn wait_audit(&self, action: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Vec::new();
        let found = (0..100).find_map(|_| {
            last = self.audit();
            let hit = last
                .iter()
                .find(|e| crate::json_text(e, "action") == action && pred(e))
                .cloned();
            if hit.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            hit
        });
        found.unwrap_or_else(|| {
            let actions: Vec<String> = last
                .iter()
                .map(|e| format!("{} {} {}", json_text_s(e, "action"), json_text_s(e, "actor"), json_text_s(e, "subject")))
                .collect();
            panic!(
                "no audit event {action:?} matching the test's condition after 10 s; the log has:\n  {}",
                actions.join("\n  ")
            )
        })
    }

    /// The most recent session (by start) of `engineer`, waiting for it to appear.
    #[track_caller]
    pub fn last_session(&self, engineer: &str) -> Value {
        wait_until("a session row", Duration::from_secs(10), || {
            self.sessions()
                .into_iter()
                .filter(|s| crate::json_text(s, "engineer") == engineer)
                .max_by_key(|s| crate::json_text(s, "started_at"))
        })
    }

    /// The gateway's client public key line (`menwei client-key`).
    pub fn client_key(&self) -> String {
        let k = self.cli_ok(&["client-key"]);
        let line = k
            .lines()
            .find(|l| l.starts_with("ssh-"))
            .unwrap_or_else(|| panic!("menwei client-key printed no key line: {k:?}"));
        line.to_string()
    }

    /// Adds `name` at `sshd`'s address, installs the gateway's client key on it.
    pub fn add_target(&self, name: &str, sshd: &Sshd, description: &str) {
        sshd.authorize(&self.client_key());
        self.cli_ok(&[
            "target",
            "add",
            name,
            "--address",
            &sshd.address(),
            "--login",
            &sshd.login(),
            "--description",
            description,
        ]);
    }

    /// `menwei target pin NAME`.
    pub fn pin(&self, name: &str) {
        self.cli_ok(&["target", "pin", name]);
    }

    /// Creates `engineer` with the engineer role and their key.
    pub fn add_engineer(&self, e: &Engineer) {
        self.cli_ok(&[
            "user",
            "add",
            &e.name,
            "--role",
            "engineer",
            "--key",
            e.pubkey.to_str().unwrap(),
        ]);
    }

    /// Creates a user with `role` and no key.
    pub fn add_user(&self, name: &str, role: &str) {
        self.cli_ok(&["user", "add", name, "--role", role]);
    }

    /// `menwei grant add` by `bob` (proved by his API token); returns the grant id.
    #[track_caller]
    pub fn grant(&self, engineer: &str, target: &str, duration: &str) -> String {
        let out = self.cli_as_ok(
            "bob",
            &[
                "grant",
                "add",
                "--engineer",
                engineer,
                "--target",
                target,
                "--for",
                duration,
                "--reason",
                "e2e test",
                "--by",
                "bob",
            ],
        );
        let l = crate::lines(&out);
        assert_eq!(
            l.len(),
            1,
            "grant add must print only the id, printed {out:?}"
        );
        l[0].clone()
    }

    /// `menwei grant revoke ID --by bob` (proved by his API token).
    pub fn revoke(&self, id: &str) {
        self.cli_as_ok("bob", &["grant", "revoke", id, "--by", "bob"]);
    }

    /// The recordings directory.
    pub fn recordings_dir(&self) -> PathBuf {
        self.data_dir().join("recordings")
    }

    /// Runs SQL against the database directly.
    pub fn sql(&self, sql: &str) -> Out {
        self.db.sql(sql)
    }
}

fn json_text_s(v: &Value, k: &str) -> String {
    crate::json_text(v, k)
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(120).collect();
            eprintln!("----- menwei serve log (last {} lines) -----", tail.len());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
            if std::env::var_os("MENWEI_E2E_KEEP").is_some() {
                let kept = self.dir.path().to_path_buf();
                eprintln!("keeping {}", kept.display());
                std::mem::forget(std::mem::replace(
                    &mut self.dir,
                    tempfile::tempdir().unwrap(),
                ));
            }
        }
        if let Some(mut c) = self.serve.take() {
            c.signal("TERM");
            if c.wait_timeout(Duration::from_secs(5)).is_none() {
                c.kill();
            }
        }
    }
}
