//! The web side end to end in a real browser: headless Chromium driven by Playwright
//! (`tests/browser/flow.mjs`) against the real gateway serving the built page
//! (`web-terminal/dist`). An engineer files a request from the page; an approver, already
//! logged in in a second browser context, sees it arrive without reloading and approves
//! it; the engineer opens the browser terminal on web01 and sees the target's answer; the
//! approver watches the session live and terminates it, and the engineer's page says so;
//! an auditor in a third context finds the session, searches the replay for the output and
//! jumps to it. Screenshots of every step go to `tests/test-artifacts/browser/<database>/`.
//!
//! Needs `web-terminal/build` (the page), node with playwright-core
//! (`web-terminal/node_modules`) and Chromium at `/usr/bin/chromium` (or `CHROMIUM`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use menwei_e2e::*;

const WEB: &str =
    "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\napprovals = 1\n";
const PASSWORD: &str = "a long web password";
/// The whole browser flow; it takes about 15 s on two cores.
const FLOW_TIMEOUT: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built page, or a clear failure saying how to build it.
fn dist() -> PathBuf {
    let dist = repo().join("web-terminal/dist");
    for f in [
        "index.html",
        "app.js",
        "pkg/web_terminal_bg.wasm",
        "xterm/xterm.mjs",
    ] {
        assert!(
            dist.join(f).is_file(),
            "the page is not built ({} is missing): run web-terminal/build",
            dist.join(f).display()
        );
    }
    dist.canonicalize().unwrap()
}

/// Sets `name`'s web password; enrolls TOTP when `totp` and returns the secret as hex.
fn web_user(gw: &Gateway, name: &str, totp: bool) -> String {
    gw.cli_with(
        &["user", "passwd", name],
        Stdin::Bytes(format!("{PASSWORD}\n").into_bytes()),
    )
    .ok();
    if !totp {
        return String::new();
    }
    let out = gw.cli_ok(&["totp", "enroll", name]);
    let uri = out
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .unwrap_or_else(|| panic!("totp enroll {name} printed no otpauth:// line:\n{out}"));
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap();
    hex::encode(secret)
}

both_databases! {
    fn request_approve_terminal_watch_terminate_replay_in_chromium(db) {
        let dist = dist();
        let label = match db { Db::Sqlite => "sqlite", Db::Postgres => "postgres" };
        let w = World::with(
            db,
            WorldOpts {
                grant_for: None,
                config: WEB,
                assets: Some(dist),
                ..WorldOpts::default()
            },
        );
        let gw = &w.gw;
        gw.add_user("audrey", "auditor");
        web_user(gw, "alice", false);
        let bob_totp = web_user(gw, "bob", true);
        web_user(gw, "audrey", false);

        let shots = repo().join("tests/test-artifacts/browser").join(label);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let mut c = Command::new("node");
        c.arg(repo().join("tests/browser/flow.mjs"))
            .current_dir(repo())
            .env("MENWEI_URL", format!("https://127.0.0.1:{}", gw.https_port))
            .env("MENWEI_PASSWORD", PASSWORD)
            .env("MENWEI_ENGINEER", "alice")
            .env("MENWEI_APPROVER", "bob")
            .env("MENWEI_APPROVER_TOTP_HEX", &bob_totp)
            .env("MENWEI_AUDITOR", "audrey")
            .env("MENWEI_TARGET", "web01")
            .env("MENWEI_SHOTS", &shots);
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

        // What the page did went through the gateway: one web session for alice on web01,
        // ended by bob, replayed by audrey.
        let s = gw.last_session("alice");
        assert_eq!(json_text(&s, "target"), "web01", "{s}");
        assert_eq!(json_text(&s, "end_reason"), "terminated", "ended by the approver: {s}");
        gw.wait_audit("session.terminate", |e| json_text(e, "actor") == "bob");
        gw.wait_audit("recording.replay", |e| json_text(e, "actor") == "audrey");
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
