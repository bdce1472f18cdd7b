//! Approvals carry proof of the approver (issue 9): whoever can run `menwei` on the gateway
//! host cannot approve, deny, grant, revoke, sign off or issue a token as someone else by
//! typing `--by`. The CLI asks for the acting account's TOTP code (or a live API token of
//! that account in MENWEI_TOKEN); each code works once; wrong codes are limited; and the
//! audit entry says how the actor proved who they are (`via`) and which operating-system
//! user ran the command.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::time::Duration;

use menwei_e2e::*;
use serde_json::Value;

fn world(db: Db) -> World {
    World::with(
        db,
        WorldOpts {
            grant_for: None,
            config: WEB_GROUP,
            ..WorldOpts::default()
        },
    )
}

fn state(gw: &Gateway, id: &str) -> String {
    let v: Value = serde_json::from_str(&gw.cli_ok(&["request", "show", id, "--json"])).unwrap();
    json_text(&v, "state")
}

/// The CLI run the way a host admin at a script or cron job would: no controlling terminal
/// (`setsid`), nothing on stdin, no token.
fn without_terminal(gw: &Gateway, args: &[&str]) -> Out {
    let mut c = Command::new("setsid");
    c.arg("-w")
        .arg(menwei_bin())
        .arg("--config")
        .arg(&gw.config)
        .args(args);
    run(c, Stdin::Null, Duration::from_secs(30))
}

/// The CLI with `code` on stdin and `--totp-stdin`.
fn with_code(gw: &Gateway, args: &[&str], code: &str) -> Out {
    let mut a = args.to_vec();
    a.push("--totp-stdin");
    gw.cli_with(&a, Stdin::Bytes(format!("{code}\n").into_bytes()))
}

#[track_caller]
fn refused_with(out: &Out, words: &str) {
    assert!(!out.success(), "{out}");
    let err = out.stderr_text();
    assert_eq!(lines(&err).len(), 1, "one line: {out}");
    assert!(err.contains(words), "expected {words:?} in: {out}");
}

