//! `[retention] recordings`: a recording past its retention is removed from the disk and
//! audited as `recording.expired` once; its session stays listed, and its replay (API and
//! CLI) answers that it expired and when. A recent recording stays.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use menwei_e2e::*;
use serde_json::Value;

/// alice's latest session, once ended: its id.
fn ended_session(gw: &Gateway) -> String {
    let s = wait_until("alice's session to end", SHORT, || {
        let s = gw.last_session("alice");
        (!json_text(&s, "ended_at").is_empty()).then_some(s)
    });
    json_text(&s, "id")
}

/// `GET /api/v1{path}` with `token`: status and JSON body.
fn api_get(gw: &Gateway, token: &str, path: &str) -> (u16, Value) {
    let r = gw.api_get(token, path);
    let status = r.status().as_u16();
    let body = r.bytes().unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

const DAY_MS: i64 = 24 * 3600 * 1000;

both_databases! {
    fn a_recording_past_its_retention_is_removed_audited_once_and_its_replay_says_so(db) {
        let mut w = World::new(db);
        w.gw.add_user("audrey", "auditor");
        w.alice.exec(&w.gw, "web01", "echo an-old-session").ok();
        let old = ended_session(&w.gw);
        w.alice.exec(&w.gw, "web01", "echo a-recent-session").ok();
        let recent = wait_until("the second session to end", SHORT, || {
            let s = w.gw.last_session("alice");
            (json_text(&s, "id") != old && !json_text(&s, "ended_at").is_empty())
                .then(|| json_text(&s, "id"))
        });
        w.gw.stop(SHORT);
        // The first session ended 200 days ago, past a 180-day retention; the second now.
        let shift = 200 * DAY_MS;
        w.gw.sql(&format!(
            "UPDATE sessions SET started_at = started_at - {shift}, ended_at = ended_at - {shift} WHERE id = '{old}'"
        )).ok();
        let old_file = w.gw.recordings_dir().join(format!("{old}.mwrec"));
        let recent_file = w.gw.recordings_dir().join(format!("{recent}.mwrec"));
        assert!(old_file.is_file() && recent_file.is_file());
        w.gw.append_config("[retention]\nrecordings = \"180d\"\ncheck_interval = \"1s\"\n");
        w.gw.serve();

        let expired = w.gw.wait_audit("recording.expired", |e| json_text(e, "subject") == old);
        assert_eq!(json_text(&expired, "actor"), "menwei", "{expired}");
        let from = expired["detail"]["removed_from"].as_array().unwrap();
        assert_eq!(from.len(), 1, "{expired}");
        assert!(from[0].as_str().unwrap().ends_with(&format!("{old}.mwrec")), "{expired}");
        assert!(!old_file.exists(), "{} is still there", old_file.display());
        assert!(recent_file.is_file(), "the recent recording was removed");

        // The replay says it expired, with its own code; the recent one still plays.
        let token = w.gw.token("audrey");
        let (status, body) = api_get(&w.gw, &token, &format!("/sessions/{old}/recording"));
        assert_eq!(status, 410, "{body}");
        assert_eq!(body["error"]["code"], "recording_expired", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&old) && message.contains("removed on"), "{message}");
        let (status, body) = api_get(&w.gw, &token, &format!("/sessions/{recent}/commands"));
        assert_eq!(status, 200, "{body}");
        let out = w.gw.cli(&["recording", "export", &old, "--format", "asciicast"]);
        out.failed();
        assert_eq!(out.stderr_text().trim().lines().count(), 1, "{out}");
        assert!(out.stderr_text().contains("removed on"), "{out}");

        // Once: later passes leave it alone, and the session is still listed.
        std::thread::sleep(std::time::Duration::from_secs(3));
        let entries = w.gw.audit().into_iter()
            .filter(|e| json_text(e, "action") == "recording.expired")
            .count();
        assert_eq!(entries, 1);
        let (status, sessions) = api_get(&w.gw, &token, "/sessions");
        assert_eq!(status, 200);
        assert!(sessions.as_array().unwrap().iter().any(|s| json_text(s, "id") == old), "{sessions}");
        let audit = w.gw.cli_ok(&["audit", "verify"]);
        assert!(audit.contains("intact"), "{audit}");
    }
}
