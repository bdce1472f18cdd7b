//! The console in a real browser (headless Chromium, `tests/browser/console.mjs`) over a
//! scripted history: three level-A requests, one answered after the response window (6 s
//! here), two sessions, and a level-B request left waiting. Each role logs in and walks its
//! navigation: every page is shown, screenshot into `tests/test-artifacts/console/<db>/`,
//! and in Chinese no Latin word is on it outside code, ids and names. The approver's desk
//! counts what waits and what runs; the auditor's overview charts draw the reports API's
//! figures for today (3 level-A requests, one of them answered late, and the waiting one
//! late too: 2 breaches; 2 sessions), and a click on the
//! level-A bar and on today's sessions bar lists exactly those two sessions. English is one
//! click away and remembered across a reload. Tab reaches the navigation and Enter follows
//! it; the engineer's browser terminal keeps its size and the keyboard across pages; no
//! text on any page is under WCAG AA contrast.
//!
//! A second walk (`tests/browser/paging.mjs`) pages the auditor's sessions table through 500
//! sessions and sorts it by a column on the server.
//!
//! Needs `web-terminal/build`, node with playwright-core and Chromium (see browser.rs).

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

/// The response window of this history: short, so that one approval can miss it.
const WINDOW_S: u64 = 6;

/// The `web` group and one inspection runbook, not yet approved.
fn config() -> &'static str {
    Box::leak(
        format!(
            "{WEB_GROUP}[inspections.monthly]\ntargets = [\"web01\"]\nschedule = \"1 09:00\"\n\
             commands = [{{ name = \"disk\", command = \"df -P /\", measure = \"disk_percent\" }}]\n"
        )
        .into_boxed_str(),
    )
}

fn repo() -> PathBuf {
    repo_root()
}

fn approve(gw: &Gateway, id: &str) {
    gw.cli_as(
        "bob",
        &["review", "approve", id, "--by", "bob", "--comment", "ok"],
    )
    .ok();
}

