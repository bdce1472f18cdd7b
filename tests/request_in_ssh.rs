//! Asking for access from inside `ssh`: the terminal offers a request, waits for the
//! approvers, and goes on to the target in the same connection; Ctrl-C withdraws; an
//! unanswered A-level request may open a break-glass grant when policy allows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use menwei_e2e::*;

/// The request id shown on the screen after filing.
fn filed_id(t: &PtySession) -> String {
    let screen = t.screen_text();
    let at = screen.find("Request r-").expect("no request id on screen");
    screen[at + "Request ".len()..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .next()
        .unwrap()
        .to_string()
}

/// The state of request `id`, as `menwei request show --json` says.
fn request_state(gw: &Gateway, id: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&gw.cli_ok(&["request", "show", id, "--json"])).unwrap();
    json_text(&v, "state")
}

/// Answers the request prompt for web01 at fault level `level`.
fn file_request(t: &mut PtySession, level: &str) -> String {
    t.expect("File an access request for \"web01\" now?", SHORT);
    t.line("y");
    t.expect("Reason:", SHORT);
    t.line("disk full on /var");
    t.expect("Incident reference", SHORT);
    t.line("INC-2041");
    t.expect("Fault level", SHORT);
    t.line(level);
    t.expect("Duration", SHORT);
    t.line("");
    t.expect("filed", SHORT);
    filed_id(t)
}

