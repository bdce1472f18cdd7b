//! Child processes with deadlines: run-to-completion ([`run`]) and background ([`Spawned`]).
//!
//! Every child gets its own process group so that a timeout or a `Drop` kills it together
//! with whatever it forked (ssh control masters, pty helpers). Output is collected by
//! reader threads into shared buffers, so a test can look at it while the child runs and
//! a grandchild holding a pipe open cannot block the test.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What a finished child left behind.
#[derive(Clone)]
pub struct Out {
    /// What ran, for messages.
    pub what: String,
    /// Exit code, `None` when killed by a signal.
    pub status: Option<i32>,
    /// Terminating signal, if any.
    pub signal: Option<i32>,
    /// Everything written to stdout (empty when stdout went to a file).
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Wall time from start to exit.
    pub elapsed: Duration,
}

impl Out {
    /// Exit code, or -1 when the child died of a signal.
    pub fn code(&self) -> i32 {
        self.status.unwrap_or(-1)
    }

    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Stdout as (lossy) UTF-8.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as (lossy) UTF-8.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Stdout and stderr together, for "does the user see X anywhere".
    pub fn all_text(&self) -> String {
        format!("{}{}", self.stdout_text(), self.stderr_text())
    }

    /// Panics with the whole output unless the child exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "command failed:\n{self}");
        self
    }

    /// Panics with the whole output if the child exited 0.
    #[track_caller]
    pub fn failed(&self) -> &Self {
        assert!(!self.success(), "command unexpectedly succeeded:\n{self}");
        self
    }
}

