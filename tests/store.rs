//! Recordings in S3-compatible object storage (`[recordings] store`), against a real
//! `s3s-fs` server the tests start: a sealed recording lands in the bucket and is read back
//! from it by the CLI and the API once its spool copy is gone; a store that goes away
//! mid-session neither stops the session nor loses the recording (alerted once, uploaded
//! once it is back); a gateway killed mid-session uploads the spooled recording at its next
//! start, and it verifies as cut short.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::time::Duration;

use menwei_e2e::*;
use serde_json::Value;

/// The key prefix the tests' gateways store under.
const PREFIX: &str = "node-a";

/// How long an upload may take to reach the bucket once the store answers: the uploader's
/// longest backoff (16 s) and the upload itself.
const UPLOAD: Duration = Duration::from_secs(40);

/// The usual world with its recordings in `s3`'s bucket, keys in a credentials file.
fn world_on(db: Db, s3: &S3Server, keys: &Path) -> World {
    world_with(db, s3, keys, "")
}

/// [`world_on`] with `config` appended to `menwei.toml`.
fn world_with(db: Db, s3: &S3Server, keys: &Path, config: &str) -> World {
    s3.write_credentials(keys);
    let replace = replace_lines(vec![(
        "dir = \"recordings\"",
        s3.recordings_config(PREFIX, keys),
    )]);
    World::with(
        db,
        WorldOpts {
            replace,
            config: Box::leak(config.to_string().into_boxed_str()),
            ..WorldOpts::default()
        },
    )
}

fn key_of(id: &str) -> String {
    format!("{PREFIX}/{id}.mwrec")
}

/// alice's latest session, once ended: its id.
fn ended(gw: &Gateway) -> String {
    let s = wait_until("the session to end", SHORT, || {
        let s = gw.last_session("alice");
        (!json_text(&s, "ended_at").is_empty()).then_some(s)
    });
    json_text(&s, "id")
}

