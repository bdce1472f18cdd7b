//! Fixtures for the unit tests: a fixed key, metadata, and a small recording whose chunk
//! boundaries are known.

use ed25519_dalek::SigningKey;

use crate::event::{Event, Side};
use crate::meta::Meta;
use crate::payload::DataKey;
use crate::writer::Writer;

pub(crate) fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

pub(crate) fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[8; 32])
}

/// `len` bytes that do not compress (xorshift from `seed`).
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// The data key of [`sample`]'s chunks.
pub(crate) fn data_key() -> DataKey {
    DataKey::from_bytes([9; 32])
}

pub(crate) fn meta() -> Meta {
    Meta {
        session_id: "s-1a2b".into(),
        engineer: "alice".into(),
        target: "web01".into(),
        grant_id: "g-42".into(),
        started_at_ms: 1_700_000_000_123,
        node: "gw-a".into(),
        key: None,
    }
}

/// A small encrypted recording: header, 4 chunks (each over 100 bytes), optionally a seal.
pub(crate) struct Sample {
    pub bytes: Vec<u8>,
    pub header_len: usize,
    /// Offset just past each chunk.
    pub chunk_ends: Vec<usize>,
    pub events_per_chunk: Vec<usize>,
}

pub(crate) fn sample(sealed: bool) -> Sample {
    let mut w =
        Writer::encrypted(Vec::new(), meta(), &key(), &data_key(), "wrapped".into()).unwrap();
    let header_len = w.get_ref().len();
    let mut chunk_ends = Vec::new();
    let mut events_per_chunk = Vec::new();
    let chunks: Vec<Vec<(u64, Event)>> = vec![
        vec![
            (
                10,
                Event::ChannelOpen {
                    channel: 0,
                    kind: "session".into(),
                },
            ),
            (
                20,
                Event::Pty {
                    channel: 0,
                    term: "xterm-256color".into(),
                    cols: 120,
                    rows: 40,
                    modes: vec![(53, 1)],
                },
            ),
            (30, Event::Shell { channel: 0 }),
            (
                40,
                Event::Output {
                    channel: 0,
                    data: b"Welcome to web01\r\n$ ".repeat(12),
                },
            ),
        ],
        vec![
            (
                1_000_000,
                Event::Input {
                    channel: 0,
                    data: b"ls -l\r".to_vec(),
                },
            ),
            (
                1_100_000,
                Event::Output {
                    channel: 0,
                    data: "total 0 \u{4e2d}\u{6587}\r\n".repeat(20).into_bytes(),
                },
            ),
            (
                1_200_000,
                Event::Refused {
                    channel: None,
                    what: "direct-tcpip to port 5432".into(),
                    reason: "port forwarding is not allowed".into(),
                },
            ),
        ],
        vec![
            (
                2_000_000,
                Event::Resize {
                    channel: 0,
                    cols: 100,
                    rows: 30,
                },
            ),
            (
                2_100_000,
                Event::Stderr {
                    channel: 0,
                    data: b"warning: \xff\xfe not utf-8\r\n".repeat(10),
                },
            ),
            (
                2_200_000,
                Event::Marker {
                    text: "grant ends in 5 minutes".into(),
                },
            ),
        ],
        vec![
            (
                3_000_000,
                Event::Output {
                    channel: 0,
                    data: b"logout\r\n".repeat(30),
                },
            ),
            (
                3_100_000,
                Event::Eof {
                    channel: 0,
                    from: Side::Engineer,
                },
            ),
            (
                3_200_000,
                Event::ExitStatus {
                    channel: 0,
                    code: 0,
                },
            ),
            (
                3_300_000,
                Event::ChannelClose {
                    channel: 0,
                    from: Side::Target,
                },
            ),
        ],
    ];
    for chunk in chunks {
        events_per_chunk.push(chunk.len());
        for (at, event) in chunk {
            w.push(at, event).unwrap();
        }
        w.flush_chunk().unwrap();
        chunk_ends.push(w.get_ref().len());
    }
    let bytes = if sealed {
        w.seal(9_000_000, "client closed").unwrap()
    } else {
        w.get_ref().clone()
    };
    for pair in chunk_ends.windows(2) {
        assert!(
            pair[1] - pair[0] > 100,
            "fixture chunks must be over 100 bytes"
        );
    }
    Sample {
        bytes,
        header_len,
        chunk_ends,
        events_per_chunk,
    }
}

/// Keys typed on channel 0 at `at`.
pub(crate) fn input(at: u64, s: &[u8]) -> (u64, Event) {
    let data = s.to_vec();
    (at, Event::Input { channel: 0, data })
}

/// Output of channel 0 at `at`.
pub(crate) fn output(at: u64, s: &[u8]) -> (u64, Event) {
    let data = s.to_vec();
    (at, Event::Output { channel: 0, data })
}

/// A pty request on channel 0 at the start.
pub(crate) fn pty() -> (u64, Event) {
    let (term, modes) = ("xterm".to_string(), Vec::new());
    let (cols, rows) = (80, 24);
    (
        0,
        Event::Pty {
            channel: 0,
            term,
            cols,
            rows,
            modes,
        },
    )
}
