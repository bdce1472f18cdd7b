//! The second factor: `menwei totp enroll` and logging in with key + TOTP code from the real
//! OpenSSH client, which answers the gateway's keyboard-interactive prompt through
//! `SSH_ASKPASS` (the code computed here, independently of the gateway, per RFC 6238).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use menwei_e2e::*;

/// The policy line `menwei init` writes, and the one that adds engineers.
const TOTP_ROLES: &str = r#"totp_roles = ["approver", "admin"]"#;
const TOTP_ROLES_ENGINEER: &str = r#"totp_roles = ["approver", "admin", "engineer"]"#;

/// The usual world, where engineers need TOTP too.
fn world_with_engineer_totp(db: Db) -> World {
    World::with(
        db,
        WorldOpts {
            replace: &[(TOTP_ROLES, TOTP_ROLES_ENGINEER)],
            ..WorldOpts::default()
        },
    )
}

/// A code not too close to the end of its 30 s step, so the gateway sees the same step.
fn fresh_code(secret: &[u8]) -> String {
    while now_secs() % 30 > 25 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    totp(secret, now_secs())
}

/// `menwei totp enroll NAME`: checks the output, returns the secret from the URI.
#[track_caller]
fn enroll(gw: &Gateway, name: &str) -> (Vec<u8>, String) {
    let out = gw.cli_ok(&["totp", "enroll", name]);
    let uri = out
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .unwrap_or_else(|| panic!("no otpauth URI in:\n{out}"))
        .to_string();
    let prefix = format!("otpauth://totp/Menwei:{name}?secret=");
    assert!(uri.starts_with(&prefix), "{uri}");
    assert!(
        uri.ends_with("&issuer=Menwei&algorithm=SHA1&digits=6&period=30"),
        "{uri}"
    );
    let b32 = uri[prefix.len()..].split('&').next().unwrap().to_string();
    let secret = data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap();
    assert_eq!(secret.len(), 20, "160-bit secret");
    // The QR code is drawn with block characters.
    assert!(
        out.lines()
            .filter(|l| l.contains('█') || l.contains('▀'))
            .count()
            > 10,
        "no QR code in:\n{out}"
    );
    (secret, b32)
}

fn totp_failures(gw: &Gateway, reason: &str) -> usize {
    gw.audit()
        .iter()
        .filter(|e| {
            json_text(e, "action") == "login.totp.failure"
                && e["detail"]["reason"].as_str() == Some(reason)
        })
        .count()
}

