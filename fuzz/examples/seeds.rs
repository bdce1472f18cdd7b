//! Writes the recording seeds of the committed corpus (`fuzz/corpus/recording_file/` and
//! `fuzz/corpus/recording_events/`) with the real writer: an interactive shell session, an
//! exec session whose scp is refused, one cut short by a crash, one with no chunks.
//!
//! `cargo run --release --manifest-path fuzz/Cargo.toml --example seeds` from the repository
//! root; the output is deterministic (Ed25519 signatures are), so a rerun changes nothing
//! unless the format did.

use std::path::Path;

use menwei_fuzz::{key, meta};
use recordings::{Event, Side, Writer};

fn shell_session() -> Vec<Vec<(u64, Event)>> {
    let data = |channel, bytes: &[u8]| Event::Output {
        channel,
        data: bytes.to_vec(),
    };
    let input = |bytes: &[u8]| Event::Input {
        channel: 0,
        data: bytes.to_vec(),
    };
    vec![
        vec![
            (
                1_000,
                Event::ChannelOpen {
                    channel: 0,
                    kind: "session".into(),
                },
            ),
            (
                1_200,
                Event::Pty {
                    channel: 0,
                    term: "xterm-256color".into(),
                    cols: 120,
                    rows: 40,
                    modes: vec![(53, 1), (128, 38400), (129, 38400)],
                },
            ),
            (
                1_300,
                Event::Env {
                    channel: 0,
                    name: "LANG".into(),
                    value: b"zh_CN.UTF-8".to_vec(),
                },
            ),
            (1_400, Event::Shell { channel: 0 }),
            (
                90_000,
                data(0, b"Linux web01 6.1.0-13-amd64\r\n\x1b[01;32mops@web01\x1b[00m:~$ "),
            ),
        ],
        vec![
            (1_500_000, input(b"d")),
            (1_500_100, data(0, b"d")),
            (1_600_000, input(b"f -h\r")),
            (1_600_100, data(0, b"f -h\r\n")),
            (
                1_650_000,
                data(
                    0,
                    b"Filesystem      Size  Used Avail Use% Mounted on\r\n/dev/sda1        20G   19G  1.0G  95% /\r\n",
                ),
            ),
            (1_650_100, data(0, b"ops@web01:~$ ")),
            (
                2_000_000,
                Event::Resize {
                    channel: 0,
                    cols: 160,
                    rows: 48,
                },
            ),
            (2_100_000, input(b"sudo -k; sudo true\r")),
            (2_100_100, data(0, b"sudo -k; sudo true\r\n[sudo] password for ops: ")),
            (2_900_000, input(b"s3cret\r")),
            (2_900_100, data(0, b"\r\nops@web01:~$ ")),
            (3_000_000, input(b"\x1b[A\x7f\x7f\x1b[D\x03")),
            (
                3_000_100,
                Event::Stderr {
                    channel: 0,
                    data: b"\xff\xfe not utf-8 \xe4\xb8".to_vec(),
                },
            ),
            (
                3_100_000,
                Event::Marker {
                    text: "grant g-1a2b3c4d ends in 10 minutes".into(),
                },
            ),
        ],
        vec![
            (
                3_200_000,
                Event::ChannelOpen {
                    channel: 1,
                    kind: "session".into(),
                },
            ),
            (
                3_200_100,
                Event::Subsystem {
                    channel: 1,
                    name: "sftp".into(),
                },
            ),
            (
                3_200_200,
                Event::Refused {
                    channel: Some(1),
                    what: "subsystem sftp".into(),
                    reason: "file transfer is not allowed".into(),
                },
            ),
            (
                3_300_000,
                Event::Refused {
                    channel: None,
                    what: "tcpip-forward".into(),
                    reason: "port forwarding is not allowed".into(),
                },
            ),
            (
                3_400_000,
                Event::Signal {
                    channel: 0,
                    name: "INT".into(),
                },
            ),
            (3_500_000, input(b"exit\r")),
            (3_500_100, data(0, b"exit\r\nlogout\r\n")),
            (
                3_500_200,
                Event::ExitStatus {
                    channel: 0,
                    code: 0,
                },
            ),
            (
                3_500_300,
                Event::Eof {
                    channel: 0,
                    from: Side::Target,
                },
            ),
            (
                3_500_400,
                Event::ChannelClose {
                    channel: 0,
                    from: Side::Target,
                },
            ),
        ],
    ]
}

fn exec_session() -> Vec<Vec<(u64, Event)>> {
    vec![vec![
        (
            500,
            Event::ChannelOpen {
                channel: 0,
                kind: "session".into(),
            },
        ),
        (
            600,
            Event::Exec {
                channel: 0,
                command: b"scp -t /tmp/upload.tar".to_vec(),
            },
        ),
        (
            700,
            Event::Upload {
                channel: 0,
                path: b"/tmp/upload.tar".to_vec(),
                size: 10_240,
                sha256: [0xab; 32],
            },
        ),
        (
            800,
            Event::Input {
                channel: 0,
                data: b"\0".to_vec(),
            },
        ),
        (
            900,
            Event::Eof {
                channel: 0,
                from: Side::Engineer,
            },
        ),
        (
            1_000,
            Event::ExitSignal {
                channel: 0,
                signal: "TERM".into(),
                core_dumped: false,
                message: "terminated".into(),
            },
        ),
        (
            1_100,
            Event::ExitStatus {
                channel: 0,
                code: 143,
            },
        ),
    ]]
}

/// A recording of `chunks`, sealed or not; also each chunk's event bytes.
fn record(chunks: &[Vec<(u64, Event)>], seal: Option<&str>) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut w = Writer::new(Vec::new(), meta(), &key()).expect("writing to a Vec works");
    let mut events = Vec::new();
    for chunk in chunks {
        let before = w.get_ref().len();
        for (at, event) in chunk {
            w.push(*at, event.clone()).expect("writing to a Vec works");
        }
        w.flush_chunk().expect("writing to a Vec works");
        // Record header (21 bytes) and the chunk's prev, hash, sig (128 bytes), then events.
        events.push(w.get_ref()[before + 21 + 128..].to_vec());
    }
    let bytes = match seal {
        Some(reason) => w.seal(3_600_000, reason).expect("writing to a Vec works"),
        None => w.get_ref().clone(),
    };
    (bytes, events)
}

fn save(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("corpus file");
}

fn main() {
    let files = Path::new("fuzz/corpus/recording_file");
    let events = Path::new("fuzz/corpus/recording_events");

    let (shell, shell_chunks) = record(&shell_session(), Some("client closed"));
    save(files, "shell-sealed", &shell);
    // A gateway killed mid-write: the last record is cut off.
    let (unsealed, _) = record(&shell_session(), None);
    save(files, "shell-cut-short", &unsealed[..unsealed.len() - 40]);
    let (exec, exec_chunks) = record(&exec_session(), Some("grant expired"));
    save(files, "exec-sealed", &exec);
    let (empty, _) = record(&[], Some("client closed"));
    save(files, "no-chunks-sealed", &empty);

    // recording_events: a flag byte (1: sealed), then one chunk's event bytes.
    for (n, chunk) in shell_chunks.iter().enumerate() {
        save(
            events,
            &format!("shell-chunk-{n}"),
            &[&[1u8][..], chunk].concat(),
        );
    }
    save(
        events,
        "exec-chunk",
        &[&[0u8][..], &exec_chunks[0]].concat(),
    );
}
