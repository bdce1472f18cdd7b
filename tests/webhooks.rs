//! Webhooks: a revocation reaches a local receiver as JSON signed with HMAC-SHA256; a
//! receiver that is down at first gets it once it comes up; one that never answers ends on
//! `menwei notify list --failed` and in the audit log. The receiver is a small HTTP server
//! in the test on a free loopback port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use menwei_e2e::WebhookReceiver as Receiver;
use menwei_e2e::*;
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "e2e-webhook-secret-0123456789";

/// `sha256=<hex>` of `body` under the shared secret.
fn expected_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A directory holding the webhook secret file (with a trailing newline, as editors write).
fn secret_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webhook.secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    (dir, file)
}

/// The usual world with one webhook to `port` (revocations only) and a second one that
/// only wants requests, plus test-sized retry settings.
fn world_with_webhook(db: Db, port: u16, secret: &std::path::Path, notify: &str) -> World {
    let config = format!(
        r#"
[[webhooks]]
url = "http://127.0.0.1:{port}/hook"
secret_file = "{secret}"
events = ["revocation", "expiry"]

[[webhooks]]
url = "http://127.0.0.1:{port}/requests-only"
secret_file = "{secret}"
events = ["request"]

[notify]
{notify}
"#,
        secret = secret.display()
    );
    World::with(
        db,
        WorldOpts {
            config: Box::leak(config.into_boxed_str()),
            ..WorldOpts::default()
        },
    )
}

fn notifications(gw: &Gateway, failed: bool) -> Vec<Value> {
    if failed {
        gw.json(&["notify", "list", "--failed"])
    } else {
        gw.json(&["notify", "list"])
    }
}

