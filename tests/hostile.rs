//! Hostile clients against the real binary (issue 8): connection floods, running out of file
//! descriptors, clients that never log in, too many channels on one connection, a client
//! that ignores the channel window, a burst of web logins. Each test asserts what an
//! engineer (or the attacker) sees: a login that still works, a socket the gateway closed, a
//! refusal line, the reason of a disconnect.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use menwei_e2e::*;

/// Where flood connections come from: a loopback address of their own, not the engineer's
/// 127.0.0.1 and none of the targets' 127.0.0.2..9.
const FLOOD_SOURCE: &str = "127.0.0.66";

/// A TCP connection to the gateway's SSH port from `source`, given up after `wait`.
fn connect_from(source: &str, port: u16, wait: Duration) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let local: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&local.into())?;
    let remote: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    socket.connect_timeout(&remote.into(), wait)?;
    Ok(socket.into())
}

/// What the gateway sent first on `s`: its SSH identification, or nothing (closed at once).
fn greeted(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"SSH-2.0-"),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset) => false,
        Err(e) => panic!("no greeting and no close within 10 s: {e}"),
    }
}

/// Reads `s` until the gateway closes it; how long that took. Panics past `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut sink = Vec::new();
    match s.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the gateway kept the connection open past {limit:?}: {e}"),
    }
    start.elapsed()
}

// SQLite only here and below: the limits are counted in memory at accept, before any
// database access, so the database makes no difference to what these tests see.

#[test]
fn a_flood_from_one_address_leaves_room_for_an_engineer() {
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            // max_connections_per_address stays at its default, 50.
            replace: &[("max_connections = 1000", "max_connections = 200")],
            ..WorldOpts::default()
        },
    );
    // More idle connections than the whole gateway holds, all from one address.
    let mut flood: Vec<TcpStream> = (0..250)
        .map(|_| connect_from(FLOOD_SOURCE, w.gw.port, SHORT).unwrap())
        .collect();
    let greeted_count = flood.iter_mut().map(greeted).filter(|g| *g).count();
    assert_eq!(
        greeted_count, 50,
        "max_connections_per_address = 50: the others must be closed at accept"
    );

    // While the flood holds its 50, the engineer logs in from another address.
    let out = w.alice.exec(&w.gw, "web01", "echo during-the-flood");
    out.ok();
    assert_eq!(out.stdout_text().trim(), "during-the-flood");

    // The flood ends: its slots come back, to the flooding address too.
    drop(flood);
    wait_until("the flood's slots to come back", SHORT, || {
        let mut s = connect_from(FLOOD_SOURCE, w.gw.port, SHORT).ok()?;
        greeted(&mut s).then_some(())
    });
    let out = w.alice.exec(&w.gw, "web01", "echo after-the-flood");
    out.ok();
    assert_eq!(out.stdout_text().trim(), "after-the-flood");
}

#[test]
fn ssh_logins_work_again_after_file_descriptors_ran_out() {
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace: &[
                ("max_connections = 1000", "max_connections = 5000"),
                (
                    "max_connections_per_address = 50",
                    "max_connections_per_address = 5000",
                ),
            ],
            // Limits above the open-file limit: accept itself fails (EMFILE).
            serve_under: &["prlimit", "--nofile=256:256", "--"],
            ..WorldOpts::default()
        },
    );
    // The kernel completes these handshakes (listen backlog) whether or not the gateway can
    // accept them.
    // Connections until the gateway cannot accept any more (the log says so); the kernel
    // completes their handshakes (listen backlog) whether or not the gateway accepts them.
    let mut flood = Vec::new();
    let deadline = Instant::now() + SHORT;
    while !w.gw.log().contains("SSH accept failed") {
        assert!(
            Instant::now() < deadline,
            "accept never failed:\n{}",
            w.gw.log()
        );
        for _ in 0..20 {
            // A full backlog drops the handshake: that connection is given up quickly.
            if let Ok(s) = connect_from("127.0.0.1", w.gw.port, Duration::from_secs(1)) {
                flood.push(s);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(w.gw.log().contains("Too many open files"), "{}", w.gw.log());
    drop(flood);
    // No restart: once the flood is gone, logins work again.
    std::thread::sleep(Duration::from_secs(2));
    let out = w.alice.exec(&w.gw, "web01", "echo after-exhaustion");
    out.ok();
    assert_eq!(out.stdout_text().trim(), "after-exhaustion");
    // The HTTPS door came through it too: it answers.
    let https = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(SHORT)
        .build()
        .unwrap();
    let page = https
        .get(format!("https://127.0.0.1:{}/api/v1/me", w.gw.https_port))
        .send()
        .expect("HTTPS does not answer after the file descriptors ran out");
    assert_eq!(page.status().as_u16(), 401, "unauthenticated /api/v1/me");
}

#[test]
fn a_connection_that_never_logs_in_is_closed_after_the_login_grace() {
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace: &[("login_grace = \"30s\"", "login_grace = \"2s\"")],
            ..WorldOpts::default()
        },
    );
    // One says nothing at all; the other sends its identification and then nothing.
    let mut silent = TcpStream::connect(("127.0.0.1", w.gw.port)).unwrap();
    let mut stalled = TcpStream::connect(("127.0.0.1", w.gw.port)).unwrap();
    stalled.write_all(b"SSH-2.0-hostile\r\n").unwrap();
    for (what, s) in [
        ("silent", &mut silent),
        ("stalled after its id", &mut stalled),
    ] {
        let took = closed_within(s, Duration::from_secs(10));
        assert!(
            took < Duration::from_secs(6),
            "{what}: closed only after {took:?}"
        );
    }
    // Logging in takes less than the grace: the engineer is not affected.
    w.alice.exec(&w.gw, "web01", "true").ok();
}

