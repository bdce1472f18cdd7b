//! Node membership (issue 11): each node heartbeats in the database; `menwei node list` and
//! `GET /api/v1/nodes` show the nodes; a node silent past `[cluster] dead_after` is lost and
//! another node ends the sessions it held (`node_lost`), each audited once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use menwei_e2e::*;
use serde_json::Value;

/// Heartbeats every second, lost after three.
const FAST: &[(&str, &str)] = FAST_HEARTBEATS;

fn node<'a>(nodes: &'a [Value], name: &str) -> &'a Value {
    nodes
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {nodes:?}"))
}

/// GET /api/v1/nodes with `token`: status and body.
fn api_nodes(gw: &Gateway, token: &str) -> (u16, Value) {
    let r = https_client(None)
        .get(format!("https://127.0.0.1:{}/api/v1/nodes", gw.https_port))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

both_databases! {
    fn a_node_lists_itself_with_its_sessions_and_says_when_it_stopped(db) {
        let mut w = World::with(db, WorldOpts { replace: FAST, ..WorldOpts::default() });
        let nodes = w.gw.json(&["node", "list"]);
        assert_eq!(nodes.len(), 1, "{nodes:?}");
        let me = node(&nodes, "e2e-node");
        assert_eq!(me["state"], "alive", "{me}");
        assert!(json_text(me, "address").contains(&format!("ssh://127.0.0.1:{}", w.gw.port)), "{me}");
        assert!(!json_text(me, "version").is_empty(), "{me}");
        let mut s = live_shell(&w);
        wait_until("the heartbeat to count the session", SHORT, || {
            (node(&w.gw.json(&["node", "list"]), "e2e-node")["live_sessions"] == 1).then_some(())
        });
        let table = w.gw.cli_ok(&["node", "list"]);
        assert!(table.contains("e2e-node") && table.contains("alive"), "{table}");
        s.send(b"exit\n");
        s.wait(SHORT);
        w.gw.stop(SHORT);
        let nodes = w.gw.json(&["node", "list"]);
        assert_eq!(node(&nodes, "e2e-node")["state"], "stopped", "{nodes:?}");
    }
}

/// Two nodes on one PostgreSQL: node 2 is killed during a session; node 1 ends it
/// `node_lost` once `dead_after` has passed, audits it once, and says node 2 is lost; node 2
/// restarted is alive again.
mod a_lost_nodes_sessions_are_ended_by_another_node {
    use super::*;

    #[test]
    fn postgres() {
        let w = World::with(
            Db::Postgres,
            WorldOpts {
                replace: FAST,
                ..WorldOpts::default()
            },
        );
        w.gw.add_user("adam", "admin");
        let mut second = w.gw.second_node("e2e-node-2");
        second.serve();
        let mut s = live_shell_on(&w, &second);
        let id = json_text(&w.gw.last_session("alice"), "id");
        wait_until(
            "both nodes alive, node 2 holding the session",
            SHORT,
            || {
                let nodes = w.gw.json(&["node", "list"]);
                (node(&nodes, "e2e-node")["state"] == "alive"
                    && node(&nodes, "e2e-node-2")["live_sessions"] == 1)
                    .then_some(())
            },
        );

        second.kill9();
        let killed = Instant::now();
        let row = wait_until(
            "node 1 to end node 2's session",
            Duration::from_secs(20),
            || {
                let row =
                    w.gw.sessions()
                        .into_iter()
                        .find(|r| json_text(r, "id") == id)?;
                (!json_text(&row, "ended_at").is_empty()).then_some(row)
            },
        );
        let took = killed.elapsed();
        eprintln!(
            "node 2's session was ended {took:?} after kill -9 (dead_after 3s, heartbeat 1s)"
        );
        assert_eq!(json_text(&row, "end_reason"), "node_lost", "{row}");
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(8),
            "{took:?}"
        );
        s.wait(SHORT);

        // Audited once each, by node 1, however many ticks passed.
        std::thread::sleep(Duration::from_secs(3));
        let audit = w.gw.audit();
        let ends: Vec<&Value> = audit
            .iter()
            .filter(|e| {
                json_text(e, "action") == "session.end" && e["detail"]["session"] == id.as_str()
            })
            .collect();
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert_eq!(ends[0]["detail"]["reason"], "node_lost");
        assert_eq!(json_text(ends[0], "node"), "e2e-node");
        let lost: Vec<&Value> = audit
            .iter()
            .filter(|e| json_text(e, "action") == "node.lost")
            .collect();
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert_eq!(json_text(lost[0], "subject"), "e2e-node-2");

        // The admin sees it over the API; nobody else does.
        let (status, nodes) = api_nodes(&w.gw, &w.gw.token("adam"));
        assert_eq!(status, 200, "{nodes}");
        let nodes = nodes.as_array().unwrap().clone();
        assert_eq!(node(&nodes, "e2e-node-2")["state"], "lost", "{nodes:?}");
        assert_eq!(node(&nodes, "e2e-node")["state"], "alive", "{nodes:?}");
        for who in ["alice", "bob"] {
            assert_eq!(api_nodes(&w.gw, &w.gw.token(who)).0, 403, "{who}");
        }

        // Back again, alive again.
        second.serve();
        let nodes = w.gw.json(&["node", "list"]);
        assert_eq!(node(&nodes, "e2e-node-2")["state"], "alive", "{nodes:?}");
    }
}