both_databases! {
    fn request_filed_inside_ssh_connects_once_approved(db) {
        let w = World::with(db, WorldOpts { grant_for: None, config: WEB_GROUP, ..WorldOpts::default() });
        let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 120);
        let id = file_request(&mut t, "B");
        t.expect("waiting for approval: 0 of 1", SHORT);
        assert_eq!(request_state(&w.gw, &id), "pending");

        w.gw.cli_as("bob", &["review", "approve", &id, "--by", "bob", "--comment", "go"]).ok();
        t.expect("Approved. Connecting to web01", Duration::from_secs(5));
        t.line("echo IN_$((3+4))");
        t.expect("IN_7", SHORT);
        t.line("exit");
        t.wait(SHORT);
        w.gw.wait_audit("request.file", |e| e.to_string().contains(&id));
        w.gw.wait_audit("session.start", |e| e.to_string().contains("alice"));
    }

    fn ctrl_c_withdraws_the_request(db) {
        let w = World::with(db, WorldOpts { grant_for: None, config: WEB_GROUP, ..WorldOpts::default() });
        let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 120);
        let id = file_request(&mut t, "C");
        t.expect("waiting for approval", SHORT);
        t.send(b"\x03");
        t.expect("withdrawn", SHORT);
        let out = t.wait(SHORT);
        assert!(!out.success());
        assert_eq!(request_state(&w.gw, &id), "withdrawn");
        // A withdrawn request cannot be approved any more.
        let late = w.gw.cli_as("bob", &["review", "approve", &id, "--by", "bob"]);
        assert!(!late.success() && lines(&late.stderr_text()).len() == 1, "{late}");
        assert!(late.stderr_text().contains("withdrawn"), "{late}");
    }

    fn without_a_terminal_the_refusal_says_how_to_request(db) {
        let w = World::with(db, WorldOpts { grant_for: None, config: WEB_GROUP, ..WorldOpts::default() });
        let out = w.alice.exec(&w.gw, "web01", "true");
        assert_one_line_refusal(&out);
        assert!(out.stderr_text().contains("ssh -t alice:web01@"), "{out}");
    }

    fn extension_asked_from_a_session_keeps_it_alive_past_the_first_grant(db) {
        let w = World::with(db, WorldOpts { grant_for: None, config: WEB_GROUP, ..WorldOpts::default() });
        let id = w.gw.cli_ok(&["request", "add", "--engineer", "alice", "--target", "web01",
            "--reason", "patching", "--incident", "INC-7", "--level", "B", "--for", "8s"]);
        let id = id.trim();
        w.gw.cli_as("bob", &["review", "approve", id, "--by", "bob"]).ok();
        let mut s = w.alice.spawn_exec(&w.gw, "web01", "echo started; sleep 14; echo survived");
        s.wait_stdout("started", SHORT);

        let status = w.alice.ssh(&w.gw, "alice", &[], &["status"], Stdin::Null);
        assert!(status.ok().stdout_text().contains("web01"), "{status}");
        let asked = w.alice.ssh(&w.gw, "alice", &[], &["extend", "web01", "1m", "'still patching'"], Stdin::Null);
        asked.ok();
        let ext = asked.stdout_text();
        let ext_id = ext.split_whitespace().nth(1).unwrap().to_string();
        assert!(ext_id.starts_with("r-"), "{asked}");
        let shown = w.gw.cli_ok(&["request", "show", &ext_id, "--json"]);
        assert!(shown.contains("INC-7") && shown.contains("still patching"), "the extension lost its origin: {shown}");
        w.gw.cli_as("bob", &["review", "approve", &ext_id, "--by", "bob"]).ok();

        let out = s.wait(Duration::from_secs(30));
        out.ok();
        assert!(out.stdout_text().contains("survived"), "the session did not outlive the first grant:\n{out}");
    }

    fn break_glass_opens_after_the_response_window_and_awaits_sign_off(db) {
        let w = World::with(db, WorldOpts {
            grant_for: None,
            config: WEB_GROUP,
            replace: &[("enabled = false", "enabled = true"), ("response_window = \"30m\"", "response_window = \"12s\"")],
            ..WorldOpts::default()
        });
        let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 160);
        let filed = std::time::Instant::now();
        let id = file_request(&mut t, "A");
        // Within the response window: no offer, and `b` opens nothing.
        t.expect("waiting for approval: 0 of 1", SHORT);
        t.send(b"b");
        t.expect("[00:02] waiting for approval", SHORT);
        assert!(filed.elapsed() < Duration::from_secs(11), "too slow to look inside the 12 s window");
        assert!(!t.shows("press b"), "break-glass offered inside the response window:\n{}", t.screen_text());
        assert!(!t.shows("Emergency grant"), "`b` inside the window opened a grant:\n{}", t.screen_text());
        assert_eq!(request_state(&w.gw, &id), "pending");
        assert!(!w.gw.audit().iter().any(|e| json_text(e, "action") == "breakglass.open"), "break-glass opened inside the window");
        // After it: offered, and `b` opens the emergency grant.
        t.expect("press b for an emergency grant", Duration::from_secs(30));
        t.send(b"b");
        t.expect("Emergency grant opened", SHORT);
        t.line("echo GLASS_$((5*5))");
        t.expect("GLASS_25", SHORT);
        t.line("exit");
        t.wait(SHORT);

        w.gw.wait_audit("breakglass.open", |e| e.to_string().contains(&id));
        // The session is marked as an emergency in the audit log and in its recording.
        w.gw.wait_audit("session.start", |e| e.to_string().contains("\"emergency\":true"));
        let s = w.gw.last_session("alice");
        let cast = w.gw.cli_ok(&["recording", "export", &json_text(&s, "id"), "--format", "asciicast"]);
        assert!(cast.contains("emergency (break-glass) session"), "no emergency marker: {cast}");
        let pending = w.gw.json(&["breakglass", "list"]);
        assert!(pending.iter().any(|r| r.to_string().contains(&id)), "not on the sign-off list: {pending:?}");
        w.gw.cli_as("bob", &["breakglass", "signoff", &id, "--by", "bob", "--comment", "checked the recording"]).ok();
        let pending = w.gw.json(&["breakglass", "list"]);
        assert!(!pending.iter().any(|r| r.to_string().contains(&id)), "still listed after sign-off: {pending:?}");
    }
}
