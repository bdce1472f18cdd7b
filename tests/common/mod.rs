//! Shared harness for the end-to-end tests: real processes on loopback, nothing mocked.
//!
//! A test builds what it needs from these pieces, each an RAII guard whose `Drop` stops
//! what it started:
//!
//! - [`Database`]: SQLite (the default file in the gateway's data dir) or a fresh
//!   PostgreSQL database per test, created with `psql` from `MENWEI_TEST_PG_URL` and
//!   dropped afterwards. [`both_databases!`] turns one test body into a test per database.
//! - [`PrivatePostgres`]: a PostgreSQL cluster of the test's own on a free port, to stop,
//!   kill or freeze (SIGSTOP) under a gateway without touching the shared server.
//! - [`Sshd`]: an OpenSSH `sshd` target on `127.0.0.2`..`127.0.0.9` with its own host key
//!   and config, so that a target's address is a string that appears nowhere else.
//! - [`Gateway`]: `menwei init` in a tempdir, `menwei serve` as a child, CLI helpers.
//! - [`Engineer`]: an ed25519 key and the real `ssh`/`scp`/`sftp`/`rsync` clients. Every
//!   run checks that no engineer-visible text carries a target's address or port.
//! - [`flood_ignoring_window`]: a hostile SSH client (paramiko) that logs in with an
//!   engineer's key and sends on its channels regardless of the window.
//! - [`PtySession`]: `ssh` inside a real pseudo-terminal (via Python's `pty`), for shells,
//!   menus and window changes.
//! - [`RawWebSocket`]: a hand-written WebSocket client over TLS that opens the page's
//!   sockets with the page's `Origin` and a session cookie, and can stop reading.
//! - [`WebhookReceiver`]: a loopback HTTP server that records the webhooks it receives.
//! - [`S3Server`]: `s3s-fs`, a real S3-compatible server on a free loopback port with one
//!   bucket and keys of its own, to stop and start again under a gateway.
//! - [`Tmpfs`]: a small filesystem of its own (a `tmpfs` mounted for the test), to fill a
//!   disk without touching the machine's.
//! - [`World`]: gateway + pinned target `web01` + engineer `alice` + approver `bob` + a live
//!   grant, the starting point of most tests.
//!
//! It is not a library for the product: it only drives the built `menwei` binary
//! (`target/debug/menwei`, or `MENWEI_BIN`). Every wait has a deadline, so a broken
//! gateway fails a test instead of hanging it.

// Test code: a failed expectation is a panic, with the context needed to understand it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod database;
mod engineer;
mod gateway;
mod hostile_ssh;
mod leaks;
mod page;
mod private_pg;
mod process;
mod proofs;
mod pty;
mod relay;
mod s3;
mod sshd;
mod tmpfs;
mod totp;
mod webhook;
mod websocket;
mod world;

pub use database::{Database, Db};
pub use engineer::Engineer;
pub use gateway::Gateway;
pub use gateway::{https_client, menwei_bin};
pub use hostile_ssh::flood_ignoring_window;
pub use leaks::{assert_no_leak, check_out as check_engineer_output};
pub use page::{built_page, repo_root, web_login_hex};
pub use private_pg::PrivatePostgres;
pub use process::{
    closed_within, contains, free_port, free_ports, kill_group, process_tree, rss_kib, run,
    setup_tool, signal, wait_until, Out, PeakRss, Spawned, Stdin,
};
pub use proofs::enrolled_secret;
pub use pty::PtySession;
pub use relay::Relay;
pub use s3::S3Server;
pub use sshd::Sshd;
pub use tmpfs::Tmpfs;
pub use totp::{now_secs, totp};
pub use webhook::{WebhookHit, WebhookReceiver};
pub use websocket::{tls_connect, Frame, RawWebSocket};
pub use world::{
    file_incident, file_request, last_end_reason, live_shell, live_shell_on, recordings_on,
    replace_lines, World, WorldOpts, FAST_HEARTBEATS, STALLED_READER_GROWTH_KIB, WEB01_DESCRIPTION,
};

