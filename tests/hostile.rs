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
    // The three closed: their slots come back (as the gateway sees each close).
    wait_until("a closed channel's slot to come back", SHORT, || {
        let out = w
            .alice
            .ssh(&w.gw, &login, &mux, &["echo again"], Stdin::Null);
        (out.success() && out.stdout_text().trim() == "again").then_some(())
    });
}

/// 500 web logins at once, from 50 addresses, each running the password check (unknown
/// users cost what known ones do): the checks wait their turn (one per core) instead of
/// taking 19 MiB each at once, and a live engineer's `ssh` is served meanwhile: a new
/// `ssh … echo`, and keystrokes echoed in a terminal already open (p99 measured against the
/// same terminal before the burst).
#[test]
fn a_burst_of_web_logins_is_bounded_and_ssh_is_served_meanwhile() {
    // The database plays no part in what is measured: SQLite only.
    let w = World::new(Db::Sqlite);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ssh, mut term) = rt.block_on(async {
        let ssh = logged_in(&w.gw, &w.alice, &w.alice.to("web01")).await;
        let term = EchoTerminal::open(&ssh).await;
        (ssh, term)
    });
    let quiet = rt.block_on(term.keystrokes(100, None));
    let typing_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let typing = {
        let stop = typing_stop.clone();
        std::thread::spawn(move || {
            let during = rt.block_on(term.keystrokes(100_000, Some(&stop)));
            drop(ssh);
            during
        })
    };
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
    typing_stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let during = typing.join().unwrap();
    let (q50, q99) = (percentile_ms(&quiet, 0.5), percentile_ms(&quiet, 0.99));
    let (d50, d99) = (percentile_ms(&during, 0.5), percentile_ms(&during, 0.99));
    eprintln!(
        "500 concurrent web logins: gateway RSS +{grown} KiB at the peak; `ssh … echo` during the burst took {ssh_ms} ms; \
         keystroke echo p50/p99 {q50:.1}/{q99:.1} ms before the burst, {d50:.1}/{d99:.1} ms during it ({} keystrokes)",
        during.len()
    );
    assert!(
        during.len() >= 20,
        "only {} keystrokes during the burst",
        during.len()
    );
    // Measured on 2 cores: keystroke echo p50/p99 0.4/1.9 ms before the burst, 0.3/5.7 ms
    // during it; a new `ssh … echo` about 1 s. With the password checks run on the
    // runtime's own threads instead: p99 19.5 ms, the new `ssh` 6.7 s and the gateway +2 GiB
    // (the memory bound below fails). The bound here is what a typist would notice.
    assert!(
        d99 < 1000.0,
        "keystroke echo p99 {d99:.0} ms during the burst"
    );
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

/// This process's soft limit on open files.
fn open_file_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// The number of open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// 20,000 idle TCP connections from 40 addresses (or as many as this process may open):
/// more than `max_connections` (1000) and than 40 × `max_connections_per_address` (50). The
/// gateway holds at most its 1000, an engineer's `ssh` from an address of its own gets in
/// during the flood (it takes the place of a flood connection that has not logged in), and
/// after it every login works.
#[test]
fn twenty_thousand_idle_connections_leave_room_for_an_engineer() {
    let w = World::with(
        Db::Sqlite,
        WorldOpts {
            // The flood's connections stay for the whole test instead of being closed
            // after the login grace.
            replace: &[("login_grace = \"30s\"", "login_grace = \"1h\"")],
            ..WorldOpts::default()
        },
    );
    let pid = w.gw.pid();
    let before = rss_kib(pid);
    // This process's open-file limit may come first: leave it room for the test itself.
    let count = 20_000.min(open_file_limit().saturating_sub(300));
    let started = Instant::now();
    let flood: Vec<TcpStream> = (0..count)
        .map(|i| connect_from(&format!("127.0.4.{}", 1 + i % 40), w.gw.port, SHORT).unwrap())
        .collect();
    eprintln!(
        "flood: {} idle connections held, opened in {:?}",
        flood.len(),
        started.elapsed()
    );
    assert!(
        flood.len() >= 15_000,
        "only {} flood connections",
        flood.len()
    );
    // The gateway has accepted (or closed) them all: it holds no more than its limit, two
    // descriptors per connection not logged in (its socket, and a duplicate that shuts a
    // stalled handshake down).
    let most = 2 * 1000 + 100;
    wait_until("the gateway to settle at its limit", SHORT, || {
        (open_fds(pid) < most).then_some(())
    });
    let t = Instant::now();
    let out = w.alice.exec(&w.gw, "web01", "true");
    let login_ms = t.elapsed().as_millis();
    out.ok();
    let fds = open_fds(pid);
    let grown = rss_kib(pid).saturating_sub(before);
    eprintln!(
        "during the flood: `ssh … true` took {login_ms} ms; the gateway held {fds} file descriptors, RSS +{grown} KiB"
    );
    assert!(fds < most, "the gateway holds {fds} descriptors: no limit");
    // Measured: about 30 MiB for the 1000 connections held (russh's buffers per connection).
    assert!(
        grown < 128 * 1024,
        "the flood grew the gateway by {grown} KiB"
    );
    let started = Instant::now();
    drop(flood);
    wait_until("the flood's slots to come back", SHORT, || {
        (open_fds(pid) < 100).then_some(())
    });
    eprintln!("the flood's slots came back in {:?}", started.elapsed());
    for i in 0..3 {
        let out = w.alice.exec(&w.gw, "web01", &format!("echo after-{i}"));
        out.ok();
        assert_eq!(out.stdout_text().trim(), format!("after-{i}"));
    }
}

