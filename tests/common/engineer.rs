//! An engineer: an ed25519 key pair and the real OpenSSH clients pointed at the gateway.
//!
//! Every run's stdout and stderr are checked for target addresses and ports (see
//! [`crate::leaks`]: every `ssh`/`scp`/`sftp`/`rsync` the tests start is, however it was
//! started or ended); the common options make the clients ignore the machine's own
//! config, agent and known_hosts, and keep the client's default log level.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::gateway::Gateway;
use crate::process::{run, Out, Spawned, Stdin};
use crate::pty::PtySession;
use crate::SHORT;

/// How long one client run may take unless a test says otherwise.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// An engineer's identity on this machine.
pub struct Engineer {
    /// The gateway user name.
    pub name: String,
    /// Private key file.
    pub key: PathBuf,
    /// Public key file (`.pub`).
    pub pubkey: PathBuf,
    dir: TempDir,
}

impl Engineer {
    /// Generates a fresh ed25519 key for `name` (not yet known to any gateway).
    pub fn new(name: &str) -> Engineer {
        let dir = tempfile::Builder::new()
            .prefix("menwei-eng-")
            .tempdir()
            .unwrap();
        let key = dir.path().join("id_ed25519");
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("{name}@e2e"))
            .arg("-f")
            .arg(&key);
        run(c, Stdin::Null, SHORT).ok();
        Engineer {
            name: name.to_string(),
            pubkey: key.with_extension("pub"),
            key,
            dir,
        }
    }

    /// A directory of the engineer's own (their laptop's disk).
    pub fn home(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The options every client run against `gw` gets: no machine config, agent or
    /// known_hosts of this machine; `gw`'s host key pinned like an engineer's laptop would
    /// (so the client has nothing to warn about); the client's default log level, so that
    /// everything the client would show an engineer is seen by the leak check.
    pub fn common_opts(&self, gw: &Gateway) -> Vec<String> {
        [
            "-F",
            "/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            &format!("UserKnownHostsFile={}", gw.known_hosts().display()),
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=15",
            "-i",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([self.key.to_string_lossy().into_owned()])
        .collect()
    }

    /// `NAME:TARGET`, the login that names a target.
    pub fn to(&self, target: &str) -> String {
        format!("{}:{target}", self.name)
    }

    /// `ssh OPTS... COMMON -p PORT USER@127.0.0.1 REMOTE...` as a command, not started.
    pub fn ssh_command(&self, gw: &Gateway, user: &str, opts: &[&str], remote: &[&str]) -> Command {
        // The test's options first: for ssh the first value of an option wins.
        let mut c = Command::new("ssh");
        c.args(opts)
            .args(self.common_opts(gw))
            .arg("-p")
            .arg(gw.port.to_string())
            .arg(format!("{user}@127.0.0.1"));
        if !remote.is_empty() {
            c.arg("--").args(remote);
        }
        c
    }

    /// Runs `ssh` to completion (deadline `CLIENT_TIMEOUT`).
    #[track_caller]
    pub fn ssh(
        &self,
        gw: &Gateway,
        user: &str,
        opts: &[&str],
        remote: &[&str],
        stdin: Stdin,
    ) -> Out {
        run(
            self.ssh_command(gw, user, opts, remote),
            stdin,
            CLIENT_TIMEOUT,
        )
    }

    /// `ssh NAME:TARGET@gateway CMD` with stdin from /dev/null.
    #[track_caller]
    pub fn exec(&self, gw: &Gateway, target: &str, cmd: &str) -> Out {
        self.ssh(gw, &self.to(target), &[], &[cmd], Stdin::Null)
    }

    /// `ssh NAME:TARGET@gateway CMD` with `input` on stdin.
    #[track_caller]
    pub fn exec_input(&self, gw: &Gateway, target: &str, cmd: &str, input: &[u8]) -> Out {
        self.ssh(
            gw,
            &self.to(target),
            &[],
            &[cmd],
            Stdin::Bytes(input.to_vec()),
        )
    }

    /// Starts `ssh` in the background (output checked for leaks when waited for).
    pub fn spawn(
        &self,
        gw: &Gateway,
        user: &str,
        opts: &[&str],
        remote: &[&str],
        stdin: Stdin,
    ) -> Spawned {
        Spawned::start(self.ssh_command(gw, user, opts, remote), stdin, None)
    }

    /// Starts `ssh NAME:TARGET@gateway CMD` in the background.
    pub fn spawn_exec(&self, gw: &Gateway, target: &str, cmd: &str) -> Spawned {
        self.spawn(gw, &self.to(target), &[], &[cmd], Stdin::Null)
    }

    /// `scp COMMON -P PORT -o User=NAME:TARGET ARGS...` (remote paths as `127.0.0.1:PATH`).
    #[track_caller]
    pub fn scp(&self, gw: &Gateway, target: &str, args: &[&str]) -> Out {
        let mut c = Command::new("scp");
        c.args(self.common_opts(gw))
            .arg("-P")
            .arg(gw.port.to_string())
            .arg("-o")
            .arg(format!("User={}", self.to(target)))
            .args(args);
        run(c, Stdin::Null, CLIENT_TIMEOUT)
    }

    /// `sftp COMMON -P PORT -b - NAME:TARGET@gateway` with `batch` as the command list.
    #[track_caller]
    pub fn sftp(&self, gw: &Gateway, target: &str, batch: &str) -> Out {
        self.sftp_with(gw, target, &[], batch)
    }

    /// [`Engineer::sftp`] with sftp options of the test's before the common ones.
    #[track_caller]
    pub fn sftp_with(&self, gw: &Gateway, target: &str, opts: &[&str], batch: &str) -> Out {
        let mut c = Command::new("sftp");
        c.args(opts)
            .args(self.common_opts(gw))
            .arg("-P")
            .arg(gw.port.to_string())
            .arg("-o")
            .arg(format!("User={}", self.to(target)))
            .args(["-b", "-", "127.0.0.1"]);
        run(c, Stdin::Bytes(batch.as_bytes().to_vec()), CLIENT_TIMEOUT)
    }

    /// `rsync -e "ssh COMMON -p PORT -l NAME:TARGET" ARGS...` (remote paths as
    /// `127.0.0.1:PATH`).
    #[track_caller]
    pub fn rsync(&self, gw: &Gateway, target: &str, args: &[&str]) -> Out {
        let e = format!(
            "ssh {} -p {} -l {}",
            self.common_opts(gw).join(" "),
            gw.port,
            self.to(target)
        );
        let mut c = Command::new("rsync");
        c.arg("-e").arg(e).args(args);
        run(c, Stdin::Null, CLIENT_TIMEOUT)
    }

    /// `ssh -tt USER@gateway` inside a real pseudo-terminal of `rows`×`cols`.
    pub fn pty(&self, gw: &Gateway, user: &str, opts: &[&str], rows: u16, cols: u16) -> PtySession {
        let mut argv: Vec<String> = vec!["ssh".into(), "-tt".into()];
        argv.extend(opts.iter().map(|s| s.to_string()));
        argv.extend(self.common_opts(gw));
        argv.push("-p".into());
        argv.push(gw.port.to_string());
        argv.push(format!("{user}@127.0.0.1"));
        PtySession::start(&argv, rows, cols)
    }
}

/// An askpass program that answers every prompt with `answer` and logs the prompt.
fn askpass(gw: &Gateway, answer: &str) -> (PathBuf, PathBuf) {
    let dir = gw.scratch();
    let n = rand::random::<u32>();
    let log = dir.join(format!("prompts-{n}.log"));
    let script = dir.join(format!("askpass-{n}.sh"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\necho '{answer}'\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

impl Engineer {
    /// `ssh -o BatchMode=no … USER@gateway CMD`, with `code` typed at the gateway's
    /// keyboard-interactive prompt by `SSH_ASKPASS` (as a person would type their TOTP
    /// code); what ssh printed and the prompts it was shown.
    pub fn ssh_with_code(&self, gw: &Gateway, user: &str, code: &str, cmd: &str) -> (Out, String) {
        let (script, log) = askpass(gw, code);
        let mut c = self.ssh_command(
            gw,
            user,
            &[
                "-o",
                "BatchMode=no",
                "-o",
                "KbdInteractiveAuthentication=yes",
                "-o",
                "NumberOfPasswordPrompts=1",
            ],
            &[cmd],
        );
        c.env("SSH_ASKPASS", &script)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0");
        let out = run(c, Stdin::Null, SHORT);
        crate::assert_no_leak(out.all_text().as_bytes(), "ssh with a TOTP code");
        let prompts = std::fs::read_to_string(&log).unwrap_or_default();
        (out, prompts)
    }
}
