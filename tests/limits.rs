//! The limits of issue 8 that are not about raw SSH floods (those are `hostile.rs`): live
//! sessions per engineer, the HTTPS connection cap and header timeout (slowloris), WebSocket
//! and event streams per login, the per-interval summary of refusals in the audit log, and
//! the alert on failed logins of one account from many addresses. Each test drives the real
//! binary with real clients and asserts what a user or an auditor sees.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use menwei_e2e::*;
use serde_json::Value;

/// `limits.refused` audit entries for `limit`.
fn summaries(gw: &Gateway, limit: &str) -> Vec<Value> {
    gw.audit()
        .into_iter()
        .filter(|e| json_text(e, "action") == "limits.refused" && json_text(e, "subject") == limit)
        .collect()
}

/// The counts of all `limits.refused` entries for `limit`, summed.
fn summarized(gw: &Gateway, limit: &str) -> u64 {
    summaries(gw, limit)
        .iter()
        .map(|e| e["detail"]["count"].as_u64().unwrap())
        .sum()
}

both_databases! {
    fn sessions_past_max_sessions_per_engineer_are_refused_with_one_line_and_audited(db) {
        let w = World::with(db, WorldOpts {
            replace: &[("max_sessions_per_engineer = 10", "max_sessions_per_engineer = 2")],
            ..WorldOpts::default()
        });
        let mut held: Vec<Spawned> = (0..2)
            .map(|i| w.alice.spawn_exec(&w.gw, "web01", &format!("echo held-{i}; sleep 60")))
            .collect();
        for (i, s) in held.iter_mut().enumerate() {
            s.wait_stdout(&format!("held-{i}"), SHORT);
        }

        // A third by SSH: one line naming the limit, nothing run.
        let out = w.alice.exec(&w.gw, "web01", "echo third");
        assert_one_line_refusal(&out);
        assert!(!out.stdout_text().contains("third"), "{out}");
        assert!(
            out.stderr_text().contains("max_sessions_per_engineer (2)"),
            "the refusal does not name the limit:\n{out}"
        );
        // A third in the browser terminal: the same line, with a stable code.
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        let answer = RawWebSocket::open(&w.gw, "/api/v1/terminal?target=web01&cols=80&rows=24", &cookie)
            .err()
            .expect("a third session opened in the browser");
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(answer.contains("\"code\":\"too_many_sessions\""), "{answer}");
        assert!(answer.contains("max_sessions_per_engineer (2)"), "{answer}");
        // Both refusals audited, and no session was started for them.
        w.gw.wait_audit("connect.refused", |e| e["detail"]["code"] == "too_many_sessions");
        let refused: Vec<Value> = w.gw.audit().into_iter()
            .filter(|e| json_text(e, "action") == "connect.refused" && e["detail"]["code"] == "too_many_sessions")
            .collect();
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused.iter().all(|e| json_text(e, "actor") == "alice" && json_text(e, "subject") == "web01"));
        let live = w.gw.sessions().into_iter().filter(|s| json_text(s, "ended_at").is_empty()).count();
        assert_eq!(live, 2);
        // Nor a recording: a session that never opened leaves no file.
        let files = std::fs::read_dir(w.gw.recordings_dir()).unwrap().count();
        assert_eq!(files, w.gw.sessions().len(), "one recording per session row");

        // One ends: there is room for one again.
        held.pop().unwrap().kill();
        let again = wait_until("a session slot after one ended", SHORT, || {
            let out = w.alice.exec(&w.gw, "web01", "echo again");
            out.success().then_some(out)
        });
        assert_eq!(again.stdout_text().trim(), "again");
    }
}

#[test]
fn a_session_left_open_by_a_killed_gateway_does_not_count_after_its_restart() {
    let mut w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace: &[(
                "max_sessions_per_engineer = 10",
                "max_sessions_per_engineer = 1",
            )],
            ..WorldOpts::default()
        },
    );
    let mut s = w.alice.spawn_exec(&w.gw, "web01", "echo started; sleep 60");
    s.wait_stdout("started", SHORT);
    w.gw.kill9();
    s.wait(SHORT);
    w.gw.serve();
    // The row the killed node left open is ended at start, so the one slot is free.
    let out = w.alice.exec(&w.gw, "web01", "echo after-restart");
    out.ok();
    assert_eq!(out.stdout_text().trim(), "after-restart");
    assert!(
        w.gw.sessions()
            .iter()
            .any(|s| json_text(s, "end_reason") == "node_restarted"),
        "{:?}",
        w.gw.sessions()
    );
}

