//! What an operator watches (issue 13): `serve`'s log on stderr, as text or one JSON object
//! per line, with one line per refusal and session end naming the session, the node and
//! the reason, and never a password; and the Prometheus text at `[metrics] listen`, checked
//! by Prometheus' own parser (`promtool check metrics`), whose counters move with a scripted
//! session and a refused login. Metrics are served nowhere by default, and never on the
//! HTTPS port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::process::Command;

use menwei_e2e::*;
use serde_json::Value;

/// The `[log] format` line of the generated `menwei.toml`.
const FORMAT_TEXT: &str = "format = \"text\"";
/// The commented `[metrics] listen` line of the generated `menwei.toml`.
const METRICS_OFF: &str = "# listen = \"127.0.0.1:9464\"";

/// A password whose every appearance in the log would be a leak.
const MARKER_PASSWORD: &str = "wrong-pw-MARKER-7f3a9c";

/// The TCP ports process `pid` listens on (from /proc: its socket inodes, matched against
/// the kernel's table of listening sockets).
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address, state 0A (LISTEN), inode.
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                let port = f[1].rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

/// `POST /api/v1/login` as `user` with `password`: the status.
fn web_login(gw: &Gateway, user: &str, password: &str) -> u16 {
    https_client(None)
        .post(format!("https://127.0.0.1:{}/api/v1/login", gw.https_port))
        .json(&serde_json::json!({"user": user, "password": password}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until the log has a line holding every one of `parts`; that line.
#[track_caller]
fn log_line(gw: &Gateway, parts: &[&str]) -> String {
    wait_until(&format!("a log line with {parts:?}"), SHORT, || {
        gw.log()
            .lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_string)
    })
}

both_databases! {
    fn json_log_is_one_object_per_line_and_a_session_end_names_session_node_and_reason(db) {
        let w = World::with(db, WorldOpts {
            replace: &[(FORMAT_TEXT, "format = \"json\"")],
            ..WorldOpts::default()
        });
        // Off by default: the gateway listens on its SSH and HTTPS ports and nothing else.
        assert_eq!(
            listening_ports(w.gw.pid()),
            BTreeSet::from([w.gw.port, w.gw.https_port]),
            "a listener besides SSH and HTTPS without [metrics] listen"
        );
        let out = w.alice.exec(&w.gw, "web01", "echo hi");
        out.ok();
        let session = json_text(&w.gw.last_session("alice"), "id");
        let end = log_line(&w.gw, &["session ended", &session]);

        let log = w.gw.log();
        let lines: Vec<Value> = log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{log}")))
            .collect();
        assert!(lines.len() >= 3, "{log}");
        assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{log}");
        let end: Value = serde_json::from_str(&end).unwrap();
        assert_eq!(end["session"], session.as_str(), "{end}");
        assert_eq!(end["node"], "e2e-node", "{end}");
        assert_eq!(end["reason"], "client_closed", "{end}");
        assert_eq!(end["level"], "INFO", "{end}");
    }

    fn refused_logins_and_sessions_log_one_line_with_user_and_reason_and_no_password(db) {
        let w = World::new(db);
        // A key nobody registered.
        let mallory = Engineer::new("mallory");
        let out = mallory.exec(&w.gw, "web01", "true");
        assert!(!out.success(), "{out}");
        let line = log_line(&w.gw, &["SSH login refused", "user=\"mallory\""]);
        assert!(line.contains("unknown user") && line.contains("node=e2e-node"), "{line}");
        assert!(line.contains("client=127.0.0.1:"), "{line}");

        // A registered key without a grant: the login passes, the session is refused.
        let carol = Engineer::new("carol");
        w.gw.add_engineer(&carol);
        let out = carol.exec(&w.gw, "web01", "true");
        assert!(!out.success(), "{out}");
        let line = log_line(&w.gw, &["session refused", "user=\"carol\""]);
        assert!(line.contains("code=no_grant") && line.contains("node=e2e-node"), "{line}");
        assert_eq!(
            w.gw.log().lines().filter(|l| l.contains("session refused") && l.contains("carol")).count(),
            1,
            "a refusal is logged once:\n{}",
            w.gw.log()
        );

        // A web login with a wrong password: logged with the name and reason, never the
        // password; nor is the right one of a login that succeeds.
        w.gw.web_cookie("alice", WEB_PASSWORD);
        assert_eq!(web_login(&w.gw, "alice", MARKER_PASSWORD), 401);
        let line = log_line(&w.gw, &["web login refused", "user=\"alice\""]);
        assert!(line.contains("wrong user name or password"), "{line}");
        let log = w.gw.log();
        assert!(!log.contains(MARKER_PASSWORD), "the password is in the log:\n{log}");
        assert!(!log.contains(WEB_PASSWORD), "the password is in the log:\n{log}");
    }
}

#[test]
fn a_bad_log_format_stops_serve_naming_file_line_and_key() {
    let gw = Gateway::init(Db::Sqlite);
    gw.replace_config_line(FORMAT_TEXT, "format = \"xml\"");
    let text = std::fs::read_to_string(&gw.config).unwrap();
    let line = text.lines().position(|l| l == "format = \"xml\"").unwrap() + 1;
    let out = gw.cli(&["serve"]);
    assert!(
        !out.success(),
        "serve started with [log] format = \"xml\":\n{out}"
    );
    let want = format!(
        "{}:{line}:10: invalid value for key log.format: \"xml\"",
        gw.config.display()
    );
    assert!(
        out.stderr_text().contains(&want),
        "want {want:?} in:\n{out}"
    );
}

#[test]
fn rust_log_overrides_the_configured_level() {
    // `[log] level = "warn"` hides the info lines, among them "listening on ssh://" that
    // the harness waits for: the gateway is only seen to start if RUST_LOG wins.
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace: &[("level = \"info\"", "level = \"warn\"")],
            serve_under: &["env", "RUST_LOG=info"],
            ..WorldOpts::default()
        },
    );
    let out = w.alice.exec(&w.gw, "web01", "true");
    out.ok();
    log_line(&w.gw, &["session ended", "reason=client_closed"]);
}

