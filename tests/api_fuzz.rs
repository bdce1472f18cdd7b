//! The REST API fuzzed from its own OpenAPI document: schemathesis (PyPI, pinned in
//! scripts/setup) reads `/api/v1/openapi.json` from the running binary and sends generated
//! requests, valid and invalid, to every operation, as each role (admin, approver,
//! auditor, engineer, each with an API token) and as nobody. It fails on any 5xx and on any
//! answer that contradicts the document (undocumented status, wrong content type, an error
//! body not in the `Error` shape). The test also reads schemathesis's HAR log itself: it
//! must hold requests, none answered 5xx; and the gateway must still be serving afterwards.
//!
//! Bounded: a fixed seed and a few examples per operation (about 700 requests per caller),
//! so it takes one to two minutes on the 2-core machine. Not
//! run: `/events` (an event stream never ends; `web_api.rs` tests it). Schemathesis missing
//! is a failure, never a skip: scripts/setup installs it.

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
use serde_json::Value;

/// Generated cases per operation and phase, for each caller.
const EXAMPLES: &str = "8";

/// Where scripts/setup installs schemathesis (its virtualenv), under `$MENWEI_TOOLS`.
const SETUP_VENV: &str = "schemathesis-4.32.5/bin/schemathesis";

/// The schemathesis to run (`setup_tool`: `$MENWEI_SCHEMATHESIS`, else the one scripts/setup
/// installed, else `schemathesis` on `PATH`).
fn schemathesis() -> PathBuf {
    setup_tool("MENWEI_SCHEMATHESIS", SETUP_VENV, "schemathesis")
}

/// Runs schemathesis as one caller; returns its output and the statuses it received.
fn fuzz_as(exe: &Path, port: u16, dir: &Path, who: &str, bearer: Option<&str>) -> (Out, Vec<u16>) {
    let har = dir.join(format!("schemathesis-{who}.har"));
    let mut cmd = Command::new(exe);
    cmd.args([
        "run",
        &format!("https://127.0.0.1:{port}/api/v1/openapi.json"),
        "--tls-verify",
        "false",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        EXAMPLES,
        "--seed",
        "7",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        // A failure is reported as found: shrinking it would take minutes.
        "--no-shrink",
        "--max-failures",
        "3",
        "--exclude-path",
        "/api/v1/events",
        "--report",
        "har",
        "--report-har-path",
    ])
    .arg(&har)
    // Its output reads well in the test log without colours or a progress bar.
    .env("NO_COLOR", "1")
    .current_dir(dir);
    if let Some(b) = bearer {
        cmd.args(["-H", &format!("Authorization: Bearer {b}")]);
    }
    let out = run(cmd, Stdin::Null, Duration::from_secs(150));
    let statuses = match std::fs::read(&har) {
        Ok(bytes) => {
            let log: Value = serde_json::from_slice(&bytes).unwrap();
            log["log"]["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["response"]["status"].as_u64().unwrap() as u16)
                .collect()
        }
        Err(e) => panic!("schemathesis as {who} wrote no HAR log ({e}):\n{out}"),
    };
    (out, statuses)
}

both_databases! {
    fn the_api_answers_generated_requests_as_its_document_says_for_every_role(db) {
        let exe = schemathesis();
        // Idle keep-alive connections are closed after header_read_timeout (10 s). Five
        // schemathesis runs at once on a loaded machine leave pooled connections idle that
        // long, and a close racing the next request's reuse is a client-side network error
        // (SSLEOFError), not an answer of the API: this test checks answers, so the idle
        // close waits longer here (tests/hostile.rs holds the 10 s to account).
        let mut w = World::with(
            db,
            WorldOpts {
                config: WEB_GROUP,
                replace: &[("header_read_timeout = \"10s\"", "header_read_timeout = \"5m\"")],
                ..WorldOpts::default()
            },
        );
        let gw = &w.gw;
        gw.add_user("audrey", "auditor");
        gw.add_user("adam", "admin");
        // Something to list: a session with its recording, a grant, audit entries.
        w.alice.exec(gw, "web01", "echo fuzz").ok();

        let callers = [
            ("admin", Some(gw.token("adam"))),
            ("approver", Some(gw.token("bob"))),
            ("auditor", Some(gw.token("audrey"))),
            ("engineer", Some(gw.token("alice"))),
            ("nobody", None),
        ];
        // All callers at once: the gateway serves them concurrently, as it would.
        let (port, dir) = (gw.https_port, gw.scratch());
        let results: Vec<_> = std::thread::scope(|s| {
            let runs: Vec<_> = callers
                .iter()
                .map(|(who, bearer)| {
                    let (exe, dir) = (&exe, &dir);
                    s.spawn(move || (*who, fuzz_as(exe, port, dir, who, bearer.as_deref())))
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let mut failed = Vec::new();
        for (who, (out, statuses)) in results {
            let server_errors = statuses.iter().filter(|s| **s >= 500).count();
            eprintln!(
                "schemathesis as {who}: exit {:?}, {} requests, {server_errors} answered 5xx",
                out.status,
                statuses.len()
            );
            assert!(statuses.len() > 50, "schemathesis as {who} sent only {} requests:\n{out}", statuses.len());
            if !out.success() || server_errors > 0 {
                eprintln!("{}", out.all_text());
                failed.push(who);
            }
        }
        assert!(w.gw.serving(), "the gateway stopped under the fuzzing:\n{}", w.gw.log());
        assert!(failed.is_empty(), "schemathesis found problems as {failed:?} (output above)");
    }
}