both_databases! {
    fn real_ssh_client_logs_in_with_key_and_totp_code(db) {
        let w = world_with_engineer_totp(db);
        let (secret, _) = enroll(&w.gw, "alice");

        let (out, prompts) = w.alice.ssh_with_code(&w.gw, "alice:web01", &fresh_code(&secret), "echo through");
        out.ok();
        assert_eq!(out.stdout_text(), "through\n", "{out}");
        // OpenSSH puts `(user@host) ` before the server's prompt.
        assert_eq!(prompts.lines().count(), 1, "one prompt: {prompts:?}");
        assert!(prompts.trim_end().ends_with(") Verification code:"), "{prompts:?}");

        let success = w.gw.wait_audit("login.success", |e| json_text(e, "actor") == "alice");
        assert_eq!(success["detail"]["second_factor"], "totp", "{success}");
    }

    fn wrong_or_reused_code_is_refused_and_audited(db) {
        let w = world_with_engineer_totp(db);
        let (secret, _) = enroll(&w.gw, "alice");

        // A wrong code.
        let code = fresh_code(&secret);
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        let (out, prompts) = w.alice.ssh_with_code(&w.gw, "alice:web01", &wrong, "echo no");
        out.failed();
        assert!(!out.stdout_text().contains("no"), "{out}");
        assert!(out.stderr_text().contains("Permission denied"), "{out}");
        assert!(prompts.contains("Verification code:"), "the code was asked for: {prompts:?}");
        w.gw.wait_audit("login.totp.failure", |e| e["detail"]["reason"] == "wrong code");

        // The key alone is not enough: without a way to answer, no login.
        let out = w.alice.exec(&w.gw, "web01", "echo key-only");
        out.failed();
        assert!(!out.stdout_text().contains("key-only"), "{out}");

        // The right code works once; the same code again is refused.
        let (out, _) = w.alice.ssh_with_code(&w.gw, "alice:web01", &code, "echo first");
        out.ok();
        assert_eq!(out.stdout_text(), "first\n");
        let (out, _) = w.alice.ssh_with_code(&w.gw, "alice:web01", &code, "echo again");
        out.failed();
        assert!(!out.stdout_text().contains("again"), "{out}");
        w.gw.wait_audit("login.totp.failure", |e| e["detail"]["reason"] == "code already used");
    }

    fn roles_that_need_totp_but_have_not_enrolled_are_refused(db) {
        // Engineers need it by policy here; alice has not enrolled.
        let w = world_with_engineer_totp(db);
        let out = w.alice.exec(&w.gw, "web01", "echo in");
        assert_one_line_refusal(&out);
        w.gw.wait_audit("login.totp.failure", |e| {
            json_text(e, "actor") == "alice" && e["detail"]["reason"] == "not enrolled"
        });

        // Approvers always need it, whatever totp_roles says.
        let carol = Engineer::new("carol");
        w.gw.cli_ok(&["user", "add", "carol", "--role", "approver", "--key", carol.pubkey.to_str().unwrap()]);
        let out = carol.ssh(&w.gw, "carol", &[], &["status"], Stdin::Null);
        assert_one_line_refusal(&out);
        w.gw.wait_audit("login.totp.failure", |e| {
            json_text(e, "actor") == "carol" && e["detail"]["role"] == "approver"
        });
    }

    fn engineers_need_no_code_unless_policy_says_so(db) {
        let w = World::new(db);
        let out = w.alice.exec(&w.gw, "web01", "echo key-only");
        out.ok();
        assert_eq!(out.stdout_text(), "key-only\n");
        assert_eq!(totp_failures(&w.gw, "not enrolled"), 0);
    }

    fn enrolling_again_replaces_the_secret_which_is_stored_sealed(db) {
        let w = world_with_engineer_totp(db);
        let (old, old_b32) = enroll(&w.gw, "alice");
        let (new, new_b32) = enroll(&w.gw, "alice");
        assert_ne!(old, new);

        let stored = w.gw.sql("SELECT totp_secret FROM users WHERE name = 'alice'");
        stored.ok();
        let stored = stored.stdout_text();
        assert!(!stored.trim().is_empty(), "no secret stored");
        assert!(!stored.contains(&new_b32) && !stored.contains(&old_b32), "secret stored in clear: {stored}");

        let enrolls: Vec<_> = w.gw.audit().into_iter().filter(|e| json_text(e, "action") == "totp.enroll" && json_text(e, "subject") == "alice").collect();
        assert_eq!(enrolls.len(), 2);
        assert_eq!(enrolls[0]["detail"]["replaced"], false);
        assert_eq!(enrolls[1]["detail"]["replaced"], true);
        assert_eq!(json_text(&enrolls[1], "subject"), "alice");

        // Only the new secret's codes work.
        let code = fresh_code(&old);
        if code != totp(&new, now_secs()) {
            let (out, _) = w.alice.ssh_with_code(&w.gw, "alice:web01", &code, "echo old");
            out.failed();
        }
        let (out, _) = w.alice.ssh_with_code(&w.gw, "alice:web01", &fresh_code(&new), "echo new");
        out.ok();
        assert_eq!(out.stdout_text(), "new\n");

        // Unknown users are refused in one line.
        let o = w.gw.cli(&["totp", "enroll", "nobody"]);
        assert_one_line_refusal_cli(&o);
    }
}

#[track_caller]
fn assert_one_line_refusal_cli(o: &Out) {
    o.failed();
    let l = lines(&o.stderr_text());
    assert_eq!(l.len(), 1, "{o}");
    assert!(l[0].contains("no user \"nobody\""), "{o}");
}

#[test]
fn rfc6238_vectors_in_the_test_helper() {
    // The helper must agree with RFC 6238 appendix B, or the tests above prove nothing.
    let s = b"12345678901234567890";
    assert_eq!(totp(s, 59), "287082");
    assert_eq!(totp(s, 1111111109), "081804");
    assert_eq!(totp(s, 2000000000), "279037");
}

