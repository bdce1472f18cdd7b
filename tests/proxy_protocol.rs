//! A load balancer in TCP mode in front of the gateway (`[ssh] proxy_protocol_from`,
//! `[https] proxy_protocol_from`): connections from it start with a PROXY protocol header,
//! and the gateway audits, limits and throttles the engineer's address it names, not the
//! balancer's. A connection from the balancer without a header is closed; a header from any
//! other address is never read as one.
//!
//! The balancer is [`Relay::balancer`]: it connects from 127.0.0.5 and writes the header
//! HAProxy's `send-proxy` (v1) or `send-proxy-v2` would, naming a client address of its
//! choosing (192.0.2.x), then relays the real `ssh` or HTTPS client's bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;

use menwei_e2e::*;
use serde_json::Value;

const BALANCER: &str = "127.0.0.5";

/// HAProxy's `send-proxy` line for a client at `client`.
fn v1(client: &str, port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 {port} 2222\r\n").into_bytes()
}

/// HAProxy's `send-proxy-v2` header for a client at `client`.
fn v2(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0x00, 12]);
    h.extend_from_slice(&client);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&2222u16.to_be_bytes());
    h
}

fn gateway_at(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// ssh options that reach the gateway through `port` (a balancer's) and still check the
/// gateway's host key as known for its own port.
fn via(w: &World, port: u16) -> [String; 4] {
    [
        "-o".into(),
        format!("Port={port}"),
        "-o".into(),
        format!("HostKeyAlias=[127.0.0.1]:{}", w.gw.port),
    ]
}

/// `alice` runs `echo` through `port`.
fn echo_through(w: &World, port: u16) -> Out {
    let opts = via(w, port);
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    w.alice.ssh(
        &w.gw,
        "alice:web01",
        &opts,
        &["echo", "through-the-balancer"],
        Stdin::Null,
    )
}

both_databases! {
    fn the_engineers_address_from_the_proxy_header_is_audited_and_limited(db) {
        let w = World::with(db, WorldOpts {
            replace: &[
                ("proxy_protocol_from = []", "proxy_protocol_from = [\"127.0.0.5\"]"),
                ("max_connections_per_address = 50", "max_connections_per_address = 1"),
            ],
            ..WorldOpts::default()
        });
        let v2_balancer = Relay::balancer(gateway_at(w.gw.port), BALANCER, v2([192, 0, 2, 7], 40007));

        // Through the balancer: the session works and is the engineer's address's.
        let out = echo_through(&w, v2_balancer.port());
        assert!(out.success() && out.stdout_text().contains("through-the-balancer"), "{out}");
        let session = w.gw.last_session("alice");
        assert_eq!(json_text(&session, "client_addr"), "192.0.2.7:40007", "{session}");

        // max_connections_per_address = 1 counts 192.0.2.7, not the balancer: while one
        // connection from it is held, a second one naming it is closed, and one naming
        // 192.0.2.8 is served.
        let opts = via(&w, v2_balancer.port());
        let mut opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        opts.push("-tt");
        let mut held = w.alice.spawn(&w.gw, "alice:web01", &opts, &[], Stdin::Pipe);
        held.send(b"echo \"HELD:$((6*7))\"\n");
        held.wait_stdout("HELD:42", SHORT);
        let out = echo_through(&w, v2_balancer.port());
        assert!(!out.success(), "a second connection naming 192.0.2.7 was served: {out}");
        let other = Relay::balancer(gateway_at(w.gw.port), BALANCER, v1("192.0.2.8", 40008));
        let out = echo_through(&w, other.port());
        assert!(out.success(), "a connection naming 192.0.2.8 was refused: {out}");
        assert_eq!(json_text(&w.gw.last_session("alice"), "client_addr"), "192.0.2.8:40008");
        held.send(b"exit\n");
        held.wait(SHORT);

        // From the balancer's address without a header: closed, nothing served.
        let bind = format!("BindAddress={BALANCER}");
        let out = w.alice.ssh(&w.gw, "alice:web01", &["-o", &bind], &["echo", "no-header"], Stdin::Null);
        assert!(!out.success() && !out.stdout_text().contains("no-header"), "{out}");

        // A header from an address not listed is not read as one: the connection fails.
        let forged = Relay::balancer(gateway_at(w.gw.port), "127.0.0.6", v1("192.0.2.9", 40009));
        let out = echo_through(&w, forged.port());
        assert!(!out.success(), "a PROXY header from an unlisted address was honoured: {out}");
        assert!(
            !w.gw.sessions().iter().any(|s| json_text(s, "client_addr").starts_with("192.0.2.9")),
            "a session was opened under the forged address"
        );

        // HTTPS through the balancer: a refused web login is audited with 192.0.2.7.
        let web = Relay::balancer(gateway_at(w.gw.https_port), BALANCER, v2([192, 0, 2, 7], 40107));
        let r = https_client(None)
            .post(format!("https://127.0.0.1:{}/api/v1/login", web.port()))
            .json(&serde_json::json!({"user": "alice", "password": "not her password"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{:?}", r.text());
        let failure: Value = w.gw.wait_audit("web.login.failure", |e| e["detail"]["client"] == "192.0.2.7");
        assert_eq!(failure["detail"]["client"], "192.0.2.7", "{failure}");
        // Directly from the balancer's address, no header: no TLS, no answer.
        let direct = https_client(Some(BALANCER))
            .get(format!("https://127.0.0.1:{}/healthz", w.gw.https_port))
            .send();
        assert!(direct.is_err(), "served without a PROXY header: {direct:?}");
    }
}
