//! A client inside a real pseudo-terminal, driven from the test: keystrokes in, screen
//! bytes out, window size changes on demand.
//!
//! Python's `pty` module does the terminal work (no extra crates, python3 is on every
//! Debian): it runs the client on the slave side, copies the test's pipe to the master
//! and the master to the test, and applies `resize ROWS COLS` lines read from a FIFO with
//! `TIOCSWINSZ`, which makes the kernel send SIGWINCH to the client, exactly as a
//! terminal emulator does.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::leaks::check_out;
use crate::process::{contains, run, Out, Spawned, Stdin};
use crate::SHORT;

const HELPER: &str = r#"
import errno, fcntl, os, pty, select, struct, sys, termios
ctl_path, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
argv = sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.execvp(argv[0], argv)
ctl = os.open(ctl_path, os.O_RDWR | os.O_NONBLOCK)
def write_all(f, data):
    while data:
        n = os.write(f, data)
        data = data[n:]
inputs = [0, fd, ctl]
buf = b""
while True:
    r, _, _ = select.select(inputs, [], [])
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            break
        write_all(1, data)
    if 0 in r:
        data = os.read(0, 65536)
        if not data:
            inputs.remove(0)
        else:
            write_all(fd, data)
    if ctl in r:
        try:
            buf += os.read(ctl, 4096)
        except BlockingIOError:
            pass
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            p = line.split()
            if len(p) == 3 and p[0] == b"resize":
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", int(p[1]), int(p[2]), 0, 0))
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"#;

/// A client running in a pseudo-terminal.
pub struct PtySession {
    child: Spawned,
    ctl: PathBuf,
    _dir: TempDir,
}

impl PtySession {
    /// Runs `argv` in a fresh pty of `rows`×`cols`.
    pub fn start(argv: &[String], rows: u16, cols: u16) -> PtySession {
        let dir = tempfile::Builder::new()
            .prefix("menwei-pty-")
            .tempdir()
            .unwrap();
        let helper = dir.path().join("menwei_pty_driver.py");
        fs::write(&helper, HELPER).unwrap();
        let ctl = dir.path().join("ctl");
        let mut mk = Command::new("mkfifo");
        mk.arg(&ctl);
        run(mk, Stdin::Null, SHORT).ok();
        let mut c = Command::new("python3");
        c.arg("-u")
            .arg(&helper)
            .arg(&ctl)
            .arg(rows.to_string())
            .arg(cols.to_string())
            .args(argv);
        let child = Spawned::start(c, Stdin::Pipe, None).on_exit(check_out);
        PtySession {
            child,
            ctl,
            _dir: dir,
        }
    }

    /// Types `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.child.send(bytes);
    }

    /// Types `line` and Enter (`\r`, as a terminal sends it).
    pub fn line(&mut self, line: &str) {
        self.send(format!("{line}\r").as_bytes());
    }

    /// Everything the terminal showed so far.
    pub fn screen(&self) -> Vec<u8> {
        self.child.stdout_now()
    }

    /// Everything the terminal showed so far, as text.
    pub fn screen_text(&self) -> String {
        String::from_utf8_lossy(&self.screen()).into_owned()
    }

    /// Waits until the terminal shows `needle` (panics with the screen after `timeout`).
    #[track_caller]
    pub fn expect(&mut self, needle: &str, timeout: Duration) {
        self.child.wait_stdout(needle, timeout);
    }

    /// Types `line` and Enter again every 2 s until the terminal shows `needle` (panics
    /// after `timeout`): for what the other side takes in only once ready, such as a shell
    /// just starting (keys typed before it runs go nowhere) or a new terminal size.
    #[track_caller]
    pub fn line_until_shown(&mut self, line: &str, needle: &str, timeout: Duration) {
        crate::process::wait_until(
            &format!("{needle:?} after typing {line:?}"),
            timeout,
            || {
                self.line(line);
                let deadline = std::time::Instant::now() + Duration::from_secs(2);
                while std::time::Instant::now() < deadline {
                    if self.shows(needle) {
                        return Some(());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                None
            },
        );
    }

    /// Does the terminal show `needle`?
    pub fn shows(&self, needle: &str) -> bool {
        contains(&self.screen(), needle.as_bytes())
    }

    /// Changes the terminal's size (the client gets SIGWINCH).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let mut f = OpenOptions::new().write(true).open(&self.ctl).unwrap();
        writeln!(f, "resize {rows} {cols}").unwrap();
    }

    /// Waits for the client to exit.
    #[track_caller]
    pub fn wait(&mut self, timeout: Duration) -> Out {
        self.child.wait(timeout)
    }

    /// Waits up to `timeout` for the client to exit; `None` if it still runs.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Out> {
        self.child.wait_timeout(timeout)
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            check_out(&self.child.snapshot());
        }
    }
}