both_databases! {
    fn grant_expiry_is_announced_once(db) {
        let (_keep, secret) = secret_dir();
        let rx = Receiver::start(free_port("127.0.0.1"), false);
        let w = world_with_webhook(db, rx.port, &secret, "initial_backoff = \"200ms\"");
        let short = w.gw.grant("alice", "web01", "2s");
        let hits = rx.wait_hits(1, Duration::from_secs(15));
        let body = hits[0].json();
        assert_eq!(hits[0].header("x-menwei-event"), "expiry");
        assert_eq!(hits[0].header("x-menwei-signature"), expected_signature(&hits[0].body));
        assert_eq!(body["data"]["grant"], short.as_str());
        assert_eq!(body["data"]["target"], "web01");
        assert_no_leak(&hits[0].body, "expiry webhook body");
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(rx.hits().len(), 1, "announced more than once");
    }

    fn revocation_reaches_the_receiver_with_a_valid_signature(db) {
        let (_keep, secret) = secret_dir();
        let rx = Receiver::start(free_port("127.0.0.1"), false);
        let w = world_with_webhook(db, rx.port, &secret, "initial_backoff = \"200ms\"");
        let grant = w.grant_id().to_string();
        w.gw.revoke(&grant);

        let hits = rx.wait_hits(1, Duration::from_secs(20));
        let hit = &hits[0];
        assert_eq!(hit.path, "/hook");
        assert_eq!(hit.header("content-type"), "application/json");
        assert_eq!(hit.header("x-menwei-event"), "revocation");
        assert_eq!(hit.header("x-menwei-signature"), expected_signature(&hit.body), "signature over the exact body");
        let body = hit.json();
        assert_eq!(hit.header("x-menwei-delivery"), body["id"].as_str().unwrap());
        assert_eq!(body["event"], "revocation");
        assert_eq!(body["data"]["grant"], grant.as_str());
        assert_eq!(body["data"]["engineer"], "alice");
        assert_eq!(body["data"]["target"], "web01");
        assert_eq!(body["data"]["revoked_by"], "bob");
        // The target's address and the secret never travel.
        assert_no_leak(&hit.body, "webhook body");
        assert!(!String::from_utf8_lossy(&hit.body).contains(SECRET));

        // Delivered once, and recorded so; the requests-only webhook got nothing.
        let n = wait_until("the delivery recorded", Duration::from_secs(10), || {
            let n = notifications(&w.gw, false);
            (n.len() == 1 && n[0]["state"] == "delivered").then_some(n)
        });
        assert_eq!(n[0]["attempts"], 1);
        assert_eq!(n[0]["event"], "revocation");
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(rx.hits().len(), 1, "delivered more than once");
        assert!(notifications(&w.gw, true).is_empty());
        // The secret is not in the database or the log.
        assert!(!w.gw.sql("SELECT payload, webhook FROM notifications").stdout_text().contains(SECRET));
        assert!(!w.gw.log().contains(SECRET));
    }

    fn receiver_down_at_first_gets_it_once_it_comes_up(db) {
        let (_keep, secret) = secret_dir();
        let port = free_port("127.0.0.1");
        let w = world_with_webhook(db, port, &secret, "initial_backoff = \"200ms\"\nmax_attempts = 10");
        w.gw.revoke(w.grant_id());

        // Nobody listens: attempts fail and are counted, the revocation itself went through.
        let pending = wait_until("two failed attempts", Duration::from_secs(20), || {
            let n = notifications(&w.gw, false);
            n.first()
                .filter(|n| n["attempts"].as_i64().unwrap_or(0) >= 2 && n["state"] == "pending")
                .cloned()
        });
        assert!(
            json_text(&pending, "last_error").contains("connect"),
            "{pending}"
        );
        assert_eq!(w.gw.grants()[0]["state"], "revoked");

        let rx = Receiver::start(port, false);
        let hits = rx.wait_hits(1, Duration::from_secs(20));
        assert_eq!(hits[0].header("x-menwei-signature"), expected_signature(&hits[0].body));
        let delivered = wait_until("the delivery recorded", Duration::from_secs(10), || {
            notifications(&w.gw, false)
                .into_iter()
                .find(|n| n["state"] == "delivered")
        });
        assert!(delivered["attempts"].as_i64().unwrap() >= 3, "{delivered}");
        // The same delivery id on every attempt, so the receiver can drop repeats.
        assert_eq!(hits[0].header("x-menwei-delivery"), json_text(&delivered, "id"));
    }

    fn receiver_that_never_answers_is_listed_as_failed_and_audited(db) {
        let (_keep, secret) = secret_dir();
        let rx = Receiver::start(free_port("127.0.0.1"), true);
        let w = world_with_webhook(
            db,
            rx.port,
            &secret,
            "initial_backoff = \"200ms\"\nmax_attempts = 3\ntimeout = \"1s\"",
        );
        w.gw.revoke(w.grant_id());

        let failed = wait_until("the notification given up", Duration::from_secs(30), || {
            let f = notifications(&w.gw, true);
            (!f.is_empty()).then_some(f)
        });
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["state"], "failed");
        assert_eq!(failed[0]["attempts"], 3);
        assert!(json_text(&failed[0], "last_error").contains("timed out"), "{}", failed[0]);
        assert_eq!(rx.hits().len(), 3, "three attempts reached the receiver");

        let text = w.gw.cli_ok(&["notify", "list", "--failed"]);
        assert!(text.contains(&json_text(&failed[0], "id")) && text.contains("failed"), "{text}");

        let audited = w.gw.wait_audit("notify.failed", |_| true);
        assert_eq!(json_text(&audited, "subject"), json_text(&failed[0], "id"));
        assert_eq!(audited["detail"]["attempts"], 3);

        // Kept: never tried again.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(rx.hits().len(), 3);
    }
}

#[test]
fn a_missing_secret_file_stops_serve_with_one_line() {
    let mut gw = Gateway::init(Db::Sqlite);
    gw.append_config(
        "[[webhooks]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret_file = \"missing.secret\"\n",
    );
    let mut c = std::process::Command::new(menwei_bin());
    c.arg("serve").arg("--config").arg(&gw.config);
    let out = run(c, Stdin::Null, SHORT);
    out.failed();
    let l = lines(&out.stderr_text());
    assert_eq!(l.len(), 1, "{out}");
    assert!(l[0].contains("missing.secret"), "{out}");
    // A webhook to a non-loopback http URL is refused with file, line and key.
    gw.replace_config_line(
        "url = \"http://127.0.0.1:9/hook\"",
        "url = \"http://192.0.2.1/hook\"",
    );
    let o = gw.cli(&["notify", "list"]);
    o.failed();
    assert!(o.stderr_text().contains("webhooks[0].url"), "{o}");
    let _ = &mut gw;
}
