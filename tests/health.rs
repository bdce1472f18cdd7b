//! The probes a load balancer asks without login (issue 13): `GET /healthz` answers while
//! the process serves, `GET /readyz` says whether this node can serve, and turns not-ready
//! when the recordings directory cannot be written, ready again once it can; `menwei status`
//! prints the same checks for an operator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use menwei_e2e::*;
use serde_json::Value;

/// `GET https://gateway/PATH` without any login: the status and the JSON body.
fn probe(gw: &Gateway, path: &str) -> (u16, Value) {
    let http = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = http
        .get(format!("https://127.0.0.1:{}{path}", gw.https_port))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, body)
}

both_databases! {
    fn readyz_turns_not_ready_when_the_recordings_directory_cannot_be_written(db) {
        let disk = Tmpfs::mount("64m");
        let recordings = disk.dir("recordings");
        let w = World::with(db, WorldOpts {
            replace: replace_lines(vec![
                recordings_on(&recordings),
                ("min_free = \"64MiB\"", "min_free = \"1MiB\"".into()),
            ]),
            ..WorldOpts::default()
        });
        let (status, body) = probe(&w.gw, "/healthz");
        assert_eq!((status, body["status"].as_str()), (200, Some("alive")), "{body}");
        let (status, body) = probe(&w.gw, "/readyz");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ready"], true, "{body}");
        for check in ["database", "recordings", "disk"] {
            assert_eq!(body[check], "ok", "{check}: {body}");
        }
        // The operator's view of the same checks.
        let status = w.gw.cli_ok(&["status"]);
        assert!(status.contains(": ready") && status.contains("recordings  ok"), "{status}");

        // The recordings filesystem turns read-only: not ready, saying which check failed;
        // still alive.
        disk.remount("ro");
        let body = wait_until("/readyz to turn not-ready", SHORT, || {
            let (status, body) = probe(&w.gw, "/readyz");
            (status == 503).then_some(body)
        });
        assert_eq!(body["ready"], false, "{body}");
        assert_eq!(body["database"], "ok", "{body}");
        let why = body["recordings"]["failed"].as_str().unwrap_or_default();
        assert!(why.contains("cannot be written"), "{body}");
        // Public, so it names no path.
        assert!(!body.to_string().contains(recordings.to_str().unwrap()), "{body}");
        assert_eq!(probe(&w.gw, "/healthz").0, 200);
        let out = w.gw.cli(&["status"]);
        assert!(!out.success(), "menwei status exits 0 while not ready:\n{out}");
        assert!(
            out.stdout_text().contains("NOT ready")
                && out.stdout_text().contains("recordings  FAILED: the recordings directory cannot be written"),
            "{out}"
        );

        // serve's log says so once, naming the failed check.
        let log = w.gw.log();
        let not_ready: Vec<&str> = log.lines().filter(|l| l.contains("not ready")).collect();
        assert_eq!(not_ready.len(), 1, "{log}");
        assert!(not_ready[0].contains("recordings") && not_ready[0].contains("FAILED"), "{log}");

        // Writable again: ready again.
        disk.remount("rw");
        wait_until("/readyz to turn ready again", SHORT, || {
            let (status, body) = probe(&w.gw, "/readyz");
            (status == 200 && body["ready"] == true).then_some(())
        });
        assert!(w.gw.log().contains("ready again"), "{}", w.gw.log());
    }
}
