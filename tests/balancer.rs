//! Two nodes behind a real HAProxy in TCP mode (issue 11's deployment): HAProxy sends the
//! PROXY protocol v2 header from its own address (127.0.0.5) and checks each node's
//! `/readyz`; engineers reach either node through one address, the audit names the
//! engineer's address, not HAProxy's, and when a node is killed new connections go to the
//! one left. The same layout as `deploy/cluster/haproxy.cfg`, on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::process::Command;
use std::time::Duration;

use menwei_e2e::*;

/// Heartbeats every second, lost after three; the balancer's PROXY headers believed.
const OPTS: &[(&str, &str)] = &[
    ("heartbeat = \"5s\"", "heartbeat = \"1s\""),
    ("dead_after = \"30s\"", "dead_after = \"3s\""),
    (
        "proxy_protocol_from = []",
        "proxy_protocol_from = [\"127.0.0.5\"]",
    ),
];

/// HAProxy on free ports of 127.0.0.1 in front of `nodes` (SSH port, HTTPS port).
struct Haproxy {
    proc: Spawned,
    ssh: u16,
    https: u16,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(nodes: &[(u16, u16)]) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let [ssh, https] = free_ports("127.0.0.1");
        let servers = |port_of: fn(&(u16, u16)) -> u16| -> String {
            nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    format!(
                        "    server gw{i} 127.0.0.1:{} check port {} \n",
                        port_of(n),
                        n.1
                    )
                })
                .collect()
        };
        let cfg = format!(
            "global\n    maxconn 200\n    log stderr format raw local0\n\
             defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 2s\n    timeout client 1h\n    timeout server 1h\n\
             frontend ssh\n    bind 127.0.0.1:{ssh}\n    default_backend nodes_ssh\n\
             frontend https\n    bind 127.0.0.1:{https}\n    default_backend nodes_https\n\
             backend nodes_ssh\n    balance roundrobin\n    source 127.0.0.5\n\
                 option httpchk GET /readyz\n    http-check expect status 200\n\
                 default-server send-proxy-v2 check-send-proxy check-ssl verify none inter 300ms fall 1 rise 1\n{}\
             backend nodes_https\n    balance roundrobin\n    source 127.0.0.5\n\
                 option httpchk GET /readyz\n    http-check expect status 200\n\
                 default-server send-proxy-v2 check-send-proxy check-ssl verify none inter 300ms fall 1 rise 1\n{}",
            servers(|n| n.0),
            servers(|n| n.1),
        );
        let file = dir.path().join("haproxy.cfg");
        fs::write(&file, cfg).unwrap();
        let check = run(
            {
                let mut c = Command::new("haproxy");
                c.arg("-c").arg("-f").arg(&file);
                c
            },
            Stdin::Null,
            SHORT,
        );
        assert!(
            check.success(),
            "haproxy rejects its configuration:\n{check}"
        );
        let mut c = Command::new("haproxy");
        c.arg("-db").arg("-f").arg(&file);
        Haproxy {
            proc: Spawned::start(c, Stdin::Null, None),
            ssh,
            https,
            _dir: dir,
        }
    }
}

/// `alice` runs `echo` through HAProxy, the gateway's host key checked as known for node 1.
fn echo_via(w: &World, lb: &Haproxy) -> Out {
    let port = format!("Port={}", lb.ssh);
    let alias = format!("HostKeyAlias=[127.0.0.1]:{}", w.gw.port);
    w.alice.ssh(
        &w.gw,
        "alice:web01",
        &["-o", &port, "-o", &alias],
        &["echo", "via-haproxy"],
        Stdin::Null,
    )
}

mod two_nodes_behind_haproxy_serve_engineers_and_survive_one_killed {
    use super::*;

    #[test]
    fn postgres() {
        let mut w = World::with(
            Db::Postgres,
            WorldOpts {
                replace: OPTS,
                ..WorldOpts::default()
            },
        );
        let mut second = w.gw.second_node("e2e-node-2");
        second.serve();
        let lb = Haproxy::start(&[
            (w.gw.port, w.gw.https_port),
            (second.port, second.https_port),
        ]);

        // Round robin over both nodes once HAProxy's checks pass: sessions land on each.
        wait_until("HAProxy to pass an engineer through", SHORT, || {
            echo_via(&w, &lb).success().then_some(())
        });
        for _ in 0..3 {
            let out = echo_via(&w, &lb);
            assert!(
                out.success() && out.stdout_text().contains("via-haproxy"),
                "{out}\nhaproxy:\n{}",
                String::from_utf8_lossy(&lb.proc.stderr_now())
            );
        }
        let sessions = w.gw.sessions();
        for node in ["e2e-node", "e2e-node-2"] {
            assert!(
                sessions.iter().any(|s| json_text(s, "node") == node),
                "no session on {node}: {sessions:?}"
            );
        }
        // The engineer's own address (ssh connects from 127.0.0.1), never HAProxy's.
        for s in &sessions {
            let addr = json_text(s, "client_addr");
            assert!(addr.starts_with("127.0.0.1:"), "{s}");
        }

        // The web side through HAProxy too.
        let r = https_client(None)
            .get(format!("https://127.0.0.1:{}/readyz", lb.https))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);

        // Node 1 killed: HAProxy's check fails and every new connection reaches node 2.
        w.gw.kill9();
        std::thread::sleep(Duration::from_secs(1));
        let before = w.gw.sessions().len();
        for _ in 0..4 {
            let out = echo_via(&w, &lb);
            assert!(out.success(), "a connection failed with node 1 down: {out}");
        }
        let sessions = w.gw.sessions();
        assert_eq!(sessions.len(), before + 4);
        let mut newest: Vec<_> = sessions.iter().collect();
        newest.sort_by_key(|s| json_text(s, "started_at"));
        for s in newest.iter().rev().take(4) {
            assert_eq!(json_text(s, "node"), "e2e-node-2", "{s}");
        }
        second.stop(SHORT);
    }
}
