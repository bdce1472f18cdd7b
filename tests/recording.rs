//! Recordings: they hold exactly what the engineer saw, encrypted at rest (readable only
//! with the vault key, each decryption audited, verifiable without any key), any change to
//! them is found, a crash leaves a readable recording, a clean stop seals it, and the
//! asciicast export plays in Debian's asciinema.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use menwei_e2e::*;
use serde_json::Value;

/// Waits for alice's latest session to have ended; returns (id, recording file).
fn ended_session(gw: &Gateway) -> (String, PathBuf) {
    let s = wait_until("the session to end", Duration::from_secs(10), || {
        let s = gw.last_session("alice");
        (!json_text(&s, "ended_at").is_empty()).then_some(s)
    });
    (json_text(&s, "id"), recording_path(gw, &s))
}

fn recording_path(gw: &Gateway, s: &Value) -> PathBuf {
    let p = PathBuf::from(json_text(s, "recording"));
    let p = if p.is_absolute() {
        p
    } else {
        gw.data_dir().join(p)
    };
    assert!(
        p.is_file(),
        "session's recording {} is not a file: {s}",
        p.display()
    );
    p
}

/// The "o" events of an asciicast v2 document, concatenated.
fn asciicast_output(cast: &str) -> String {
    let mut it = cast.lines();
    let header: Value = serde_json::from_str(it.next().expect("empty asciicast")).unwrap();
    assert_eq!(header["version"], 2, "asciicast header: {header}");
    let mut out = String::new();
    let mut last_t = 0.0;
    for l in it.filter(|l| !l.trim().is_empty()) {
        let ev: Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("asciicast event {l:?}: {e}"));
        let t = ev[0].as_f64().unwrap_or_else(|| panic!("event time: {l}"));
        assert!(t >= last_t, "asciicast times go backwards at {l}");
        last_t = t;
        if ev[1] == "o" {
            out.push_str(ev[2].as_str().unwrap());
        }
    }
    out
}

fn export(gw: &Gateway, id: &str) -> String {
    gw.cli_ok(&["recording", "export", id, "--format", "asciicast"])
}

/// A finished interactive session (pty, through pipes so stdout is exactly the bytes
/// the client received); returns what the client received.
fn interactive_session(w: &World) -> Vec<u8> {
    let mut s = w
        .alice
        .spawn(&w.gw, "alice:web01", &["-tt"], &[], Stdin::Pipe);
    s.send("echo 'ünïcödé ✓ 门卫'; seq 1 3000; printf '\\033[1mbold\\033[0m\\n'\n".as_bytes());
    s.wait_stdout("3000", SHORT);
    s.send(b"exit\n");
    let out = s.wait(SHORT);
    out.ok();
    out.stdout
}

fn flip(p: &PathBuf, at: usize) -> PathBuf {
    let mut b = std::fs::read(p).unwrap();
    b[at] ^= 0x01;
    let copy = p.with_file_name(format!("flipped-{at}.mwrec"));
    std::fs::write(&copy, b).unwrap();
    copy
}

