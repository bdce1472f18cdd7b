//! Bulk output through the browser terminal's WebSocket: a page that stops reading does not
//! make the gateway buffer without bound, the same bound as for an SSH client that stops
//! reading (`streams.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use menwei_e2e::*;

/// How long the page stays stalled: the target writes about 8 MB/s through the PTY and
/// the recording, so a gateway that queued it without bound would pass
/// [`STALLED_READER_GROWTH_KIB`] well before.
const STALL: Duration = Duration::from_secs(15);

both_databases! {
    fn browser_that_stops_reading_does_not_grow_gateway_memory(db) {
        let w = World::new(db);
        let cookie = w.gw.web_cookie("alice", WEB_PASSWORD);
        let before = rss_kib(w.gw.pid());

        let mut ws = RawWebSocket::open(&w.gw, "/api/v1/terminal?target=web01&cols=80&rows=24&lang=en", &cookie)
            .unwrap_or_else(|answer| panic!("the terminal socket did not open:\n{answer}"));
        // The target prints without end, and the first MiB of it arrives: the session is
        // open and data flows...
        ws.send_binary(b"yes\r");
        let mut received = Vec::new();
        let mut binary = 0usize;
        while binary < 1024 * 1024 {
            let f = ws.read_frame();
            assert!(matches!(f.opcode, 1 | 2), "unexpected frame {} {:?}", f.opcode, String::from_utf8_lossy(&f.data));
            if f.opcode == 2 {
                binary += f.data.len();
                if received.len() < 64 * 1024 {
                    received.extend_from_slice(&f.data);
                }
            }
        }
        assert!(contains(&received, b"y\r\ny\r\ny\r\n"), "not yes's output: {:?}", String::from_utf8_lossy(&received));
        // ...then the page stops reading and the target keeps writing as fast as it can.
        w.assert_bounded_behind_stalled_reader(before, STALL, "a page that stopped reading");

        // The session was held back, not dropped: reading again, the output flows on.
        let mut more = Vec::new();
        while more.len() < 256 * 1024 {
            let f = ws.read_frame();
            assert_eq!(f.opcode, 2, "after the stall: frame {} {:?}", f.opcode, String::from_utf8_lossy(&f.data));
            more.extend_from_slice(&f.data);
        }
        assert!(contains(&more, b"y\r\ny\r\n"), "after the stall: {:?}", String::from_utf8_lossy(&more[..200]));
    }
}
