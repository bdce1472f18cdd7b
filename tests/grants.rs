//! Grants are live: no grant, no connection; revocation and expiry end live sessions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use menwei_e2e::*;

/// Waits for `s` to exit and returns when it did.
fn exit_instant(s: &mut Spawned, timeout: Duration) -> (Instant, Out) {
    let deadline = Instant::now() + timeout;
    while !s.exited() {
        assert!(
            Instant::now() < deadline,
            "the session is still alive {timeout:?} later:\n{}",
            s.snapshot()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let at = Instant::now();
    (at, s.wait(SHORT))
}

fn grant_state(gw: &Gateway, id: &str) -> String {
    let g = gw
        .grants()
        .into_iter()
        .find(|g| json_text(g, "id") == id)
        .unwrap_or_else(|| panic!("grant {id} not in grant list"));
    json_text(&g, "state")
}

both_databases! {
    fn connection_without_a_grant_is_refused_in_one_line(db) {
        let w = World::with(db, WorldOpts { grant_for: None, ..WorldOpts::default() });
        let out = w.alice.exec(&w.gw, "web01", "echo should-not-run");
        assert_one_line_refusal(&out);
        assert!(!out.stdout_text().contains("should-not-run"));

        // A grant on another target does not open this one.
        let web02 = Sshd::start();
        w.gw.add_target("web02", &web02, "other");
        w.gw.pin("web02");
        w.gw.grant("alice", "web02", "1h");
        let out = w.alice.exec(&w.gw, "web01", "echo should-not-run");
        assert_one_line_refusal(&out);
        w.alice.exec(&w.gw, "web02", "true").ok();
    }

    fn revoked_grant_disconnects_live_session_within_a_second(db) {
        let w = World::new(db);
        let mut s = w.alice.spawn_exec(&w.gw, "web01", "echo started; sleep 60");
        s.wait_stdout("started", SHORT);
        let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 80);
        t.line("echo PTY_$((1+1))");
        t.expect("PTY_2", SHORT);

        w.gw.revoke(w.grant_id());
        let revoked = Instant::now();
        let (ended, out) = exit_instant(&mut s, Duration::from_secs(5));
        let took = ended - revoked;
        assert!(took <= Duration::from_secs(1), "exec session ended {took:?} after the revoke:\n{out}");
        assert!(!out.success(), "{out}");
        assert!(
            out.all_text().to_lowercase().contains("revoked"),
            "the engineer is not told the grant was revoked:\n{out}"
        );
        let pty_out = t.wait(Duration::from_secs(2));
        assert!(pty_out.stdout_text().to_lowercase().contains("revoked"), "pty session:\n{pty_out}");

        assert_eq!(grant_state(&w.gw, w.grant_id()), "revoked");
        let again = w.alice.exec(&w.gw, "web01", "true");
        assert_one_line_refusal(&again);
        w.gw.wait_audit("grant.revoke", |e| e.to_string().contains(w.grant_id()));
    }

    fn idle_session_is_closed_after_the_idle_timeout(db) {
        let w = World::with(
            db,
            WorldOpts { replace: &[("idle_timeout = \"15m\"", "idle_timeout = \"2s\"")], ..WorldOpts::default() },
        );
        // Traffic keeps a session alive past the timeout...
        let busy = w.alice.exec(&w.gw, "web01", "for i in 1 2 3 4 5 6; do echo tick; sleep 0.5; done");
        busy.ok();
        assert_eq!(busy.stdout_text().lines().count(), 6, "{busy}");
        // ...silence ends it, with a line saying why.
        let mut s = w.alice.spawn_exec(&w.gw, "web01", "echo started; sleep 60");
        s.wait_stdout("started", SHORT);
        let quiet = Instant::now();
        let (ended, out) = exit_instant(&mut s, Duration::from_secs(10));
        let took = ended - quiet;
        assert!(took >= Duration::from_millis(1500) && took <= Duration::from_secs(4), "idle session ended after {took:?}:\n{out}");
        assert!(out.all_text().contains("idle"), "the engineer is not told why:\n{out}");
        w.gw.wait_audit("session.end", |e| e.to_string().contains("idle_timeout"));
    }

    fn warnings_before_the_grant_ends_reach_the_engineer_not_the_target(db) {
        let w = World::with(db, WorldOpts { grant_for: None, ..WorldOpts::default() });
        w.gw.grant("alice", "web01", "75s");
        let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 100);
        t.line("echo READY_$((2+2))");
        t.expect("READY_4", SHORT);
        // Less than ten minutes left at once: the first warning, with what is really left.
        t.expect("ends in 2 min", Duration::from_secs(3));
        // Then the one-minute warning, about fifteen seconds later.
        t.expect("ends in 1 min", Duration::from_secs(25));
        t.line("exit");
        t.wait(SHORT);
        let s = wait_until("the session to end", Duration::from_secs(10), || {
            let s = w.gw.last_session("alice");
            (!json_text(&s, "ended_at").is_empty()).then_some(s)
        });
        let id = json_text(&s, "id");
        // Never sent to the target: neither in what the engineer typed nor in what the target printed.
        for stream in ["input", "output"] {
            let rec = w.gw.cli(&["recording", "cat", &id, "--stream", stream]);
            assert!(!rec.ok().stdout_text().contains("ends in"), "warning went to the target ({stream})");
        }
        // Recorded as markers and audited.
        let cast = w.gw.cli_ok(&["recording", "export", &id, "--format", "asciicast"]);
        assert!(cast.contains("ends in 1 min"), "no marker in the recording:\n{cast}");
        w.gw.wait_audit("session.warning", |e| e.to_string().contains("ends in 1 min"));
    }

    fn expired_grant_disconnects_live_session(db) {
        let w = World::with(db, WorldOpts { grant_for: None, ..WorldOpts::default() });
        let id = w.gw.grant("alice", "web01", "4s");
        let granted = Instant::now();
        let mut s = w.alice.spawn_exec(&w.gw, "web01", "echo started; sleep 60");
        s.wait_stdout("started", SHORT);
        assert_eq!(grant_state(&w.gw, &id), "live");
        let (ended, out) = exit_instant(&mut s, Duration::from_secs(15));
        let after_end = ended.saturating_duration_since(granted + Duration::from_secs(4));
        assert!(ended >= granted + Duration::from_millis(3000), "ended before the grant did:\n{out}");
        assert!(after_end <= Duration::from_secs(1), "session outlived its grant by {after_end:?}:\n{out}");
        let t = out.all_text().to_lowercase();
        assert!(t.contains("expired") || t.contains("ended"), "the engineer is not told why:\n{out}");
        assert_eq!(grant_state(&w.gw, &id), "expired");
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web01", "true"));
    }
}