/// POST /api/v1/sessions/{id}/terminate on `gw` as `token`: status and body.
fn api_terminate(gw: &Gateway, token: &str, id: &str) -> (u16, Value) {
    let r = https_client(None)
        .post(format!(
            "https://127.0.0.1:{}/api/v1/sessions/{id}/terminate",
            gw.https_port
        ))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// Reads `ws` until its binary frames hold `needle`; the text frames seen on the way.
fn watch_until(ws: &mut RawWebSocket, needle: &[u8]) -> Vec<String> {
    let mut seen = Vec::new();
    let mut texts = Vec::new();
    while !contains(&seen, needle) {
        let f = ws.read_frame();
        match f.opcode {
            2 => seen.extend_from_slice(&f.data),
            1 => texts.push(String::from_utf8_lossy(&f.data).into_owned()),
            8 => panic!(
                "the watch closed before {:?}: {:?}; seen {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&f.data),
                String::from_utf8_lossy(&seen)
            ),
            _ => {}
        }
    }
    texts
}

/// Two nodes on one PostgreSQL: alice's session is on node 1; bob, an approver, reaches
/// node 2, watches it there (node 2 relays it from node 1) and terminates it there; alice's
/// ssh is told why, and the audit says who watched and who ended it.
mod a_session_on_one_node_is_watched_and_terminated_from_another {
    use super::*;

    #[test]
    fn postgres() {
        let w = World::with(Db::Postgres, WorldOpts::default());
        let mut second = w.gw.second_node("e2e-node-2");
        second.serve();
        let mut s = live_shell(&w);
        let id = json_text(&w.gw.last_session("alice"), "id");
        assert_eq!(json_text(&w.gw.last_session("alice"), "node"), "e2e-node");

        // bob's login is good on every node; the watch opens on node 2.
        let cookie = w.gw.web_cookie("bob", WEB_PASSWORD);
        let mut watch =
            RawWebSocket::open(&second, &format!("/api/v1/sessions/{id}/watch"), &cookie)
                .unwrap_or_else(|answer| panic!("the watch on node 2 did not open:\n{answer}"));
        // What was on the screen before (the backlog) and what comes after.
        watch_until(&mut watch, b"UP:42");
        let typed = Instant::now();
        s.send(b"echo \"RELAYED:$((6*7))\"\n");
        watch_until(&mut watch, b"RELAYED:42");
        eprintln!(
            "output reached the watcher on node 2 {:?} after it was typed on node 1",
            typed.elapsed()
        );
        let watched =
            w.gw.wait_audit("session.watch", |e| json_text(e, "actor") == "bob");
        assert_eq!(json_text(&watched, "node"), "e2e-node-2", "{watched}");
        assert_eq!(watched["detail"]["node"], "e2e-node", "{watched}");
        assert_no_leak(watched.to_string().as_bytes(), "the watch's audit entry");

        // The relay path is for the cluster's nodes only: no mark, no feed.
        let r = https_client(None)
            .get(format!(
                "https://127.0.0.1:{}/cluster/v1/sessions/{id}/feed",
                w.gw.https_port
            ))
            .header("x-menwei-node", "e2e-node-2")
            .header("x-menwei-watcher", "bob")
            .header(
                "x-menwei-expires",
                (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 10_000)
                    .to_string(),
            )
            .header("x-menwei-node-mark", "00".repeat(32))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{:?}", r.text());

        // Terminated from node 2; node 1 ends it.
        let at = Instant::now();
        let (status, body) = api_terminate(&second, &w.gw.token("bob"), &id);
        assert_eq!(status, 200, "{body}");
        let out = s.wait(SHORT);
        let took = at.elapsed();
        eprintln!("the session on node 1 ended {took:?} after the terminate on node 2");
        assert!(took < Duration::from_secs(3), "{took:?}");
        let said = out.stdout_text() + &out.stderr_text();
        assert!(
            said.contains("an approver (bob) ended the session"),
            "{said}"
        );
        // The watcher on node 2 is told the session ended.
        let texts = watch_until_closed(&mut watch);
        assert!(
            texts.iter().any(|t| t.contains("the session has ended")),
            "{texts:?}"
        );

        let row = w.gw.last_session("alice");
        assert_eq!(json_text(&row, "end_reason"), "terminated", "{row}");
        let ended =
            w.gw.wait_audit("session.terminate", |e| json_text(e, "actor") == "bob");
        assert_eq!(json_text(&ended, "node"), "e2e-node-2", "{ended}");
        assert_eq!(ended["detail"]["node"], "e2e-node", "{ended}");
    }
}

/// The text frames until `ws` closes.
fn watch_until_closed(ws: &mut RawWebSocket) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        let f = ws.read_frame();
        match f.opcode {
            1 => texts.push(String::from_utf8_lossy(&f.data).into_owned()),
            8 => return texts,
            _ => {}
        }
    }
}

