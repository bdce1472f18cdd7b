//! Event bytes: how [`Event`]s are laid out inside a chunk.
//!
//! `event = kind u8 | at_micros varint | fields`. Integers are LEB128 varints, byte strings
//! and text are a varint length followed by the raw bytes (text must be UTF-8). This file
//! does not know about chunks, hashes or signatures (`format.rs` does).

use crate::event::{Event, Side, Stream};

const CHANNEL_OPEN: u8 = 1;
const PTY: u8 = 2;
const ENV: u8 = 3;
const SHELL: u8 = 4;
const EXEC: u8 = 5;
const SUBSYSTEM: u8 = 6;
const INPUT: u8 = 7;
const OUTPUT: u8 = 8;
const STDERR: u8 = 9;
const RESIZE: u8 = 10;
const SIGNAL: u8 = 11;
const UPLOAD: u8 = 12;
const EOF: u8 = 13;
const EXIT_STATUS: u8 = 14;
const EXIT_SIGNAL: u8 = 15;
const CHANNEL_CLOSE: u8 = 16;
const REFUSED: u8 = 17;
const MARKER: u8 = 18;
const MASKED: u8 = 19;

/// Appends `value` as a LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        // Truncation to the low 7 bits is the point of the encoding.
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_side(out: &mut Vec<u8>, side: Side) {
    out.push(match side {
        Side::Engineer => 0,
        Side::Target => 1,
    });
}

fn start(out: &mut Vec<u8>, kind: u8, at_micros: u64, channel: u32) {
    out.push(kind);
    put_varint(out, at_micros);
    put_varint(out, u64::from(channel));
}

/// Appends one data event without building an [`Event`] first (the hot path).
pub(crate) fn encode_data(
    out: &mut Vec<u8>,
    at_micros: u64,
    stream: Stream,
    channel: u32,
    data: &[u8],
) {
    encode_data_header(out, at_micros, stream, channel, data.len());
    out.extend_from_slice(data);
}

/// Appends a data event's bytes before its `len` data bytes (kind, time, channel, length),
/// for a writer that seals the data from where it lies.
pub(crate) fn encode_data_header(
    out: &mut Vec<u8>,
    at_micros: u64,
    stream: Stream,
    channel: u32,
    len: usize,
) {
    let kind = match stream {
        Stream::Input => INPUT,
        Stream::Output => OUTPUT,
        Stream::Stderr => STDERR,
    };
    start(out, kind, at_micros, channel);
    put_varint(out, len as u64);
}

/// Appends one event.
pub(crate) fn encode(out: &mut Vec<u8>, at_micros: u64, event: &Event) {
    match event {
        Event::ChannelOpen { channel, kind } => {
            start(out, CHANNEL_OPEN, at_micros, *channel);
            put_bytes(out, kind.as_bytes());
        }
        Event::Pty {
            channel,
            term,
            cols,
            rows,
            modes,
        } => {
            start(out, PTY, at_micros, *channel);
            put_bytes(out, term.as_bytes());
            put_varint(out, u64::from(*cols));
            put_varint(out, u64::from(*rows));
            put_varint(out, modes.len() as u64);
            for (opcode, value) in modes {
                out.push(*opcode);
                put_varint(out, u64::from(*value));
            }
        }
        Event::Env {
            channel,
            name,
            value,
        } => {
            start(out, ENV, at_micros, *channel);
            put_bytes(out, name.as_bytes());
            put_bytes(out, value);
        }
        Event::Shell { channel } => start(out, SHELL, at_micros, *channel),
        Event::Exec { channel, command } => {
            start(out, EXEC, at_micros, *channel);
            put_bytes(out, command);
        }
        Event::Subsystem { channel, name } => {
            start(out, SUBSYSTEM, at_micros, *channel);
            put_bytes(out, name.as_bytes());
        }
        Event::Input { channel, data } => {
            encode_data(out, at_micros, Stream::Input, *channel, data)
        }
        Event::Output { channel, data } => {
            encode_data(out, at_micros, Stream::Output, *channel, data)
        }
        Event::Stderr { channel, data } => {
            encode_data(out, at_micros, Stream::Stderr, *channel, data)
        }
        Event::Resize {
            channel,
            cols,
            rows,
        } => {
            start(out, RESIZE, at_micros, *channel);
            put_varint(out, u64::from(*cols));
            put_varint(out, u64::from(*rows));
        }
        Event::Signal { channel, name } => {
            start(out, SIGNAL, at_micros, *channel);
            put_bytes(out, name.as_bytes());
        }
        Event::Upload {
            channel,
            path,
            size,
            sha256,
        } => {
            start(out, UPLOAD, at_micros, *channel);
            put_bytes(out, path);
            put_varint(out, *size);
            out.extend_from_slice(sha256);
        }
        Event::Eof { channel, from } => {
            start(out, EOF, at_micros, *channel);
            put_side(out, *from);
        }
        Event::ExitStatus { channel, code } => {
            start(out, EXIT_STATUS, at_micros, *channel);
            put_varint(out, u64::from(*code));
        }
        Event::ExitSignal {
            channel,
            signal,
            core_dumped,
            message,
        } => {
            start(out, EXIT_SIGNAL, at_micros, *channel);
            put_bytes(out, signal.as_bytes());
            out.push(u8::from(*core_dumped));
            put_bytes(out, message.as_bytes());
        }
        Event::ChannelClose { channel, from } => {
            start(out, CHANNEL_CLOSE, at_micros, *channel);
            put_side(out, *from);
        }
        Event::Refused {
            channel,
            what,
            reason,
        } => {
            out.push(REFUSED);
            put_varint(out, at_micros);
            match channel {
                Some(channel) => {
                    out.push(1);
                    put_varint(out, u64::from(*channel));
                }
                None => out.push(0),
            }
            put_bytes(out, what.as_bytes());
            put_bytes(out, reason.as_bytes());
        }
        Event::Marker { text } => {
            out.push(MARKER);
            put_varint(out, at_micros);
            put_bytes(out, text.as_bytes());
        }
        Event::Masked { channel, from, to } => {
            start(out, MASKED, at_micros, *channel);
            put_varint(out, *from);
            put_varint(out, *to);
        }
    }
}