#[test]
fn https_connections_over_the_cap_and_slow_clients_are_closed_while_the_api_answers() {
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace: &[
                // [https] and [ssh] write the same line; SSH is not used here.
                ("max_connections = 1000", "max_connections = 4"),
                (
                    "header_read_timeout = \"10s\"",
                    "header_read_timeout = \"3s\"",
                ),
                ("summary_interval = \"1m\"", "summary_interval = \"1s\""),
            ],
            ..WorldOpts::default()
        },
    );
    // Four idle TCP connections take the four places; a fifth is closed at accept, at
    // once rather than after the timeout.
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", w.gw.https_port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut fifth = TcpStream::connect(("127.0.0.1", w.gw.https_port)).unwrap();
    let took = closed_within(&mut fifth, Duration::from_secs(10));
    assert!(
        took < Duration::from_secs(2),
        "the fifth connection was closed only after {took:?}"
    );
    // The four never start TLS: closed after header_read_timeout.
    for s in &mut idle {
        let took = closed_within(s, Duration::from_secs(10));
        assert!(
            took < Duration::from_secs(6),
            "an idle connection lived {took:?}"
        );
    }
    drop(idle);

    // Slowloris: TLS done, then a request's headers one byte a second. It is closed long
    // before its headers are complete...
    let mut slow = tls_connect(&w.gw);
    let request = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Slow: yes\r\n\r\n",
        w.gw.https_port
    );
    slow.write_all(b"G").unwrap();
    slow.flush().unwrap();
    let started = Instant::now();
    let mut sent = 1;
    let api = https_client(None);
    let mut answered = false;
    let closed = loop {
        // ...while a normal API call is answered meanwhile.
        if !answered {
            let r = api
                .get(format!("https://127.0.0.1:{}/api/v1/me", w.gw.https_port))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 401);
            let body: Value = r.json().unwrap();
            assert_eq!(body["error"]["code"], "unauthenticated");
            answered = true;
        }
        std::thread::sleep(Duration::from_secs(1));
        let byte = &request.as_bytes()[sent..=sent];
        if slow.write_all(byte).and_then(|()| slow.flush()).is_err() {
            break started.elapsed();
        }
        sent += 1;
        assert!(
            sent < request.len(),
            "the slow client sent its whole request unhindered"
        );
    };
    assert!(
        closed < Duration::from_secs(8),
        "the slow client was closed after {closed:?}"
    );
    assert!(answered);

    // An open WebSocket holds its place like any connection: with it and three idle
    // connections open, the next is closed at once.
    let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
    let mut ws = RawWebSocket::open(
        &w.gw,
        "/api/v1/terminal?target=web01&cols=80&rows=24",
        &cookie,
    )
    .unwrap_or_else(|a| panic!("the terminal did not open:\n{a}"));
    ws.send_binary(b"echo ws-$((6*7))\r");
    wait_until("the terminal's output", SHORT, || {
        let f = ws.read_frame();
        (f.opcode == 2 && contains(&f.data, b"ws-42")).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", w.gw.https_port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut over = TcpStream::connect(("127.0.0.1", w.gw.https_port)).unwrap();
    let took = closed_within(&mut over, Duration::from_secs(10));
    assert!(
        took < Duration::from_secs(2),
        "with a WebSocket open, the cap let one more in ({took:?})"
    );
    for s in &mut idle {
        closed_within(s, Duration::from_secs(10));
    }
    drop(ws);

    // Counted, and summarized per kind rather than audited per connection: two over the
    // cap; four idle, three idle and one slow client past the header timeout.
    wait_until("the refusal summaries", SHORT, || {
        (summarized(&w.gw, "https.max_connections") >= 2
            && summarized(&w.gw, "https.header_read_timeout") >= 8)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(summarized(&w.gw, "https.max_connections"), 2);
    assert_eq!(summarized(&w.gw, "https.header_read_timeout"), 8);
}

#[test]
fn streams_past_the_cap_per_login_are_refused_with_a_stable_code() {
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace: &[("max_streams_per_login = 8", "max_streams_per_login = 2")],
            ..WorldOpts::default()
        },
    );
    let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
    let events = format!("https://127.0.0.1:{}/api/v1/events", w.gw.https_port);
    let open_events = |cookie: &str| {
        https_client(None)
            .get(&events)
            .header("Cookie", cookie)
            .send()
            .unwrap()
    };
    let terminal = "/api/v1/terminal?target=web01&cols=80&rows=24";

    // One event stream and one terminal: the two places of this login.
    let sse = open_events(&cookie);
    assert_eq!(sse.status().as_u16(), 200);
    let mut ws = RawWebSocket::open(&w.gw, terminal, &cookie)
        .unwrap_or_else(|a| panic!("the terminal did not open:\n{a}"));
    ws.send_binary(b"echo term-$((6*7))\r");
    wait_until("the terminal's output", SHORT, || {
        let f = ws.read_frame();
        (f.opcode == 2 && contains(&f.data, b"term-42")).then_some(())
    });

    // A third, as a WebSocket or as an event stream: 429 too_many_streams.
    let answer = RawWebSocket::open(&w.gw, terminal, &cookie)
        .err()
        .expect("a third stream opened");
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("\"code\":\"too_many_streams\""), "{answer}");
    let third = open_events(&cookie);
    assert_eq!(third.status().as_u16(), 429);
    let body: Value = third.json().unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
    assert!(
        json_text(&body["error"], "message").contains("max_streams_per_login"),
        "{body}"
    );
    // The refused terminal opened no session.
    assert_eq!(w.gw.sessions().len(), 1, "{:?}", w.gw.sessions());

    // Another login of the same engineer has places of its own.
    let other = w.gw.web_cookie("alice", WEB_PASSWORD);
    assert_eq!(open_events(&other).status().as_u16(), 200);

    // The event stream closed: its place comes back.
    drop(sse);
    let again = wait_until("a place after a stream closed", SHORT, || {
        let r = open_events(&cookie);
        (r.status().as_u16() == 200).then_some(r)
    });
    drop(again);
    drop(ws);
}

