//! The usual starting point: a serving gateway, one pinned target `web01`, engineer
//! `alice` with a key, approver `bob`, and a live grant for alice on web01.

use std::time::Duration;

use crate::database::Db;
use crate::engineer::Engineer;
use crate::gateway::Gateway;
use crate::process::{wait_until, Spawned, Stdin};
use crate::sshd::Sshd;
use crate::{json_text, SHORT};

/// What to change in the usual world.
pub struct WorldOpts {
    /// Duration of alice's grant on web01, `None` for no grant.
    pub grant_for: Option<&'static str>,
    /// Pin web01's host key.
    pub pin: bool,
    /// TOML appended to `menwei.toml` before `serve`.
    pub config: &'static str,
    /// Lines of the generated `menwei.toml` replaced before `serve`: (old line, new line).
    pub replace: &'static [(&'static str, &'static str)],
    /// `[https] assets`: the built page (`web-terminal/dist`) to serve, `None` for the API only.
    pub assets: Option<std::path::PathBuf>,
    /// A wrapper `menwei serve` runs under ([`Gateway::serve_under`]), empty for none.
    pub serve_under: &'static [&'static str],
}

impl Default for WorldOpts {
    fn default() -> Self {
        WorldOpts {
            grant_for: Some("2h"),
            pin: true,
            config: "",
            replace: &[],
            assets: None,
            serve_under: &[],
        }
    }
}

/// Gateway + web01 + alice + bob (+ grant).
pub struct World {
    /// Dropped first: the gateway stops before its targets and database go.
    pub gw: Gateway,
    /// The target `web01`.
    pub web01: Sshd,
    /// Engineer alice, key registered.
    pub alice: Engineer,
    /// alice's grant on web01, if any.
    pub grant: Option<String>,
}

/// web01's description, as the menu shows it.
pub const WEB01_DESCRIPTION: &str = "Front web server (e2e)";

impl World {
    /// The usual world.
    pub fn new(db: Db) -> World {
        World::with(db, WorldOpts::default())
    }

    /// The usual world, changed by `opts`.
    pub fn with(db: Db, opts: WorldOpts) -> World {
        let web01 = Sshd::start();
        let mut gw = Gateway::init(db);
        if !opts.config.is_empty() {
            gw.append_config(opts.config);
        }
        for (old, new) in opts.replace {
            gw.replace_config_line(old, new);
        }
        if let Some(dir) = &opts.assets {
            let line = format!("assets = {}", toml_string(&dir.display().to_string()));
            gw.replace_config_line("# assets = \"/usr/share/menwei/web\"", &line);
        }
        gw.add_user("bob", "approver");
        let alice = Engineer::new("alice");
        gw.add_engineer(&alice);
        gw.add_target("web01", &web01, WEB01_DESCRIPTION);
        if opts.pin {
            gw.pin("web01");
        }
        let grant = opts.grant_for.map(|d| gw.grant("alice", "web01", d));
        gw.serve_under(opts.serve_under);
        World {
            gw,
            web01,
            alice,
            grant,
        }
    }

    /// alice's grant id (panics if the world was built without one).
    pub fn grant_id(&self) -> &str {
        self.grant.as_deref().expect("this world has no grant")
    }

    /// With a client stalled (it stopped reading while its target prints without end):
    /// waits `stall`, checks that others are still served, and that the gateway's memory
    /// grew by less than [`STALLED_READER_GROWTH_KIB`] since `before_kib`. One bound for
    /// every front door: `ssh`, the browser terminal.
    #[track_caller]
    pub fn assert_bounded_behind_stalled_reader(
        &self,
        before_kib: u64,
        stall: Duration,
        who: &str,
    ) {
        let pid = self.gw.pid();
        std::thread::sleep(stall);
        let during = crate::rss_kib(pid);
        let out = self.alice.exec(&self.gw, "web01", "echo still-served");
        out.ok();
        assert_eq!(out.stdout_text(), "still-served\n");
        let after = crate::rss_kib(pid);
        let grown = during.max(after).saturating_sub(before_kib);
        assert!(
            grown < STALLED_READER_GROWTH_KIB,
            "gateway RSS grew by {grown} KiB (from {before_kib} KiB) behind {who}"
        );
    }
}

/// A live interactive shell of alice on web01 over SSH, known to be up (it answered).
pub fn live_shell(w: &World) -> Spawned {
    live_shell_on(w, &w.gw)
}

/// [`live_shell`] through the gateway node `gw` (e.g. a [`Gateway::second_node`]).
pub fn live_shell_on(w: &World, gw: &Gateway) -> Spawned {
    let mut s = w.alice.spawn(gw, "alice:web01", &["-tt"], &[], Stdin::Pipe);
    s.send(b"echo \"UP:$((6*7))\"\n");
    s.wait_stdout("UP:42", SHORT);
    s
}

/// The end reason of alice's last session, waiting for it to end.
pub fn last_end_reason(gw: &Gateway) -> String {
    let s = wait_until("the session to end", SHORT, || {
        let s = gw.last_session("alice");
        (!json_text(&s, "ended_at").is_empty()).then_some(s)
    });
    json_text(&s, "end_reason")
}

/// `[cluster]` for tests with several nodes: heartbeats every second, lost after three.
pub const FAST_HEARTBEATS: &[(&str, &str)] = &[
    ("heartbeat = \"5s\"", "heartbeat = \"1s\""),
    ("dead_after = \"30s\"", "dead_after = \"3s\""),
];

/// How much the gateway's memory may grow behind one client that stopped reading.
pub const STALLED_READER_GROWTH_KIB: u64 = 64 * 1024;

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lines of the generated `menwei.toml` to replace, for [`WorldOpts::replace`], when the new
/// lines are built at run time (a path, a port): leaked, as a test's config lives as long as
/// the test.
pub fn replace_lines(
    lines: Vec<(&'static str, String)>,
) -> &'static [(&'static str, &'static str)] {
    let lines: Vec<_> = lines
        .into_iter()
        .map(|(old, new)| (old, &*Box::leak(new.into_boxed_str())))
        .collect();
    Box::leak(lines.into_boxed_slice())
}

/// The `[recordings] dir` line pointing at `dir`, for [`replace_lines`].
pub fn recordings_on(dir: &std::path::Path) -> (&'static str, String) {
    (
        "dir = \"recordings\"",
        format!("dir = \"{}\"", dir.display()),
    )
}

/// `menwei request add` for alice on web01 under incident INC-1; returns the id it printed.
#[track_caller]
pub fn file_request(gw: &Gateway, level: &str, duration: &str) -> String {
    file_incident(gw, "INC-1", level, duration)
}

/// `menwei request add` for alice on web01 under `incident`; returns the id it printed.
#[track_caller]
pub fn file_incident(gw: &Gateway, incident: &str, level: &str, duration: &str) -> String {
    let out = gw.cli_ok(&[
        "request",
        "add",
        "--engineer",
        "alice",
        "--target",
        "web01",
        "--reason",
        "disk full on /var",
        "--incident",
        incident,
        "--level",
        level,
        "--for",
        duration,
    ]);
    let l = crate::lines(&out);
    assert_eq!(l.len(), 1, "request add must print only the id: {out:?}");
    assert!(l[0].starts_with("r-"), "{out:?}");
    l[0].clone()
}