both_databases! {
    fn a_code_stays_used_after_a_restart(db) {
        let mut w = world_with_engineer_totp(db);
        let (secret, _) = enroll(&w.gw, "alice");
        let code = fresh_code(&secret);
        let (out, _) = w.alice.ssh_with_code(&w.gw, "alice:web01", &code, "echo first");
        out.ok();
        w.gw.stop(SHORT);
        w.gw.serve();
        // Still within the code's window (its step or the next): refused as used, not as wrong.
        let (out, _) = w.alice.ssh_with_code(&w.gw, "alice:web01", &code, "echo again");
        out.failed();
        assert!(!out.stdout_text().contains("again"), "{out}");
        assert_eq!(totp_failures(&w.gw, "code already used"), 1);
        assert_eq!(totp_failures(&w.gw, "wrong code"), 0);
    }

    fn every_roles_web_login_asks_for_a_code_by_default(db) {
        let mut w = World::new(db);
        w.gw.add_user("audrey", "auditor");
        let login = |gw: &Gateway, user: &str, code: Option<&str>| -> u16 {
            https_client(None)
                .post(format!("https://127.0.0.1:{}/api/v1/login", gw.https_port))
                .json(&serde_json::json!({"user": user, "password": WEB_PASSWORD, "totp": code}))
                .send()
                .unwrap()
                .status()
                .as_u16()
        };
        for user in ["audrey", "alice"] {
            w.gw.cli_with(&["user", "passwd", user], Stdin::Bytes(format!("{WEB_PASSWORD}\n").into_bytes())).ok();
            // The password alone, not enrolled: refused, and audited as such.
            assert_eq!(login(&w.gw, user, None), 401, "{user} logged in with a password alone");
            w.gw.wait_audit("login.totp.failure", |e| {
                json_text(e, "actor") == user && e["detail"]["reason"] == "not enrolled"
            });
            w.gw.enroll_totp(user);
            assert_eq!(login(&w.gw, user, None), 401, "{user} enrolled, no code");
            assert_eq!(login(&w.gw, user, Some(&w.gw.totp_code(user))), 200, "{user} with a code");
        }
        // An operator may drop the code for some roles; approvers and admins keep it.
        w.gw.stop(SHORT);
        w.gw.replace_config_line(
            r#"totp_roles = ["engineer", "approver", "auditor", "admin"]"#,
            r#"totp_roles = ["engineer"]"#,
        );
        w.gw.serve();
        assert_eq!(login(&w.gw, "audrey", None), 200, "auditor left out of [https] totp_roles");
        assert_eq!(login(&w.gw, "alice", None), 401, "engineer still listed");
        w.gw.cli_with(&["user", "passwd", "bob"], Stdin::Bytes(format!("{WEB_PASSWORD}\n").into_bytes())).ok();
        assert_eq!(login(&w.gw, "bob", None), 401, "an approver always gives a code");
        assert_eq!(login(&w.gw, "bob", Some(&w.gw.totp_code("bob"))), 200);
    }
}

/// Two nodes share one PostgreSQL database: a code used at one is refused at the other.
mod a_code_is_good_once_across_nodes {
    use super::*;

    #[test]
    fn postgres() {
        let w = world_with_engineer_totp(Db::Postgres);
        let (secret, _) = enroll(&w.gw, "alice");
        let mut second = w.gw.second_node("e2e-node-2");
        second.serve();
        let code = fresh_code(&secret);
        let (out, _) = w
            .alice
            .ssh_with_code(&w.gw, "alice:web01", &code, "echo first");
        out.ok();
        assert_eq!(out.stdout_text(), "first\n");
        let (out, prompts) = w
            .alice
            .ssh_with_code(&second, "alice:web01", &code, "echo again");
        assert!(
            prompts.contains("Verification code:"),
            "node 2 asked for the code: {prompts:?}"
        );
        out.failed();
        assert!(!out.stdout_text().contains("again"), "{out}");
        let refused = w.gw.wait_audit("login.totp.failure", |e| {
            e["detail"]["reason"] == "code already used"
        });
        assert_eq!(refused["node"], "e2e-node-2", "{refused}");
        // A new code (the next step) still works there.
        while totp(&secret, now_secs()) == code {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let (out, _) =
            w.alice
                .ssh_with_code(&second, "alice:web01", &fresh_code(&secret), "echo next");
        out.ok();
    }
}