/// `GET /api/v1{path}` with `token`: status and body.
fn api_get(gw: &Gateway, token: &str, path: &str) -> (u16, Vec<u8>) {
    let r = gw.api_get(token, path);
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

/// `GET /readyz`'s JSON.
fn readyz(gw: &Gateway) -> Value {
    let r = https_client(None)
        .get(format!("https://127.0.0.1:{}/readyz", gw.https_port))
        .send()
        .unwrap();
    serde_json::from_str(&r.text().unwrap()).unwrap()
}

both_databases! {
    fn a_sealed_recording_is_uploaded_verified_and_read_back_from_the_store(db) {
        let s3 = S3Server::start();
        let keys = tempfile::tempdir().unwrap();
        let w = world_on(db, &s3, &keys.path().join("s3.credentials"));
        w.gw.add_user("audrey", "auditor");
        let out = w.alice.exec(&w.gw, "web01", "printf 'STORED-%s\\n' 42");
        out.ok();
        assert!(out.stdout_text().contains("STORED-42"), "{out}");
        let id = ended(&w.gw);

        // In the bucket under the prefix, and no longer in the spool.
        let key = key_of(&id);
        wait_until("the recording in the bucket", UPLOAD, || s3.keys().contains(&key).then_some(()));
        // The upload's bytes and time, for the record (`--no-capture`).
        let uploaded = wait_until("serve's log line of the upload", SHORT, || {
            w.gw.log()
                .lines()
                .find(|l| l.contains("recording uploaded") && l.contains(&id))
                .map(str::to_string)
        });
        eprintln!("{uploaded}");
        let spooled = w.gw.recordings_dir().join(format!("{id}.mwrec"));
        wait_until("the spool copy removed", SHORT, || (!spooled.exists()).then_some(()));
        let stored = std::fs::read(s3.object(&key)).unwrap();
        assert!(stored.len() > 100, "{} bytes in the bucket", stored.len());

        // The CLI reads it from the store: verify (sealed) and cat, each audited with the
        // object it read.
        let v = w.gw.cli(&["recording", "verify", &id]);
        v.ok();
        let t = v.all_text().to_lowercase();
        assert!(t.contains("sealed") && !t.contains("cut short"), "{v}");
        w.gw.wait_audit("recording.verify", |e| {
            json_text(e, "subject") == id
                && e["detail"]["file"] == format!("s3://{}/{key}", s3.bucket).as_str()
        });
        let cat = w.gw.cli_ok(&["recording", "cat", &id]);
        assert!(cat.contains("STORED-42"), "{cat:?}");

        // The API's replay (what the page plays) serves the stored bytes.
        let token = w.gw.token("audrey");
        let (status, bytes) = api_get(&w.gw, &token, &format!("/sessions/{id}/recording"));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(bytes, stored, "the replay serves the bucket's bytes");

        // /readyz says the store answers.
        let ready = readyz(&w.gw);
        assert_eq!(ready["store"], "ok", "{ready}");
        assert_eq!(ready["ready"], true, "{ready}");
        assert!(!w.gw.log().contains(&s3.secret_key), "the secret key is in serve's log");
    }

    fn a_gateway_killed_mid_session_uploads_the_spooled_recording_at_restart_cut_short(db) {
        let s3 = S3Server::start();
        let keys = tempfile::tempdir().unwrap();
        let mut w = world_on(db, &s3, &keys.path().join("s3.credentials"));
        let mut s = w.alice.spawn_exec(&w.gw, "web01", "printf 'line%s\\n' 1; sleep 0.2; printf 'line%s\\n' 2; sleep 60");
        s.wait_stdout("line2", SHORT);
        let id = json_text(&w.gw.last_session("alice"), "id");
        // A live recording is read from the spool.
        wait_until("line2 flushed to the spool", SHORT, || {
            w.gw.cli(&["recording", "cat", &id]).stdout_text().contains("line2").then_some(())
        });
        w.gw.kill9();
        s.wait(SHORT);
        assert!(s3.keys().is_empty(), "uploaded before it was sealed: {:?}", s3.keys());

        w.gw.serve();
        let key = key_of(&id);
        wait_until("the spooled recording in the bucket", UPLOAD, || s3.keys().contains(&key).then_some(()));
        let spooled = w.gw.recordings_dir().join(format!("{id}.mwrec"));
        wait_until("the spool copy removed", SHORT, || (!spooled.exists()).then_some(()));
        let v = w.gw.cli(&["recording", "verify", &id]);
        v.ok();
        assert!(v.all_text().to_lowercase().contains("cut short"), "{v}");
        let cat = w.gw.cli_ok(&["recording", "cat", &id]);
        assert!(cat.contains("line1\r\nline2") || cat.contains("line1\nline2"), "{cat:?}");
    }
}

#[test]
fn the_store_going_away_mid_session_keeps_the_session_recording_and_alerts_once() {
    let mut s3 = S3Server::start();
    let keys = tempfile::tempdir().unwrap();
    let secret = keys.path().join("webhook.secret");
    std::fs::write(&secret, "a-webhook-secret\n").unwrap();
    let rx = WebhookReceiver::start(free_port("127.0.0.1"), false);
    let hook = format!(
        "[[webhooks]]\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_file = \"{}\"\nevents = [\"recordings_store\"]\n",
        rx.port,
        secret.display()
    );
    let w = world_with(Db::Sqlite, &s3, &keys.path().join("s3.credentials"), &hook);
    let mut shell = live_shell(&w);
    s3.stop();
    // The session goes on, recorded to the spool.
    shell.send(b"echo \"AFTER:$((2*3))\"\n");
    shell.wait_stdout("AFTER:6", SHORT);
    shell.send(b"exit\n");
    shell.wait(SHORT);
    let id = ended(&w.gw);
    let spooled = w.gw.recordings_dir().join(format!("{id}.mwrec"));

    // Raised once, naming the store and the waiting recording; /readyz says so without
    // taking the node out.
    let alert = w.gw.wait_audit("recordings.store_unavailable", |_| true);
    assert_eq!(
        alert["detail"]["store"],
        format!("s3://{}/{PREFIX}", s3.bucket).as_str(),
        "{alert}"
    );
    assert!(
        spooled.is_file(),
        "the recording left the spool while the store was away"
    );
    let hits = rx.wait_hits(1, SHORT);
    let body = hits[0].json();
    assert_eq!(body["event"], "recordings_store", "{body}");
    assert_eq!(
        body["data"]["event"], "recordings.store_unavailable",
        "{body}"
    );
    let ready = readyz(&w.gw);
    assert!(
        ready["store"]["failed"]
            .as_str()
            .is_some_and(|t| t.contains("does not answer")),
        "{ready}"
    );
    assert_eq!(ready["ready"], true, "{ready}");
    // Still readable meanwhile, from the spool.
    let cat = w.gw.cli_ok(&["recording", "cat", &id]);
    assert!(cat.contains("AFTER:6"), "{cat:?}");

    // Retried meanwhile (with backoff), and not raised again at each attempt.
    wait_until("three upload attempts", SHORT, || {
        (w.gw.log().matches("cannot upload a recording").count() >= 3).then_some(())
    });

    // Back: the recording reaches the bucket, the spool copy goes, and the end is said once.
    s3.start_again();
    let key = key_of(&id);
    wait_until("the recording in the bucket", UPLOAD, || {
        s3.keys().contains(&key).then_some(())
    });
    wait_until("the spool copy removed", SHORT, || {
        (!spooled.exists()).then_some(())
    });
    w.gw.wait_audit("recordings.store_available", |_| true);
    let raised =
        w.gw.audit()
            .iter()
            .filter(|e| json_text(e, "action") == "recordings.store_unavailable")
            .count();
    assert_eq!(raised, 1, "the outage was raised {raised} times");
    let hits = rx.wait_hits(2, SHORT);
    let events: Vec<String> = hits
        .iter()
        .map(|h| json_text(&h.json()["data"], "event"))
        .collect();
    assert_eq!(
        events,
        ["recordings.store_unavailable", "recordings.store_available"]
    );
    let v = w.gw.cli(&["recording", "verify", &id]);
    v.ok();
    assert!(w.gw.cli_ok(&["recording", "cat", &id]).contains("AFTER:6"));
}

#[test]
fn a_recording_larger_than_one_request_is_uploaded_in_parts_and_verifies() {
    let s3 = S3Server::start();
    let keys = tempfile::tempdir().unwrap();
    let w = world_on(Db::Sqlite, &s3, &keys.path().join("s3.credentials"));
    // 24 MiB of random output: incompressible, so the recording passes the 16 MiB a
    // single request carries and goes up in 8 MiB parts.
    let out = w.alice.exec(
        &w.gw,
        "web01",
        "dd if=/dev/urandom bs=1048576 count=24 status=none",
    );
    out.ok();
    let id = ended(&w.gw);
    let key = key_of(&id);
    wait_until("the recording in the bucket", UPLOAD, || {
        s3.keys().contains(&key).then_some(())
    });
    let size = std::fs::metadata(s3.object(&key)).unwrap().len();
    assert!(size > 24 << 20, "only {size} bytes in the bucket");
    let spooled = w.gw.recordings_dir().join(format!("{id}.mwrec"));
    wait_until("the spool copy removed", SHORT, || {
        (!spooled.exists()).then_some(())
    });
    let v = w.gw.cli(&["recording", "verify", &id]);
    v.ok();
    assert!(!v.all_text().to_lowercase().contains("cut short"), "{v}");
    let log = w.gw.log();
    let uploaded = log
        .lines()
        .find(|l| l.contains("recording uploaded") && l.contains(&id));
    eprintln!("{}", uploaded.unwrap_or_default());
}