/// A client of our own: OpenSSH will not send a 200 KiB user name.
struct AnyHostKey;

impl russh::client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Password attempts (password login is off) with 200 KiB user names, each one different,
/// from 250 addresses, 40 at a time. Before login the gateway takes packets of at most
/// 64 KiB: each such attempt ends its connection at once, and the gateway's memory hardly
/// moves. A name of ordinary length is answered as a failed login.
#[test]
fn five_thousand_password_attempts_with_huge_names_cost_little_memory() {
    const ATTEMPTS: usize = 5_000;
    const AT_ONCE: usize = 40;
    let w = World::new(Db::Sqlite);
    let pid = w.gw.pid();
    let port = w.gw.port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cut = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let attempt = move |from: String, name: String| async move {
        let config = std::sync::Arc::new(russh::client::Config::default());
        let stream = tokio::task::spawn_blocking(move || connect_from(&from, port, SHORT))
            .await
            .unwrap()
            .unwrap();
        stream.set_nonblocking(true).unwrap();
        let stream = tokio::net::TcpStream::from_std(stream).unwrap();
        let mut ssh = russh::client::connect_stream(config, stream, AnyHostKey)
            .await
            .unwrap();
        let answer = ssh.authenticate_password(name, "guess").await;
        // Let a disconnect arrive before asking.
        tokio::time::sleep(Duration::from_millis(50)).await;
        (answer, ssh.is_closed())
    };
    let attack = |count: usize| {
        next.store(0, std::sync::atomic::Ordering::SeqCst);
        let tasks: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let (next, cut) = (next.clone(), cut.clone());
                rt.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= count {
                            return;
                        }
                        let mut name = format!("{i}-").into_bytes();
                        name.resize(200 * 1024, b'x');
                        let name = String::from_utf8(name).unwrap();
                        match attempt(format!("127.0.6.{}", 1 + i % 250), name).await {
                            (_, true) => {
                                cut.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            (answer, false) => {
                                panic!("a 200 KiB name was answered {answer:?}")
                            }
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            rt.block_on(t).unwrap();
        }
    };
    // A first round settles the allocator's arenas; the second is what is measured.
    attack(500);
    std::thread::sleep(Duration::from_secs(1));
    let before = rss_kib(pid);
    cut.store(0, std::sync::atomic::Ordering::SeqCst);
    let t = Instant::now();
    attack(ATTEMPTS);
    let took = t.elapsed();
    let refused = cut.load(std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(1));
    let grown = rss_kib(pid).saturating_sub(before);
    eprintln!(
        "{refused} password attempts with 200 KiB names in {took:?}: gateway RSS +{grown} KiB"
    );
    assert_eq!(refused, ATTEMPTS, "every attempt ends its connection");
    // Measured on 2 cores: +1 to +3 MiB. With 256 KiB packets accepted before login,
    // +20 to +24 MiB (each connection's buffers holding a name).
    assert!(
        grown < 10 * 1024,
        "the attempts grew the gateway by {grown} KiB"
    );
    // An ordinary name is answered as a failed login (password login is off).
    let (answer, closed) = rt.block_on(attempt("127.0.6.1".into(), "alice".into()));
    match answer.unwrap() {
        russh::client::AuthResult::Failure {
            remaining_methods, ..
        } if !closed => assert!(
            remaining_methods.contains(&russh::MethodKind::PublicKey),
            "{remaining_methods:?}"
        ),
        other => panic!("an ordinary password attempt: {other:?}, closed: {closed}"),
    }
    // The door is still open.
    w.alice.exec(&w.gw, "web01", "true").ok();
}

/// An engineer's connection made with our own client, logged in with `who`'s key as
/// `user`: for what OpenSSH will not do.
async fn logged_in(gw: &Gateway, who: &Engineer, user: &str) -> russh::client::Handle<AnyHostKey> {
    let config = std::sync::Arc::new(russh::client::Config::default());
    let mut ssh = russh::client::connect(config, ("127.0.0.1", gw.port), AnyHostKey)
        .await
        .unwrap();
    let key = russh::keys::load_secret_key(&who.key, None).unwrap();
    let key = russh::keys::PrivateKeyWithHashAlg::new(std::sync::Arc::new(key), None);
    let answer = ssh.authenticate_publickey(user, key).await.unwrap();
    assert!(answer.success(), "login as {user}: {answer:?}");
    ssh
}

/// 2,000 session channel opens on one logged-in connection: the first
/// `max_channels_per_connection` (10) are accepted, every other is refused, the gateway's
/// memory hardly moves, and once a channel closes its slot comes back.
#[test]
fn two_thousand_channel_opens_on_one_connection_are_refused_past_the_cap() {
    let w = World::new(Db::Sqlite);
    let pid = w.gw.pid();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ssh = logged_in(&w.gw, &w.alice, &w.alice.to("web01")).await;
        let before = rss_kib(pid);
        let mut open = Vec::new();
        let mut refused = 0;
        for _ in 0..2_000 {
            match ssh.channel_open_session().await {
                Ok(channel) => open.push(channel),
                Err(russh::Error::ChannelOpenFailure(_)) => refused += 1,
                Err(e) => panic!("a channel open ended in {e}"),
            }
        }
        let grown = rss_kib(pid).saturating_sub(before);
        eprintln!(
            "2,000 channel opens: {} accepted, {refused} refused; gateway RSS +{grown} KiB",
            open.len()
        );
        assert_eq!(open.len(), 10, "max_channels_per_connection = 10");
        assert_eq!(refused, 1_990);
        assert!(
            grown < 16 * 1024,
            "the opens grew the gateway by {grown} KiB"
        );
        // One closes: its slot comes back, and a new channel runs a command on the target.
        open.pop().unwrap().close().await.unwrap();
        let mut channel = None;
        for _ in 0..100 {
            match ssh.channel_open_session().await {
                Ok(c) => {
                    channel = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let mut channel = channel.expect("the closed channel's slot never came back");
        channel.exec(true, "echo a-slot-came-back").await.unwrap();
        let mut out = Vec::new();
        while let Some(msg) = channel.wait().await {
            if let russh::ChannelMsg::Data { data } = msg {
                out.extend_from_slice(&data);
            }
        }
        assert_eq!(String::from_utf8_lossy(&out).trim(), "a-slot-came-back");
    });
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

/// A terminal on a target running `cat` under a pty, whose line discipline echoes each key.
struct EchoTerminal {
    channel: russh::Channel<russh::client::Msg>,
}

impl EchoTerminal {
    async fn open(ssh: &russh::client::Handle<AnyHostKey>) -> EchoTerminal {
        let channel = ssh.channel_open_session().await.unwrap();
        channel
            .request_pty(true, "xterm", 80, 24, 0, 0, &[])
            .await
            .unwrap();
        channel.exec(true, "cat").await.unwrap();
        let mut term = EchoTerminal { channel };
        // Keys typed before `cat` runs are echoed all the same (the pty exists): wait for
        // the first echo.
        term.keystrokes(1, None).await;
        term
    }

    /// Echo times of up to `n` keystrokes, one at a time, until `stop` turns true.
    async fn keystrokes(
        &mut self,
        n: usize,
        stop: Option<&std::sync::atomic::AtomicBool>,
    ) -> Vec<Duration> {
        let mut times = Vec::new();
        for _ in 0..n {
            if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst)) {
                break;
            }
            let t = Instant::now();
            self.channel.data(&b"k"[..]).await.unwrap();
            loop {
                match tokio::time::timeout(SHORT, self.channel.wait()).await {
                    Ok(Some(russh::ChannelMsg::Data { data })) if data.contains(&b'k') => break,
                    Ok(Some(_)) => {}
                    other => panic!("no echo of a keystroke within {SHORT:?}: {other:?}"),
                }
            }
            times.push(t.elapsed());
        }
        times
    }
}

/// The `q` quantile of `times`, in milliseconds.
fn percentile_ms(times: &[Duration], q: f64) -> f64 {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let i = ((ms.len() as f64 - 1.0) * q).round() as usize;
    ms.get(i).copied().unwrap_or(f64::NAN)
}