both_databases! {
    fn recording_of_interactive_session_holds_exactly_the_bytes_the_client_received(db) {
        let w = World::new(db);
        let received = interactive_session(&w);
        let (id, _) = ended_session(&w.gw);
        let recorded = asciicast_output(&export(&w.gw, &id));
        let received = String::from_utf8(received).expect("the session printed UTF-8");
        assert!(received.contains("2999\r\n3000"), "{received:?}");
        assert!(
            recorded == received,
            "recording differs from what the client received\n recorded ({} bytes): {:?}\n received ({} bytes): {:?}",
            recorded.len(), recorded.chars().take(600).collect::<String>(),
            received.len(), received.chars().take(600).collect::<String>()
        );
        // The output option of `export` writes the same.
        let f = w.gw.scratch().join("s.cast");
        w.gw.cli_ok(&["recording", "export", &id, "--format", "asciicast", "--output", f.to_str().unwrap()]);
        assert_eq!(asciicast_output(&std::fs::read_to_string(&f).unwrap()), received);
    }

    fn flipping_one_byte_makes_verify_name_the_chunk(db) {
        let w = World::new(db);
        interactive_session(&w);
        let (id, file) = ended_session(&w.gw);
        let ok = w.gw.cli(&["recording", "verify", &id]);
        ok.ok();
        let ok = w.gw.cli(&["recording", "verify", file.to_str().unwrap()]);
        ok.ok();

        let len = std::fs::metadata(&file).unwrap().len() as usize;
        assert!(len > 1000, "recording is only {len} bytes");
        for at in [len / 3, len / 2, len * 2 / 3] {
            let copy = flip(&file, at);
            let out = w.gw.cli(&["recording", "verify", copy.to_str().unwrap()]);
            assert!(!out.success(), "verify accepted a recording with byte {at} of {len} flipped:\n{out}");
            assert!(out.all_text().to_lowercase().contains("chunk"), "verify does not name the chunk (byte {at} of {len}):\n{out}");
            assert!(!out.all_text().contains("panicked"), "{out}");
        }
    }

    fn kill_9_mid_session_leaves_a_recording_that_verifies_as_cut_short(db) {
        let mut w = World::new(db);
        // printf puts `line3` together only in the output: the command line, recorded as
        // it arrives, must not satisfy the wait for the output below.
        let mut s = w.alice.spawn_exec(&w.gw, "web01", "printf 'line%s\\n' 1; sleep 0.2; printf 'line%s\\n' 2; sleep 0.2; printf 'line%s\\n' 3; sleep 60");
        s.wait_stdout("line3", SHORT);
        // Flushed at least every second: once line3 is on disk, kill -9.
        let live = w.gw.last_session("alice");
        let file = recording_path(&w.gw, &live);
        assert!(file.is_file());
        let id = json_text(&live, "id");
        wait_until("line3 flushed to the recording", SHORT, || {
            let out = w.gw.cli(&["recording", "cat", &id]);
            out.stdout_text().contains("line3").then_some(())
        });
        w.gw.kill9();
        s.wait(SHORT);

        let sess = w.gw.last_session("alice");
        let id = json_text(&sess, "id");
        // Intact up to the crash: verify succeeds and says the recording was cut short.
        let out = w.gw.cli(&["recording", "verify", &id]);
        out.ok();
        assert!(out.all_text().to_lowercase().contains("cut short"), "verify after kill -9:\n{out}");
        assert!(!out.all_text().contains("panicked"), "{out}");
        let file = recording_path(&w.gw, &sess);
        let out = w.gw.cli(&["recording", "verify", file.to_str().unwrap()]);
        assert!(out.all_text().to_lowercase().contains("cut short"), "{out}");

        let cast = asciicast_output(&export(&w.gw, &id));
        assert!(cast.contains("line1\r\nline2\r\nline3") || cast.contains("line1\nline2\nline3"), "export of the cut-short recording: {cast:?}");

        // And the gateway comes back, ending the session the killed node left open within
        // seconds of its start: the table, the audit log and serve's log agree.
        let restarted = std::time::Instant::now();
        w.gw.serve();
        let ended = wait_until("the leftover session to end", Duration::from_secs(5), || {
            let s = w.gw.sessions().into_iter().find(|s| json_text(s, "id") == id)?;
            (json_text(&s, "end_reason") == "node_restarted").then_some(s)
        });
        assert!(restarted.elapsed() < Duration::from_secs(5), "{ended}");
        w.gw.wait_audit("session.end", |e| e["detail"]["session"] == id.as_str() && e["detail"]["reason"] == "node_restarted");
        let log = w.gw.log();
        assert!(log.lines().any(|l| l.contains(&id) && l.contains("node_restarted")), "{log}");
        w.alice.exec(&w.gw, "web01", "true").ok();
    }

    fn sigterm_tells_live_sessions_and_seals_their_recordings(db) {
        let mut w = World::new(db);
        let mut s = w.alice.spawn_exec(&w.gw, "web01", "echo started; sleep 60");
        s.wait_stdout("started", SHORT);
        let stopped = w.gw.stop(Duration::from_secs(15));
        assert_eq!(stopped.code(), 0, "menwei serve after SIGTERM:\n{stopped}");
        let out = s.wait(Duration::from_secs(5));
        // The gateway's own line, not only the client's "connection closed".
        assert!(
            out.stderr_text().contains("menwei: the gateway is shutting down; the session is closed"),
            "the session was not told why it ended:\n{out}"
        );

        let sess = w.gw.last_session("alice");
        assert!(!json_text(&sess, "ended_at").is_empty(), "session not ended: {sess}");
        let id = json_text(&sess, "id");
        let v = w.gw.cli(&["recording", "verify", &id]);
        v.ok();
        let t = v.all_text().to_lowercase();
        assert!(t.contains("sealed") && !t.contains("unsealed") && !t.contains("cut short"), "{v}");
    }

    fn exec_recording_holds_stdout_and_stderr(db) {
        let w = World::new(db);
        let out = w.alice.exec(&w.gw, "web01", "echo to-stdout; echo to-stderr >&2; exit 3");
        assert_eq!(out.code(), 3);
        let (id, _) = ended_session(&w.gw);
        let cast = asciicast_output(&export(&w.gw, &id));
        assert!(cast.contains("to-stdout") && cast.contains("to-stderr"), "exec recording: {cast:?}");
        w.gw.cli(&["recording", "verify", &id]).ok();
    }

    fn recording_cat_gives_back_binary_output_byte_for_byte(db) {
        let w = World::new(db);
        let out = w.alice.exec(&w.gw, "web01", "head -c 2000000 /dev/urandom; printf 'err\\377\\n' >&2");
        out.ok();
        assert_eq!(out.stdout.len(), 2_000_000);
        let (id, _) = ended_session(&w.gw);
        let recorded = w.gw.cli(&["recording", "cat", &id, "--stream", "output"]);
        recorded.ok();
        assert!(recorded.stdout == out.stdout, "the recorded output differs from what the client received");
        let stderr = w.gw.cli(&["recording", "cat", &id, "--stream", "stderr"]);
        assert_eq!(stderr.ok().stdout, b"err\xff\n".to_vec());
        w.gw.wait_audit("recording.cat", |e| e.to_string().contains(&id));
    }

    fn asciicast_export_plays_in_asciinema(db) {
        let w = World::new(db);
        interactive_session(&w);
        let (id, _) = ended_session(&w.gw);
        let f = w.gw.scratch().join("play.cast");
        std::fs::write(&f, export(&w.gw, &id)).unwrap();
        let mut c = Command::new("timeout");
        c.args(["60", "asciinema", "play", "-s", "50", "-i", "0.1"]).arg(&f);
        let out = run(c, Stdin::Null, Duration::from_secs(70));
        out.ok();
        assert!(out.stdout_text().contains("3000"), "asciinema showed: {out}");

        let out = w.gw.cli(&["recording", "play", &id, "--speed", "50"]);
        out.ok();
        assert!(out.stdout_text().contains("3000"), "{out}");
    }

    fn corrupt_or_truncated_recordings_give_a_clear_error(db) {
        let w = World::new(db);
        interactive_session(&w);
        let (_, file) = ended_session(&w.gw);
        let bytes = std::fs::read(&file).unwrap();
        let dir = w.gw.scratch();
        let truncated = dir.join("truncated.mwrec");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2 + 7]).unwrap();
        let garbage = dir.join("garbage.mwrec");
        std::fs::write(&garbage, (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>()).unwrap();
        let empty = dir.join("empty.mwrec");
        std::fs::write(&empty, b"").unwrap();
        for f in [&truncated, &garbage, &empty] {
            let p = f.to_str().unwrap();
            for args in [vec!["recording", "verify", p], vec!["recording", "export", p, "--format", "asciicast"], vec!["recording", "play", p, "--speed", "100"]] {
                let out = w.gw.cli(&args);
                assert!(!out.all_text().contains("panicked"), "{out}");
                // A truncated file may still export and play up to the cut; the others
                // have nothing to show.
                if f != &truncated {
                    out.failed();
                    assert_eq!(lines(&out.stderr_text()).len(), 1, "one line, please:\n{out}");
                }
            }
        }
        let out = w.gw.cli(&["recording", "verify", truncated.to_str().unwrap()]);
        let t = out.all_text().to_lowercase();
        assert!(t.contains("cut short") || t.contains("truncat") || t.contains("chunk"), "{out}");
    }
}

