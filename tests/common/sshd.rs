//! An OpenSSH `sshd` target on a loopback address of its own, with its own host key,
//! config and `authorized_keys`, stopped on `Drop`.

use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{free_port, run, Spawned, Stdin};
use crate::SHORT;

static NEXT_IP: AtomicU8 = AtomicU8::new(0);

/// A running (or stopped) `sshd`.
pub struct Sshd {
    dir: TempDir,
    /// The loopback address it listens on, `127.0.0.2`..`127.0.0.9`.
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// A word of letters only this target puts in its sessions' environment as
    /// `MENWEI_E2E_MARK`, so a test can tell which target a shell runs on.
    pub mark: String,
    child: Option<Spawned>,
}

fn whoami() -> String {
    let mut c = Command::new("id");
    c.arg("-un");
    let o = run(c, Stdin::Null, SHORT);
    o.stdout_text().trim().to_string()
}

impl Sshd {
    /// Starts a target on the next address of `127.0.0.2`..`127.0.0.9`.
    pub fn start() -> Sshd {
        let n = NEXT_IP.fetch_add(1, Ordering::SeqCst) % 8;
        Sshd::start_on(&format!("127.0.0.{}", n + 2))
    }

    /// Starts a target on `ip` and a free port.
    pub fn start_on(ip: &str) -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("menwei-sshd-")
            .tempdir()
            .unwrap();
        let port = free_port(ip);
        crate::leaks::register(ip, port);
        // Letters only: the leak check looks for the port among digits.
        let mark: String = (0..12)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        let mut s = Sshd {
            dir,
            ip: ip.to_string(),
            port,
            mark: format!("mark{mark}"),
            child: None,
        };
        fs::write(s.authorized_keys(), "").unwrap();
        s.new_host_key();
        s.write_config();
        s.run();
        s
    }

    /// `ip:port`, what `menwei target add --address` takes.
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// The account the gateway logs in as (the user running the tests).
    pub fn login(&self) -> String {
        whoami()
    }

    /// The file the gateway's client key goes into.
    pub fn authorized_keys(&self) -> PathBuf {
        self.dir.path().join("authorized_keys")
    }

    /// Adds one OpenSSH public key line to `authorized_keys`.
    pub fn authorize(&self, key_line: &str) {
        let mut s = fs::read_to_string(self.authorized_keys()).unwrap_or_default();
        s.push_str(key_line.trim());
        s.push('\n');
        fs::write(self.authorized_keys(), s).unwrap();
    }

    fn host_key(&self) -> PathBuf {
        self.dir.path().join("ssh_host_ed25519_key")
    }

    /// `SHA256:...` of the current host key.
    pub fn host_key_fingerprint(&self) -> String {
        let mut c = Command::new("ssh-keygen");
        c.arg("-lf").arg(self.host_key().with_extension("pub"));
        let o = run(c, Stdin::Null, SHORT);
        o.ok();
        o.stdout_text()
            .split_whitespace()
            .nth(1)
            .expect("ssh-keygen -l output")
            .to_string()
    }

    fn new_host_key(&self) {
        let k = self.host_key();
        let _ = fs::remove_file(&k);
        let _ = fs::remove_file(k.with_extension("pub"));
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-t", "ed25519", "-N", "", "-C", "e2e-target", "-f"])
            .arg(&k);
        run(c, Stdin::Null, SHORT).ok();
    }

    fn config_file(&self) -> PathBuf {
        self.dir.path().join("sshd_config")
    }

    /// The session environment gets `PYENV_REHASH_TIMEOUT=0`: the test user's shell may
    /// start pyenv, whose `rehash` waits up to a minute on a lock file that a session
    /// killed mid-rehash leaves behind; with it every later command would hang that long.
    /// It also gets `MENWEI_E2E_MARK`, this target's [`Sshd::mark`].
    fn write_config(&self) {
        let d = self.dir.path().display();
        let cfg = format!(
            "Port {port}\n\
             ListenAddress {ip}\n\
             HostKey {hk}\n\
             PidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitRootLogin prohibit-password\n\
             Subsystem sftp internal-sftp\n\
             AcceptEnv *\n\
             AllowTcpForwarding yes\n\
             AllowAgentForwarding yes\n\
             X11Forwarding yes\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             MaxStartups 200\n\
             MaxSessions 64\n\
             LogLevel VERBOSE\n\
             SetEnv PYENV_REHASH_TIMEOUT=0 MENWEI_E2E_MARK={mark}\n",
            port = self.port,
            ip = self.ip,
            hk = self.host_key().display(),
            mark = self.mark,
        );
        fs::write(self.config_file(), cfg).unwrap();
    }

    fn run(&mut self) {
        fs::create_dir_all("/run/sshd").ok();
        let mut c = Command::new("/usr/sbin/sshd");
        c.arg("-D").arg("-e").arg("-f").arg(self.config_file());
        let mut child = Spawned::start(c, Stdin::Null, None);
        child.wait_stderr("Server listening on", Duration::from_secs(15));
        crate::process::wait_until("sshd to accept connections", SHORT, || {
            TcpStream::connect((self.ip.as_str(), self.port)).ok()
        });
        self.child = Some(child);
    }

    /// Stops sshd (new connections to its port are refused).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// Stops sshd, gives it a brand new host key, and starts it again on the same port:
    /// what a man in the middle (or a reinstalled server) looks like to the gateway.
    pub fn restart_with_new_host_key(&mut self) {
        self.stop();
        self.new_host_key();
        self.run();
    }

    /// sshd's listener and every process below it: its per-connection processes (each in
    /// a session of its own, outside the listener's process group) and their shells. What
    /// a test signals to kill or freeze the whole target.
    pub fn processes(&self) -> Vec<u32> {
        self.child
            .as_ref()
            .map(|c| crate::process::process_tree(c.pid()))
            .unwrap_or_default()
    }

    /// Sends `sig` to every one of [`Sshd::processes`], stopping them all first (`STOP`) so
    /// that none sees another die and answers for it (a per-connection sshd closing its
    /// channel cleanly when its shell is killed first).
    pub fn signal_all(&self, sig: &str) {
        let all = self.processes();
        if sig != "CONT" {
            for &p in &all {
                crate::process::signal(p, "STOP");
            }
        }
        for &p in &all {
            crate::process::signal(p, sig);
        }
    }

    /// sshd's own log so far.
    pub fn log(&self) -> String {
        self.child
            .as_ref()
            .map(|c| String::from_utf8_lossy(&c.stderr_now()).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- sshd {} log -----\n{}", self.address(), self.log());
        }
        self.stop();
    }
}