use std::time::Duration;

/// The web password tests give a user before logging in over the API (`Gateway::web_cookie`).
pub const WEB_PASSWORD: &str = "a long web password";

/// A policy group `web` holding `web01`, open to every engineer, one approval: the request
/// tests' starting point (`World::with_policy`).
pub const WEB_GROUP: &str =
    "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\napprovals = 1\n";

/// Default deadline for one command of the CLI or one short `ssh` run.
pub const SHORT: Duration = Duration::from_secs(30);

/// Expands one test body into a test per database: `name::sqlite` and `name::postgres`.
///
/// ```ignore
/// both_databases! {
///     fn exec_returns_exit_status(db) {
///         let w = World::new(db);
///         ...
///     }
/// }
/// ```
#[macro_export]
macro_rules! both_databases {
    ($( $(#[$meta:meta])* fn $name:ident($db:ident) $body:block )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($db: $crate::Db) $body

            #[test]
            fn sqlite() {
                body($crate::Db::Sqlite)
            }

            #[test]
            fn postgres() {
                body($crate::Db::Postgres)
            }
        }
    )*};
}

/// Epoch milliseconds of `2026-11-29T10:00:48.123Z`.
pub fn rfc3339_ms(s: &str) -> i64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + ms
}

/// A JSON field as text whether the binary wrote it as a string or a number.
pub fn json_text(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Lowercase text contains one of the words that say "no" to an engineer.
pub fn says_refused(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "refused",
        "not allowed",
        "denied",
        "disabled",
        "forbidden",
        "not permitted",
        "no live grant",
        "no grant",
        "prohibited",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// The non-empty lines of `text`, trimmed.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Asserts `out` failed and told the user why in exactly one line on stderr.
pub fn assert_one_line_refusal(out: &Out) {
    assert!(!out.success(), "expected a refusal, got success:\n{out}");
    let l = lines(&out.stderr_text());
    assert_eq!(l.len(), 1, "expected exactly one line on stderr:\n{out}");
    // Either the gateway's own line (`menwei: ...`) or the client's rendering of an
    // authentication refusal (`Permission denied (publickey).`).
    assert!(
        l[0].starts_with("menwei") || says_refused(&l[0]),
        "the line is not a refusal from the gateway: {:?}\n{out}",
        l[0]
    );
}

/// Loads each page in headless Chromium as `token`'s holder (`tests/browser/report_shots.mjs`),
/// checks its title and saves a screen and a print screenshot under
/// `tests/test-artifacts/reports/<label>/` (tests/reports.rs, tests/inspections.rs).
pub fn report_screenshots(gw: &Gateway, token: &str, label: &str, pages: &[(&str, String, &str)]) {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shots = repo.join("tests/test-artifacts/reports").join(label);
    let _ = std::fs::remove_dir_all(&shots);
    let list: String = pages
        .iter()
        .map(|(name, path, title)| format!("{name}\t/api/v1{path}\t{title}\n"))
        .collect();
    let mut c = std::process::Command::new("node");
    c.arg(repo.join("tests/browser/report_shots.mjs"))
        .env("MENWEI_URL", format!("https://127.0.0.1:{}", gw.https_port))
        .env("MENWEI_TOKEN", token)
        .env("MENWEI_SHOTS", &shots)
        .env("MENWEI_PAGES", list);
    let out = run(c, Stdin::Null, std::time::Duration::from_secs(120));
    assert!(out.success(), "report screenshots failed:\n{out}");
    for (name, _, _) in pages {
        for suffix in ["", "-print"] {
            let png = shots.join(format!("{name}{suffix}.png"));
            let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(len > 5_000, "{} missing or empty", png.display());
        }
    }
}

/// The text `pdftotext` reads from a PDF, whitespace runs made one space.
pub fn pdf_text(pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/setup installs it)");
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