/// The name of the operating-system user running the tests, as the kernel knows it.
fn os_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A code of `secret` that is surely not the current one (nor the one before or after).
fn wrong_code(secret: &[u8]) -> String {
    let now = now_secs();
    let valid: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| totp(secret, *t))
        .collect();
    (0..)
        .map(|i| format!("{:06}", (i * 7919) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap()
}

both_databases! {
    fn a_cli_approval_needs_the_approvers_totp_and_says_how_it_was_proved(db) {
        let w = world(db);
        let secret = w.gw.enroll_totp("bob");
        let id = file_request(&w.gw, "C", "1h");
        let approve = ["review", "approve", id.as_str(), "--by", "bob"];

        // The host's admin typing --by bob: no terminal to ask on, no code, no approval.
        refused_with(&without_terminal(&w.gw, &approve), "TOTP code");
        // A wrong code: refused and audited.
        refused_with(&with_code(&w.gw, &approve, &wrong_code(&secret)), "wrong TOTP code");
        let e = w.gw.wait_audit("cli.proof.refused", |e| json_text(e, "subject") == "bob");
        assert_eq!(json_text(&e["detail"], "os_user"), os_user(), "{e}");
        assert_eq!(state(&w.gw, &id), "pending");

        // Bob's code: approved, and the audit says cli+totp and who ran the command.
        let code = w.gw.totp_code("bob");
        let out = with_code(&w.gw, &approve, &code);
        assert!(out.success(), "{out}");
        assert_eq!(state(&w.gw, &id), "approved");
        let e = w.gw.wait_audit("review.approve", |e| json_text(e, "subject") == id);
        assert_eq!(json_text(&e, "actor"), "bob");
        assert_eq!(json_text(&e["detail"], "via"), "cli+totp", "{e}");
        assert_eq!(json_text(&e["detail"], "os_user"), os_user(), "{e}");
        let g = w.gw.wait_audit("grant.create", |g| json_text(&g["detail"], "request") == id);
        assert_eq!(json_text(&g["detail"], "via"), "cli+totp", "{g}");

        // The same code once more (another request): refused, each code works once.
        let second = file_request(&w.gw, "C", "1h");
        refused_with(
            &with_code(&w.gw, &["review", "deny", &second, "--by", "bob", "--comment", "no"], &code),
            "already used",
        );
        assert_eq!(state(&w.gw, &second), "pending");

        // A token proves only its own account: alice's token cannot act as bob.
        let alice_token = w.gw.token("alice");
        let mut c = Command::new(menwei_bin());
        c.env("MENWEI_TOKEN", &alice_token).arg("--config").arg(&w.gw.config)
            .args(["review", "deny", &second, "--by", "bob", "--comment", "no"]);
        refused_with(&run(c, Stdin::Null, Duration::from_secs(30)), "not of \"bob\"");
        assert_eq!(state(&w.gw, &second), "pending");

        // Bob's own token (issued with his code): via cli+token, naming the token.
        w.gw.cli_as_ok("bob", &["review", "deny", &second, "--by", "bob", "--comment", "no"]);
        assert_eq!(state(&w.gw, &second), "denied");
        let e = w.gw.wait_audit("review.deny", |e| json_text(e, "subject") == second);
        assert_eq!(json_text(&e["detail"], "via"), "cli+token", "{e}");
        assert!(json_text(&e["detail"], "token").starts_with("t-"), "{e}");

        // grant add, grant revoke and a withdrawal need proof the same way.
        let grant = ["grant", "add", "--engineer", "alice", "--target", "web01", "--for", "1h",
            "--reason", "INC-1", "--by", "bob"];
        refused_with(&without_terminal(&w.gw, &grant), "TOTP code");
        let third = file_request(&w.gw, "C", "1h");
        refused_with(&without_terminal(&w.gw, &["request", "withdraw", &third, "--by", "alice"]), "TOTP code");
        assert_eq!(w.gw.json(&["grant", "list"]).len(), 1, "only the approved request's grant");
        assert_eq!(state(&w.gw, &third), "pending");
    }

    fn a_token_needs_its_accounts_code_and_wrong_codes_are_limited(db) {
        let w = world(db);
        let secret = w.gw.enroll_totp("bob");
        // Issuing a token for bob needs bob's code, not merely access to the CLI.
        refused_with(&without_terminal(&w.gw, &["token", "add", "--user", "bob"]), "TOTP code");
        // An account without TOTP gets one line saying how to get one.
        w.gw.add_user("carl", "approver");
        refused_with(&without_terminal(&w.gw, &["token", "add", "--user", "carl"]), "menwei totp enroll carl");
        assert!(w.gw.json(&["token", "list"]).is_empty());
        let out = w.gw.token_add("bob", &[]);
        assert!(out.success(), "{out}");
        let e = w.gw.wait_audit("token.add", |_| true);
        assert_eq!(json_text(&e["detail"], "via"), "cli+totp", "{e}");
        assert_eq!(json_text(&e["detail"], "user"), "bob", "{e}");

        // Guessing: after five wrong codes within 15 minutes even the right code is not
        // checked for a while.
        let id = file_request(&w.gw, "C", "1h");
        let approve = ["review", "approve", id.as_str(), "--by", "bob"];
        for _ in 0..5 {
            refused_with(&with_code(&w.gw, &approve, &wrong_code(&secret)), "wrong TOTP code");
        }
        refused_with(&with_code(&w.gw, &approve, &w.gw.totp_code("bob")), "too many wrong TOTP codes");
        assert_eq!(state(&w.gw, &id), "pending");
    }

    fn an_approver_reviews_over_ssh_with_key_and_code(db) {
        let w = world(db);
        // bob acts from his own terminal: his key, then his TOTP code at the gateway's prompt.
        let bob = Engineer::new("bob");
        w.gw.cli_ok(&["user", "key", "add", "bob", bob.pubkey.to_str().unwrap()]);
        w.gw.enroll_totp("bob");
        let first = file_request(&w.gw, "C", "1h");
        let (out, prompts) = bob.ssh_with_code(&w.gw, "bob", &w.gw.totp_code("bob"), "review list");
        out.ok();
        assert!(prompts.contains("Verification code:"), "{prompts:?}");
        assert!(out.stdout_text().contains(&first) && out.stdout_text().contains("INC-1"), "{out}");
        let (out, _) = bob.ssh_with_code(&w.gw, "bob", &w.gw.totp_code("bob"),
            &format!("review approve {first} --for 30m --comment 'go ahead'"));
        out.ok();
        assert!(out.stdout_text().contains(&format!("request {first} approved")), "{out}");
        assert_eq!(state(&w.gw, &first), "approved");
        let e = w.gw.wait_audit("review.approve", |e| json_text(e, "subject") == first);
        assert_eq!(json_text(&e, "actor"), "bob");
        assert_eq!(json_text(&e["detail"], "via"), "ssh", "{e}");
        assert_eq!(json_text(&e["detail"], "comment"), "go ahead", "{e}");

        // A wrong code: no login, nothing approved.
        let second = file_request(&w.gw, "C", "1h");
        let secret = w.gw.enroll_totp("bob");
        let (out, _) = bob.ssh_with_code(&w.gw, "bob", &wrong_code(&secret),
            &format!("review approve {second}"));
        out.failed();
        assert_eq!(state(&w.gw, &second), "pending");
        // An engineer logged in with her key is no approver.
        let out = w.alice.ssh(&w.gw, "alice", &[], &[&format!("review approve {second}")], Stdin::Null);
        out.failed();
        assert!(out.stderr_text().contains("only approvers"), "{out}");
        assert_eq!(state(&w.gw, &second), "pending");
        // A deny needs its comment, as everywhere.
        let (out, _) = bob.ssh_with_code(&w.gw, "bob", &w.gw.totp_code("bob"),
            &format!("review deny {second} --comment 'use the window'"));
        out.ok();
        assert_eq!(state(&w.gw, &second), "denied");
    }
}
