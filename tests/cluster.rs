//! Several gateways as one (issue 11), with every real part at once: two `menwei serve`
//! sharing one PostgreSQL and one S3-compatible store (`s3s-fs`). An engineer's session on
//! node 1 is watched and terminated from node 2; its sealed recording is in the bucket and
//! node 2 verifies and reads it; a session on node 1 when node 1 is killed is ended
//! `node_lost` by node 2 within `dead_after`, and node 1's restart uploads the spooled
//! recording, which node 2 verifies as cut short. (A TOTP code used on one node refused on
//! the other: `tests/totp.rs`; the store stopped mid-session: `tests/store.rs`; a node cut
//! off from the database: `tests/partition.rs`; behind HAProxy: `tests/balancer.rs`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use menwei_e2e::*;
use serde_json::Value;

/// How long an upload may take to reach the bucket once the store answers.
const UPLOAD: Duration = Duration::from_secs(40);

fn api_terminate(gw: &Gateway, token: &str, id: &str) -> u16 {
    https_client(None)
        .post(format!(
            "https://127.0.0.1:{}/api/v1/sessions/{id}/terminate",
            gw.https_port
        ))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Reads the watch until its output holds `needle`.
fn watch_until(ws: &mut RawWebSocket, needle: &[u8]) {
    let mut seen = Vec::new();
    while !contains(&seen, needle) {
        let f = ws.read_frame();
        match f.opcode {
            2 => seen.extend_from_slice(&f.data),
            8 => panic!(
                "the watch closed before {:?}",
                String::from_utf8_lossy(needle)
            ),
            _ => {}
        }
    }
}

fn session(gw: &Gateway, id: &str) -> Value {
    gw.sessions()
        .into_iter()
        .find(|s| json_text(s, "id") == id)
        .unwrap_or_else(|| panic!("no session {id}"))
}

mod two_nodes_one_database_one_store {
    use super::*;

    #[test]
    fn postgres() {
        let s3 = S3Server::start();
        let keys = tempfile::tempdir().unwrap();
        let credentials = keys.path().join("s3.credentials");
        s3.write_credentials(&credentials);
        let replace = replace_lines(vec![
            (
                "dir = \"recordings\"",
                s3.recordings_config("cluster", &credentials),
            ),
            ("heartbeat = \"5s\"", "heartbeat = \"1s\"".into()),
            ("dead_after = \"30s\"", "dead_after = \"3s\"".into()),
        ]);
        let mut w = World::with(
            Db::Postgres,
            WorldOpts {
                replace,
                ..WorldOpts::default()
            },
        );
        let mut second = w.gw.second_node("e2e-node-2");
        second.serve();

        // A session on node 1, watched and terminated from node 2.
        let mut s = live_shell(&w);
        let id = json_text(&w.gw.last_session("alice"), "id");
        assert_eq!(json_text(&session(&w.gw, &id), "node"), "e2e-node");
        let cookie = second.web_cookie("bob", WEB_PASSWORD);
        let mut watch =
            RawWebSocket::open(&second, &format!("/api/v1/sessions/{id}/watch"), &cookie)
                .unwrap_or_else(|answer| panic!("the watch on node 2 did not open:\n{answer}"));
        s.send(b"echo \"CLUSTER:$((6*7))\"\n");
        watch_until(&mut watch, b"CLUSTER:42");
        assert_eq!(api_terminate(&second, &second.token("bob"), &id), 200);
        let out = s.wait(SHORT);
        let ended = Instant::now();
        assert!(
            out.all_text()
                .contains("an approver (bob) ended the session"),
            "{out}"
        );

        // Sealed, uploaded, verified and read back by node 2 from the bucket.
        let key = format!("cluster/{id}.mwrec");
        wait_until("the recording in the bucket", UPLOAD, || {
            s3.keys().contains(&key).then_some(())
        });
        wait_until("node 2 to read the recording", UPLOAD, || {
            let cat = second.cli(&["recording", "cat", &id]);
            (cat.success() && cat.stdout_text().contains("CLUSTER:42")).then_some(())
        });
        eprintln!(
            "sealed on node 1 to readable on node 2 from the store: {:?}",
            ended.elapsed()
        );
        let v = second.cli(&["recording", "verify", &id]);
        v.ok();
        let t = v.all_text().to_lowercase();
        assert!(t.contains("sealed") && !t.contains("cut short"), "{v}");
        assert!(
            !w.gw.recordings_dir().join(format!("{id}.mwrec")).exists(),
            "the spool copy stayed"
        );

        // Node 1 killed during a session: node 2 ends it node_lost; node 1's restart
        // uploads the spooled recording, which node 2 verifies as cut short.
        let mut s = live_shell(&w);
        let lost = json_text(&w.gw.last_session("alice"), "id");
        s.send(b"echo \"BEFORE-KILL:$((6*7))\"\n");
        s.wait_stdout("BEFORE-KILL:42", SHORT);
        // The recorder flushes at least every second: the line is on the spool's disk.
        std::thread::sleep(Duration::from_millis(1500));
        w.gw.kill9();
        let killed = Instant::now();
        let row = wait_until(
            "node 2 to end node 1's session",
            Duration::from_secs(20),
            || {
                let row = session(&second, &lost);
                (!json_text(&row, "ended_at").is_empty()).then_some(row)
            },
        );
        eprintln!(
            "node 2 ended node 1's session {:?} after kill -9 (dead_after 3s)",
            killed.elapsed()
        );
        assert_eq!(json_text(&row, "end_reason"), "node_lost", "{row}");
        s.wait(SHORT);
        let key = format!("cluster/{lost}.mwrec");
        assert!(
            !s3.keys().contains(&key),
            "an unsealed recording was uploaded"
        );
        w.gw.serve();
        wait_until("the spooled recording in the bucket", UPLOAD, || {
            s3.keys().contains(&key).then_some(())
        });
        let v = second.cli(&["recording", "verify", &lost]);
        assert!(v.all_text().to_lowercase().contains("cut short"), "{v}");
        let cat = second.cli_ok(&["recording", "cat", &lost]);
        assert!(cat.contains("BEFORE-KILL:42"), "{cat:?}");
    }
}
