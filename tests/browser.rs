//! The web side end to end in a real browser: headless Chromium driven by Playwright
//! (`tests/browser/flow.mjs`) against the real gateway serving the built page
//! (`web-terminal/dist`). An engineer files a request from the page; an approver, already
//! logged in in a second browser context, sees it arrive without reloading and approves
//! it; the engineer opens the browser terminal on web01 and sees the target's answer, types
//! `echo 你好世界` and sees it printed back (and the recording holds it both ways); the
//! approver watches the session live, the engineer's window changes size and the watcher's
//! view follows, the approver terminates it, and the engineer's page says so; an auditor in
//! a third context finds the session, searches the replay (the page decrypts the recording
//! with the key the API sends the auditor) for the output and jumps to it;
//! the approver's login ends from another tab and the page says so within seconds.
//! Nothing the engineer's page showed or received carries the target's address or port.
//! Screenshots of every step go to `tests/test-artifacts/browser/<database>/`.
//!
//! Needs `web-terminal/build` (the page), node with playwright-core
//! (`web-terminal/node_modules`) and Chromium at `/usr/bin/chromium` (or `CHROMIUM`).

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

/// The whole browser flow; it takes about 15 s on two cores.
const FLOW_TIMEOUT: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    repo_root()
}

/// The built page.
fn dist() -> PathBuf {
    built_page(&[
        "index.html",
        "app.js",
        "pkg/web_terminal_bg.wasm",
        "xterm/xterm.mjs",
    ])
}

both_databases! {
    fn request_approve_terminal_watch_terminate_replay_in_chromium(db) {
        let dist = dist();
        let label = match db { Db::Sqlite => "sqlite", Db::Postgres => "postgres" };
        let w = World::with(
            db,
            WorldOpts {
                grant_for: None,
                config: WEB_GROUP,
                assets: Some(dist),
                ..WorldOpts::default()
            },
        );
        let gw = &w.gw;
        gw.add_user("audrey", "auditor");
        let alice_totp = web_login_hex(gw, "alice");
        let bob_totp = web_login_hex(gw, "bob");
        let audrey_totp = web_login_hex(gw, "audrey");

        let shots = repo().join("tests/test-artifacts/browser").join(label);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let seen = shots.join("engineer-seen.txt");
        let mut c = Command::new("node");
        c.arg(repo().join("tests/browser/flow.mjs"))
            .current_dir(repo())
            .env("MENWEI_URL", format!("https://127.0.0.1:{}", gw.https_port))
            .env("MENWEI_PASSWORD", WEB_PASSWORD)
            .env("MENWEI_ENGINEER", "alice")
            .env("MENWEI_APPROVER", "bob")
            .env("MENWEI_ENGINEER_TOTP_HEX", &alice_totp)
            .env("MENWEI_APPROVER_TOTP_HEX", &bob_totp)
            .env("MENWEI_AUDITOR_TOTP_HEX", &audrey_totp)
            .env("MENWEI_AUDITOR", "audrey")
            .env("MENWEI_TARGET", "web01")
            .env("MENWEI_SHOTS", &shots)
            .env("MENWEI_SEEN", &seen);
        let out = run(c, Stdin::Null, FLOW_TIMEOUT);
        let stdout = out.stdout_text();
        assert!(
            out.success(),
            "the browser flow failed (exit {}; screenshots in {}):\n--- stdout\n{stdout}\n--- stderr\n{}\n--- gateway log (tail)\n{}",
            out.code(),
            shots.display(),
            out.stderr_text(),
            tail(&gw.log(), 60),
        );
        assert!(stdout.contains(" passed, 0 failed"), "no summary line:\n{stdout}");
        for line in stdout.lines().filter(|l| l.contains("said its login ended")) {
            eprintln!("{line}");
        }

        // What the page did went through the gateway: one web session for alice on web01,
        // ended by bob, replayed by audrey.
        let s = gw.last_session("alice");
        assert_eq!(json_text(&s, "target"), "web01", "{s}");
        assert_eq!(json_text(&s, "end_reason"), "terminated", "ended by the approver: {s}");
        gw.wait_audit("session.terminate", |e| json_text(e, "actor") == "bob");
        gw.wait_audit("recording.replay", |e| json_text(e, "actor") == "audrey");
        // The auditor unmasked the password typed at the prompt, giving the page's reason.
        gw.wait_audit("recording.unmask", |e| json_text(e, "actor") == "audrey"
            && e["detail"]["reason"].as_str().is_some_and(|r| r.starts_with("unmask for INC-BROWSER-")));
        // The page got the encrypted file and its key, and decrypted it itself.
        gw.wait_audit("recording.decrypt", |e| {
            json_text(e, "actor") == "audrey" && e["detail"]["how"] == "api recording"
        });

        // The Chinese the engineer typed is in the recording as typed, and the shell's
        // answer as the line it printed (not readline's Meta-key noise).
        let id = json_text(&s, "id");
        let input = gw.cli(&["recording", "cat", &id, "--stream", "input"]);
        assert!(input.success(), "{input}");
        assert!(
            contains(&input.stdout, "echo 你好世界\r".as_bytes()),
            "the recording's input lacks the typed command: {:?}",
            input.stdout_text()
        );
        let output = gw.cli(&["recording", "cat", &id, "--stream", "output"]);
        assert!(output.success(), "{output}");
        assert!(
            screen_lines(&output.stdout_text()).iter().any(|l| l == "你好世界"),
            "the recording's output lacks the line 你好世界: {:?}",
            output.stdout_text()
        );

        // What the engineer's page showed and received: its text at every step and every
        // WebSocket frame. Not empty (the check must have something to check)...
        let seen = std::fs::read(&seen).unwrap();
        for expected in ["--- websocket", "BROWSER_42", "你好世界", "SIZE2="] {
            assert!(
                contains(&seen, expected.as_bytes()),
                "the engineer's page text lacks {expected:?}: the collection is broken"
            );
        }
        // ...and free of the target's address and port.
        assert_no_leak(&seen, "the engineer's page (text, terminal, WebSocket frames)");
    }
}

/// The lines of terminal output as a screen shows them: without CSI sequences (colours,
/// bracketed paste) and carriage returns.
fn screen_lines(output: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            // Parameters and intermediates up to the final byte (@ to ~).
            for c in chars.by_ref().skip(1) {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else if c != '\r' {
            plain.push(c);
        }
    }
    plain.lines().map(str::to_string).collect()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