/// `GET http://127.0.0.1:PORT/metrics`: the text.
fn scrape(port: u16) -> String {
    let r = reqwest::blocking::Client::builder()
        .timeout(SHORT)
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    r.text().unwrap()
}

/// Runs `promtool check metrics` (Prometheus' own parser and linter) on a scrape: it must
/// exit 0 with nothing to say.
#[track_caller]
fn promtool_accepts(gw: &Gateway, text: &str) {
    let file = gw.scratch().join("scrape.txt");
    std::fs::write(&file, text).unwrap();
    let mut c = Command::new("promtool");
    c.args(["check", "metrics"]);
    let out = run(c, Stdin::File(file), SHORT);
    assert!(
        out.success() && out.all_text().trim().is_empty(),
        "promtool check metrics:\n{out}\n--- the scrape:\n{text}"
    );
}

/// The sum of the samples of `name` whose labels include every one of `labels` (0 when
/// there is none).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let has: Vec<(&str, &str)> = rest
                .split(',')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k, v.trim_matches('"')))
                })
                .collect();
            (metric == name && labels.iter().all(|want| has.contains(want)))
                .then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

both_databases! {
    fn metrics_parse_with_promtool_and_move_with_a_session_and_a_refused_login(db) {
        let port = free_port("127.0.0.1");
        let w = World::with(db, WorldOpts {
            replace: replace_lines(vec![(METRICS_OFF, format!("listen = \"127.0.0.1:{port}\""))]),
            ..WorldOpts::default()
        });
        assert!(listening_ports(w.gw.pid()).contains(&port));
        let before = scrape(port);
        promtool_accepts(&w.gw, &before);
        assert!(
            before.contains(&format!("menwei_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))),
            "{before}"
        );

        let ended = |t: &str| sample(t, "menwei_sessions_ended_total", &[("reason", "client_closed")]);
        let ok = |t: &str| sample(t, "menwei_logins_total", &[("door", "ssh"), ("result", "success")]);
        let refused = |t: &str| sample(t, "menwei_logins_total", &[("door", "ssh"), ("result", "failure")]);
        let out = w.alice.exec(&w.gw, "web01", "echo hi");
        out.ok();
        assert_eq!(out.stdout_text(), "hi\n");
        let out = Engineer::new("mallory").exec(&w.gw, "web01", "true");
        assert!(!out.success(), "{out}");

        let after = wait_until("the session's end in the metrics", SHORT, || {
            let t = scrape(port);
            (ended(&t) > ended(&before)).then_some(t)
        });
        promtool_accepts(&w.gw, &after);
        assert_eq!(ended(&after), ended(&before) + 1.0, "{after}");
        assert_eq!(
            sample(&after, "menwei_sessions_started_total", &[]),
            sample(&before, "menwei_sessions_started_total", &[]) + 1.0,
            "{after}"
        );
        assert_eq!(ok(&after), ok(&before) + 1.0, "{after}");
        assert!(refused(&after) >= refused(&before) + 1.0, "{after}");
        assert!(
            sample(&after, "menwei_logins_total", &[("result", "failure"), ("reason", "unknown user")]) >= 1.0,
            "{after}"
        );
        assert!(sample(&after, "menwei_recording_bytes_written_total", &[]) > 0.0, "{after}");
        assert!(sample(&after, "menwei_recording_write_seconds_count", &[]) > 0.0, "{after}");
        assert!(sample(&after, "menwei_relay_queue_bytes_count", &[("direction", "engineer")]) > 0.0, "{after}");
        assert!(sample(&after, "menwei_db_query_seconds_count", &[("query", "session_start")]) >= 1.0, "{after}");
        assert_eq!(sample(&after, "menwei_sessions_live", &[]), 0.0, "{after}");

        // Never on the HTTPS port.
        let r = https_client(None)
            .get(format!("https://127.0.0.1:{}/metrics", w.gw.https_port))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().unwrap();
        assert_ne!(status, 200, "{body}");
        assert!(!body.contains("menwei_"), "{body}");
    }
}
