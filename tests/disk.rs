//! The recordings disk under attack: an engineer who streams input until it is full ends
//! their own session with a line saying why, and nothing reaches the target that the
//! recording lacks; one session cannot pass `[recordings] max_session_bytes`; below
//! `min_free` no session starts. The audit log (in the database, on another filesystem)
//! holds every end and refusal, and verifies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::time::{Duration, Instant};

use menwei_e2e::*;

use rand::RngCore;
use serde_json::Value;

const DISK_FULL_LINE: &str =
    "menwei: the recordings disk is full, so the session is closed; tell an administrator";
const DISK_LOW_LINE: &str =
    "menwei: the recordings disk is nearly full; this session ends if it fills, so save your work";
const REFUSED_LINE: &str =
    "menwei: the recordings disk is nearly full, so no new session can start; tell an administrator";

/// The lines the gateway itself wrote on an engineer's stderr.
fn gateway_lines(out: &Out) -> Vec<String> {
    lines(&out.stderr_text())
        .into_iter()
        .filter(|l| l.starts_with("menwei"))
        .collect()
}

/// Waits for alice's latest session to have ended; returns it.
fn ended_session(gw: &Gateway) -> Value {
    wait_until("the session to end", Duration::from_secs(15), || {
        let s = gw.last_session("alice");
        (!json_text(&s, "ended_at").is_empty()).then_some(s)
    })
}

/// The engineer's input as the recording holds it (`menwei recording cat --stream input`).
fn recorded_input(gw: &Gateway, id: &str) -> Vec<u8> {
    let out = gw.cli(&["recording", "cat", id, "--stream", "input"]);
    out.ok();
    out.stdout
}

/// What the target wrote to `received` is a prefix of session `id`'s recorded input, which
/// is a prefix of what the engineer `sent`; and the target received more than `at_least`
/// bytes (the limit was reached mid-stream, not at the start).
#[track_caller]
fn assert_target_got_only_recorded_input(
    gw: &Gateway,
    id: &str,
    received: &Path,
    sent: &[u8],
    at_least: usize,
) {
    let recorded = recorded_input(gw, id);
    let got = std::fs::read(received).unwrap();
    assert!(
        got.len() > at_least,
        "the target received only {} bytes (recorded {})",
        got.len(),
        recorded.len()
    );
    assert_prefix(
        &got,
        &recorded,
        "what the target received against the recorded input",
    );
    assert_prefix(
        &recorded,
        sent,
        "the recorded input against what the engineer sent",
    );
}

/// `short` is a prefix of `long`, or the first byte where they differ.
#[track_caller]
fn assert_prefix(short: &[u8], long: &[u8], what: &str) {
    if long.starts_with(short) {
        return;
    }
    let at = short
        .iter()
        .zip(long)
        .position(|(a, b)| a != b)
        .unwrap_or(long.len());
    panic!(
        "{what}: {} bytes against {}, they differ from byte {at}",
        short.len(),
        long.len()
    );
}

/// The recording of `id` verifies and is sealed (not cut short).
#[track_caller]
fn assert_sealed(gw: &Gateway, id: &str) {
    let v = gw.cli(&["recording", "verify", id]);
    v.ok();
    let t = v.all_text().to_lowercase();
    assert!(
        t.contains("sealed") && !t.contains("unsealed") && !t.contains("cut short"),
        "{v}"
    );
}