both_databases! {
    fn recordings_on_disk_hold_no_plaintext_and_open_only_with_the_vault_key(db) {
        let w = World::new(db);
        // The marker is put together by printf: neither the command line nor the output
        // may be found in the file.
        let out = w.alice.exec(&w.gw, "web01", "printf 'M4RK%s\\n' ER-c0ffee-plaintext; seq 1 2000");
        out.ok();
        let printed = out.stdout_text();
        assert!(printed.contains("M4RKER-c0ffee-plaintext\n1\n2\n"), "{out}");
        let (id, file) = ended_session(&w.gw);
        let on_disk = std::fs::read(&file).unwrap();
        for needle in ["M4RKER-c0ffee-plaintext", "ER-c0ffee-plaintext", "1999\n2000"] {
            assert!(!contains(&on_disk, needle.as_bytes()), "{needle:?} is in {}", file.display());
        }
        // No run of 12 bytes of what the session printed is in the file.
        let runs: std::collections::HashSet<&[u8]> = on_disk.windows(12).collect();
        let leaked: Vec<String> = printed.as_bytes().windows(12).filter(|w| runs.contains(w))
            .map(|w| String::from_utf8_lossy(w).into_owned()).collect();
        assert!(leaked.is_empty(), "plaintext runs in the recording: {leaked:?}");

        // Without the vault key: verify still works, reading does not.
        let vault = w.gw.data_dir().join("vault.key");
        let away = w.gw.scratch().join("vault-key-away");
        std::fs::rename(&vault, &away).unwrap();
        let verified = w.gw.cli(&["recording", "verify", &id]);
        let refused = w.gw.cli(&["recording", "export", &id, "--format", "asciicast"]);
        std::fs::rename(&away, &vault).unwrap();
        verified.ok();
        assert!(verified.stdout_text().contains("sealed"), "{verified}");
        assert!(!refused.success(), "export without the vault key: {refused}");
        assert!(refused.all_text().contains("encrypted") && refused.all_text().contains("vault key"), "{refused}");
        assert!(!refused.all_text().contains("M4RKER"), "{refused}");

        // With it: export shows the marker, and the decryption is audited.
        let cast = asciicast_output(&export(&w.gw, &id));
        assert!(cast.contains("M4RKER-c0ffee-plaintext"), "{cast:?}");
        w.gw.wait_audit("recording.decrypt", |e| json_text(e, "subject") == id && e["detail"]["how"] == "cli export");
    }

    fn recordings_are_checked_with_the_public_key_alone(db) {
        let w = World::new(db);
        interactive_session(&w);
        let (id, file) = ended_session(&w.gw);
        // Owner-only: the file and the directory it sits in.
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        assert_eq!(mode(file.parent().unwrap()), 0o700);

        // On the gateway, with the signing key gone from the disk, verify still works:
        // it never reads the private key.
        let signing = w.gw.data_dir().join("recording_signing_key");
        let moved = w.gw.scratch().join("signing-key-away");
        std::fs::rename(&signing, &moved).unwrap();
        let out = w.gw.cli(&["recording", "verify", &id]);
        std::fs::rename(&moved, &signing).unwrap();
        out.ok();

        // An auditor's machine: the exported file and the public key, no gateway, no
        // configuration, no private key.
        let auditor = w.gw.scratch().join("auditor");
        std::fs::create_dir_all(&auditor).unwrap();
        let copy = auditor.join("session.mwrec");
        std::fs::copy(&file, &copy).unwrap();
        let public = auditor.join("gateway.pub");
        std::fs::copy(w.gw.data_dir().join("recording_signing_key.pub"), &public).unwrap();
        let verify = |rec: &std::path::Path, key: &std::path::Path| {
            let mut c = Command::new(menwei_bin());
            c.current_dir(&auditor)
                .env_remove("MENWEI_CONFIG")
                .args(["recording", "verify"])
                .arg(rec)
                .arg("--public-key")
                .arg(key);
            run(c, Stdin::Null, SHORT)
        };
        // No vault key there either: the chain covers the encrypted chunks.
        assert!(!contains(&std::fs::read(&copy).unwrap(), b"3000\r\n"), "the recording is not encrypted");
        let out = verify(&copy, &public);
        out.ok();
        assert!(out.stdout_text().contains(&id), "the report names the session: {out}");
        // One byte changed: refused, naming the chunk.
        let len = std::fs::metadata(&copy).unwrap().len() as usize;
        let flipped = flip(&copy, len / 2);
        let out = verify(&flipped, &public);
        assert!(!out.success() && out.all_text().contains("chunk"), "{out}");
        // Another gateway's key: refused.
        let other = auditor.join("other.pub");
        std::fs::write(&other, format!("{}\n", "ab".repeat(32))).unwrap();
        let out = verify(&copy, &other);
        assert!(!out.success(), "verified against another key: {out}");
        // Without --public-key and without a gateway there is nothing to check against.
        let mut c = Command::new(menwei_bin());
        c.current_dir(&auditor).env_remove("MENWEI_CONFIG").args(["recording", "verify"]).arg(&copy);
        let out = run(c, Stdin::Null, SHORT);
        assert!(!out.success(), "{out}");
    }

    fn a_private_key_others_can_read_stops_the_gateway_naming_the_file(db) {
        use std::os::unix::fs::PermissionsExt as _;
        let mut w = World::new(db);
        w.gw.stop(SHORT);
        for key in ["vault.key", "recording_signing_key", "client_ed25519_key", "ssh_host_ed25519_key"] {
            let path = w.gw.data_dir().join(key);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let out = w.gw.cli(&["serve"]);
            assert!(!out.success(), "serve started with {key} world-readable:\n{out}");
            let text = out.stderr_text();
            assert!(text.contains(&path.display().to_string()) && text.contains("chmod 600"), "{key}: {out}");
            assert_eq!(lines(&text).len(), 1, "one line: {out}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        w.gw.serve();
        w.alice.exec(&w.gw, "web01", "true").ok();
    }
}

/// A password typed at a `read -s` prompt in the tests below.
const SECRET: &str = "Mw-s3cr3t-7QzK";
/// A password typed while `stty -echo` holds, as `sudo` and `passwd` prompt (the test target
/// logs in as the user running the tests, root here, and has no `sudo` to ask for one).
const SECRET2: &str = "Mw-2nd-Pw-X9";

/// An interactive session where alice types [`SECRET`] at a `read -s` prompt and
/// [`SECRET2`] with echo off, answered by the next prompt without a line feed; returns the
/// session id and recording once it has ended.
fn typed_secret_session(w: &World) -> (String, PathBuf) {
    let mut s = w
        .alice
        .spawn(&w.gw, "alice:web01", &["-tt"], &[], Stdin::Pipe);
    // The prompt is spelled apart in the command line, so only the prompt itself matches.
    s.send(b"read -s -p 'Pass''word: ' P; echo; echo \"got ${#P}\"\n");
    s.wait_stdout("Password: ", SHORT);
    s.send(format!("{SECRET}\n").as_bytes());
    s.wait_stdout(&format!("got {}", SECRET.len()), SHORT);
    // The next prompt, spelled apart too, comes without a line feed after the answer.
    s.send(b"stty -echo; echo ready-$((40+2)); read Q; stty echo; PS1='Q''1> '\n");
    s.wait_stdout("ready-42", SHORT);
    s.send(format!("{SECRET2}\n").as_bytes());
    s.wait_stdout("Q1> ", SHORT);
    s.send(b"echo \"got2 ${#Q}\"\n");
    s.wait_stdout(&format!("got2 {}", SECRET2.len()), SHORT);
    s.send(b"exit\n");
    s.wait(SHORT).ok();
    ended_session(&w.gw)
}

/// The input a recording's bytes (decrypted with `key` when the API sent one) hold on every
/// channel, as text.
fn recorded_input(bytes: &[u8], key: Option<&recordings::DataKey>) -> String {
    let rec = recordings::Recording::parse(bytes, key).expect("the API sends a readable recording");
    let typed: Vec<u8> = rec
        .events()
        .iter()
        .filter_map(|(_, e)| match e {
            recordings::Event::Input { data, .. } => Some(data.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    String::from_utf8_lossy(&typed).into_owned()
}

/// `GET /api/v1{path}` with `token`: status, body and the recording data key it sent.
fn api_get(w: &World, token: &str, path: &str) -> (u16, Vec<u8>, Option<recordings::DataKey>) {
    let r = w.gw.api_get(token, path);
    let key = r.headers().get("x-menwei-recording-key").map(|v| {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v.as_bytes())
            .unwrap();
        recordings::DataKey::from_slice(&raw).expect("a 32-byte data key")
    });
    (r.status().as_u16(), r.bytes().unwrap().to_vec(), key)
}

both_databases! {
    fn a_password_typed_at_a_prompt_that_does_not_echo_is_masked_until_an_auditor_unmasks(db) {
        let w = World::new(db);
        w.gw.add_user("audrey", "auditor");
        let (id, file) = typed_secret_session(&w);
        // The file on disk is encrypted: no secret in it either way.
        let on_disk = std::fs::read(&file).unwrap();
        assert!(!String::from_utf8_lossy(&on_disk).contains(SECRET));

        // CLI: the export with input, and the raw input stream, show `••••`, never the secret.
        let cast = w.gw.cli_ok(&["recording", "export", &id, "--format", "asciicast", "--include-input"]);
        assert!(!cast.contains(SECRET) && !cast.contains(SECRET2), "{cast}");
        assert!(cast.contains("\"i\", \"••••"), "{cast}");
        assert!(cast.contains("got2 ${#Q}"), "the command after the blind answer is kept: {cast}");
        assert!(cast.contains("read -s"), "echoed input is kept: {cast}");
        let typed = w.gw.cli_ok(&["recording", "cat", &id, "--stream", "input"]);
        assert!(!typed.contains(SECRET) && !typed.contains(SECRET2), "{typed:?}");
        assert_eq!(typed.matches("••••\n").count(), 2, "{typed:?}");
        // Unmasking needs a reason, shows the secret and is audited with it.
        let out = w.gw.cli(&["recording", "export", &id, "--format", "asciicast", "--include-input", "--unmask"]);
        assert!(!out.success(), "{out}");
        let cast = w.gw.cli_ok(&["recording", "export", &id, "--format", "asciicast", "--include-input", "--unmask", "--reason", "INC-42 check"]);
        assert!(cast.contains(SECRET) && cast.contains(SECRET2), "{cast}");
        w.gw.wait_audit("recording.unmask", |e| json_text(e, "subject") == id
            && e["detail"]["reason"] == "INC-42 check" && e["detail"]["command"] == "export");

        // API: the auditor's replay holds `••••`, not the secret, and the command list too.
        let audrey = w.gw.token("audrey");
        let (status, bytes, key) = api_get(&w, &audrey, &format!("/sessions/{id}/recording"));
        assert_eq!(status, 200);
        assert!(key.is_none(), "the redacted copy needs no key");
        let typed = recorded_input(&bytes, key.as_ref());
        assert!(!typed.contains(SECRET) && !typed.contains(SECRET2) && typed.contains("••••"), "{typed:?}");
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET));
        let (_, list, _) = api_get(&w, &audrey, &format!("/sessions/{id}/commands"));
        let list: Value = serde_json::from_slice(&list).unwrap();
        let hidden: Vec<&Value> = list["commands"].as_array().unwrap().iter().filter(|c| c["hidden"] == true).collect();
        assert_eq!(hidden.len(), 2, "{list}");
        assert!(hidden.iter().all(|c| c["text"] == "••••"), "{list}");
        assert!(!list.to_string().contains(SECRET) && !list.to_string().contains(SECRET2), "{list}");
        // Unmasked for the auditor with a reason, audited; not without a reason.
        let (status, _, _) = api_get(&w, &audrey, &format!("/sessions/{id}/recording?unmask=1"));
        assert_eq!(status, 400);
        let (status, bytes, key) = api_get(&w, &audrey, &format!("/sessions/{id}/recording?unmask=1&reason=INC-43"));
        assert_eq!(status, 200);
        let typed = recorded_input(&bytes, key.as_ref());
        assert!(typed.contains(SECRET) && typed.contains(SECRET2), "{typed:?}");
        // The original, as stored: the gateway marked both secrets as it recorded them.
        let rec = recordings::Recording::parse(&bytes, key.as_ref()).unwrap();
        let marks = rec.events().iter().filter(|(_, e)| matches!(e, recordings::Event::Masked { .. })).count();
        assert_eq!(marks, 2, "{:?}", rec.events());
        w.gw.wait_audit("recording.unmask", |e| json_text(e, "actor") == "audrey"
            && json_text(e, "subject") == id && e["detail"]["reason"] == "INC-43");
        // An approver (who may replay) and an engineer cannot unmask.
        for who in ["bob", "alice"] {
            let (status, body, _) = api_get(&w, &w.gw.token(who), &format!("/sessions/{id}/recording?unmask=1&reason=x"));
            assert_eq!(status, 403, "{who}");
            assert!(!String::from_utf8_lossy(&body).contains(SECRET), "{who}");
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], "forbidden", "{who}: {v}");
            if who == "bob" {
                assert_eq!(v["error"]["reason"], "unmask_auditor_only", "{v}");
            }
        }
        assert!(!w.gw.audit().iter().any(|e| e["action"] == "recording.unmask" && json_text(e, "actor") != "audrey" && e["detail"]["via"] != "cli"));
    }
}