both_databases! {
    fn each_roles_console_walks_its_pages_in_chinese_and_the_charts_show_the_history(db) {
        let label = match db { Db::Sqlite => "sqlite", Db::Postgres => "postgres" };
        let w = World::with(db, WorldOpts {
            grant_for: None,
            config: config(),
            assets: Some(built_page(&["index.html", "js/nav.js", "echarts/echarts.mjs", "pkg/web_terminal_bg.wasm"])),
            replace: &[("response_window = \"30m\"", "response_window = \"6s\"")],
            ..WorldOpts::default()
        });
        let gw = &w.gw;
        gw.add_user("audrey", "auditor");
        gw.add_user("adam", "admin");
        let totp: Vec<String> = ["alice", "bob", "audrey", "adam"].iter().map(|n| web_login_hex(gw, n)).collect();

        // Three level-A requests: two answered at once, one after the window.
        let a1 = file_incident(gw, "INC-A1", "A", "1h");
        approve(gw, &a1);
        let s1 = w.alice.exec(gw, "web01", "echo one");
        assert!(s1.success(), "{s1}");
        let a2 = file_incident(gw, "INC-A2", "A", "1h");
        approve(gw, &a2);
        let s2 = w.alice.exec(gw, "web01", "echo two");
        assert!(s2.success(), "{s2}");
        let a3 = file_incident(gw, "INC-A3", "A", "1h");
        std::thread::sleep(Duration::from_secs(WINDOW_S + 1));
        approve(gw, &a3);
        // One waiting for the approver's desk, past the window before anyone looks: a
        // late response too, as the reports count it.
        let b4 = file_incident(gw, "INC-B4", "B", "1h");
        std::thread::sleep(Duration::from_secs(WINDOW_S + 1));
        let sessions: Vec<String> = gw.sessions().iter().map(|s| json_text(s, "id")).collect();
        assert_eq!(sessions.len(), 2, "{sessions:?}");

        let shots = repo().join("tests/test-artifacts/console").join(label);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let mut c = Command::new("node");
        c.arg(repo().join("tests/browser/console.mjs"))
            .current_dir(repo())
            .env("MENWEI_URL", format!("https://127.0.0.1:{}", gw.https_port))
            .env("MENWEI_PASSWORD", WEB_PASSWORD)
            .env("MENWEI_USERS", format!(
                "engineer alice {}\napprover bob {}\nauditor audrey {}\nadmin adam {}",
                totp[0], totp[1], totp[2], totp[3]
            ))
            .env("MENWEI_SESSIONS", sessions.join(","))
            .env("MENWEI_PENDING", &b4)
            // What people typed or named (not the page's words): allowed in any language.
            .env("MENWEI_DATA", format!("{WEB01_DESCRIPTION}\ndisk full on /var\nok\nmonthly\nalice\nbob\naudrey\nadam\nweb01\nweb\nengineer\napprover\nauditor\nadmin"))
            .env("MENWEI_SHOTS", &shots);
        let out = run(c, Stdin::Null, Duration::from_secs(150));
        let stdout = out.stdout_text();
        assert!(
            out.success(),
            "the console walk failed (exit {}; screenshots in {}):\n--- stdout\n{stdout}\n--- stderr\n{}\n--- gateway log (tail)\n{}",
            out.code(),
            shots.display(),
            out.stderr_text(),
            gw.log().lines().rev().take(40).collect::<Vec<_>>().join("\n"),
        );
        assert!(stdout.contains(" passed, 0 failed"), "no summary line:\n{stdout}");
        for line in stdout.lines() {
            eprintln!("{line}");
        }
    }

    fn the_auditor_pages_through_500_sessions_and_sorts_them_on_the_server(db) {
        let label = match db { Db::Sqlite => "sqlite", Db::Postgres => "postgres" };
        let w = World::with(db, WorldOpts {
            grant_for: None,
            assets: Some(built_page(&["index.html", "js/table.js", "pkg/web_terminal_bg.wasm"])),
            ..WorldOpts::default()
        });
        let gw = &w.gw;
        gw.add_user("audrey", "auditor");
        let hex = web_login_hex(gw, "audrey");
        // 500 ended sessions straight into the database: five engineers, a hundred each,
        // one minute apart.
        let base = 1_780_000_000_000i64;
        let ids: Vec<String> = (0..500).map(|i| format!("s-page-{i:03}")).collect();
        let values: Vec<String> = ids.iter().enumerate().map(|(i, id)| {
            let started = base + i as i64 * 60_000;
            format!(
                "('{id}', 'eng-{}', 'web01', 'g-none', {started}, {}, 'closed', 'node-1')",
                (b'a' + (i % 5) as u8) as char,
                started + 30_000
            )
        }).collect();
        gw.sql(&format!(
            "INSERT INTO sessions (id, engineer, target, grant_id, started_at, ended_at, end_reason, node) VALUES {}",
            values.join(", ")
        )).ok();

        let shots = repo().join("tests/test-artifacts/console-paging").join(label);
        let _ = std::fs::remove_dir_all(&shots);
        let mut c = Command::new("node");
        c.arg(repo().join("tests/browser/paging.mjs"))
            .current_dir(repo())
            .env("MENWEI_URL", format!("https://127.0.0.1:{}", gw.https_port))
            .env("MENWEI_PASSWORD", WEB_PASSWORD)
            .env("MENWEI_USER", "audrey")
            .env("MENWEI_TOTP_HEX", &hex)
            .env("MENWEI_SESSIONS", ids.join(","))
            .env("MENWEI_SHOTS", &shots);
        let out = run(c, Stdin::Null, Duration::from_secs(120));
        let stdout = out.stdout_text();
        assert!(
            out.success() && stdout.contains(" passed, 0 failed"),
            "the paging walk failed (exit {}; screenshots in {}):\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.code(),
            shots.display(),
            out.stderr_text(),
        );
    }
}
