//! Cutting an account off (issue 9): `menwei user disable`, `user key remove`, `user logout`
//! and a password change end what the account has open, on the node holding it, within
//! about a second, each saying why; the next login is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use menwei_e2e::*;

/// Waits for the session to end; returns how long it took and what the engineer saw.
fn ended(s: &mut Spawned, since: Instant) -> (Duration, Out) {
    let out = s.wait(SHORT);
    (since.elapsed(), out)
}

/// GET /api/v1/me with `cookie`: its HTTP status.
fn me(gw: &Gateway, cookie: &str) -> u16 {
    https_client(None)
        .get(format!("https://127.0.0.1:{}/api/v1/me", gw.https_port))
        .header("Cookie", cookie)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

both_databases! {
    fn a_disabled_engineer_is_cut_off_at_once_and_refused_after(db) {
        let w = World::new(db);
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        assert_eq!(me(&w.gw, &cookie), 200);
        let mut s = live_shell(&w);
        let at = Instant::now();
        w.gw.cli_ok(&["user", "disable", "alice", "--reason", "contract ended"]);
        let (took, out) = ended(&mut s, at);
        eprintln!("the live session ended {took:?} after `user disable`");
        assert!(took < Duration::from_secs(3), "{took:?}\n{out}");
        assert!(out.all_text().contains("your account was disabled: contract ended"), "{out}");
        assert_eq!(last_end_reason(&w.gw), "account_disabled");
        // Every door is shut: SSH, the web login it had, a new web login.
        let again = w.alice.exec(&w.gw, "web01", "echo in");
        again.failed();
        assert!(!again.stdout_text().contains("in"), "{again}");
        assert_eq!(me(&w.gw, &cookie), 401);
        w.gw.wait_audit("user.disable", |e| e["detail"]["reason"] == "contract ended");
        // Enabled again, the key works again.
        w.gw.cli_ok(&["user", "enable", "alice"]);
        w.alice.exec(&w.gw, "web01", "true").ok();
    }

    fn a_removed_key_logs_in_no_more_and_its_session_ends(db) {
        let w = World::new(db);
        let keys = w.gw.json(&["user", "key", "list", "alice"]);
        assert_eq!(keys.len(), 1, "{keys:?}");
        let fingerprint = json_text(&keys[0], "fingerprint");
        assert!(fingerprint.starts_with("SHA256:"), "{keys:?}");
        let mut s = live_shell(&w);
        let at = Instant::now();
        w.gw.cli_ok(&["user", "key", "remove", "alice", &fingerprint]);
        let (took, out) = ended(&mut s, at);
        assert!(took < Duration::from_secs(3), "{took:?}\n{out}");
        assert_eq!(last_end_reason(&w.gw), "account_cut_off");
        let again = w.alice.exec(&w.gw, "web01", "echo in");
        again.failed();
        assert!(w.gw.json(&["user", "key", "list", "alice"]).is_empty());
        // A key it does not have: one line saying so.
        let out = w.gw.cli(&["user", "key", "remove", "alice", &fingerprint]);
        assert!(!out.success() && lines(&out.stderr_text()).len() == 1, "{out}");
    }

    fn logout_and_a_password_change_end_web_logins(db) {
        let w = World::new(db);
        let first = w.gw.web_cookie("alice", WEB_PASSWORD);
        assert_eq!(me(&w.gw, &first), 200);
        // A changed password ends the login the old one opened.
        let second = w.gw.web_cookie("alice", "another long password 2");
        assert_eq!(me(&w.gw, &first), 401);
        assert_eq!(me(&w.gw, &second), 200);
        // Logout everywhere: the web login and the live session.
        let mut s = live_shell(&w);
        w.gw.cli_ok(&["user", "logout", "alice"]);
        assert_eq!(me(&w.gw, &second), 401);
        let (_, out) = ended(&mut s, Instant::now());
        assert!(out.all_text().contains("an administrator ended your logins"), "{out}");
        // It may log in again.
        w.alice.exec(&w.gw, "web01", "true").ok();
    }
}
