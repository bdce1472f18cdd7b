//! One node cut off from the database (issue 11): a network partition of a single node.
//! The other node marks it lost after `[cluster] dead_after` and ends its sessions in the
//! table (`node_lost`, audited once); the cut-off node keeps its engineers' sessions going
//! and recorded, as through any database outage, and the moment it reaches the database
//! again it ends every session the cluster ended, with one line to the engineer, audits
//! each as `session.closed` and itself as `node.rejoined`, and serves new logins.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use menwei_e2e::*;
use serde_json::Value;

/// Heartbeats every second, lost after three.
const FAST: &[(&str, &str)] = FAST_HEARTBEATS;

/// Points `gw`'s database URL at `relay` instead of PostgreSQL itself.
fn through(gw: &Gateway, relay: &Relay) {
    let file = gw.data_dir().join("menwei.toml");
    let text = fs::read_to_string(&file).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("url = \"postgres://"))
        .expect("a PostgreSQL url line")
        .to_string();
    let at = line.find('@').unwrap() + 1;
    let slash = at + line[at..].find('/').unwrap();
    let relayed = format!(
        "{}127.0.0.1:{}{}",
        &line[..at],
        relay.port(),
        &line[slash..]
    );
    gw.replace_config_line(&line, &relayed);
}

/// Where the shared PostgreSQL listens, from `gw`'s database URL.
fn postgres_addr(gw: &Gateway) -> std::net::SocketAddr {
    let text = fs::read_to_string(gw.data_dir().join("menwei.toml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("url = \"postgres://"))
        .unwrap();
    let at = line.find('@').unwrap() + 1;
    let host = &line[at..at + line[at..].find('/').unwrap()];
    host.to_socket_addrs().unwrap().next().unwrap()
}

fn entries<'a>(audit: &'a [Value], action: &str, session: &str) -> Vec<&'a Value> {
    audit
        .iter()
        .filter(|e| json_text(e, "action") == action && e["detail"]["session"] == session)
        .collect()
}

mod a_node_cut_off_past_dead_after_ends_the_sessions_the_cluster_ended {
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
        let relay = Relay::start(postgres_addr(&w.gw));
        let mut second = w.gw.second_node("e2e-node-2");
        through(&second, &relay);
        second.serve();
        let mut s = live_shell_on(&w, &second);
        let id = json_text(&w.gw.last_session("alice"), "id");

        relay.cut();
        let cut = Instant::now();
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
        eprintln!(
            "node 1 ended the cut-off node's session {:?} after the cut",
            cut.elapsed()
        );
        assert_eq!(json_text(&row, "end_reason"), "node_lost", "{row}");

        // Cut off, node 2 carries its session on (and records it), as through any outage.
        s.send(b"echo \"CUT:$((6*8))\"\n");
        s.wait_stdout("CUT:48", SHORT);

        relay.restore();
        let restored = Instant::now();
        let out = s.wait(Duration::from_secs(20));
        eprintln!(
            "node 2 ended it {:?} after reaching the database again",
            restored.elapsed()
        );
        assert!(
            out.all_text()
                .contains("this gateway node lost contact with the cluster"),
            "the engineer is not told why:\n{out}"
        );

        // One end in the table and the log (node 1's), the real close from node 2, the return.
        let rejoined =
            w.gw.wait_audit("node.rejoined", |e| json_text(e, "subject") == "e2e-node-2");
        assert_eq!(
            rejoined["detail"]["sessions_ended"][0],
            id.as_str(),
            "{rejoined}"
        );
        let closed = wait_until("node 2's session.closed", SHORT, || {
            let audit = w.gw.audit();
            let c = entries(&audit, "session.closed", &id);
            (c.len() == 1).then(|| c[0].clone())
        });
        assert_eq!(json_text(&closed, "node"), "e2e-node-2", "{closed}");
        assert_eq!(closed["detail"]["reason"], "node_lost", "{closed}");
        let audit = w.gw.audit();
        let ends = entries(&audit, "session.end", &id);
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert_eq!(json_text(ends[0], "node"), "e2e-node", "{ends:?}");
        let row =
            w.gw.sessions()
                .into_iter()
                .find(|r| json_text(r, "id") == id)
                .unwrap();
        assert_eq!(json_text(&row, "end_reason"), "node_lost", "{row}");

        // Alive again, and serving.
        let nodes = w.gw.json(&["node", "list"]);
        let two = nodes.iter().find(|n| n["name"] == "e2e-node-2").unwrap();
        assert_eq!(two["state"], "alive", "{nodes:?}");
        let mut again = live_shell_on(&w, &second);
        again.send(b"exit\n");
        again.wait(SHORT);
    }
}