#[test]
fn refusals_at_every_ssh_limit_are_summarized_per_interval_not_audited_per_attempt() {
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace: &[
                (
                    "max_connections_per_address = 50",
                    "max_connections_per_address = 3",
                ),
                ("summary_interval = \"1m\"", "summary_interval = \"2s\""),
                ("login_grace = \"30s\"", "login_grace = \"4s\""),
                (
                    "max_channels_per_connection = 10",
                    "max_channels_per_connection = 1",
                ),
            ],
            ..WorldOpts::default()
        },
    );
    // Let a first interval pass with nothing refused.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        w.gw.audit()
            .iter()
            .all(|e| json_text(e, "action") != "limits.refused"),
        "a summary was written with nothing refused"
    );
    // 60 connections from one address: 3 held, 57 closed at accept.
    let flood: Vec<TcpStream> = (0..60)
        .map(|_| {
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket
                .bind(&"127.0.0.77:0".parse::<SocketAddr>().unwrap().into())
                .unwrap();
            socket
                .connect(
                    &format!("127.0.0.1:{}", w.gw.port)
                        .parse::<SocketAddr>()
                        .unwrap()
                        .into(),
                )
                .unwrap();
            socket.into()
        })
        .collect();
    wait_until("the summary of the flood", SHORT, || {
        (summarized(&w.gw, "ssh.max_connections_per_address") == 57).then_some(())
    });
    let rows = summaries(&w.gw, "ssh.max_connections_per_address");
    assert!(
        rows.len() <= 2,
        "{} rows for 57 refusals in one or two intervals",
        rows.len()
    );
    let row = &rows[0];
    assert_eq!(json_text(row, "actor"), "menwei");
    assert!(
        !json_text(&row["detail"], "since").is_empty()
            && !json_text(&row["detail"], "until").is_empty(),
        "{row}"
    );
    // The three admitted never log in: the login grace closes them, three more refusals.
    wait_until("the login grace summary", SHORT, || {
        (summarized(&w.gw, "ssh.login_grace") == 3).then_some(())
    });
    drop(flood);
    // A second session channel on one connection (OpenSSH ControlMaster) is refused.
    let control = w.gw.scratch().join("control");
    let control = control.to_str().unwrap();
    let login = w.alice.to("web01");
    let mut master = w.alice.spawn(
        &w.gw,
        &login,
        &["-M", "-S", control, "-N"],
        &[],
        Stdin::Null,
    );
    wait_until("the ControlMaster socket", SHORT, || {
        Path::new(control).exists().then_some(())
    });
    let mux = [
        "-S",
        control,
        "-o",
        "ControlMaster=no",
        "-o",
        "ProxyCommand=false",
    ];
    let mut held = w
        .alice
        .spawn(&w.gw, &login, &mux, &["echo held; sleep 5"], Stdin::Null);
    held.wait_stdout("held", SHORT);
    for _ in 0..2 {
        let out = w
            .alice
            .ssh(&w.gw, &login, &mux, &["echo extra"], Stdin::Null);
        assert!(
            out.stderr_text().contains("Session open refused by peer"),
            "{out}"
        );
    }
    wait_until("the channel summary", SHORT, || {
        (summarized(&w.gw, "ssh.max_channels_per_connection") == 2).then_some(())
    });
    held.wait(SHORT).ok();
    master.kill();
    // Nothing else was refused, so no other kind appears.
    let kinds: std::collections::BTreeSet<String> =
        w.gw.audit()
            .iter()
            .filter(|e| json_text(e, "action") == "limits.refused")
            .map(|e| json_text(e, "subject"))
            .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "ssh.login_grace",
            "ssh.max_channels_per_connection",
            "ssh.max_connections_per_address"
        ]
    );
    // Quiet intervals add no rows.
    let before = w.gw.audit().len();
    std::thread::sleep(Duration::from_secs(5));
    let after: Vec<Value> = w.gw.audit();
    let quiet = after[before..]
        .iter()
        .filter(|e| json_text(e, "action") == "limits.refused")
        .count();
    assert_eq!(
        quiet, 0,
        "summary rows written in intervals with nothing refused"
    );
    // An engineer is not affected.
    w.alice.exec(&w.gw, "web01", "true").ok();
}

