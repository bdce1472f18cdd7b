//! Faults of the target, not the engineer: a target whose sshd is killed mid-session, one
//! frozen with SIGSTOP (found by the keepalives, `[targets] keepalive`), the exit status
//! that still passes through when the target ends a channel itself, and `[targets]`
//! errors in the configuration. Each end says what happened, once, to the engineer, in
//! `session list`, in the audit log, in the recording's seal and in serve's log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::time::{Duration, Instant};

use menwei_e2e::*;
use serde_json::Value;

const T: Duration = Duration::from_secs(20);

const TARGET_CLOSED_LINE: &str = "menwei: the target closed the connection";
const TARGET_UNREACHABLE_LINE: &str =
    "menwei: the target stopped answering (no reply to 3 keepalives)";

/// A shell on web01 in a terminal, answering.
fn shell(w: &World) -> PtySession {
    let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 80);
    // `UP:$((6*7))` is typed; only the shell's answer shows `UP:42`.
    t.line_until_shown("echo \"UP:$((6*7))\"", "UP:42", T);
    t
}

/// alice's last session, once it has ended.
#[track_caller]
fn ended_session(gw: &Gateway) -> Value {
    wait_until("the session to end", SHORT, || {
        let s = gw.last_session("alice");
        (!json_text(&s, "ended_at").is_empty()).then_some(s)
    })
}

/// The session `id` ended with `reason` everywhere it is written: the sessions table, the
/// audit log, the recording (which verifies, sealed) and serve's log line.
#[track_caller]
fn assert_ended_everywhere(gw: &Gateway, reason: &str) {
    let sess = ended_session(gw);
    let id = json_text(&sess, "id");
    assert_eq!(json_text(&sess, "end_reason"), reason, "{sess}");
    let end = gw.wait_audit("session.end", |e| e.to_string().contains(&id));
    assert_eq!(end["detail"]["reason"], reason, "{end}");
    assert_eq!(end["detail"]["recording_sealed"], true, "{end}");
    let v = gw.cli(&["recording", "verify", &id]);
    v.ok();
    let t = v.all_text().to_lowercase();
    assert!(
        t.contains("sealed") && !t.contains("unsealed") && !t.contains("cut short"),
        "{v}"
    );
    let log = wait_until("serve's line for the end", SHORT, || {
        let log = gw.log();
        log.lines()
            .any(|l| l.contains("session ended") && l.contains(&id))
            .then_some(log)
    });
    let line = log
        .lines()
        .find(|l| l.contains("session ended") && l.contains(&id))
        .unwrap();
    assert!(line.contains(&format!("reason={reason}")), "{line}");
}

/// SIGCONTs a stopped target however the test ends, so its `Drop` can stop it.
struct Resume<'a>(&'a Sshd);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.0.signal_all("CONT");
    }
}