#[test]
fn channels_past_the_cap_on_one_connection_are_refused() {
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            replace: &[(
                "max_channels_per_connection = 10",
                "max_channels_per_connection = 3",
            )],
            ..WorldOpts::default()
        },
    );
    let control = w.gw.scratch().join("control");
    let control = control.to_str().unwrap();
    let login = w.alice.to("web01");
    let _master = w.alice.spawn(
        &w.gw,
        &login,
        &["-M", "-S", control, "-N"],
        &[],
        Stdin::Null,
    );
    wait_until("the ControlMaster socket", SHORT, || {
        std::path::Path::new(control).exists().then_some(())
    });
    // Every client through the master's connection: ProxyCommand=false stops ssh falling
    // back to a connection of its own when the master's channel is refused.
    let mux = [
        "-S",
        control,
        "-o",
        "ControlMaster=no",
        "-o",
        "ProxyCommand=false",
    ];
    let held: Vec<Spawned> = (0..3)
        .map(|i| {
            let cmd = format!("echo started-{i}; sleep 4; echo held-{i}");
            w.alice.spawn(&w.gw, &login, &mux, &[&cmd], Stdin::Null)
        })
        .collect();
    let mut held = held;
    for (i, s) in held.iter_mut().enumerate() {
        s.wait_stdout(&format!("started-{i}"), SHORT);
    }
    // Three channels are open on the one connection: a fourth is refused, with a line.
    let out = w
        .alice
        .ssh(&w.gw, &login, &mux, &["echo extra"], Stdin::Null);
    assert!(
        !out.success() && !out.stdout_text().contains("extra"),
        "a fourth channel ran:\n{out}"
    );
    assert!(
        out.stderr_text().contains("Session open refused by peer"),
        "no refusal line:\n{out}"
    );
    for (i, mut s) in held.into_iter().enumerate() {
        let out = s.wait(SHORT);
        out.ok();
        assert!(out.stdout_text().contains(&format!("held-{i}")), "{out}");
    }
    // The three closed: their slots came back.
    let t = Instant::now();
    let out = w
        .alice
        .ssh(&w.gw, &login, &mux, &["echo again"], Stdin::Null);
    eprintln!("AGAIN1 {out}");
    std::thread::sleep(Duration::from_secs(3));
    let out = w
        .alice
        .ssh(&w.gw, &login, &mux, &["echo again"], Stdin::Null);
    eprintln!("AGAIN2 {:?} {out} LOG:{}", t.elapsed(), w.gw.log());
    out.ok();
    assert_eq!(out.stdout_text().trim(), "again");
}

