//! The tender's documents from a scripted history: requests of every fault level, one
//! approved inside the response window and one outside, one left pending, sessions with
//! typed commands and a password typed blind, an A-level break-glass and its sign-off. Then
//! 《故障处理报告》, 《服务报告》 and 《监控日志》 from the CLI and the API: the figures in JSON,
//! the PDF read back with `pdftotext` (incident number, Chinese headings, response times),
//! the printable HTML page, English on request, and a holiday file moving a C-level
//! resolution deadline.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::time::Duration;

use menwei_e2e::*;
use serde_json::Value;

/// The password alice types at a `read -s` prompt.
const SECRET: &str = "Rp-s3cret-42Zx";
/// The response window of this history: short, so that one approval can miss it.
const WINDOW_S: u64 = 6;

/// `menwei request add` for alice on web01 under `incident` at `level`, for an hour.
fn file(gw: &Gateway, incident: &str, level: &str) -> String {
    file_incident(gw, incident, level, "1h")
}

/// Revokes alice's live grants, so that the next session runs under the next request's.
fn revoke_live(gw: &Gateway) {
    for g in gw
        .grants()
        .iter()
        .filter(|g| json_text(g, "state") == "live")
    {
        gw.revoke(&json_text(g, "id"));
    }
}

fn approve(gw: &Gateway, id: &str) {
    gw.cli_as(
        "bob",
        &["review", "approve", id, "--by", "bob", "--comment", "ok"],
    )
    .ok();
}

fn report(gw: &Gateway, args: &[&str]) -> Vec<u8> {
    let out = gw.cli(&[&["report"], args].concat());
    assert!(out.success(), "menwei report {}:\n{out}", args.join(" "));
    out.stdout
}

fn report_json(gw: &Gateway, args: &[&str]) -> Value {
    serde_json::from_slice(&report(gw, args)).unwrap()
}

/// The answer of `GET /api/v1{path}` with `token`.
fn api(gw: &Gateway, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let r = gw.api_get_within(token, path, Duration::from_secs(60));
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.bytes().unwrap().to_vec())
}

/// An interactive session of alice on web01: one command, a password typed blind, exit.
fn shell_with_secret(w: &World) {
    let mut s = w
        .alice
        .spawn(&w.gw, "alice:web01", &["-tt"], &[], Stdin::Pipe);
    s.send(b"echo FIX_$((6*7))\n");
    s.wait_stdout("FIX_42", SHORT);
    s.send(b"read -s -p 'Pass''word: ' P; echo; echo \"got ${#P}\"\n");
    s.wait_stdout("Password: ", SHORT);
    s.send(format!("{SECRET}\n").as_bytes());
    s.wait_stdout(&format!("got {}", SECRET.len()), SHORT);
    s.send(b"exit\n");
    s.wait(SHORT).ok();
}

/// Answers the in-`ssh` request prompt for web01 at level A under `incident`.
fn file_in_ssh(t: &mut PtySession, incident: &str) {
    t.expect("File an access request for \"web01\" now?", SHORT);
    t.line("y");
    t.expect("Reason:", SHORT);
    t.line("site down");
    t.expect("Incident reference", SHORT);
    t.line(incident);
    t.expect("Fault level", SHORT);
    t.line("A");
    t.expect("Duration", SHORT);
    t.line("");
    t.expect("filed", SHORT);
}

/// The bureau's month of now (UTC+8), `YYYY-MM`, and day, `YYYY-MM-DD`.
fn local_month_and_day() -> (String, String) {
    let out = Command::new("date")
        .env("TZ", "Asia/Shanghai")
        .arg("+%Y-%m %Y-%m-%d")
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    let mut it = s.split_whitespace();
    (
        it.next().unwrap().to_string(),
        it.next().unwrap().to_string(),
    )
}

fn level<'a>(service: &'a Value, l: &str) -> &'a Value {
    service["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["level"] == l)
        .unwrap()
}

