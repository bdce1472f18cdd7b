//! Requests and reviews from the command line: a grant exists only once enough distinct
//! approvers approved, and then `ssh` works; denials, withdrawals, lapses, shortening and
//! every refusal (one line, non-zero exit, audited); a malformed policy names its file,
//! line and key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use menwei_e2e::*;
use serde_json::Value;

/// web01 in a group every engineer may request, one approver.
/// web01 in a group that needs two distinct approvers.
const WEB_TWO: &str =
    "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\napprovals = 2\n";

fn world(db: Db, policy: &'static str) -> World {
    World::with(
        db,
        WorldOpts {
            grant_for: None,
            config: policy,
            ..WorldOpts::default()
        },
    )
}

#[track_caller]
fn show(gw: &Gateway, id: &str) -> Value {
    let s = gw.cli_ok(&["request", "show", id, "--json"]);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("request show --json: {e}: {s}"))
}

#[track_caller]
fn approve(gw: &Gateway, id: &str, by: &str, extra: &[&str]) -> Out {
    let mut args = vec!["review", "approve", id, "--by", by, "--comment", "ok"];
    args.extend_from_slice(extra);
    gw.cli_as(by, &args)
}

/// The CLI refused in one line on stderr, and the audit log has `action` with `code`.
#[track_caller]
fn refused(gw: &Gateway, out: &Out, action: &str, code: &str) -> String {
    assert!(!out.success(), "expected a refusal, got success:\n{out}");
    let l = lines(&out.stderr_text());
    assert_eq!(l.len(), 1, "expected one line on stderr:\n{out}");
    assert!(l[0].starts_with("error: "), "{out}");
    gw.wait_audit(action, |e| e["detail"]["code"] == code);
    l[0].clone()
}