/// 500 web logins at once, from 50 addresses, each running the password check (unknown
/// users cost what known ones do): the checks wait their turn (one per core) instead of
/// taking 19 MiB each at once, and a live engineer's `ssh` is served meanwhile.
#[test]
fn a_burst_of_web_logins_is_bounded_and_ssh_is_served_meanwhile() {
    // The database plays no part in what is measured: SQLite only.
    let w = World::new(Db::Sqlite);
    let rss = PeakRss::start(w.gw.pid());
    let base = format!("https://127.0.0.1:{}/api/v1/login", w.gw.https_port);
    let logins: Vec<_> = (0..500)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                let from: std::net::IpAddr = format!("127.0.1.{}", 10 + i % 50).parse().unwrap();
                let http = reqwest::blocking::Client::builder()
                    .danger_accept_invalid_certs(true)
                    .local_address(from)
                    .timeout(Duration::from_secs(120))
                    .build()
                    .unwrap();
                http.post(base)
                    .json(&serde_json::json!({"user": format!("nobody{i}"), "password": "a wrong password"}))
                    .send()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    // Meanwhile an engineer works.
    let started = std::time::Instant::now();
    let out = w.alice.exec(&w.gw, "web01", "echo served");
    let ssh_ms = started.elapsed().as_millis();
    assert_eq!(out.ok().stdout_text(), "served\n");
    let statuses: Vec<u16> = logins.into_iter().map(|t| t.join().unwrap()).collect();
    let grown = rss.stop();
    eprintln!("500 concurrent web logins: gateway RSS +{grown} KiB at the peak; `ssh … echo` during the burst took {ssh_ms} ms");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "a login answered something other than 401/429: {statuses:?}"
    );
    assert!(
        statuses.contains(&401),
        "no password was checked at all: {statuses:?}"
    );
    // Measured on 2 cores: about 180 MiB, most of it the 500 open TLS connections' buffers
    // (`[https] max_connections` is the next bound). With every check straight on the
    // blocking pool: 8 GiB, and the engineer's `ssh` took 11 s.
    assert!(
        grown < 256 * 1024,
        "500 concurrent logins grew the gateway by {grown} KiB"
    );
}

/// An authenticated engineer's client that ignores the SSH channel window (issue 8): on 8
/// session channels of one connection, whose programs read nothing, it sends 64 MiB each
/// as fast as it can. The gateway grants window only as the target consumes input, so past
/// the first 2 MiB window (plus what the target took) the data is beyond the window: the
/// client is told why and disconnected, and the gateway's memory stays bounded instead of
/// queueing the flood.
#[test]
fn a_client_that_ignores_the_channel_window_is_disconnected() {
    // The database plays no part in what is measured: SQLite only.
    let w = World::new(Db::Sqlite);
    let rss = PeakRss::start(w.gw.pid());
    let out = flood_ignoring_window(
        &w.gw,
        &w.alice,
        &w.alice.to("web01"),
        8,
        64 * 1024 * 1024,
        "sleep 600",
    );
    let grown = rss.stop();
    let seen = out.stdout_text();
    eprintln!("window flood on 8 channels: gateway RSS +{grown} KiB at the peak\n{seen}");
    assert!(
        seen.contains("opened 8 channels"),
        "the flood did not get its 8 channels:\n{out}"
    );
    assert!(
        seen.contains("disconnected: code 2: peer sent data beyond the channel window"),
        "the flooding client was not disconnected with the reason:\n{out}"
    );
    out.ok();
    // The operator sees it in the gateway's log.
    wait_until("the gateway's warning", SHORT, || {
        w.gw.log()
            .contains("SSH connection disconnected: peer sent data beyond the channel window")
            .then_some(())
    });
    // At most one window (2 MiB) per channel waits in the gateway: 16 MiB of data, plus what
    // it costs on its way (SSH packets, queue entries, the recorder's buffer). Measured on 2
    // cores: +0.1 to +8 MiB at the peak when run alone, up to +17 MiB with the other
    // hostile.rs and streams.rs tests beside it (a slower relay lets the windows fill); the
    // client was disconnected within 3 s, after sending 26 to 42 MB. With the window not
    // enforced: +26 MiB alone and +44 MiB beside the others (the gateway's own queues, 4 MiB
    // and 32 packets a channel, full), and the client, never disconnected, was still sending
    // after 60 s.
    assert!(
        grown < 32 * 1024,
        "a window flood on 8 channels grew the gateway by {grown} KiB"
    );
    // The gateway goes on serving engineers.
    let out = w.alice.exec(&w.gw, "web01", "echo after-the-flood");
    out.ok();
    assert_eq!(out.stdout_text().trim(), "after-the-flood");
}
