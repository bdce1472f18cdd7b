//! Targets: pinning, changed host keys, unreachable targets. None of it may show the
//! engineer where a target is.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use menwei_e2e::*;

both_databases! {
    fn pin_prints_and_stores_the_host_key_fingerprint(db) {
        let web01 = Sshd::start();
        let gw = Gateway::init(db);
        gw.add_user("bob", "approver");
        gw.add_target("web01", &web01, "pinned by the test");
        let out = gw.cli_ok(&["target", "pin", "web01"]);
        let fp = web01.host_key_fingerprint();
        assert!(out.contains(&fp), "`target pin` does not show {fp}: {out:?}");
        let listed = gw.json(&["target", "list"]);
        assert!(listed.iter().any(|t| json_text(t, "name") == "web01" && t.to_string().contains(&fp)), "{listed:?}");
        gw.wait_audit("target.pin", |_| true);
    }

    fn target_pinned_at_add_time_works_and_a_wrong_pin_is_refused(db) {
        let w = World::new(db);
        let web02 = Sshd::start();
        web02.authorize(&w.gw.client_key());
        let fp = web02.host_key_fingerprint();
        w.gw.cli_ok(&["target", "add", "web02", "--address", &web02.address(), "--login", &web02.login(), "--host-key-fingerprint", &fp]);
        w.gw.grant("alice", "web02", "1h");
        let out = w.alice.exec(&w.gw, "web02", "echo via-fingerprint");
        out.ok();
        assert_eq!(out.stdout_text(), "via-fingerprint\n");

        let web03 = Sshd::start();
        web03.authorize(&w.gw.client_key());
        w.gw.cli_ok(&["target", "add", "web03", "--address", &web03.address(), "--login", &web03.login(), "--host-key-fingerprint", &fp]);
        w.gw.grant("alice", "web03", "1h");
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web03", "echo should-not-run"));
        w.gw.wait_audit("target.hostkey_mismatch", |e| e.to_string().contains("web03"));
    }

    fn unpinned_target_is_refused(db) {
        let w = World::with(db, WorldOpts { pin: false, ..WorldOpts::default() });
        let out = w.alice.exec(&w.gw, "web01", "echo should-not-run");
        assert_one_line_refusal(&out);
    }

    fn changed_host_key_is_refused_and_audited(db) {
        let mut w = World::new(db);
        w.alice.exec(&w.gw, "web01", "true").ok();
        w.web01.restart_with_new_host_key();
        let out = w.alice.exec(&w.gw, "web01", "echo should-not-run");
        assert_one_line_refusal(&out);
        assert!(!out.stdout_text().contains("should-not-run"));
        w.gw.wait_audit("target.hostkey_mismatch", |e| e.to_string().contains("web01"));
    }

    fn unreachable_target_is_refused_without_revealing_its_address(db) {
        let mut w = World::new(db);
        w.web01.stop();
        let out = w.alice.exec(&w.gw, "web01", "true");
        assert_one_line_refusal(&out);
        w.gw.wait_audit("connect.refused", |e| e.to_string().contains("web01"));
        // And with the client's full debug output, which includes everything the
        // gateway says at the protocol level.
        let out = w.alice.ssh(&w.gw, "alice:web01", &["-vvv"], &["true"], Stdin::Null);
        out.failed();
    }

    fn unknown_target_is_refused_like_an_ungranted_one(db) {
        // alice holds no grant: web01 exists, nosuchhost does not. An engineer must not be
        // able to tell the two apart (that would list the bureau's servers by guessing).
        let w = World::with(db, WorldOpts { grant_for: None, ..WorldOpts::default() });
        let unknown = w.alice.exec(&w.gw, "nosuchhost", "true");
        assert_one_line_refusal(&unknown);
        let ungranted = w.alice.exec(&w.gw, "web01", "true");
        assert_one_line_refusal(&ungranted);
        assert_eq!(
            unknown.stderr_text().replace("nosuchhost", "TARGET"),
            ungranted.stderr_text().replace("web01", "TARGET"),
            "an unknown target is refused differently from an existing one without a grant"
        );
        assert_eq!(unknown.code(), ungranted.code());
        assert_eq!(unknown.stdout, ungranted.stdout);
    }
}