both_databases! {
    fn request_approved_from_the_cli_opens_ssh(db) {
        let w = world(db, WEB_GROUP);
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web01", "echo no"));
        let id = file_request(&w.gw, "A", "1h");
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web01", "echo no"));

        let queue = w.gw.json(&["review", "list"]);
        let mine = queue.iter().find(|r| json_text(r, "id") == id).expect("request not in the queue");
        assert_eq!(json_text(mine, "state"), "pending");
        assert!(mine["waiting_ms"].as_i64().unwrap() >= 0);
        assert_eq!(mine["response_window_ms"].as_i64(), Some(30 * 60_000));
        let text = w.gw.cli_ok(&["review", "list"]);
        assert!(text.contains(&id) && text.contains("of 30 min"), "{text}");

        let out = approve(&w.gw, &id, "bob", &[]);
        assert!(out.success(), "{out}");
        let r = show(&w.gw, &id);
        assert_eq!(json_text(&r, "state"), "approved");
        assert!(!json_text(&r, "decided_at").is_empty());
        assert_eq!(r["grants"].as_array().unwrap().len(), 1);

        let out = w.alice.exec(&w.gw, "web01", "echo through-the-grant");
        out.ok();
        assert_eq!(out.stdout_text().trim(), "through-the-grant");
        w.gw.wait_audit("request.file", |e| json_text(e, "subject") == id);
        w.gw.wait_audit("review.approve", |e| json_text(e, "subject") == id);
        w.gw.wait_audit("grant.create", |e| e["detail"]["request"] == id.as_str());
        assert!(w.gw.json(&["review", "list"]).iter().all(|r| json_text(r, "id") != id));
    }

    fn two_approver_group_stays_closed_after_one_approval(db) {
        let w = world(db, WEB_TWO);
        w.gw.add_user("dave", "approver");
        let id = file_request(&w.gw, "B", "1h");
        approve(&w.gw, &id, "bob", &[]).ok();
        let r = show(&w.gw, &id);
        assert_eq!(json_text(&r, "state"), "pending");
        assert_eq!(r["approvals"], 1);
        assert_eq!(r["approvals_needed"], 2);
        assert!(r["grants"].as_array().unwrap().is_empty());
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web01", "echo no"));

        // The same approver twice does not count twice.
        let out = approve(&w.gw, &id, "bob", &[]);
        refused(&w.gw, &out, "review.refused", "already_reviewed");
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web01", "echo no"));

        approve(&w.gw, &id, "dave", &[]).ok();
        assert_eq!(json_text(&show(&w.gw, &id), "state"), "approved");
        let out = w.alice.exec(&w.gw, "web01", "echo open");
        out.ok();
        assert_eq!(out.stdout_text().trim(), "open");
    }

    fn self_review_and_non_approvers_are_refused(db) {
        let w = world(db, WEB_GROUP);
        w.gw.add_user("carol", "auditor");
        let id = file_request(&w.gw, "A", "1h");
        // The engineer who filed it cannot review it: she is no approver.
        let line = refused(&w.gw, &approve(&w.gw, &id, "alice", &[]), "review.refused", "not_approver");
        assert!(line.contains("approver"), "{line}");
        refused(&w.gw, &approve(&w.gw, &id, "carol", &[]), "review.refused", "not_approver");
        // An unknown approver cannot even prove who they are.
        let out = w.gw.cli(&["review", "approve", &id, "--by", "nobody"]);
        assert!(!out.success() && lines(&out.stderr_text()).len() == 1, "{out}");
        assert!(out.stderr_text().contains("no user \"nobody\""), "{out}");
        let line = refused(&w.gw, &approve(&w.gw, "r-00000000", "bob", &[]), "review.refused", "unknown_request");
        assert!(line.contains("r-00000000"), "{line}");
        assert_eq!(json_text(&show(&w.gw, &id), "state"), "pending");
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web01", "echo no"));
        let out = w.gw.cli(&["request", "show", "r-00000000"]);
        assert!(!out.success() && lines(&out.stderr_text()).len() == 1, "{out}");
    }

    fn deny_ends_the_request(db) {
        let w = world(db, WEB_TWO);
        w.gw.add_user("dave", "approver");
        let id = file_request(&w.gw, "A", "1h");
        approve(&w.gw, &id, "dave", &[]).ok();
        // A deny needs a comment.
        let out = w.gw.cli_as("bob", &["review", "deny", &id, "--by", "bob"]);
        assert!(!out.success(), "{out}");
        w.gw.cli_as_ok("bob", &["review", "deny", &id, "--by", "bob", "--comment", "not during the audit"]);
        let r = show(&w.gw, &id);
        assert_eq!(json_text(&r, "state"), "denied");
        assert!(r["grants"].as_array().unwrap().is_empty());
        w.gw.wait_audit("review.deny", |e| json_text(e, "subject") == id);
        refused(&w.gw, &approve(&w.gw, &id, "bob", &[]), "review.refused", "not_pending");
        w.gw.add_user("erin", "approver");
        refused(&w.gw, &approve(&w.gw, &id, "erin", &[]), "review.refused", "not_pending");
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web01", "echo no"));
        let denied = w.gw.json(&["request", "list", "--state", "denied"]);
        assert!(denied.iter().any(|r| json_text(r, "id") == id));
    }

    fn withdrawn_request_cannot_be_approved(db) {
        let w = world(db, WEB_GROUP);
        let id = file_request(&w.gw, "C", "2h");
        refused(&w.gw, &w.gw.cli_as("bob", &["request", "withdraw", &id, "--by", "bob"]), "request.refused", "not_yours");
        w.gw.cli_as_ok("alice", &["request", "withdraw", &id, "--by", "alice"]);
        assert_eq!(json_text(&show(&w.gw, &id), "state"), "withdrawn");
        w.gw.wait_audit("request.withdraw", |e| json_text(e, "subject") == id);
        refused(&w.gw, &approve(&w.gw, &id, "bob", &[]), "review.refused", "not_pending");
        refused(&w.gw, &w.gw.cli_as("alice", &["request", "withdraw", &id, "--by", "alice"]), "request.refused", "not_pending");
        let mine = w.gw.json(&["request", "list", "--engineer", "alice"]);
        assert_eq!(mine.len(), 1);
        assert_eq!(json_text(&mine[0], "state"), "withdrawn");
    }

    fn unanswered_request_lapses(db) {
        let w = World::with(db, WorldOpts {
            grant_for: None,
            config: WEB_GROUP,
            replace: &[("request_ttl = \"4h\"", "request_ttl = \"2s\"")],
            ..WorldOpts::default()
        });
        let id = file_request(&w.gw, "A", "1h");
        w.gw.wait_audit("request.lapse", |e| json_text(e, "subject") == id);
        let lapsed = w.gw.json(&["request", "list", "--state", "lapsed"]);
        assert!(lapsed.iter().any(|r| json_text(r, "id") == id), "{lapsed:?}");
        let out = approve(&w.gw, &id, "bob", &[]);
        assert!(!out.success(), "{out}");
        assert_eq!(lines(&out.stderr_text()).len(), 1, "{out}");
        let lapses = w.gw.audit().iter().filter(|e| json_text(e, "action") == "request.lapse" && json_text(e, "subject") == id).count();
        assert_eq!(lapses, 1, "lapsed once, audited once");
        assert_one_line_refusal(&w.alice.exec(&w.gw, "web01", "echo no"));
    }

    fn approver_may_shorten_but_not_lengthen(db) {
        let w = world(db, WEB_GROUP);
        let id = file_request(&w.gw, "A", "1h");
        let line = refused(&w.gw, &approve(&w.gw, &id, "bob", &["--for", "2h"]), "review.refused", "lengthen_refused");
        assert!(line.contains("shorten"), "{line}");
        approve(&w.gw, &id, "bob", &["--for", "30m"]).ok();
        let r = show(&w.gw, &id);
        let g = &r["grants"][0];
        let span = rfc3339_ms(g["ends_at"].as_str().unwrap()) - rfc3339_ms(g["starts_at"].as_str().unwrap());
        assert_eq!(span, 30 * 60_000, "{r}");
        w.alice.exec(&w.gw, "web01", "true").ok();
    }

    fn bad_requests_are_refused_in_one_line(db) {
        let w = world(db, WEB_GROUP);
        let add = |level: &str, duration: &str, target: &str| {
            w.gw.cli(&[
                "request", "add", "--engineer", "alice", "--target", target, "--reason", "r",
                "--incident", "INC-2", "--level", level, "--for", duration,
            ])
        };
        let line = refused(&w.gw, &add("A", "3h", "web01"), "request.refused", "duration_over_cap");
        assert!(line.contains("level A allows at most 2 h"), "{line}");
        refused(&w.gw, &add("E", "1h", "web01"), "request.refused", "bad_level");
        refused(&w.gw, &add("A", "soon", "web01"), "request.refused", "bad_duration");
        let line = refused(&w.gw, &add("A", "1h", "db99"), "request.refused", "target_not_requestable");
        assert!(line.contains("db99"), "{line}");
        // Only engineers file, and only for themselves: bob is an approver.
        let out = w.gw.cli(&[
            "request", "add", "--engineer", "bob", "--group", "web", "--reason", "r",
            "--incident", "INC-2", "--level", "A", "--for", "1h",
        ]);
        refused(&w.gw, &out, "request.refused", "not_engineer");
        let out = w.gw.cli(&[
            "request", "add", "--engineer", "alice", "--group", "nope", "--reason", "r",
            "--incident", "INC-2", "--level", "A", "--for", "1h",
        ]);
        refused(&w.gw, &out, "request.refused", "unknown_group");
        assert!(w.gw.json(&["request", "list"]).is_empty());
        // A group is expanded to its targets at filing.
        let out = w.gw.cli_ok(&[
            "request", "add", "--engineer", "alice", "--group", "web", "--reason", "r",
            "--incident", "INC-3", "--level", "D", "--for", "100h",
        ]);
        let r = show(&w.gw, out.trim());
        assert_eq!(r["targets"], serde_json::json!(["web01"]));
        assert_eq!(json_text(&r, "group"), "web");
    }

    fn malformed_policy_names_file_line_and_key(db) {
        let gw = Gateway::init(db);
        let out = gw.cli(&["policy", "check"]);
        out.ok();
        assert_eq!(out.stdout_text().trim(), "policy ok: 0 groups, 0 targets, break-glass off");

        gw.append_config("[policy.groups.db]\ntargets = [\"db01\"]\nengineers = [\"*\"]\napprovals = 0\n");
        let text = std::fs::read_to_string(&gw.config).unwrap();
        let line = text.lines().position(|l| l == "approvals = 0").unwrap() + 1;
        let want = format!("{}:{line}:13: policy.groups.db.approvals: ", gw.config.display());
        let out = gw.cli(&["policy", "check"]);
        assert!(!out.success(), "{out}");
        let l = lines(&out.stderr_text());
        assert_eq!(l.len(), 1, "{out}");
        assert!(l[0].starts_with(&want), "want {want:?}:\n{out}");
        let out = gw.cli(&["serve"]);
        assert!(!out.success(), "serve started with an invalid policy:\n{out}");
        assert!(out.stderr_text().contains(&want), "{out}");

        // Valid, but naming a target the database does not know.
        gw.replace_config_line("approvals = 0", "approvals = 2");
        let out = gw.cli(&["policy", "check"]);
        assert!(!out.success(), "{out}");
        let targets_line = text.lines().position(|l| l == "targets = [\"db01\"]").unwrap() + 1;
        assert!(
            out.stderr_text().contains(&format!(":{targets_line}:11: policy.groups.db.targets: unknown target \"db01\"")),
            "{out}"
        );
        let sshd = Sshd::start();
        gw.add_target("db01", &sshd, "database");
        let out = gw.cli(&["policy", "check"]);
        out.ok();
        assert_eq!(out.stdout_text().trim(), "policy ok: 1 group, 1 target, break-glass off");
    }
}

