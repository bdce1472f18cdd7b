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
const FAST: &[(&str, &str)] = &[
    ("heartbeat = \"5s\"", "heartbeat = \"1s\""),
    ("dead_after = \"30s\"", "dead_after = \"3s\""),
];

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