fn clip(b: &[u8]) -> String {
    const MAX: usize = 6000;
    let s = String::from_utf8_lossy(b);
    if s.len() <= MAX {
        s.into_owned()
    } else {
        let mut cut = s.len() - MAX;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        format!("[... {} bytes cut ...]{}", cut, &s[cut..])
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  command: {}", self.what)?;
        match (self.status, self.signal) {
            (Some(c), _) => writeln!(f, "  exit: {c} after {:?}", self.elapsed)?,
            (None, s) => writeln!(f, "  killed by signal {s:?} after {:?}", self.elapsed)?,
        }
        writeln!(f, "  stdout: {:?}", clip(&self.stdout))?;
        write!(f, "  stderr: {:?}", clip(&self.stderr))
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where a child's stdin comes from.
pub enum Stdin {
    /// `/dev/null`.
    Null,
    /// These bytes, then EOF.
    Bytes(Vec<u8>),
    /// This file, then EOF.
    File(PathBuf),
    /// A pipe the test writes to with [`Spawned::send`] and closes with
    /// [`Spawned::close_stdin`].
    Pipe,
}

type Buf = Arc<Mutex<Vec<u8>>>;

fn reader(mut r: impl Read + Send + 'static, buf: Buf) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 65536];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// Sends `sig` (a `kill` signal name such as `TERM`, `KILL`, `INT`) to one process.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// `pid` and every process below it (children, their children, ...), parents first, read
/// from `/proc`: for daemons whose children leave the process group (sshd's per-connection
/// processes start sessions of their own).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let p: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while let Some(&parent) = tree.get(i) {
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree
}

/// SIGKILLs the whole process group led by `pid`.
pub fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

/// The programs whose output an engineer reads: the OpenSSH clients and rsync.
const ENGINEER_CLIENTS: [&str; 4] = ["ssh", "scp", "sftp", "rsync"];

/// A child running in the background, its output collected as it comes.
pub struct Spawned {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Buf,
    stderr: Buf,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    exit: Option<ExitStatus>,
    /// Called on the final output (leak checks for engineer-visible runs).
    on_exit: Option<fn(&Out)>,
}

impl Spawned {
    /// Starts `cmd` with stdin from `stdin`, stdout collected (or written to
    /// `stdout_file`), stderr collected.
    ///
    /// The OpenSSH clients and rsync are an engineer's view of the gateway, so their output
    /// is checked for target addresses (`leaks.rs`) when they end, however they end
    /// (waited for, killed or dropped); other programs only with [`Spawned::on_exit`].
    pub fn start(mut cmd: Command, stdin: Stdin, stdout_file: Option<PathBuf>) -> Spawned {
        let what = describe(&cmd);
        let program = Path::new(cmd.get_program());
        let engineer_client = program
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| ENGINEER_CLIENTS.contains(&n));
        cmd.process_group(0);
        let mut feed = None;
        match stdin {
            Stdin::Null => {
                cmd.stdin(Stdio::null());
            }
            Stdin::Bytes(b) => {
                cmd.stdin(Stdio::piped());
                feed = Some(b);
            }
            Stdin::File(p) => {
                let f = File::open(&p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
                cmd.stdin(Stdio::from(f));
            }
            Stdin::Pipe => {
                cmd.stdin(Stdio::piped());
            }
        }
        match &stdout_file {
            Some(p) => {
                let f = File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
                cmd.stdout(Stdio::from(f));
            }
            None => {
                cmd.stdout(Stdio::piped());
            }
        }
        cmd.stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout: Buf = Arc::default();
        let stderr: Buf = Arc::default();
        let mut readers = Vec::new();
        if let Some(o) = child.stdout.take() {
            readers.push(reader(o, stdout.clone()));
        }
        if let Some(e) = child.stderr.take() {
            readers.push(reader(e, stderr.clone()));
        }
        let mut stdin = child.stdin.take();
        if let Some(bytes) = feed {
            if let Some(mut w) = stdin.take() {
                // A writer thread: a child that does not read its stdin must not block us.
                thread::spawn(move || {
                    let _ = w.write_all(&bytes);
                });
            }
        }
        Spawned {
            what,
            child,
            stdin,
            stdout,
            stderr,
            readers,
            started: Instant::now(),
            exit: None,
            on_exit: engineer_client.then_some(crate::leaks::check_out as fn(&Out)),
        }
    }

    /// Runs `check` on the final output when the child is waited for.
    pub fn on_exit(mut self, check: fn(&Out)) -> Self {
        self.on_exit = Some(check);
        self
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What runs, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Stdout so far.
    pub fn stdout_now(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    /// Stderr so far.
    pub fn stderr_now(&self) -> Vec<u8> {
        self.stderr.lock().unwrap().clone()
    }

    /// Writes to the child's stdin pipe.
    pub fn send(&mut self, bytes: &[u8]) {
        let w = self
            .stdin
            .as_mut()
            .expect("stdin is not a pipe (or closed)");
        w.write_all(bytes)
            .unwrap_or_else(|e| panic!("write to {}: {e}", self.what));
        let _ = w.flush();
    }

    /// Writes to the child's stdin pipe; `false` once the child no longer reads it (it
    /// exited, or closed its stdin).
    pub fn try_send(&mut self, bytes: &[u8]) -> bool {
        let w = self
            .stdin
            .as_mut()
            .expect("stdin is not a pipe (or closed)");
        w.write_all(bytes).and_then(|()| w.flush()).is_ok()
    }

    /// Closes the child's stdin pipe (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends a signal (`TERM`, `KILL`, `INT`, ...) to the child itself.
    pub fn signal(&self, sig: &str) {
        signal(self.pid(), sig);
    }

    /// Has the child exited? Reaps it if so.
    pub fn exited(&mut self) -> bool {
        if self.exit.is_none() {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.exit = Some(s);
            }
        }
        self.exit.is_some()
    }

    /// Waits until `pred(stdout, stderr)` holds; panics with the output so far after
    /// `timeout` or when the child exits first.
    #[track_caller]
    pub fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&[u8], &[u8]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let o = self.stdout.lock().unwrap();
                let e = self.stderr.lock().unwrap();
                if pred(&o, &e) {
                    return;
                }
            }
            if self.exited() {
                // One last look: the readers may still be draining.
                thread::sleep(Duration::from_millis(100));
                let o = self.stdout_now();
                let e = self.stderr_now();
                if pred(&o, &e) {
                    return;
                }
                panic!(
                    "waiting for {what}: the child exited first\n{}",
                    self.snapshot()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "waiting for {what}: nothing after {timeout:?}\n{}",
                    self.snapshot()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stdout contains `needle`.
    #[track_caller]
    pub fn wait_stdout(&mut self, needle: &str, timeout: Duration) {
        let n = needle.as_bytes().to_vec();
        self.wait_for(&format!("{needle:?} on stdout"), timeout, move |o, _| {
            contains(o, &n)
        });
    }

    /// Waits until stderr contains `needle`.
    #[track_caller]
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) {
        let n = needle.as_bytes().to_vec();
        self.wait_for(&format!("{needle:?} on stderr"), timeout, move |_, e| {
            contains(e, &n)
        });
    }

    /// The output so far, as an [`Out`] (status unknown while running).
    pub fn snapshot(&mut self) -> Out {
        self.exited();
        self.out()
    }

    fn out(&self) -> Out {
        Out {
            what: self.what.clone(),
            status: self.exit.and_then(|s| s.code()),
            signal: self.exit.and_then(|s| s.signal()),
            stdout: self.stdout_now(),
            stderr: self.stderr_now(),
            elapsed: self.started.elapsed(),
        }
    }

    /// Waits up to `timeout` for the child to exit; `None` if it still runs.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Out> {
        let deadline = Instant::now() + timeout;
        while !self.exited() {
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let elapsed = self.started.elapsed();
        self.stdin = None;
        // Readers end when every holder of the pipes is gone; a forked grandchild may
        // keep them open, so give them a moment, then kill the group and move on.
        let drain_deadline = Instant::now() + Duration::from_secs(3);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < drain_deadline {
            thread::sleep(Duration::from_millis(10));
        }
        if self.readers.iter().any(|r| !r.is_finished()) {
            kill_group(self.pid());
            thread::sleep(Duration::from_millis(50));
        }
        let mut out = self.out();
        out.elapsed = elapsed;
        if let Some(check) = self.on_exit.take() {
            check(&out);
        }
        Some(out)
    }

    /// Waits for the child to exit; kills it and panics with its output after `timeout`.
    #[track_caller]
    pub fn wait(&mut self, timeout: Duration) -> Out {
        match self.wait_timeout(timeout) {
            Some(o) => o,
            None => {
                kill_group(self.pid());
                let _ = self.child.wait();
                panic!(
                    "still running after {timeout:?}, killed:\n{}",
                    self.snapshot()
                );
            }
        }
    }

    /// SIGKILLs the child's process group and reaps it.
    pub fn kill(&mut self) -> Out {
        if !self.exited() {
            kill_group(self.pid());
        }
        let _ = self.child.wait();
        self.exit = self.child.try_wait().ok().flatten().or(self.exit);
        // What it printed before it was killed is still engineer-visible: checked too.
        self.wait_timeout(Duration::from_secs(5))
            .unwrap_or_else(|| self.out())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !self.exited() {
            kill_group(self.pid());
            let _ = self.child.wait();
        }
        // A child a test never waited for still showed its output to someone.
        if let Some(check) = self.on_exit.take() {
            if !thread::panicking() {
                self.exited();
                check(&self.out());
            }
        }
    }
}

/// Runs `cmd` to completion within `timeout`, stdin from `stdin`; kills it and panics with
/// what it printed if it takes longer.
#[track_caller]
pub fn run(cmd: Command, stdin: Stdin, timeout: Duration) -> Out {
    Spawned::start(cmd, stdin, None).wait(timeout)
}

/// Resident memory of process `pid`, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// The highest RSS of a process while a test does something: sampled every 20 ms from
/// [`PeakRss::start`] until [`PeakRss::stop`].
pub struct PeakRss {
    start_kib: u64,
    peak: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    sampler: JoinHandle<()>,
}

impl PeakRss {
    /// Starts sampling `pid`'s RSS.
    pub fn start(pid: u32) -> PeakRss {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let start_kib = rss_kib(pid);
        let peak = Arc::new(AtomicU64::new(start_kib));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(20));
                }
            })
        };
        PeakRss {
            start_kib,
            peak,
            stop,
            sampler,
        }
    }

    /// Stops sampling: how many KiB the peak was above the RSS at the start.
    pub fn stop(self) -> u64 {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().unwrap();
        self.peak
            .load(Ordering::Relaxed)
            .saturating_sub(self.start_kib)
    }
}