both_databases! {
    fn what_the_approver_reads_is_what_was_filed(db) {
        let w = world(db, WEB_TWO);
        w.gw.add_user("dave", "approver");
        // A right-to-left override shows "ok restart nginx" for what was typed
        // "ok \u{202E}xnign tratser\u{202C}"; zero-width characters hide in the incident.
        let out = w.gw.cli_ok(&[
            "request", "add", "--engineer", "alice", "--target", "web01",
            "--reason", "ok \u{202E}xnign tratser\u{202C} \u{2066}now\u{2069}",
            "--incident", "INC\u{200B}-7\u{FEFF}", "--level", "B", "--for", "1h",
        ]);
        let id = lines(&out)[0].clone();
        let r = show(&w.gw, &id);
        assert_eq!(json_text(&r, "reason"), "ok xnign tratser now", "{r}");
        assert_eq!(json_text(&r, "incident"), "INC-7", "{r}");
        w.gw.cli_as_ok("dave", &["review", "approve", &id, "--by", "dave", "--comment", "\u{200F}fine\u{200D}"]);
        let reviewed = w.gw.wait_audit("review.approve", |e| json_text(e, "subject") == id);
        assert!(!reviewed.to_string().contains('\u{200F}') && !reviewed.to_string().contains("\\u200f"), "{reviewed}");
        let r = show(&w.gw, &id);
        let text = r.to_string();
        for c in ['\u{202E}', '\u{202C}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{FEFF}', '\u{200F}', '\u{200D}'] {
            assert!(!text.contains(c), "{c:?} kept in {r}");
        }
        assert!(text.contains("fine"), "{r}");
    }
}
