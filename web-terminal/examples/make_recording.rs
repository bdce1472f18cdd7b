//! Writes a `.mwrec` recording for the browser tests and the replay benchmark.
//!
//! `cargo run -p web-terminal --example make_recording -- small OUT` writes a 40-second
//! interactive session with known text (the player test asserts on it);
//! `… -- hour OUT [BYTES_PER_SECOND]` writes one hour of busy output (coloured log lines
//! every 100 ms, a full-screen `top`-like redraw every minute, a marker every ten minutes;
//! 10 000 bytes/s by default, 36 MB in all), flushed in one-second chunks like the gateway.
//!
//! Recordings are encrypted as the gateway writes them, under the fixed test data key
//! [`TEST_DATA_KEY`]; its hex goes to `OUT.key`, which the tests' server sends in the
//! `X-Menwei-Recording-Key` header as the gateway's API does.

use std::io::BufWriter;

use ed25519_dalek::SigningKey;
use recordings::{DataKey, Event, Meta, Side, Stream, Writer};

/// The data key of the recordings made here (a test key: never one a gateway makes).
const TEST_DATA_KEY: [u8; 32] = [9; 32];

type W = Writer<BufWriter<std::fs::File>>;

fn writer(path: &str, session: &str) -> Result<W, Box<dyn std::error::Error>> {
    let file = BufWriter::new(std::fs::File::create(path)?);
    let meta = Meta {
        session_id: session.into(),
        engineer: "alice".into(),
        target: "web01".into(),
        grant_id: "g-1".into(),
        started_at_ms: 1_767_225_600_000,
        node: "gw-a".into(),
        key: None,
    };
    let hex: String = TEST_DATA_KEY.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(format!("{path}.key"), hex)?;
    Ok(Writer::encrypted(
        file,
        meta,
        &SigningKey::from_bytes(&[7; 32]),
        &DataKey::from_bytes(TEST_DATA_KEY),
        "test key, not wrapped".into(),
    )?)
}

fn open_shell(w: &mut W, cols: u32, rows: u32) -> Result<(), Box<dyn std::error::Error>> {
    w.push(
        0,
        Event::ChannelOpen {
            channel: 0,
            kind: "session".into(),
        },
    )?;
    w.push(
        1,
        Event::Pty {
            channel: 0,
            term: "xterm-256color".into(),
            cols,
            rows,
            modes: vec![(53, 1)],
        },
    )?;
    w.push(2, Event::Shell { channel: 0 })?;
    Ok(())
}

fn close(w: W, at: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut w = w;
    w.push(
        at,
        Event::ExitStatus {
            channel: 0,
            code: 0,
        },
    )?;
    w.push(
        at,
        Event::ChannelClose {
            channel: 0,
            from: Side::Target,
        },
    )?;
    w.seal(at, "client closed")?;
    Ok(())
}

/// Types `cmd` key by key with echo, then prints `output` and a prompt.
fn command(
    w: &mut W,
    at: &mut u64,
    cmd: &str,
    output: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    for c in cmd.bytes() {
        w.push_data(*at, Stream::Input, 0, &[c])?;
        w.push_data(*at + 5_000, Stream::Output, 0, &[c])?;
        *at += 60_000;
    }
    w.push_data(*at, Stream::Input, 0, b"\r")?;
    *at += 5_000;
    w.push_data(*at, Stream::Output, 0, b"\r\n")?;
    *at += 50_000;
    w.push_data(*at, Stream::Output, 0, output.as_bytes())?;
    w.push_data(
        *at,
        Stream::Output,
        0,
        b"\x1b[01;32malice@web01\x1b[00m:~$ ",
    )?;
    w.flush_chunk()?;
    Ok(())
}

fn small(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut w = writer(path, "s-small")?;
    open_shell(&mut w, 100, 30)?;
    w.push_data(
        100_000,
        Stream::Output,
        0,
        b"Welcome to web01\r\n\x1b[01;32malice@web01\x1b[00m:~$ ",
    )?;
    let mut at = 1_000_000;
    command(&mut w, &mut at, "echo hello-replay", "hello-replay\r\n")?;
    w.push(
        2_500_000,
        Event::Marker {
            text: "grant ends in 5 minutes".into(),
        },
    )?;
    at = 3_000_000;
    let lines: String = (1..=200).map(|i| format!("line-{i}\r\n")).collect();
    command(&mut w, &mut at, "seq -f line-%g 1 200", &lines)?;
    // 20 seconds of nothing, then the last command.
    at = 30_000_000;
    command(&mut w, &mut at, "uname -a", "Linux web01 FINAL-SCREEN\r\n")?;
    close(w, 40_000_000)
}

/// A small deterministic generator (no dependency, same file every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn hour(path: &str, per_second: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut w = writer(path, "s-hour")?;
    open_shell(&mut w, 120, 40)?;
    let mut rng = Lcg(42);
    let per_tick = per_second / 10;
    let levels = [
        "\x1b[32mINFO\x1b[0m",
        "\x1b[33mWARN\x1b[0m",
        "\x1b[31mERROR\x1b[0m",
    ];
    for tick in 0..36_000u64 {
        let at = tick * 100_000 + 10;
        let second = tick / 10;
        if tick % 600 == 0 {
            // A full-screen redraw, like `top`.
            let mut screen = String::from("\x1b[H\x1b[2J");
            screen.push_str(&format!(
                "\x1b[7mtop - {:02}:{:02}:{:02} up 12 days, load average: 0.{}\x1b[0m\r\n",
                second / 3600,
                second / 60 % 60,
                second % 60,
                rng.next() % 100
            ));
            for row in 0..38 {
                screen.push_str(&format!(
                    "\x1b[{};1H{:>7} root      20   0 {:>8} {:>6} S {:>4}.{} java-worker-{row}",
                    row + 2,
                    1000 + row,
                    rng.next() % 10_000_000,
                    rng.next() % 100_000,
                    rng.next() % 100,
                    rng.next() % 10
                ));
            }
            screen.push_str("\x1b[40;1H\r\n");
            w.push_data(at, Stream::Output, 0, screen.as_bytes())?;
        }
        let mut out = String::with_capacity(per_tick + 200);
        while out.len() < per_tick {
            let level = levels
                .get((rng.next() % 10).saturating_sub(7) as usize)
                .copied()
                .unwrap_or("INFO");
            out.push_str(&format!(
                "2026-01-01T{:02}:{:02}:{:02}.{:03}Z {level} worker-{} request id={:08x} path=/api/v2/orders/{} took {}ms\r\n",
                second / 3600,
                second / 60 % 60,
                second % 60,
                tick % 10 * 100,
                rng.next() % 16,
                rng.next(),
                rng.next() % 100_000,
                rng.next() % 900
            ));
        }
        w.push_data(at, Stream::Output, 0, out.as_bytes())?;
        if tick % 6000 == 3000 {
            w.push(
                at,
                Event::Marker {
                    text: format!("checkpoint at minute {}", second / 60),
                },
            )?;
        }
        if tick % 10 == 9 {
            w.flush_chunk()?;
        }
    }
    w.push_data(3_600_000_000, Stream::Output, 0, b"\r\nHOUR-END\r\n")?;
    close(w, 3_600_000_100)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [kind, path] if kind == "small" => small(path),
        [kind, path] if kind == "hour" => hour(path, 10_000),
        [kind, path, rate] if kind == "hour" => hour(path, rate.parse()?),
        _ => Err("usage: make_recording small OUT | hour OUT [BYTES_PER_SECOND]".into()),
    }
}