/// POST /api/v1/login on `gw` as `user` with `password` and `code`: the status.
fn web_login(gw: &Gateway, user: &str, password: &str, code: &str) -> u16 {
    https_client(None)
        .post(format!("https://127.0.0.1:{}/api/v1/login", gw.https_port))
        .json(&serde_json::json!({"user": user, "password": password, "totp": code}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Two nodes on one PostgreSQL, `max_auth_failures = 5`, `login_alert_failures = 5`:
/// three wrong passwords on node 1 and two on node 2 are five for alice from this address;
/// both nodes then refuse even the right one (429), where each alone would have counted too
/// few; and the failed-login alert goes out once, from node 2.
mod failed_logins_spread_over_two_nodes_count_together {
    use super::*;

    #[test]
    fn postgres() {
        let w = World::with(
            Db::Postgres,
            WorldOpts {
                grant_for: None,
                replace: &[("login_alert_failures = 20", "login_alert_failures = 5")],
                ..WorldOpts::default()
            },
        );
        let mut second = w.gw.second_node("e2e-node-2");
        second.serve();
        w.gw.web_cookie("alice", WEB_PASSWORD);
        for (gw, times) in [(&w.gw, 3), (&second, 2)] {
            for _ in 0..times {
                assert_eq!(web_login(gw, "alice", "wrong password", "000000"), 401);
            }
        }
        // Each node writes its failures and reads the others' once a second.
        std::thread::sleep(Duration::from_secs(3));
        let code = w.gw.totp_code("alice");
        assert_eq!(
            web_login(&second, "alice", WEB_PASSWORD, &code),
            429,
            "node 2 counted only its own two"
        );
        assert_eq!(
            web_login(&w.gw, "alice", WEB_PASSWORD, &code),
            429,
            "node 1 counted only its own three"
        );
        second.wait_audit("web.login.failure", |e| {
            e["detail"]["reason"] == "throttled" && json_text(e, "node") == "e2e-node-2"
        });
        let alert =
            w.gw.wait_audit("login.alert", |e| json_text(e, "subject") == "alice");
        assert_eq!(alert["detail"]["failures"], 5, "{alert}");
        assert_eq!(alert["detail"]["node"], "e2e-node-2", "{alert}");
        // More of alice's failures, from another address (not throttled there): no second
        // alert within the window, on either node.
        for gw in [&w.gw, &second] {
            let r = https_client(Some("127.0.0.7"))
                .post(format!("https://127.0.0.1:{}/api/v1/login", gw.https_port))
                .json(&serde_json::json!({"user": "alice", "password": "wrong", "totp": "000000"}))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 401);
        }
        std::thread::sleep(Duration::from_secs(1));
        let alerts =
            w.gw.audit()
                .into_iter()
                .filter(|e| json_text(e, "action") == "login.alert")
                .count();
        assert_eq!(alerts, 1);
    }
}

/// Two nodes on one PostgreSQL, both sending webhooks and both looking for expired grants:
/// each grant's expiry and a revocation reach the receiver exactly once, each delivery once.
mod webhooks_go_out_once_with_two_nodes {
    use super::*;

    #[test]
    fn postgres() {
        let rx = WebhookReceiver::start(free_port("127.0.0.1"), false);
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("webhook.secret");
        std::fs::write(&secret, "e2e-webhook-secret-0123456789\n").unwrap();
        let config = format!(
            "\n[[webhooks]]\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_file = \"{}\"\nevents = [\"revocation\", \"expiry\"]\n\n[notify]\ninitial_backoff = \"200ms\"\n",
            rx.port,
            secret.display()
        );
        let w = World::with(
            Db::Postgres,
            WorldOpts {
                config: Box::leak(config.into_boxed_str()),
                ..WorldOpts::default()
            },
        );
        let mut second = w.gw.second_node("e2e-node-2");
        second.serve();
        let short: Vec<String> = (0..4).map(|_| w.gw.grant("alice", "web01", "2s")).collect();
        w.gw.revoke(w.grant_id());
        let hits = rx.wait_hits(5, Duration::from_secs(20));
        // Time for a second delivery or a second announcement, were there to be one.
        std::thread::sleep(Duration::from_secs(3));
        let hits = {
            let later = rx.hits();
            assert_eq!(later.len(), hits.len(), "delivered more than once");
            later
        };
        let mut events: Vec<(String, String)> = hits
            .iter()
            .map(|h| {
                let body = h.json();
                (json_text(&body, "event"), json_text(&body["data"], "grant"))
            })
            .collect();
        events.sort();
        let mut expected: Vec<(String, String)> = short
            .iter()
            .map(|g| ("expiry".to_string(), g.clone()))
            .chain([("revocation".to_string(), w.grant_id().to_string())])
            .collect();
        expected.sort();
        assert_eq!(events, expected);
        let mut ids: Vec<&str> = hits.iter().map(|h| h.header("x-menwei-delivery")).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 5, "a delivery went out twice");
        let notes = w.gw.json(&["notify", "list"]);
        assert_eq!(notes.len(), 5, "{notes:?}");
        assert!(
            notes
                .iter()
                .all(|n| n["state"] == "delivered" && n["attempts"] == 1),
            "{notes:?}"
        );
    }
}
