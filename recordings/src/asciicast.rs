//! Export of a recording's terminal as asciicast v2, for asciinema and its web player.
//!
//! One channel is exported: the interactive one (the first with a pty or shell request, else
//! the first with output). Output and stderr become `"o"` events; input becomes `"i"` only
//! when asked, since keystrokes include passwords. Resizes become `"r"` events, markers and
//! refusals `"m"` events (asciinema 2.2 `play` reads only `"o"` and skips the rest). Bytes
//! that are not UTF-8 are replaced with U+FFFD, with sequences split across packets joined
//! first, so the output is always valid JSON. This is a lossy view: the recording itself
//! keeps the raw bytes.

use crate::event::Event;
use crate::reader::Recording;

/// Options for [`to_asciicast`].
#[derive(Clone, Debug, Default)]
pub struct AsciicastOptions {
    /// Include the engineer's keystrokes as `"i"` events. Off by default: keystrokes include
    /// passwords typed at prompts that do not echo.
    pub include_input: bool,
    /// With `include_input`: show typed secrets (input the terminal did not echo) as typed
    /// instead of `••••`. The caller audits it.
    pub unmask: bool,
    /// Export this channel instead of the interactive one.
    pub channel: Option<u32>,
    /// Title; default `<engineer> on <target> (<session id>)`.
    pub title: Option<String>,
}

/// Renders the recording as an asciicast v2 file (header line, then one event per line).
pub fn to_asciicast(rec: &Recording, opts: &AsciicastOptions) -> String {
    let redacted;
    let events = if opts.include_input && !opts.unmask {
        redacted = crate::mask::redact(rec.events());
        &redacted
    } else {
        rec.events()
    };
    let channel = opts.channel.or_else(|| interactive_channel(events));
    let pty = events.iter().find_map(|(_, e)| match e {
        Event::Pty {
            channel: c,
            term,
            cols,
            rows,
            ..
        } if Some(*c) == channel => Some((term.as_str(), *cols, *rows)),
        _ => None,
    });
    let (width, height) = match pty {
        Some((_, cols, rows)) if cols > 0 && rows > 0 => (cols, rows),
        _ => (80, 24),
    };
    let meta = rec.meta();
    let title = opts
        .title
        .clone()
        .unwrap_or_else(|| format!("{} on {} ({})", meta.engineer, meta.target, meta.session_id));

    let mut out = String::with_capacity(256 + events.len() * 32);
    out.push_str(&format!(
        "{{\"version\":2,\"width\":{width},\"height\":{height},\"timestamp\":{},\"title\":",
        meta.started_at_ms.div_euclid(1000)
    ));
    push_json_string(&mut out, &title);
    if let Some((term, _, _)) = pty {
        out.push_str(",\"env\":{\"TERM\":");
        push_json_string(&mut out, term);
        out.push('}');
    }
    out.push_str("}\n");

    let mut stdout = Utf8Carry::default();
    let mut stderr = Utf8Carry::default();
    let mut stdin = Utf8Carry::default();
    let mut last = 0u64;
    for (at, event) in events {
        // Times must not go backwards in a cast.
        last = last.max(*at);
        let on_channel = event.channel() == channel && channel.is_some();
        match event {
            Event::Output { data, .. } if on_channel => {
                push_event(&mut out, last, "o", &stdout.feed(data));
            }
            Event::Stderr { data, .. } if on_channel => {
                push_event(&mut out, last, "o", &stderr.feed(data));
            }
            Event::Input { data, .. } if on_channel && opts.include_input => {
                push_event(&mut out, last, "i", &stdin.feed(data));
            }
            Event::Resize { cols, rows, .. } if on_channel => {
                push_event(&mut out, last, "r", &format!("{cols}x{rows}"));
            }
            // Markers belong to the whole connection, refusals are shown wherever they came.
            Event::Marker { text } => push_event(&mut out, last, "m", text),
            Event::Refused { what, reason, .. } => {
                push_event(&mut out, last, "m", &format!("refused: {what}: {reason}"));
            }
            // Other channels' data, and input unless asked for.
            Event::Output { .. } | Event::Stderr { .. } | Event::Input { .. } => {}
            // Channel bookkeeping has no place on a terminal screen; masked input is
            // already redacted above.
            Event::Masked { .. }
            | Event::ChannelOpen { .. }
            | Event::Pty { .. }
            | Event::Env { .. }
            | Event::Shell { .. }
            | Event::Exec { .. }
            | Event::Subsystem { .. }
            | Event::Resize { .. }
            | Event::Signal { .. }
            | Event::Upload { .. }
            | Event::Eof { .. }
            | Event::ExitStatus { .. }
            | Event::ExitSignal { .. }
            | Event::ChannelClose { .. } => {}
        }
    }
    for (carry, kind) in [(&mut stdout, "o"), (&mut stderr, "o")] {
        if let Some(rest) = carry.finish() {
            push_event(&mut out, last, kind, &rest);
        }
    }
    if opts.include_input {
        if let Some(rest) = stdin.finish() {
            push_event(&mut out, last, "i", &rest);
        }
    }
    out
}

