//! What an engineer must never see: the addresses and ports of targets.
//!
//! Every [`crate::Sshd`] registers its address and port here when it starts; every run of
//! an engineer's client (`ssh`, `scp`, `sftp`, `rsync`, the pty sessions) is checked
//! against the list when it ends. So the whole suite doubles as the test that no message,
//! menu or error carries a target's address.

use std::sync::Mutex;

use crate::process::Out;

static SECRETS: Mutex<Vec<Secret>> = Mutex::new(Vec::new());

#[derive(Clone)]
enum Secret {
    /// Appears as a substring (an address such as `127.0.0.2`).
    Text(String),
    /// Appears as a number not surrounded by other digits (a port).
    Number(String),
}

/// Registers a target's address and port as secret.
pub(crate) fn register(ip: &str, port: u16) {
    let mut s = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    s.push(Secret::Text(ip.to_string()));
    s.push(Secret::Number(port.to_string()));
}

fn find(hay: &[u8]) -> Option<String> {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for s in secrets {
        match s {
            Secret::Text(t) => {
                if crate::process::contains(hay, t.as_bytes()) {
                    return Some(t);
                }
            }
            Secret::Number(n) => {
                let n = n.as_bytes();
                for (i, w) in hay.windows(n.len()).enumerate() {
                    if w == n {
                        let before = i.checked_sub(1).and_then(|j| hay.get(j));
                        let after = hay.get(i + n.len());
                        let digit = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_digit());
                        if !digit(before) && !digit(after) {
                            return Some(String::from_utf8_lossy(n).into_owned());
                        }
                    }
                }
            }
        }
    }
    None
}

/// Panics if `text` contains a registered target address or port.
#[track_caller]
pub fn assert_no_leak(text: &[u8], context: &str) {
    if let Some(s) = find(text) {
        panic!(
            "engineer-visible text leaks target address/port {s:?} ({context}):\n{}",
            String::from_utf8_lossy(text)
        );
    }
}

/// The check attached to every engineer client run (and to any other run whose output an
/// engineer would read, with [`crate::Spawned::on_exit`]).
pub fn check_out(out: &Out) {
    if std::thread::panicking() {
        return;
    }
    assert_no_leak(&out.stdout, &format!("stdout of {}", out.what));
    assert_no_leak(&out.stderr, &format!("stderr of {}", out.what));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_addresses_and_ports_but_not_longer_numbers() {
        register("127.0.0.9", 40123);
        assert_eq!(
            find(b"connect to 127.0.0.9 failed"),
            Some("127.0.0.9".into())
        );
        assert_eq!(find(b"port 40123."), Some("40123".into()));
        assert_eq!(find(b"seq 1401234 and 400123"), None);
        assert_eq!(find(b"menwei: target \"web01\" is not reachable"), None);
    }

    /// An `ssh` talking to a "target" on 127.0.0.8 that accepts and never answers: with
    /// `-v` it names the address and port while it waits.
    fn hanging_client() -> crate::Spawned {
        let listener = std::net::TcpListener::bind("127.0.0.8:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        register("127.0.0.8", port);
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(1).collect();
            std::thread::sleep(std::time::Duration::from_secs(60));
            drop(held);
        });
        let mut c = std::process::Command::new("ssh");
        c.args(["-v", "-F", "/dev/null", "-o", "BatchMode=yes", "-p"])
            .arg(port.to_string())
            .arg("nobody@127.0.0.8");
        let mut s = crate::Spawned::start(c, crate::Stdin::Null, None);
        s.wait_stderr("Connecting to 127.0.0.8", crate::SHORT);
        s
    }

    #[test]
    #[should_panic(expected = "leaks target address")]
    fn a_killed_client_is_checked() {
        hanging_client().kill();
    }

    #[test]
    #[should_panic(expected = "leaks target address")]
    fn a_dropped_client_is_checked() {
        drop(hanging_client());
    }
}
