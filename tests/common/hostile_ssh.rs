//! A hostile SSH client: logs in like an engineer (a real key, the gateway's pinned host key)
//! and then breaks the protocol on purpose. Today: it ignores the channel window and floods
//! data on several session channels of one connection (`window_flood.py`, paramiko with its
//! send-window wait replaced, Debian's `python3-paramiko`, which scripts/setup installs).
//!
//! Not a client for anything else: for what engineers run, see [`crate::Engineer`].

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::engineer::Engineer;
use crate::gateway::Gateway;
use crate::leaks::check_out;
use crate::process::{run, Out, Stdin};

const FLOOD: &str = include_str!("window_flood.py");

/// Debian's interpreter, the one `python3-paramiko` is installed for (a `python3` earlier
/// on the PATH, e.g. pyenv's, would not have it).
const PYTHON: &str = "/usr/bin/python3";

/// What a window flood is allowed to take, its 60 s deadline included.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(120);

/// Logs in as `engineer` to `login` (e.g. `alice:web01`), opens `channels` session
/// channels each running `command`, and sends `bytes_per_channel` on each without regard
/// to the window. Its output says what it saw (see `window_flood.py`); checked for target
/// addresses like every client run.
pub fn flood_ignoring_window(
    gw: &Gateway,
    engineer: &Engineer,
    login: &str,
    channels: usize,
    bytes_per_channel: usize,
    command: &str,
) -> Out {
    let script = engineer.home().join("window_flood.py");
    fs::write(&script, FLOOD).unwrap();
    let mut c = Command::new(PYTHON);
    c.arg("-u")
        .arg(&script)
        .arg(gw.port.to_string())
        .arg(login)
        .arg(&engineer.key)
        .arg(gw.known_hosts())
        .arg(channels.to_string())
        .arg(bytes_per_channel.to_string())
        .arg(command);
    let out = run(c, Stdin::Null, FLOOD_TIMEOUT);
    check_out(&out);
    out
}