/// A decoding problem: what, and the offset inside the decoded buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub at: usize,
    pub what: &'static str,
}

/// Reads events from a chunk's event bytes.
pub(crate) struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes, pos: 0 }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, DecodeError> {
        Err(DecodeError { at: self.pos, what })
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        match self.bytes.get(self.pos) {
            Some(b) => {
                self.pos += 1;
                Ok(*b)
            }
            None => self.fail("event ends early"),
        }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return self.fail("integer too large");
            }
            value |= low << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        self.fail("integer too long")
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let value = self.varint()?;
        match u32::try_from(value) {
            Ok(v) => Ok(v),
            Err(_) => self.fail("number out of range"),
        }
    }

    fn slice(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(len);
        match end.and_then(|end| self.bytes.get(self.pos..end)) {
            Some(s) => {
                self.pos += len;
                Ok(s)
            }
            None => self.fail("length runs past the chunk"),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.varint()?;
        match usize::try_from(len) {
            Ok(len) => Ok(self.slice(len)?.to_vec()),
            Err(_) => self.fail("length runs past the chunk"),
        }
    }

    fn text(&mut self) -> Result<String, DecodeError> {
        let start = self.pos;
        let bytes = self.bytes()?;
        String::from_utf8(bytes).map_err(|_| DecodeError {
            at: start,
            what: "text is not UTF-8",
        })
    }

    fn side(&mut self) -> Result<Side, DecodeError> {
        match self.byte()? {
            0 => Ok(Side::Engineer),
            1 => Ok(Side::Target),
            _ => self.fail("unknown side"),
        }
    }

    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => self.fail("flag is neither 0 nor 1"),
        }
    }

    /// Decodes the next event, `None` at the end of the bytes.
    pub(crate) fn next_event(&mut self) -> Result<Option<(u64, Event)>, DecodeError> {
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let kind_at = self.pos;
        let kind = self.byte()?;
        let at = self.varint()?;
        let event = match kind {
            CHANNEL_OPEN => Event::ChannelOpen {
                channel: self.u32()?,
                kind: self.text()?,
            },
            PTY => {
                let channel = self.u32()?;
                let term = self.text()?;
                let cols = self.u32()?;
                let rows = self.u32()?;
                let count = self.varint()?;
                let mut modes = Vec::new();
                for _ in 0..count {
                    modes.push((self.byte()?, self.u32()?));
                }
                Event::Pty {
                    channel,
                    term,
                    cols,
                    rows,
                    modes,
                }
            }
            ENV => Event::Env {
                channel: self.u32()?,
                name: self.text()?,
                value: self.bytes()?,
            },
            SHELL => Event::Shell {
                channel: self.u32()?,
            },
            EXEC => Event::Exec {
                channel: self.u32()?,
                command: self.bytes()?,
            },
            SUBSYSTEM => Event::Subsystem {
                channel: self.u32()?,
                name: self.text()?,
            },
            INPUT => Event::Input {
                channel: self.u32()?,
                data: self.bytes()?,
            },
            OUTPUT => Event::Output {
                channel: self.u32()?,
                data: self.bytes()?,
            },
            STDERR => Event::Stderr {
                channel: self.u32()?,
                data: self.bytes()?,
            },
            RESIZE => Event::Resize {
                channel: self.u32()?,
                cols: self.u32()?,
                rows: self.u32()?,
            },
            SIGNAL => Event::Signal {
                channel: self.u32()?,
                name: self.text()?,
            },
            UPLOAD => {
                let channel = self.u32()?;
                let path = self.bytes()?;
                let size = self.varint()?;
                let mut sha256 = [0u8; 32];
                sha256.copy_from_slice(self.slice(32)?);
                Event::Upload {
                    channel,
                    path,
                    size,
                    sha256,
                }
            }
            EOF => Event::Eof {
                channel: self.u32()?,
                from: self.side()?,
            },
            EXIT_STATUS => Event::ExitStatus {
                channel: self.u32()?,
                code: self.u32()?,
            },
            EXIT_SIGNAL => Event::ExitSignal {
                channel: self.u32()?,
                signal: self.text()?,
                core_dumped: self.flag()?,
                message: self.text()?,
            },
            CHANNEL_CLOSE => Event::ChannelClose {
                channel: self.u32()?,
                from: self.side()?,
            },
            REFUSED => Event::Refused {
                channel: if self.flag()? {
                    Some(self.u32()?)
                } else {
                    None
                },
                what: self.text()?,
                reason: self.text()?,
            },
            MARKER => Event::Marker { text: self.text()? },
            MASKED => Event::Masked {
                channel: self.u32()?,
                from: self.varint()?,
                to: self.varint()?,
            },
            _ => {
                return Err(DecodeError {
                    at: kind_at,
                    what: "unknown event kind",
                })
            }
        };
        Ok(Some((at, event)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_event() -> impl Strategy<Value = Event> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..300);
        let text = || ".{0,20}";
        let side = || prop_oneof![Just(Side::Engineer), Just(Side::Target)];
        prop_oneof![
            (any::<u32>(), text()).prop_map(|(channel, kind)| Event::ChannelOpen { channel, kind }),
            (
                any::<u32>(),
                text(),
                any::<u32>(),
                any::<u32>(),
                proptest::collection::vec((any::<u8>(), any::<u32>()), 0..5)
            )
                .prop_map(|(channel, term, cols, rows, modes)| Event::Pty {
                    channel,
                    term,
                    cols,
                    rows,
                    modes
                }),
            (any::<u32>(), text(), bytes()).prop_map(|(channel, name, value)| Event::Env {
                channel,
                name,
                value
            }),
            any::<u32>().prop_map(|channel| Event::Shell { channel }),
            (any::<u32>(), bytes()).prop_map(|(channel, command)| Event::Exec { channel, command }),
            (any::<u32>(), text()).prop_map(|(channel, name)| Event::Subsystem { channel, name }),
            (any::<u32>(), bytes()).prop_map(|(channel, data)| Event::Input { channel, data }),
            (any::<u32>(), bytes()).prop_map(|(channel, data)| Event::Output { channel, data }),
            (any::<u32>(), bytes()).prop_map(|(channel, data)| Event::Stderr { channel, data }),
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(channel, cols, rows)| {
                Event::Resize {
                    channel,
                    cols,
                    rows,
                }
            }),
            (any::<u32>(), text()).prop_map(|(channel, name)| Event::Signal { channel, name }),
            (any::<u32>(), bytes(), any::<u64>(), any::<[u8; 32]>()).prop_map(
                |(channel, path, size, sha256)| Event::Upload {
                    channel,
                    path,
                    size,
                    sha256
                }
            ),
            (any::<u32>(), side()).prop_map(|(channel, from)| Event::Eof { channel, from }),
            (any::<u32>(), any::<u32>())
                .prop_map(|(channel, code)| Event::ExitStatus { channel, code }),
            (any::<u32>(), text(), any::<bool>(), text()).prop_map(
                |(channel, signal, core_dumped, message)| Event::ExitSignal {
                    channel,
                    signal,
                    core_dumped,
                    message
                }
            ),
            (any::<u32>(), side())
                .prop_map(|(channel, from)| Event::ChannelClose { channel, from }),
            (proptest::option::of(any::<u32>()), text(), text()).prop_map(
                |(channel, what, reason)| Event::Refused {
                    channel,
                    what,
                    reason
                }
            ),
            text().prop_map(|text| Event::Marker { text }),
            (any::<u32>(), any::<u64>(), any::<u64>())
                .prop_map(|(channel, from, to)| Event::Masked { channel, from, to }),
        ]
    }

    proptest! {
        #[test]
        fn every_event_decodes_to_itself(events in proptest::collection::vec((any::<u64>(), arb_event()), 0..20)) {
            let mut buf = Vec::new();
            for (at, event) in &events {
                encode(&mut buf, *at, event);
            }
            let mut decoder = Decoder::new(&buf);
            let mut back = Vec::new();
            while let Some(e) = decoder.next_event().unwrap() {
                back.push(e);
            }
            prop_assert_eq!(back, events);
        }

        #[test]
        fn varints_round_trip(value in any::<u64>()) {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            prop_assert_eq!(Decoder::new(&buf).varint(), Ok(value));
        }
    }

    #[test]
    fn overlong_varint_is_refused() {
        let buf = [0xffu8; 11];
        assert_eq!(
            Decoder::new(&buf).varint().unwrap_err().what,
            "integer too large"
        );
    }

    #[test]
    fn data_fast_path_matches_event_encoding() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        encode_data(&mut a, 5, Stream::Stderr, 3, b"\xffoops");
        encode(
            &mut b,
            5,
            &Event::Stderr {
                channel: 3,
                data: b"\xffoops".to_vec(),
            },
        );
        assert_eq!(a, b);
    }
}