both_databases! {
    fn a_killed_target_ends_the_session_with_target_closed_and_one_line(db) {
        let w = World::new(db);
        let mut t = shell(&w);
        let killed = Instant::now();
        // The listener, each connection's sshd and the shell: the whole target dies at
        // once, without closing the channel.
        w.web01.signal_all("KILL");
        let out = t.wait(T);
        let took = killed.elapsed();
        eprintln!("the session ended {took:?} after the target was killed, ssh exit {}", out.code());
        assert!(took < Duration::from_secs(5), "the session outlived its target by {took:?}:\n{out}");
        assert_ne!(out.code(), 0, "ssh exits non-zero when the target died:\n{out}");
        let screen = out.all_text();
        assert_eq!(
            screen.matches(TARGET_CLOSED_LINE).count(),
            1,
            "the engineer reads the line once:\n{out}"
        );
        assert_ended_everywhere(&w.gw, "target_closed");
    }

    fn a_killed_target_ends_a_browser_terminal_with_the_line(db) {
        let w = World::new(db);
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        let mut ws = RawWebSocket::open(&w.gw, "/api/v1/terminal?target=web01&cols=80&rows=24&lang=en", &cookie)
            .unwrap_or_else(|answer| panic!("the terminal socket did not open:\n{answer}"));
        let mut screen = Vec::new();
        wait_until("the shell to answer", T, || {
            ws.send_binary(b"echo \"UP:$((6*7))\"\r");
            let f = ws.read_frame();
            screen.extend_from_slice(&f.data);
            contains(&screen, b"UP:42").then_some(())
        });
        w.web01.signal_all("KILL");
        // Output, then the gateway's `end` message, then the close.
        let mut texts = Vec::new();
        loop {
            let f = ws.read_frame();
            match f.opcode {
                1 => texts.push(String::from_utf8_lossy(&f.data).into_owned()),
                2 => {}
                _ => break,
            }
        }
        let ends: Vec<&String> = texts.iter().filter(|t| t.contains("\"end\"")).collect();
        assert_eq!(ends.len(), 1, "one end message: {texts:?}");
        assert!(ends[0].contains("the target closed the connection"), "{texts:?}");
        assert_ended_everywhere(&w.gw, "target_closed");
    }

    fn a_frozen_target_ends_the_session_after_three_keepalives(db) {
        let w = World::with(db, WorldOpts {
            replace: &[("keepalive = \"15s\"", "keepalive = \"1s\"")],
            ..WorldOpts::default()
        });
        let mut t = shell(&w);
        let frozen = Instant::now();
        let _resume = Resume(&w.web01);
        w.web01.signal_all("STOP");
        let out = t.wait(Duration::from_secs(30));
        let took = frozen.elapsed();
        eprintln!("the session ended {took:?} after the target froze");
        // Three keepalives a second apart go unanswered; the fourth is not sent.
        assert!(
            took >= Duration::from_secs(2) && took <= Duration::from_secs(8),
            "the session ended {took:?} after the target froze:\n{out}"
        );
        assert_ne!(out.code(), 0, "{out}");
        assert_eq!(
            out.all_text().matches(TARGET_UNREACHABLE_LINE).count(),
            1,
            "the engineer reads the line once:\n{out}"
        );
        assert_ended_everywhere(&w.gw, "target_unreachable");
    }

    fn the_targets_exit_status_passes_through_and_is_no_fault(db) {
        let w = World::new(db);
        let out = w.alice.exec(&w.gw, "web01", "exit 7");
        assert_eq!(out.code(), 7, "{out}");
        assert!(!out.all_text().contains("menwei:"), "{out}");
        assert_eq!(json_text(&ended_session(&w.gw), "end_reason"), "client_closed");

        let mut t = shell(&w);
        t.line("exit 3");
        let out = t.wait(T);
        assert_eq!(out.code(), 3, "{out}");
        assert!(!out.all_text().contains("menwei:"), "{out}");
        let sess = wait_until("the second session to end", SHORT, || {
            let s: Vec<Value> = w.gw.sessions();
            (s.len() == 2 && s.iter().all(|s| !json_text(s, "ended_at").is_empty())).then_some(s)
        });
        for s in &sess {
            assert_eq!(json_text(s, "end_reason"), "client_closed", "{s}");
        }
    }
}

#[test]
fn a_bad_keepalive_names_the_file_line_and_key() {
    let gw = Gateway::init(Db::Sqlite);
    let text = std::fs::read_to_string(&gw.config).unwrap();
    let line = text
        .lines()
        .position(|l| l == "keepalive = \"15s\"")
        .expect("the template writes [targets] keepalive")
        + 1;
    gw.replace_config_line("keepalive = \"15s\"", "keepalive = \"soon\"");
    for args in [vec!["serve"], vec!["user", "list"]] {
        let mut c = Command::new(menwei_bin());
        c.arg("--config").arg(&gw.config).args(&args);
        let out = run(c, Stdin::Null, SHORT);
        out.failed();
        let e = out.stderr_text();
        assert!(
            e.contains(&format!("menwei.toml:{line}:")) && e.contains("targets.keepalive"),
            "{out}"
        );
    }
}
