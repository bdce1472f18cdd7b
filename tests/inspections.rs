//! Inspections (巡检) against a real sshd target: a runbook approved by an approver runs at
//! its scheduled slot through the gateway's session path (recorded, audited as
//! `inspection:NAME`), and its 《服务器巡检报告》 lists the disk threshold crossed on
//! purpose (1%), also in the PDF; an unapproved runbook and a changed one do not run, and
//! the refusal is audited; an engineer can neither approve nor run one. With two nodes on
//! one PostgreSQL, a slot runs once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use menwei_e2e::*;
use serde_json::Value;

/// The threshold line the test changes to make a new version.
const THRESHOLDS: &str = "thresholds = { disk_percent = 1, failed_units = 0 }";

/// The next whole minute at least 25 s away (time to set the world up and approve), in the
/// gateway's default zone (UTC+8), as the runbook's `schedule`: "DAY HH:MM".
fn next_slot() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 8 * 3600;
    let slot = (now + 25).div_ceil(60) * 60;
    // The local wall clock is UTC shifted by the offset: `date -u` prints its day and time.
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{slot}"), "+%-d %H:%M"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn config() -> &'static str {
    let text = format!(
        "{WEB_GROUP}
[inspections.fortnightly]
targets = [\"web01\"]
schedule = \"{slot}\"
{THRESHOLDS}
commands = [
  {{ name = \"disk\", command = \"df -P /\", measure = \"disk_percent\" }},
  {{ name = \"load\", command = \"cat /proc/loadavg\", measure = \"load\" }},
]

[inspections.unapproved]
targets = [\"web01\"]
commands = [{{ name = \"disk\", command = \"df -P /\", measure = \"disk_percent\" }}]
",
        slot = next_slot()
    );
    Box::leak(text.into_boxed_str())
}

fn show(gw: &Gateway, name: &str) -> Value {
    serde_json::from_str(&gw.cli_ok(&["inspection", "show", name])).unwrap()
}

/// Waits for the runbook's newest run to end; returns it.
fn finished_run(gw: &Gateway, name: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let s = show(gw, name);
        if let Some(run) = s["runs"].as_array().and_then(|r| r.first()) {
            if ["done", "refused", "failed"].contains(&run["state"].as_str().unwrap()) {
                return run.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no finished run of {name} in time: {s}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The status and body of `GET /api/v1{path}` with `token`.
fn api(gw: &Gateway, token: &str, path: &str) -> (u16, Vec<u8>) {
    let r = gw.api_get_within(token, path, Duration::from_secs(60));
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

both_databases! {
    fn approved_runbook_runs_on_schedule_and_reports_the_crossed_threshold(db) {
        let label = match db { Db::Sqlite => "inspection-sqlite", Db::Postgres => "inspection-postgres" };
        let mut w = World::with(db, WorldOpts {
            grant_for: None,
            config: config(),
            ..WorldOpts::default()
        });
        w.gw.add_user("audrey", "auditor");
        let before = show(&w.gw, "fortnightly");
        assert_eq!(before["approved"], false, "{before}");

        // An engineer can neither approve nor run it; both refusals are audited.
        let out = w.gw.cli_as("alice", &["inspection", "approve", "fortnightly", "--by", "alice"]);
        assert!(!out.success(), "alice approved a runbook:\n{out}");
        assert!(out.stderr_text().contains("only approvers"), "{out}");
        w.gw.wait_audit("inspection.refused", |e| {
            e["actor"] == "alice" && e["detail"]["code"] == "not_approver" && e["detail"]["action"] == "approve"
        });
        let out = w.gw.cli_as("alice", &["inspection", "run", "fortnightly", "--by", "alice", "--no-wait"]);
        assert!(!out.success(), "alice ran a runbook:\n{out}");
        w.gw.wait_audit("inspection.refused", |e| e["actor"] == "alice" && e["detail"]["action"] == "run");

        // bob approves this version: one approval is what the web group needs.
        let said = w.gw.cli_as_ok("bob", &["inspection", "approve", "fortnightly", "--by", "bob", "--comment", "ok"]);
        assert!(said.contains("1 of 1 approvals; it runs"), "{said}");
        let again = w.gw.cli_as("bob", &["inspection", "approve", "fortnightly", "--by", "bob"]);
        assert!(!again.success(), "bob approved the same version twice:\n{again}");

        // The slot comes (within about a minute) and the run is done on its own.
        let run = finished_run(&w.gw, "fortnightly", Duration::from_secs(120));
        assert_eq!(run["state"], "done", "{run}");
        assert!(run["asked_by"].is_null(), "not the scheduled run: {run}");
        let id = run["id"].as_str().unwrap().to_string();

        // Its report: the disk check crossed 1%, the load check is within (no threshold).
        let report: Value = serde_json::from_str(&w.gw.cli_ok(&["inspection", "report", &id])).unwrap();
        assert!(report["findings"].as_u64().unwrap() >= 1, "{report}");
        let target = &report["targets"][0];
        assert_eq!(target["target"], "web01");
        assert!(target["error"].is_null(), "{report}");
        let disk = &target["checks"][0];
        assert_eq!(disk["verdict"], "exceeded", "{report}");
        assert!(disk["figure"].as_f64().unwrap() > 1.0, "{report}");
        assert_eq!(target["checks"][1]["verdict"], "ok", "{report}");

        // Through the session path: a session of inspection:fortnightly, audited, recorded.
        let session = target["session"].as_str().unwrap().to_string();
        w.gw.wait_audit("session.start", |e| {
            e["actor"] == "inspection:fortnightly" && e["detail"]["session"] == session.as_str()
        });
        w.gw.wait_audit("session.end", |e| e["detail"]["session"] == session.as_str());
        w.gw.wait_audit("inspection.done", |e| e["detail"]["run"] == id.as_str());
        let verified = w.gw.cli(&["recording", "verify", &session]);
        assert!(verified.success(), "{verified}");
        let cat = w.gw.cli_ok(&["recording", "cat", &session]);
        assert!(cat.contains("df -P /") || cat.contains("Filesystem"), "{cat}");

        // The PDF: the Chinese title and the finding.
        let pdf = w.gw.cli(&["inspection", "report", &id, "--format", "pdf"]);
        assert!(pdf.success(), "{pdf}");
        let text = pdf_text(&pdf.stdout);
        assert!(text.contains("服务器巡检报告"), "{text}");
        assert!(text.contains("超出阈值") && text.contains("disk"), "{text}");

        // The same report from the API for an auditor, not for an engineer.
        let path = format!("/inspections/fortnightly/runs/{id}/report?format=html&lang=en");
        let (status, body) = api(&w.gw, &w.gw.token("audrey"), &path);
        assert_eq!(status, 200);
        let html = String::from_utf8_lossy(&body);
        assert!(html.contains("Server inspection report") && html.contains("over threshold"), "{html}");
        assert_eq!(api(&w.gw, &w.gw.token("alice"), &path).0, 403);
        assert_eq!(api(&w.gw, &w.gw.token("alice"), "/inspections").0, 403);
        // The printable page in Chromium, saved as test artifacts.
        report_screenshots(&w.gw, &w.gw.token("audrey"), label, &[
            ("inspection", format!("/inspections/fortnightly/runs/{id}/report?format=html"), "服务器巡检报告"),
        ]);

                // An unapproved runbook does not run: refused, audited, the run says why.
        let out = w.gw.cli_as("audrey", &["inspection", "run", "unapproved", "--by", "audrey"]);
        assert!(!out.success(), "{out}");
        assert!(out.stdout_text().contains("runbook_not_approved"), "{out}");
        w.gw.wait_audit("inspection.refused", |e| {
            e["subject"] == "unapproved" && e["detail"]["code"] == "runbook_not_approved"
        });

        // A changed runbook is a new version: it does not run until approved again.
        w.gw.stop(SHORT);
        w.gw.replace_config_line(THRESHOLDS, "thresholds = { disk_percent = 2, failed_units = 0 }");
        w.gw.serve();
        let changed = show(&w.gw, "fortnightly");
        assert_ne!(changed["version"], before["version"]);
        assert_eq!(changed["approved"], false, "{changed}");
        let out = w.gw.cli_as("audrey", &["inspection", "run", "fortnightly", "--by", "audrey"]);
        assert!(!out.success(), "a changed runbook ran:\n{out}");
        let version = changed["version"].as_str().unwrap().to_string();
        w.gw.wait_audit("inspection.refused", |e| {
            e["subject"] == "fortnightly"
                && e["detail"]["code"] == "runbook_not_approved"
                && e["detail"]["version"] == version.as_str()
        });
    }
}

#[test]
fn a_slot_runs_once_across_two_nodes() {
    let w = World::with(
        Db::Postgres,
        WorldOpts {
            grant_for: None,
            config: config(),
            ..WorldOpts::default()
        },
    );
    w.gw.cli_as_ok(
        "bob",
        &["inspection", "approve", "fortnightly", "--by", "bob"],
    );
    let mut second = w.gw.second_node("e2e-node-2");
    second.serve();
    let run = finished_run(&w.gw, "fortnightly", Duration::from_secs(120));
    assert_eq!(run["state"], "done", "{run}");
    // Both nodes saw the slot come; give the slower one time to try it too.
    std::thread::sleep(Duration::from_secs(3));
    let s = show(&second, "fortnightly");
    assert_eq!(s["runs"].as_array().unwrap().len(), 1, "{s}");
    let starts =
        w.gw.audit()
            .iter()
            .filter(|e| e["action"] == "inspection.start")
            .count();
    assert_eq!(starts, 1);
}
