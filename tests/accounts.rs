//! Cutting an account off (issue 9): `menwei user disable`, `user key remove`, `user logout`,
//! `user remove` and a password change, and their twins under `/api/v1/users` called with an
//! admin's token, end what the account has open, on the node holding it, within about a
//! second, each saying why; the next login is refused. A removed account's history stays
//! under its name, which is never given again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use menwei_e2e::*;
use serde_json::{json, Value};

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

/// An API call with `bearer`: its status and JSON body (`Null` when none).
fn call(gw: &Gateway, method: &str, path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = https_client(None)
        .request(
            method.parse().unwrap(),
            format!("https://127.0.0.1:{}/api/v1{path}", gw.https_port),
        )
        .bearer_auth(bearer);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Status, error code and refusal reason of an API answer.
fn refusal((status, body): (u16, Value)) -> (u16, String, String) {
    (
        status,
        json_text(&body["error"], "code"),
        json_text(&body["error"], "reason"),
    )
}

/// The lines of what the engineer saw that mention `needle`.
fn lines_with(out: &Out, needle: &str) -> usize {
    lines(&out.all_text())
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

/// `fingerprint` as one URL path segment (`SHA256:ab+c/d` → `SHA256%3Aab%2Bc%2Fd`).
fn path_segment(fingerprint: &str) -> String {
    fingerprint
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

both_databases! {
    fn an_admin_token_disables_enables_and_logs_out_an_account(db) {
        let w = World::new(db);
        w.gw.add_user("adam", "admin");
        let adam = w.gw.token("adam");
        let hers = w.gw.token("alice");
        assert_eq!(call(&w.gw, "GET", "/me", &hers, None).0, 200);
        let mut s = live_shell(&w);
        let at = Instant::now();
        let (status, body) = call(&w.gw, "POST", "/users/alice/disable", &adam,
            Some(json!({"reason": "contract ended"})));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tokens_revoked"], 1, "{body}");
        let (took, out) = ended(&mut s, at);
        eprintln!("the live session ended {took:?} after POST /users/alice/disable");
        assert!(took < Duration::from_secs(3), "{took:?}\n{out}");
        assert_eq!(lines_with(&out, "your account was disabled: contract ended"), 1, "{out}");
        assert_eq!(last_end_reason(&w.gw), "account_disabled");
        // Every door is shut: SSH, her API token.
        w.alice.exec(&w.gw, "web01", "echo in").failed();
        assert_eq!(call(&w.gw, "GET", "/me", &hers, None).0, 401);
        let e = w.gw.wait_audit("user.disable", |e| e["detail"]["reason"] == "contract ended");
        assert_eq!(json_text(&e, "actor"), "adam", "{e}");
        assert_eq!(json_text(&e["detail"], "via"), "api-token", "{e}");
        assert!(json_text(&e["detail"], "token").starts_with("t-"), "{e}");
        let (_, users) = call(&w.gw, "GET", "/users", &adam, None);
        let alice = users.as_array().unwrap().iter().find(|u| u["name"] == "alice").unwrap();
        assert_eq!((&alice["disabled"], &alice["disabled_reason"], &alice["removed"]),
            (&json!(true), &json!("contract ended"), &json!(false)), "{alice}");
        // A reason is required, on one line.
        for bad in [json!({}), json!({"reason": " "}), json!({"reason": "a\nb"})] {
            assert_eq!(refusal(call(&w.gw, "POST", "/users/alice/disable", &adam, Some(bad.clone()))).0,
                400, "{bad}");
        }
        // Enabled again, her key works again; the revoked token stays revoked.
        assert_eq!(call(&w.gw, "POST", "/users/alice/enable", &adam, None).0, 200);
        w.alice.exec(&w.gw, "web01", "true").ok();
        assert_eq!(call(&w.gw, "GET", "/me", &hers, None).0, 401);
        // Logout ends her web login and her live session; she may log in again.
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        assert_eq!(me(&w.gw, &cookie), 200);
        let mut s = live_shell(&w);
        assert_eq!(call(&w.gw, "POST", "/users/alice/logout", &adam, None).0, 200);
        assert_eq!(me(&w.gw, &cookie), 401);
        let (_, out) = ended(&mut s, Instant::now());
        assert_eq!(lines_with(&out, "an administrator ended your logins"), 1, "{out}");
        w.alice.exec(&w.gw, "web01", "true").ok();
        // Not oneself (409), not an account that is not there (404).
        for (method, path) in [("POST", "/users/adam/disable"), ("DELETE", "/users/adam")] {
            assert_eq!(refusal(call(&w.gw, method, path, &adam, Some(json!({"reason": "oops"})))),
                (409, "conflict".into(), "own_account".into()), "{method} {path}");
        }
        assert_eq!(call(&w.gw, "GET", "/me", &adam, None).0, 200);
        assert_eq!(refusal(call(&w.gw, "POST", "/users/nosuch/disable", &adam, Some(json!({"reason": "x"})))),
            (404, "not_found".into(), "unknown_user".into()));
    }

    fn keys_are_listed_and_removed_over_the_api_by_admins_only(db) {
        let w = World::new(db);
        w.gw.add_user("adam", "admin");
        w.gw.add_user("audrey", "auditor");
        let adam = w.gw.token("adam");
        let (status, keys) = call(&w.gw, "GET", "/users/alice/keys", &adam, None);
        assert_eq!(status, 200, "{keys}");
        assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
        let fingerprint = json_text(&keys[0], "fingerprint");
        assert!(fingerprint.starts_with("SHA256:"), "{keys}");
        assert!(keys[0]["added_at"].is_string() && keys[0]["comment"].is_string(), "{keys}");
        // Only the fingerprint, never the key.
        assert!(!keys.to_string().contains("AAAA"), "{keys}");
        let key_path = format!("/users/alice/keys/{}", path_segment(&fingerprint));
        // Nobody but an admin: an engineer, an approver and an auditor get 403, and nothing
        // happens.
        let reason = Some(json!({"reason": "not yours to say"}));
        for who in ["alice", "bob", "audrey"] {
            let token = w.gw.token(who);
            for (method, path, body) in [
                ("GET", "/users", None),
                ("POST", "/users/alice/disable", reason.clone()),
                ("POST", "/users/alice/enable", None),
                ("DELETE", "/users/alice", reason.clone()),
                ("POST", "/users/alice/logout", None),
                ("GET", "/users/alice/keys", None),
                ("DELETE", key_path.as_str(), None),
            ] {
                assert_eq!(refusal(call(&w.gw, method, path, &token, body)).0, 403,
                    "{method} {path} as {who}");
            }
        }
        w.alice.exec(&w.gw, "web01", "true").ok();
        // The admin removes it (the fingerprint URL-encoded): it logs in no more.
        let mut s = live_shell(&w);
        let at = Instant::now();
        let (status, body) = call(&w.gw, "DELETE", &key_path, &adam, None);
        assert_eq!(status, 200, "{body}");
        assert_eq!(json_text(&body, "fingerprint"), fingerprint);
        let (took, out) = ended(&mut s, at);
        assert!(took < Duration::from_secs(3), "{took:?}\n{out}");
        assert_eq!(lines_with(&out, "an administrator ended your logins"), 1, "{out}");
        assert_eq!(last_end_reason(&w.gw), "account_cut_off");
        w.alice.exec(&w.gw, "web01", "echo in").failed();
        assert_eq!(call(&w.gw, "GET", "/users/alice/keys", &adam, None).1, json!([]));
        assert_eq!(refusal(call(&w.gw, "DELETE", &key_path, &adam, None)),
            (404, "not_found".into(), "unknown_key".into()));
        let e = w.gw.wait_audit("user.key.remove", |e| e["detail"]["fingerprint"] == fingerprint.as_str());
        assert_eq!(json_text(&e, "actor"), "adam", "{e}");
    }

    fn a_removed_account_keeps_its_history_and_its_name(db) {
        let w = World::new(db);
        w.alice.exec(&w.gw, "web01", "echo before").ok();
        let earlier = json_text(&w.gw.last_session("alice"), "id");
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        let token = w.gw.token("alice");
        let mut s = live_shell(&w);
        let at = Instant::now();
        w.gw.cli_ok(&["user", "remove", "alice", "--reason", "left the company"]);
        let (took, out) = ended(&mut s, at);
        eprintln!("the live session ended {took:?} after `user remove`");
        assert!(took < Duration::from_secs(3), "{took:?}\n{out}");
        assert_eq!(lines_with(&out, "your account was removed: left the company"), 1, "{out}");
        // No door opens: SSH, her web login, her API token, a new password login.
        w.alice.exec(&w.gw, "web01", "echo in").failed();
        assert_eq!(me(&w.gw, &cookie), 401);
        assert_eq!(call(&w.gw, "GET", "/me", &token, None).0, 401);
        assert!(w.gw.json(&["user", "key", "list", "alice"]).is_empty());
        let e = w.gw.wait_audit("user.remove", |e| e["detail"]["reason"] == "left the company");
        assert_eq!((&e["detail"]["keys_removed"], &e["detail"]["tokens_revoked"]), (&json!(1), &json!(1)), "{e}");
        // Her history stays under her name.
        assert!(w.gw.sessions().iter().any(|s| json_text(s, "id") == earlier && json_text(s, "engineer") == "alice"),
            "{:?}", w.gw.sessions());
        assert!(w.gw.audit().iter().any(|e| json_text(e, "action") == "grant.create" && e["detail"]["engineer"] == "alice"));
        // The name is not given again, nor the account back.
        for args in [&["user", "add", "alice", "--role", "engineer"][..], &["user", "enable", "alice"]] {
            let out = w.gw.cli(args);
            assert!(!out.success() && lines(&out.stderr_text()).len() == 1, "{out}");
            assert!(out.stderr_text().contains("removed"), "{out}");
        }
        // Lists leave her out unless asked.
        assert!(!w.gw.json(&["user", "list"]).iter().any(|u| u["name"] == "alice"));
        let all = w.gw.json(&["user", "list", "--all"]);
        let alice = all.iter().find(|u| u["name"] == "alice").unwrap();
        assert_eq!(alice["removed"], true, "{all:?}");
        assert!(w.gw.cli_ok(&["user", "list", "--all"]).contains("removed"));
        // The last enabled admin stays; a reason is required.
        w.gw.add_user("adam", "admin");
        for args in [&["user", "remove", "adam", "--reason", "x"][..], &["user", "disable", "adam", "--reason", "x"]] {
            let out = w.gw.cli(args);
            assert!(!out.success() && lines(&out.stderr_text()).len() == 1, "{out}");
            assert!(out.stderr_text().contains("last enabled admin"), "{out}");
        }
        let out = w.gw.cli(&["user", "remove", "bob", "--reason", " "]);
        assert!(!out.success() && lines(&out.stderr_text()).len() == 1, "{out}");
        assert!(!w.gw.cli(&["user", "remove", "bob"]).success());
    }

    fn a_role_change_ends_what_the_old_role_opened(db) {
        let w = World::new(db);
        w.gw.add_user("adam", "admin");
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        let token = w.gw.token("alice");
        let mut s = live_shell(&w);
        let at = Instant::now();
        let out = w.gw.cli_ok(&["user", "role", "alice", "auditor", "--reason", "moved to the audit team"]);
        assert!(out.contains("is now auditor"), "{out}");
        let (took, seen) = ended(&mut s, at);
        eprintln!("the live session ended {took:?} after `user role`");
        assert!(took < Duration::from_secs(3), "{took:?}\n{seen}");
        assert_eq!(lines_with(&seen, "an administrator ended your logins"), 1, "{seen}");
        assert_eq!(last_end_reason(&w.gw), "account_cut_off");
        assert_eq!(me(&w.gw, &cookie), 401, "the engineer's web login outlived the role");
        assert_eq!(call(&w.gw, "GET", "/me", &token, None).0, 401, "the engineer's token outlived the role");
        // An auditor opens no shell on a target.
        let again = w.alice.exec(&w.gw, "web01", "echo in");
        again.failed();
        assert!(!again.stdout_text().contains("in"), "{again}");
        let e = w.gw.wait_audit("user.role", |e| json_text(e, "subject") == "alice");
        assert_eq!((json_text(&e["detail"], "from"), json_text(&e["detail"], "to")), ("engineer".into(), "auditor".into()), "{e}");
        assert_eq!(e["detail"]["tokens_revoked"], 1, "{e}");
        // Over the API, admins only; the last admin keeps the role; bad roles and the same
        // role are one-line refusals.
        let adam = w.gw.token("adam");
        let body = |role: &str| Some(json!({"role": role, "reason": "back to work"}));
        let (status, answer) = call(&w.gw, "POST", "/users/alice/role", &adam, body("engineer"));
        assert_eq!(status, 200, "{answer}");
        w.alice.exec(&w.gw, "web01", "true").ok();
        assert_eq!(call(&w.gw, "POST", "/users/alice/role", &w.gw.token("bob"), body("auditor")).0, 403);
        assert_eq!(refusal(call(&w.gw, "POST", "/users/alice/role", &adam, body("root"))).0, 400);
        assert_eq!(refusal(call(&w.gw, "POST", "/users/alice/role", &adam, body("engineer"))).0, 400);
        assert_eq!(refusal(call(&w.gw, "POST", "/users/adam/role", &adam, body("auditor"))).0, 409);
        let out = w.gw.cli(&["user", "role", "adam", "auditor", "--reason", "x"]);
        assert!(!out.success() && out.stderr_text().contains("last enabled admin"), "{out}");
    }
}

/// On two nodes sharing one PostgreSQL: an account disabled with the CLI of node 1 loses the
/// live session it holds on node 2 within about a second, and node 2 refuses its next login.
mod a_disabled_account_is_cut_off_on_every_node {
    use super::*;

    #[test]
    fn postgres() {
        let w = World::new(Db::Postgres);
        let mut second = w.gw.second_node("e2e-node-2");
        second.serve();
        let mut s = live_shell_on(&w, &second);
        let at = Instant::now();
        w.gw.cli_ok(&["user", "disable", "alice", "--reason", "contract ended"]);
        let (took, out) = ended(&mut s, at);
        eprintln!("the session on node 2 ended {took:?} after `user disable` on node 1");
        assert!(took < Duration::from_secs(3), "{took:?}\n{out}");
        assert_eq!(
            lines_with(&out, "your account was disabled: contract ended"),
            1,
            "{out}"
        );
        let row = w.gw.last_session("alice");
        assert_eq!(json_text(&row, "node"), "e2e-node-2", "{row}");
        let again = w.alice.exec(&second, "web01", "echo in");
        again.failed();
        assert!(!again.stdout_text().contains("in"), "{again}");
    }
}