/// The engineer streams random input (128 KiB every 50 ms, so the target keeps up) until
/// the session ends; returns what was sent and the client's output.
fn stream_until_the_end(mut s: Spawned, what: &str) -> (Vec<u8>, Out) {
    let mut sent = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !s.exited() {
        assert!(
            Instant::now() < deadline,
            "the session still runs after {} bytes {what}",
            sent.len()
        );
        let mut chunk = vec![0u8; 128 * 1024];
        rand::thread_rng().fill_bytes(&mut chunk);
        // Counted before it is sent: part of it may have gone when the pipe breaks.
        sent.extend_from_slice(&chunk);
        if !s.try_send(&chunk) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (sent, s.wait(SHORT))
}

fn audit_of(gw: &Gateway, action: &str, session: &str) -> Vec<Value> {
    gw.audit()
        .into_iter()
        .filter(|e| json_text(e, "action") == action && e.to_string().contains(session))
        .collect()
}

both_databases! {
    fn an_engineer_filling_the_recordings_disk_ends_their_session_and_the_target_got_only_recorded_input(db) {
        let disk = Tmpfs::mount("12m");
        let recordings = disk.dir("recordings");
        let w = World::with(db, WorldOpts {
            replace: replace_lines(vec![
                recordings_on(&recordings),
                ("flush_interval = \"1s\"", "flush_interval = \"200ms\"".into()),
                ("min_free = \"64MiB\"", "min_free = \"4MiB\"".into()),
            ]),
            ..WorldOpts::default()
        });
        let received = w.gw.scratch().join("received.bin");
        let cmd = format!("cat > {}", received.display());
        let s = w.alice.spawn(&w.gw, "alice:web01", &[], &[&cmd], Stdin::Pipe);
        let (sent, out) = stream_until_the_end(s, "into a 12 MiB recordings disk");
        // One warning while there was still room, then the end, each once.
        assert_eq!(gateway_lines(&out), vec![DISK_LOW_LINE, DISK_FULL_LINE], "{out}");

        let sess = ended_session(&w.gw);
        let id = json_text(&sess, "id");
        assert_eq!(json_text(&sess, "end_reason"), "recordings_disk_full", "{sess}");
        // The recording is whole although the disk is full: sealed in the room held back.
        assert_sealed(&w.gw, &id);

        // Nothing reached the target that the recording lacks.
        assert_target_got_only_recorded_input(&w.gw, &id, &received, &sent, 6 << 20);

        // A new session is refused with one line, and says nothing about the disk's numbers.
        let out = w.alice.exec(&w.gw, "web01", "echo must-not-run");
        assert_one_line_refusal(&out);
        assert_eq!(lines(&out.stderr_text()), vec![REFUSED_LINE], "{out}");
        assert!(!out.stdout_text().contains("must-not-run"), "{out}");

        // The audit log, in the database, holds all of it and verifies.
        let end = w.gw.wait_audit("session.end", |e| e.to_string().contains(&id));
        assert_eq!(end["detail"]["reason"], "recordings_disk_full", "{end}");
        assert_eq!(end["detail"]["recording_sealed"], true, "{end}");
        let warned = audit_of(&w.gw, "session.warning", &id);
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert_eq!(warned[0]["detail"]["code"], "recordings_disk_low", "{warned:?}");
        let refused = w.gw.wait_audit("connect.refused", |e| e["detail"]["code"] == "recordings_disk_full");
        assert!(refused["detail"]["free"].as_u64().unwrap() < 4 << 20, "{refused}");
        assert_eq!(refused["detail"]["min_free"], 4 << 20, "{refused}");
        w.gw.cli(&["audit", "verify"]).ok();
    }

    fn a_session_reaching_max_session_bytes_ends_with_a_line_and_the_next_one_starts(db) {
        let w = World::with(db, WorldOpts {
            replace: &[("max_session_bytes = \"10GiB\"", "max_session_bytes = \"2MiB\"")],
            ..WorldOpts::default()
        });
        let received = w.gw.scratch().join("received.bin");
        let cmd = format!("cat > {}", received.display());
        let s = w.alice.spawn(&w.gw, "alice:web01", &[], &[&cmd], Stdin::Pipe);
        let (sent, out) = stream_until_the_end(s, "with a 2 MiB limit");
        assert!(!out.success(), "{out}");
        assert_eq!(
            gateway_lines(&out),
            vec!["menwei: the session's recording reached its size limit (2 MiB), so the session is closed"],
            "{out}"
        );

        let sess = ended_session(&w.gw);
        let id = json_text(&sess, "id");
        assert_eq!(json_text(&sess, "end_reason"), "recording_size_limit", "{sess}");
        let file = w.gw.recordings_dir().join(format!("{id}.mwrec"));
        let len = std::fs::metadata(&file).unwrap().len();
        assert!(len <= 2 << 20 && len > 3 << 19, "the recording is {len} bytes for a 2 MiB limit");
        assert_sealed(&w.gw, &id);
        assert_target_got_only_recorded_input(&w.gw, &id, &received, &sent, 1 << 20);

        let end = w.gw.wait_audit("session.end", |e| e.to_string().contains(&id));
        assert_eq!(end["detail"]["reason"], "recording_size_limit", "{end}");

        // The limit is one session's: the next one runs.
        let out = w.alice.exec(&w.gw, "web01", "echo next-session");
        out.ok();
        assert_eq!(out.stdout_text(), "next-session\n");
        w.gw.cli(&["audit", "verify"]).ok();
    }

    fn the_browser_terminal_ends_at_max_session_bytes_with_the_same_line(db) {
        let w = World::with(db, WorldOpts {
            replace: &[("max_session_bytes = \"10GiB\"", "max_session_bytes = \"1MiB\"")],
            ..WorldOpts::default()
        });
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        let mut ws = RawWebSocket::open(&w.gw, "/api/v1/terminal?target=web01&cols=80&rows=24&lang=en", &cookie)
            .unwrap_or_else(|answer| panic!("the terminal socket did not open:\n{answer}"));
        // The target prints without end: its output fills the recording.
        ws.send_binary(b"yes\r");
        let mut shown = 0usize;
        let end = loop {
            let f = ws.read_frame();
            match f.opcode {
                2 => shown += f.data.len(),
                1 => {
                    let m: Value = serde_json::from_slice(&f.data).unwrap();
                    if m["type"] == "end" {
                        break m;
                    }
                }
                other => panic!("frame {other} before the end, after {shown} bytes of output"),
            }
        };
        assert_eq!(
            end["text"],
            "the session's recording reached its size limit (1 MiB), so the session is closed",
            "{end}"
        );
        assert!(shown < 1 << 20, "the page was shown {shown} bytes, more than the recording holds");
        let sess = ended_session(&w.gw);
        assert_eq!(json_text(&sess, "end_reason"), "recording_size_limit", "{sess}");
        assert_sealed(&w.gw, &json_text(&sess, "id"));
    }

    fn below_min_free_no_session_starts_until_there_is_room_again(db) {
        let disk = Tmpfs::mount("8m");
        let recordings = disk.dir("recordings");
        let filler = disk.path().join("filler");
        std::fs::write(&filler, vec![1u8; 6 << 20]).unwrap();
        let w = World::with(db, WorldOpts {
            replace: replace_lines(vec![
                recordings_on(&recordings),
                ("min_free = \"64MiB\"", "min_free = \"40%\"".into()),
            ]),
            ..WorldOpts::default()
        });
        // The operator is told at start; the gateway serves anyway.
        assert!(w.gw.log().contains("the recordings disk is nearly full"), "{}", w.gw.log());
        let out = w.alice.exec(&w.gw, "web01", "echo must-not-run");
        assert_one_line_refusal(&out);
        assert_eq!(lines(&out.stderr_text()), vec![REFUSED_LINE], "{out}");
        assert!(!out.stdout_text().contains("must-not-run"), "{out}");
        let refused = w.gw.wait_audit("connect.refused", |e| e["detail"]["code"] == "recordings_disk_full");
        let required = refused["detail"]["min_free"].as_u64().unwrap();
        assert!(required > 3 << 20 && required < 4 << 20, "40% of 8 MiB: {refused}");
        // The browser terminal is refused the same way.
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        let answer = match RawWebSocket::open(&w.gw, "/api/v1/terminal?target=web01&cols=80&rows=24&lang=en", &cookie) {
            Ok(_) => panic!("the browser terminal opened on a nearly full recordings disk"),
            Err(answer) => answer,
        };
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains(&REFUSED_LINE["menwei: ".len()..]), "{answer}");
        assert_eq!(std::fs::read_dir(&recordings).unwrap().count(), 0, "a refused session left a recording");
        assert!(w.gw.sessions().is_empty(), "a refused session has a row");

        std::fs::remove_file(&filler).unwrap();
        assert!(disk.free() > 7 << 20);
        let out = w.alice.exec(&w.gw, "web01", "echo room-again");
        out.ok();
        assert_eq!(out.stdout_text(), "room-again\n");
        w.gw.cli(&["audit", "verify"]).ok();
    }
}