/// Reads `s` until the gateway closes it; how long that took. Panics past `limit`.
pub fn closed_within(s: &mut std::net::TcpStream, limit: Duration) -> Duration {
    use std::io::{ErrorKind, Read};
    let start = std::time::Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut sink = [0u8; 1024];
    loop {
        match s.read(&mut sink) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return start.elapsed(),
            Err(e) => panic!("the gateway kept the connection open past {limit:?}: {e}"),
        }
        assert!(
            start.elapsed() < limit,
            "the gateway kept the connection open past {limit:?}"
        );
    }
}

/// `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
#[track_caller]
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A tool scripts/setup installs under `$MENWEI_TOOLS` (default
/// `~/.local/share/menwei-tools`): `$ENV_VAR` when set (scripts/test sets it), else the one at
/// `installed` below that directory, else `name` on `PATH`. Missing, the test fails: it is
/// never skipped.
pub fn setup_tool(env_var: &str, installed: &str, name: &str) -> PathBuf {
    let setup = std::env::var_os("MENWEI_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/menwei-tools"))
        })
        .map(|dir| dir.join(installed))
        .filter(|p| p.exists());
    let exe = std::env::var_os(env_var)
        .map(PathBuf::from)
        .or(setup)
        .unwrap_or_else(|| PathBuf::from(name));
    let found = Command::new(&exe)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} not found ({}); run scripts/setup, which installs it",
        exe.display()
    );
    exe
}

/// A TCP port that was free on `ip` a moment ago.
pub fn free_port(ip: &str) -> u16 {
    free_ports::<1>(ip)[0]
}

/// `N` different TCP ports that were free on `ip` a moment ago, none handed out before in
/// this test. Each listener is held until all are chosen, and the ones already given are
/// skipped: the kernel may give the same number twice to binds one after the other, and a
/// port that a test holds for later (a webhook receiver it starts after the gateway) must
/// not become the gateway's.
pub fn free_ports<const N: usize>(ip: &str) -> [u16; N] {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < N {
        let l = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let port = l.local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            ports.push(port);
        }
        held.push(l);
    }
    std::array::from_fn(|i| ports[i])
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_child_is_killed_at_its_deadline_with_its_output() {
        let mut c = Command::new("bash");
        c.args(["-c", "echo before; sleep 30 & sleep 30"]);
        let started = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            run(c, Stdin::Null, Duration::from_millis(500))
        }));
        let msg = *r.expect_err("must panic").downcast::<String>().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            msg.contains("still running") && msg.contains("before"),
            "{msg}"
        );
    }

    #[test]
    fn stdin_bytes_reach_the_child_and_end_with_eof() {
        let mut c = Command::new("cat");
        c.arg("-");
        let out = run(c, Stdin::Bytes(b"abc".to_vec()), Duration::from_secs(5));
        out.ok();
        assert_eq!(out.stdout, b"abc");
    }
}
