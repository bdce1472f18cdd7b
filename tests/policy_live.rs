//! The policy in force on a running gateway: SIGHUP puts a valid new one in force, an
//! invalid one is refused (said in the log and the audit log) and the last good one stays;
//! the longest session applies to live sessions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use menwei_e2e::*;

both_databases! {
    fn sighup_reloads_a_valid_policy_and_keeps_the_last_good_one_otherwise(db) {
        let mut w = World::with(db, WorldOpts { grant_for: None, ..WorldOpts::default() });
        // No group holds web01 yet: alice cannot request it from ssh.
        let out = w.alice.exec(&w.gw, "web01", "true");
        assert!(!out.stderr_text().contains("to request access"), "{out}");

        // A valid change, then SIGHUP: in force without a restart.
        w.gw.append_config(WEB_GROUP);
        signal(w.gw.pid(), "HUP");
        w.gw.wait_audit("policy.reload", |_| true);
        let out = w.alice.exec(&w.gw, "web01", "true");
        assert!(out.stderr_text().contains("to request access"), "the new group is not in force:\n{out}");

        // A change that takes access away is in force too: with a live grant, exec works
        // until the group turns it off.
        w.gw.grant("alice", "web01", "1h");
        let out = w.alice.exec(&w.gw, "web01", "echo exec-allowed");
        assert_eq!(out.ok().stdout_text(), "exec-allowed\n");
        w.gw.append_config("allow_exec = false\n");
        signal(w.gw.pid(), "HUP");
        wait_until("the second policy.reload", Duration::from_secs(10), || {
            (w.gw.audit().iter().filter(|e| json_text(e, "action") == "policy.reload").count() >= 2).then_some(())
        });
        let out = w.alice.exec(&w.gw, "web01", "echo exec-allowed");
        assert_one_line_refusal(&out);
        assert!(out.stderr_text().contains("non-interactive commands are disabled"), "exec still allowed after the reload:\n{out}");
        assert!(!out.stdout_text().contains("exec-allowed"), "{out}");

        // An invalid change: refused, said, and the last good policy stays in force.
        let good = std::fs::read_to_string(&w.gw.config).unwrap();
        w.gw.append_config("[policy.groups.broken]\ntargets = []\napprovals = 0\n");
        signal(w.gw.pid(), "HUP");
        // The whole line: it says the last good policy stays, and names the bad key.
        wait_until("the log line naming the bad key", Duration::from_secs(5), || {
            w.gw.log()
                .lines()
                .any(|l| l.contains("last good one stays in force") && l.contains("policy.groups.broken"))
                .then_some(())
        });
        assert!(w.gw.serving(), "an invalid policy stopped the gateway");
        let out = w.alice.exec(&w.gw, "web01", "true");
        assert!(out.stderr_text().contains("non-interactive commands are disabled"), "the last good policy is gone:\n{out}");
        // (The CLI refuses the broken file too; with it repaired, the refusal is in the audit log.)
        std::fs::write(&w.gw.config, good).unwrap();
        let e = w.gw.wait_audit("policy.reload.refused", |_| true);
        assert!(e.to_string().contains("policy.groups.broken"), "the refusal does not name the key: {e}");
    }

    fn the_longest_session_ends_a_live_session(db) {
        let w = World::with(db, WorldOpts {
            replace: &[("max_session = \"8h\"", "max_session = \"3s\"")],
            ..WorldOpts::default()
        });
        let mut s = w.alice.spawn_exec(&w.gw, "web01", "echo started; sleep 60");
        s.wait_stdout("started", SHORT);
        let out = s.wait(Duration::from_secs(10));
        assert!(!out.success(), "{out}");
        assert!(out.all_text().contains("longest"), "the engineer is not told why:\n{out}");
        w.gw.wait_audit("session.end", |e| e.to_string().contains("max_session"));
    }
}