/// The first channel with a pty or shell request, else the first with output: the one a
/// player shows.
pub fn interactive_channel(events: &[(u64, Event)]) -> Option<u32> {
    let first = |want: fn(&Event) -> bool| {
        events
            .iter()
            .find(|(_, e)| want(e))
            .and_then(|(_, e)| e.channel())
    };
    first(|e| matches!(e, Event::Pty { .. } | Event::Shell { .. }))
        .or_else(|| first(|e| matches!(e, Event::Output { .. } | Event::Stderr { .. })))
}

fn push_event(out: &mut String, at_micros: u64, kind: &str, data: &str) {
    if data.is_empty() {
        return;
    }
    out.push_str(&format!(
        "[{}.{:06}, \"{kind}\", ",
        at_micros / 1_000_000,
        at_micros % 1_000_000
    ));
    push_json_string(out, data);
    out.push_str("]\n");
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        // Escapes are ASCII, so `start` and `i` are char boundaries.
        out.push_str(s.get(start..i).unwrap_or_default());
        if escaped.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Decodes one byte stream as UTF-8 across packets: an incomplete sequence at the end of a
/// packet waits for the next one; invalid bytes become U+FFFD. The result over all packets
/// equals `String::from_utf8_lossy` of their concatenation.
#[derive(Default)]
struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    fn feed(&mut self, data: &[u8]) -> String {
        let joined: Vec<u8>;
        let mut input = if self.pending.is_empty() {
            data
        } else {
            self.pending.extend_from_slice(data);
            joined = std::mem::take(&mut self.pending);
            &joined
        };
        let mut out = String::with_capacity(input.len());
        loop {
            match std::str::from_utf8(input) {
                Ok(s) => {
                    out.push_str(s);
                    return out;
                }
                Err(e) => {
                    let valid = input.get(..e.valid_up_to()).unwrap_or_default();
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    let rest = input.get(e.valid_up_to()..).unwrap_or_default();
                    match e.error_len() {
                        None => {
                            self.pending = rest.to_vec();
                            return out;
                        }
                        Some(len) => {
                            out.push('\u{fffd}');
                            input = rest.get(len..).unwrap_or_default();
                        }
                    }
                }
            }
        }
    }

    /// What is left at the end of the stream: an incomplete sequence, as U+FFFD.
    fn finish(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            None
        } else {
            self.pending.clear();
            Some("\u{fffd}".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Stream;
    use crate::testutil::{data_key, key, meta, sample};
    use crate::writer::Writer;
    use proptest::prelude::*;

    fn lines(cast: &str) -> Vec<serde_json::Value> {
        cast.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn data_of(lines: &[serde_json::Value], kind: &str) -> String {
        lines[1..]
            .iter()
            .filter(|l| l[1] == kind)
            .map(|l| l[2].as_str().unwrap().to_owned())
            .collect()
    }

    /// A recording with the given output packets on channel 0 (which has a pty).
    fn recording(packets: &[Vec<u8>]) -> Recording {
        let mut w = Writer::new(Vec::new(), meta(), &key()).unwrap();
        w.push(
            0,
            Event::Pty {
                channel: 0,
                term: "xterm".into(),
                cols: 132,
                rows: 43,
                modes: vec![],
            },
        )
        .unwrap();
        w.push_data(1, Stream::Output, 1, b"other channel").unwrap();
        for (i, p) in packets.iter().enumerate() {
            w.push_data(10 + i as u64, Stream::Output, 0, p).unwrap();
            w.push_data(10 + i as u64, Stream::Input, 0, b"secret")
                .unwrap();
        }
        Recording::parse(&w.seal(1_000_000, "client closed").unwrap(), None).unwrap()
    }

    proptest! {
        #[test]
        fn utf8_output_survives_exactly_however_it_is_split(
            text in ".{0,200}",
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let bytes = text.as_bytes();
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            at.push(0);
            at.push(bytes.len());
            at.sort_unstable();
            let packets: Vec<Vec<u8>> = at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect();
            let lines = lines(&to_asciicast(&recording(&packets), &AsciicastOptions::default()));
            prop_assert_eq!(data_of(&lines, "o"), text);
        }

        #[test]
        fn any_bytes_give_valid_json_equal_to_lossy_decoding(
            packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..10),
        ) {
            let cast = to_asciicast(&recording(&packets), &AsciicastOptions::default());
            let lines = lines(&cast);
            let all: Vec<u8> = packets.concat();
            prop_assert_eq!(data_of(&lines, "o"), String::from_utf8_lossy(&all).into_owned());
        }
    }

    #[test]
    fn header_takes_size_and_term_from_the_pty_and_input_is_left_out() {
        let cast = to_asciicast(&recording(&[b"hi".to_vec()]), &AsciicastOptions::default());
        let lines = lines(&cast);
        assert_eq!(
            lines[0],
            serde_json::json!({
                "version": 2, "width": 132, "height": 43, "timestamp": 1_700_000_000,
                "title": "alice on web01 (s-1a2b)", "env": {"TERM": "xterm"}
            })
        );
        assert_eq!(lines[1], serde_json::json!([0.00001, "o", "hi"]));
        assert!(!cast.contains("secret"));
        assert!(!cast.contains("other channel"));
    }

    #[test]
    fn input_is_included_when_asked_with_typed_secrets_masked_unless_unmasked() {
        let mut opts = AsciicastOptions {
            include_input: true,
            ..AsciicastOptions::default()
        };
        // "secret" is typed and never echoed back.
        let lines_of =
            |opts: &AsciicastOptions| lines(&to_asciicast(&recording(&[b"hi".to_vec()]), opts));
        assert_eq!(data_of(&lines_of(&opts), "i"), "••••");
        opts.unmask = true;
        assert_eq!(data_of(&lines_of(&opts), "i"), "secret");
    }

    #[test]
    fn without_pty_the_first_channel_with_output_is_exported_at_80x24() {
        let mut w = Writer::new(Vec::new(), meta(), &key()).unwrap();
        w.push(
            0,
            Event::Exec {
                channel: 5,
                command: b"uptime".to_vec(),
            },
        )
        .unwrap();
        w.push_data(1, Stream::Stderr, 5, b"up 3 days\n").unwrap();
        let rec = Recording::parse(&w.seal(2, "exit").unwrap(), None).unwrap();
        let lines = lines(&to_asciicast(&rec, &AsciicastOptions::default()));
        assert_eq!(
            (lines[0]["width"].clone(), lines[0]["height"].clone()),
            (80.into(), 24.into())
        );
        assert_eq!(data_of(&lines, "o"), "up 3 days\n");
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\n\r\t\u{1b}[0m\u{7f}\u{4e2d}");
        assert_eq!(out, r#""a\"b\\c\n\r\t\u001b[0m\u007f中""#);
    }

    #[test]
    fn asciinema_plays_the_export() {
        // Installed by scripts/setup; a missing player fails the test rather than skipping it.
        assert!(
            std::path::Path::new("/usr/bin/asciinema").exists(),
            "/usr/bin/asciinema is not installed: run scripts/setup (Debian package asciinema)"
        );
        let rec = Recording::parse(&sample(true).bytes, Some(&data_key())).unwrap();
        let cast = to_asciicast(&rec, &AsciicastOptions::default());
        assert!(cast.contains("\"r\", \"100x30\""), "{cast}");
        assert!(
            cast.contains("\"m\", \"grant ends in 5 minutes\""),
            "{cast}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s-1a2b.cast");
        std::fs::write(&path, &cast).unwrap();
        let out = std::process::Command::new("timeout")
            .args(["20", "/usr/bin/asciinema", "play", "-s", "100"])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "asciinema play failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(shown.contains("Welcome to web01"), "{shown}");
        assert!(shown.contains("not utf-8"), "{shown}");
    }
}