both_databases! {
    fn failed_logins_of_one_account_from_many_addresses_raise_one_alert_and_lock_nothing(db) {
        let rx = WebhookReceiver::start(free_port("127.0.0.1"), false);
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("webhook.secret");
        std::fs::write(&secret, "e2e-login-alert-secret\n").unwrap();
        let config = format!(
            "\n[[webhooks]]\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_file = \"{}\"\nevents = [\"login_alert\"]\n",
            rx.port,
            secret.display()
        );
        let w = World::with(db, WorldOpts {
            config: Box::leak(config.into_boxed_str()),
            replace: &[
                ("login_alert_failures = 20", "login_alert_failures = 5"),
            ],
            ..WorldOpts::default()
        });
        // A web password for alice, so web guesses are against a real account.
        w.gw.web_cookie("alice", WEB_PASSWORD);
        let login = |source: &str| {
            https_client(Some(source))
                .post(format!("https://127.0.0.1:{}/api/v1/login", w.gw.https_port))
                .json(&serde_json::json!({"user": "alice", "password": "not her password"}))
                .send()
                .unwrap()
                .status()
                .as_u16()
        };
        // Three wrong web passwords and two wrong SSH keys, each from its own address:
        // no address comes near its own throttle.
        for source in ["127.0.0.11", "127.0.0.12", "127.0.0.13"] {
            assert_eq!(login(source), 401);
        }
        let mallory = Engineer::new("mallory");
        for source in ["127.0.0.14", "127.0.0.15"] {
            let out = mallory.ssh(&w.gw, "alice:web01", &["-b", source], &["true"], Stdin::Null);
            assert!(!out.success(), "{out}");
        }
        let alert = w.gw.wait_audit("login.alert", |e| json_text(e, "subject") == "alice");
        assert_eq!(alert["detail"]["failures"], 5, "{alert}");
        let sources: Vec<String> = alert["detail"]["sources"].as_array().unwrap()
            .iter().map(|v| v.as_str().unwrap().to_string()).collect();
        assert_eq!(sources, ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15"], "{alert}");

        // The webhook, signed like every other.
        let hits = rx.wait_hits(1, SHORT);
        assert_eq!(hits[0].header("X-Menwei-Event"), "login_alert");
        let body = hits[0].json();
        assert_eq!(body["event"], "login_alert");
        assert_eq!(body["data"]["account"], "alice", "{body}");
        assert_eq!(body["data"]["failures"], 5, "{body}");

        // More failures within the window: no second alert.
        for source in ["127.0.0.16", "127.0.0.17"] {
            assert_eq!(login(source), 401);
        }
        std::thread::sleep(Duration::from_secs(3));
        let alerts = w.gw.audit().into_iter().filter(|e| json_text(e, "action") == "login.alert").count();
        assert_eq!(alerts, 1);
        assert_eq!(rx.hits().len(), 1, "{:?}", rx.hits());

        // Nothing is locked: alice logs in by SSH and on the web.
        w.alice.exec(&w.gw, "web01", "true").ok();
        w.gw.web_cookie("alice", WEB_PASSWORD);
        drop(dir);
    }
}