both_databases! {
    fn reports_carry_the_recorded_history(db) {
        let label = match db { Db::Sqlite => "sqlite", Db::Postgres => "postgres" };
        let w = World::with(db, WorldOpts {
            grant_for: None,
            config: WEB_GROUP,
            replace: &[
                ("enabled = false", "enabled = true"),
                ("response_window = \"30m\"", "response_window = \"6s\""),
            ],
            ..WorldOpts::default()
        });
        w.gw.add_user("audrey", "auditor");

        // A: approved at once, an interactive session with a command and a blind password.
        let a1 = file(&w.gw, "INC-A1", "A");
        approve(&w.gw, &a1);
        shell_with_secret(&w);
        revoke_live(&w.gw);
        // B: approved after the window; an exec session.
        let b2 = file(&w.gw, "INC-B2", "B");
        std::thread::sleep(Duration::from_secs(WINDOW_S + 1));
        approve(&w.gw, &b2);
        w.alice.exec(&w.gw, "web01", "echo b-fixed").ok();
        // C approved at once, no session yet.
        let c3 = file(&w.gw, "INC-C3", "C");
        approve(&w.gw, &c3);
        // A, unanswered: break-glass after the window, then signed off.
        revoke_live(&w.gw);
        let mut t = w.alice.pty(&w.gw, "alice:web01", &[], 24, 160);
        file_in_ssh(&mut t, "INC-A5");
        t.expect("press b for an emergency grant", Duration::from_secs(60));
        t.send(b"b");
        t.expect("Emergency grant opened", SHORT);
        t.line("echo GLASS_$((5*5))");
        t.expect("GLASS_25", SHORT);
        t.line("exit");
        t.wait(SHORT);
        w.gw.wait_audit("breakglass.open", |_| true);
        let a5 = json_text(&w.gw.json(&["breakglass", "list"])[0], "id");
        w.gw.cli_as("bob", &["breakglass", "signoff", &a5, "--by", "bob", "--comment", "checked the recording"]).ok();
        // D, left pending (past the window by the service report).
        file(&w.gw, "INC-D4", "D");
        let d4_filed = std::time::Instant::now();

        // 《故障处理报告》 of INC-A1, JSON: the figures.
        let f = report_json(&w.gw, &["fault", "INC-A1"]);
        assert_eq!(f["incident"], "INC-A1");
        assert_eq!(f["level"], "A");
        assert_eq!(f["resolution_limit"], "2h");
        assert_eq!(f["response"]["compliance"], "met", "{f}");
        assert!(f["response"]["minutes"].as_f64().unwrap() < WINDOW_S as f64 / 60.0, "{f}");
        assert_eq!(f["resolution"]["compliance"], "met", "{f}");
        assert_eq!(f["requests"][0]["id"], a1.as_str());
        assert_eq!(f["requests"][0]["approvals"][0]["approver"], "bob");
        assert!(f["requests"][0]["approvals"][0]["verdict"].as_str().unwrap().starts_with("approve"), "{f}");
        let sessions = f["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 1, "{f}");
        assert!(sessions[0]["ended_at"].is_string() && sessions[0]["end_reason"].is_string(), "{f}");
        let commands: Vec<(&str, bool)> = sessions[0]["commands"].as_array().unwrap().iter()
            .map(|c| (c["text"].as_str().unwrap(), c["hidden"].as_bool().unwrap())).collect();
        assert!(commands.contains(&("echo FIX_$((6*7))", false)), "{commands:?}");
        assert!(commands.contains(&("••••", true)), "the blind password is not listed masked: {commands:?}");
        assert!(!f.to_string().contains(SECRET), "the password leaked into the report");
        assert_eq!(f["break_glass"], false);
        // INC-B2 missed the window.
        let f2 = report_json(&w.gw, &["fault", "INC-B2"]);
        assert_eq!(f2["response"]["compliance"], "missed", "{f2}");
        assert_eq!(f2["sessions"][0]["commands"][0]["text"], "echo b-fixed", "the exec line is the command: {f2}");
        assert!(f2["response"]["minutes"].as_f64().unwrap() >= WINDOW_S as f64 / 60.0, "{f2}");
        // INC-A5: break-glass, answered only by the emergency grant, signed off.
        let f5 = report_json(&w.gw, &["fault", "INC-A5"]);
        assert_eq!(f5["break_glass"], true);
        assert_eq!(f5["response"]["compliance"], "missed", "{f5}");
        assert_eq!(f5["requests"][0]["signed_off_by"], "bob", "{f5}");
        assert_eq!(f5["requests"][0]["signoff_comment"], "checked the recording");
        // Unknown incident: one line, non-zero.
        let out = w.gw.cli(&["report", "fault", "INC-NOSUCH"]);
        assert!(!out.success() && out.stderr_text().contains("INC-NOSUCH"), "{out}");

        // The PDF: Chinese headings, the incident number, the response minutes; no secret.
        let text = pdf_text(&report(&w.gw, &["fault", "INC-A1", "--format", "pdf"]));
        for needle in ["故障处理报告", "事件编号", "INC-A1", "响应", "审批记录", "操作命令", "echo FIX_$((6*7))", "••••"] {
            assert!(text.contains(needle), "PDF lacks {needle:?}: {text}");
        }
        let minutes = format!("用时 {} 分钟 — 按时", f["response"]["minutes"].as_f64().unwrap());
        assert!(text.contains(&minutes), "PDF lacks the response time {minutes:?}: {text}");
        assert!(!text.contains(SECRET));
        let text = pdf_text(&report(&w.gw, &["fault", "INC-B2", "--format", "pdf"]));
        assert!(text.contains(&format!("用时 {} 分钟 — 超时", f2["response"]["minutes"].as_f64().unwrap())), "{text}");
        // English on request.
        let html = String::from_utf8(report(&w.gw, &["fault", "INC-A5", "--format", "html", "--lang", "en"])).unwrap();
        assert!(html.contains("Fault handling report") && html.contains("Break-glass and sign-off") && html.contains("checked the recording"), "{html}");
        assert!(html.contains(".mwrec") && !html.contains("/recordings/"), "the recording by name, not the gateway's path: {html}");

        // 《服务报告》 of this month: per level, compliance, break-glass, usage.
        let (month, day) = local_month_and_day();
        if let Some(rest) = Duration::from_secs(WINDOW_S + 1).checked_sub(d4_filed.elapsed()) {
            std::thread::sleep(rest);
        }
        let s = report_json(&w.gw, &["service", "--period", &month]);
        assert_eq!(s["requests"], 5, "{s}");
        assert_eq!(s["incidents"], 5, "{s}");
        assert_eq!(level(&s, "A")["requests"], 2);
        for l in ["B", "C", "D"] {
            assert_eq!(level(&s, l)["requests"], 1, "{l}: {s}");
        }
        // Responses: A1 and C3 in time; B2 late, A5 by break-glass, D4 pending past the window.
        assert_eq!(level(&s, "A")["responded_in_time"], 1);
        assert_eq!(level(&s, "A")["responses_counted"], 2);
        assert_eq!(level(&s, "D")["responses_counted"], 1);
        assert_eq!(s["response_percent"], 40.0, "{s}");
        // Resolutions: A1, B2 and A5 ended their sessions within 2 h; C3 and D4 still open.
        assert_eq!(s["resolution_percent"], 100.0, "{s}");
        assert_eq!(level(&s, "A")["resolutions_counted"], 2);
        assert_eq!(level(&s, "C")["resolutions_counted"], 0);
        assert_eq!(s["break_glass"], 1);
        assert_eq!(s["sessions"], 3, "{s}");
        assert_eq!(s["by_engineer"][0]["name"], "alice");
        assert_eq!(s["by_engineer"][0]["sessions"], 3);
        assert_eq!(s["by_target"][0]["name"], "web01");
        assert_eq!(s["audit_chain"]["intact"], true);
        let text = pdf_text(&report(&w.gw, &["service", "--period", &month, "--format", "pdf"]));
        for needle in ["服务报告", "响应达标率 40%", "解决达标率 100%", "紧急访问次数 1", "按故障等级", "审计链 完整"] {
            assert!(text.contains(needle), "service PDF lacks {needle:?}: {text}");
        }
        let csv = String::from_utf8(report(&w.gw, &["service", "--period", &month, "--format", "csv"])).unwrap();
        assert!(csv.contains("概要,响应达标率,40%"), "{csv}");
        let out = w.gw.cli(&["report", "service", "--period", "2026-13"]);
        assert!(!out.success() && out.stderr_text().contains("expected YYYY-MM"), "{out}");

        // 《监控日志》 of today.
        let d = report_json(&w.gw, &["daily", "--date", &day]);
        assert_eq!(d["sessions"].as_array().unwrap().len(), 3, "{d}");
        assert_eq!(d["audit_chain"]["intact"], true);
        assert!(!d["nodes"].as_array().unwrap().is_empty(), "{d}");
        let text = pdf_text(&report(&w.gw, &["daily", "--date", &day, "--format", "pdf"]));
        assert!(text.contains("监控日志") && text.contains(&day) && text.contains("登录失败"), "{text}");

        // The API: the same documents, for auditors and approvers.
        let token = w.gw.token("audrey");
        let (status, ct, body) = api(&w.gw, &token, "/reports/fault/INC-A1?format=pdf");
        assert_eq!((status, ct.as_str()), (200, "application/pdf"));
        assert!(pdf_text(&body).contains("INC-A1"));
        let (status, ct, body) = api(&w.gw, &token, &format!("/reports/service?period={month}&format=html"));
        assert_eq!(status, 200);
        assert!(ct.starts_with("text/html"), "{ct}");
        let html = String::from_utf8(body).unwrap();
        assert!(html.contains("<h1>服务报告</h1>") && html.contains("@media print"), "{html}");
        let (status, _, body) = api(&w.gw, &token, "/reports/fault/INC-A1");
        assert_eq!(status, 200);
        let api_json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(api_json["response"], f["response"]);
        let (status, _, body) = api(&w.gw, &token, "/reports/fault/INC-NOSUCH");
        assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
        let (status, _, _) = api(&w.gw, &w.gw.token("alice"), "/reports/fault/INC-A1");
        assert_eq!(status, 403, "engineers get no reports");
        // The console's overview of today: the service report's own figures, and a point
        // for the day; the response times it adds are the history's (B2 and A5 late).
        let (status, _, body) = api(&w.gw, &token, &format!("/reports/overview?from={day}&to={day}"));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let o: Value = serde_json::from_slice(&body).unwrap();
        for k in ["requests", "incidents", "response_percent", "resolution_percent", "break_glass", "sessions", "transfer_detections", "levels", "by_target"] {
            assert_eq!(o["period"][k], s[k], "overview's {k} is not the service report's: {o}");
        }
        assert_eq!(o["period"]["response_breaches"], 3, "B2 late, A5 by break-glass, D4 pending: {o}");
        assert!(o["period"]["response_p90_minutes"].as_f64().unwrap() >= WINDOW_S as f64 / 60.0, "{o}");
        assert_eq!(o["days"].as_array().unwrap().len(), 1, "{o}");
        assert_eq!(o["days"][0]["requests"], serde_json::json!([2, 1, 1, 1]), "{o}");
        assert_eq!(o["days"][0]["sessions"], 3, "{o}");
        assert_eq!(o["today"]["requests"], 5, "{o}");
        let (status, _, _) = api(&w.gw, &token, &format!("/reports/overview?from={day}&to=2020-01-01"));
        assert_eq!(status, 400, "a period that ends before it starts");
        // No period given: the two weeks to the bureau's today (UTC+8), whatever the
        // caller's zone, so the console's first view holds today's work after 16:00 UTC too.
        let (status, _, body) = api(&w.gw, &token, "/reports/overview");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let o: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(o["to"], day.as_str(), "{o}");
        assert_eq!(o["days"].as_array().unwrap().len(), 14, "{o}");
        assert_eq!(o["days"][13]["sessions"], 3, "{o}");
        assert_eq!(o["period"]["requests"], s["requests"], "{o}");
        let (status, _, _) = api(&w.gw, &token, &format!("/reports/overview?from={day}"));
        assert_eq!(status, 400, "half a period");
        w.gw.wait_audit("report.made", |e| json_text(e, "actor") == "audrey");
        // The printable pages in headless Chromium, screenshots kept as test artifacts.
        report_screenshots(&w.gw, &token, label, &[
            ("fault-INC-A1", "/reports/fault/INC-A1?format=html".to_string(), "故障处理报告"),
            ("fault-INC-A5-en", "/reports/fault/INC-A5?format=html&lang=en".to_string(), "Fault handling report"),
            ("service", format!("/reports/service?period={month}&format=html"), "服务报告"),
            ("daily", format!("/reports/daily?date={day}&format=html"), "监控日志"),
        ]);

        // A holiday on the C-level deadline's day moves it to the next working day.
        let before = report_json(&w.gw, &["fault", "INC-C3"]);
        let due = before["resolution"]["deadline"].as_str().unwrap().to_string();
        let due_ms = rfc3339_ms(&due);
        let due_day = {
            let out = Command::new("date")
                .env("TZ", "Asia/Shanghai")
                .arg(format!("--date=@{}", due_ms / 1000))
                .arg("+%Y-%m-%d")
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        let holidays = w.gw.config.parent().unwrap().join("holidays.toml");
        std::fs::write(&holidays, format!("holidays = [\"{due_day}\"]\n")).unwrap();
        w.gw.replace_config_line("# holidays = \"holidays.toml\"", "holidays = \"holidays.toml\"");
        let after = report_json(&w.gw, &["fault", "INC-C3"]);
        let moved = rfc3339_ms(after["resolution"]["deadline"].as_str().unwrap());
        assert!(moved >= due_ms + 86_400_000, "holiday {due_day} did not move {due}: {after}");
        assert_eq!((moved - due_ms) % 86_400_000, 0, "same time of day: {after}");
        // A malformed holiday file names its line.
        std::fs::write(&holidays, "holidays = [\n  \"2026-02-30\",\n]\n").unwrap();
        let out = w.gw.cli(&["report", "fault", "INC-C3"]);
        assert!(!out.success() && out.stderr_text().contains("holidays.toml:2:3"), "{out}");
    }
}
