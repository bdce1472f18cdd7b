//! The `menwei` command line: setup, listings, and errors that are one clear line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use menwei_e2e::*;

/// A gateway (not serving) with bob (approver), alice (engineer), and target web01.
fn admin_world(db: Db) -> (Gateway, Sshd, Engineer) {
    let sshd = Sshd::start();
    let gw = Gateway::init(db);
    gw.add_user("bob", "approver");
    let alice = Engineer::new("alice");
    gw.add_engineer(&alice);
    gw.add_target("web01", &sshd, "Front web server");
    (gw, sshd, alice)
}

#[track_caller]
fn assert_one_line_error(out: &Out) {
    assert!(!out.success(), "expected an error:\n{out}");
    let l = lines(&out.stderr_text());
    assert_eq!(l.len(), 1, "a CLI error is one line:\n{out}");
    assert!(!out.stderr_text().contains("panicked"), "{out}");
}

both_databases! {
    fn init_writes_keys_config_and_database_and_refuses_to_overwrite(db) {
        let gw = Gateway::init(db);
        let d = gw.data_dir();
        for f in ["menwei.toml", "ssh_host_ed25519_key", "client_ed25519_key", "client_ed25519_key.pub", "vault.key", "recording_signing_key"] {
            assert!(d.join(f).is_file(), "init did not write {f}");
        }
        assert!(d.join("recordings").is_dir(), "init did not create recordings/");
        for secret in ["ssh_host_ed25519_key", "client_ed25519_key", "vault.key", "recording_signing_key"] {
            let mode = std::fs::metadata(d.join(secret)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{secret} is readable by others: {mode:o}");
        }
        let vault = std::fs::read(d.join("vault.key")).unwrap();
        let mut c = Command::new(menwei_bin());
        c.arg("init").arg("--data-dir").arg(&d);
        if let Some(url) = gw.db.init_url() {
            c.arg("--database-url").arg(url);
        }
        let out = run(c, Stdin::Null, SHORT);
        assert_one_line_error(&out);
        assert_eq!(std::fs::read(d.join("vault.key")).unwrap(), vault, "init overwrote vault.key");
        assert!(gw.client_key().starts_with("ssh-ed25519 "));
    }

    fn cli_errors_are_one_line_and_non_zero(db) {
        let (gw, _sshd, alice) = admin_world(db);
        let pubkey = alice.pubkey.to_str().unwrap();
        let g = |engineer: &str, target: &str, dur: &str, by: &str| -> Out {
            let args = ["grant", "add", "--engineer", engineer, "--target", target, "--for", dur, "--reason", "r", "--by", by];
            // Known accounts prove who they are (so the refusal is the grant's, not the proof's).
            if by == "nobody" { gw.cli(&args) } else { gw.cli_as(by, &args) }
        };
        let cases: Vec<(&str, Out)> = vec![
            ("bad role", gw.cli(&["user", "add", "carol", "--role", "wizard"])),
            ("duplicate user", gw.cli(&["user", "add", "bob", "--role", "approver"])),
            ("key for unknown user", gw.cli(&["user", "key", "add", "nobody", pubkey])),
            ("missing key file", gw.cli(&["user", "key", "add", "alice", "/nonexistent/key.pub"])),
            ("engineer grants", g("alice", "web01", "1h", "alice")),
            ("unknown approver", g("alice", "web01", "1h", "nobody")),
            ("unknown engineer", g("nobody", "web01", "1h", "bob")),
            ("unknown target", g("alice", "nosuch", "1h", "bob")),
            ("bad duration", g("alice", "web01", "banana", "bob")),
            ("revoke unknown grant", gw.cli_as("bob", &["grant", "revoke", "999999", "--by", "bob"])),
            ("duplicate target", gw.cli(&["target", "add", "web01", "--address", "127.0.0.1:1", "--login", "x"])),
            ("pin unknown target", gw.cli(&["target", "pin", "nosuch"])),
            ("verify missing file", gw.cli(&["recording", "verify", "/nonexistent/x.mwrec"])),
            ("export unknown recording", gw.cli(&["recording", "export", "no-such-session", "--format", "asciicast"])),
        ];
        for (what, out) in &cases {
            assert!(!out.success(), "{what}: succeeded\n{out}");
            let l = lines(&out.stderr_text());
            assert_eq!(l.len(), 1, "{what}: a CLI error is one line\n{out}");
            assert!(!out.stderr_text().contains("panicked"), "{what}: {out}");
        }
        // Nothing of the failed commands took effect.
        let users = gw.json(&["user", "list"]);
        assert!(!users.iter().any(|u| json_text(u, "name") == "carol"), "{users:?}");
        assert!(gw.grants().is_empty(), "a failed grant add left a grant: {:?}", gw.grants());
        // The refused grant attempts created nothing in the audit log either.
        assert!(!gw.audit().iter().any(|e| json_text(e, "action") == "grant.create"));
    }

    fn malformed_config_names_the_file_line_and_key(db) {
        let gw = Gateway::init(db);
        let good = std::fs::read_to_string(&gw.config).unwrap();
        let dir = gw.scratch();

        let syntax = dir.join("syntax.toml");
        let n = good.lines().count() + 2;
        std::fs::write(&syntax, format!("{good}\nthis is = = not toml\n")).unwrap();
        let typed = dir.join("typed.toml");
        std::fs::write(&typed, format!("{good}\n[policy.targets.web01]\nallow_exec = \"maybe\"\n")).unwrap();
        let typed_line = good.lines().count() + 3;

        for (file, line, key) in [(&syntax, n, None), (&typed, typed_line, Some("allow_exec"))] {
            for args in [vec!["user", "list"], vec!["serve"]] {
                let mut c = Command::new(menwei_bin());
                c.arg("--config").arg(file).args(&args);
                let out = run(c, Stdin::Null, SHORT);
                assert_one_line_error(&out);
                let e = out.stderr_text();
                let fname = file.file_name().unwrap().to_str().unwrap();
                assert!(e.contains(fname), "error does not name the file {fname}:\n{out}");
                assert!(
                    e.split(|c: char| !c.is_ascii_digit()).any(|t| t == line.to_string()),
                    "error does not name line {line}:\n{out}"
                );
                if let Some(k) = key {
                    assert!(e.contains(k), "error does not name the key {k}:\n{out}");
                }
            }
        }

        // The config can also come from MENWEI_CONFIG, or after the subcommand.
        let mut c = Command::new(menwei_bin());
        c.args(["user", "list"]).env("MENWEI_CONFIG", &gw.config);
        run(c, Stdin::Null, SHORT).ok();
        let mut c = Command::new(menwei_bin());
        c.args(["user", "list", "--config"]).arg(&gw.config);
        run(c, Stdin::Null, SHORT).ok();
    }

    fn listings_show_users_targets_and_grant_states(db) {
        let (gw, sshd, _alice) = admin_world(db);
        gw.pin("web01");
        let users = gw.json(&["user", "list"]);
        let a = users.iter().find(|u| json_text(u, "name") == "alice").unwrap_or_else(|| panic!("{users:?}"));
        assert!(a.to_string().contains("engineer"), "{a}");
        let targets = gw.json(&["target", "list"]);
        let t = targets.iter().find(|t| json_text(t, "name") == "web01").unwrap_or_else(|| panic!("{targets:?}"));
        assert!(t.to_string().contains("Front web server"), "{t}");
        assert!(t.to_string().contains(&sshd.host_key_fingerprint()), "pin not listed: {t}");

        let live = gw.grant("alice", "web01", "1h");
        let revoked = gw.grant("alice", "web01", "1h");
        gw.revoke(&revoked);
        let short = gw.grant("alice", "web01", "1s");
        let grants = wait_until("the 1 s grant listed as expired", SHORT, || {
            let grants = gw.grants();
            grants
                .iter()
                .any(|g| json_text(g, "id") == short && json_text(g, "state") == "expired")
                .then_some(grants)
        });
        let state = |id: &str| {
            let g = grants.iter().find(|g| json_text(g, "id") == id).unwrap_or_else(|| panic!("{id} not in {grants:?}"));
            for k in ["engineer", "target", "starts_at", "ends_at", "reason", "granted_by"] {
                assert!(g.get(k).is_some(), "grant lacks {k}: {g}");
            }
            json_text(g, "state")
        };
        assert_eq!(state(&live), "live");
        assert_eq!(state(&revoked), "revoked");
        assert_eq!(state(&short), "expired");
        let g = grants.iter().find(|g| json_text(g, "id") == live).unwrap();
        assert_eq!(json_text(g, "granted_by"), "bob");
        assert_eq!(json_text(g, "engineer"), "alice");

        // Revoking twice is an error, not a second event.
        assert_one_line_error(&gw.cli_as("bob", &["grant", "revoke", &revoked, "--by", "bob"]));
        let text_list = gw.cli_ok(&["grant", "list"]);
        assert!(text_list.contains("revoked") && text_list.contains("live"), "{text_list}");
    }
}
