//! Typed secrets: which input a terminal did not echo (a password at a `sudo`, `passwd`,
//! `mysql -p` or `read -s` prompt), and the view of a recording with those bytes replaced by
//! [`MASK`].
//!
//! The gateway cannot see the target's termios, so "not echoed" is inferred from the output,
//! here and nowhere else: on a channel with a pty, printable input that the output has not
//! repeated (in order, escape sequences and other text skipped) by the next line feed, by
//! the next key after other output text, or within [`WINDOW_MICROS`] of the last key, is a
//! secret run. The recorder runs a [`Masker`]
//! while it records and writes each decision as an [`Event::Masked`] mark; readers take those
//! marks and the same inference over the events ([`masked_ranges`]), so recordings made
//! before the marks existed are masked too. While the target shows the alternate screen
//! (`vim`, `less`, `top`) nothing is inferred: full-screen programs do not echo keys, and
//! their keys are not secrets.
//!
//! It errs towards masking: input the target echoes late (after a line of unrelated output,
//! or after the window) is masked too. Memory is bounded: [`MAX_RUN`] bytes per pending run,
//! [`MAX_CHANNELS`] channels watched. Not the command list (`commands.rs`), which only
//! shows masked commands as [`MASK`].

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use crate::error::WriteError;
use crate::escapes::{Byte, Escapes};
use crate::event::{Event, Stream};
use crate::reader::Recording;
use crate::writer::Writer;

/// What a masked run of input is shown as, whatever its length.
pub const MASK: &str = "••••";
/// How long after the last key the echo may come, in microseconds.
pub const WINDOW_MICROS: u64 = 2_000_000;
/// Printable bytes of a pending run compared with the echo; later ones only extend the run.
pub const MAX_RUN: usize = 256;
/// Channels watched at once; input on further pty channels is not inferred about.
pub const MAX_CHANNELS: usize = 64;

/// Input not echoed yet.
struct Run {
    /// Input stream offsets: the first printable byte, one past the last.
    from: u64,
    to: u64,
    /// When the last printable byte was typed.
    last_at: u64,
    /// The first [`MAX_RUN`] printable bytes, and how many of them the output repeated.
    bytes: Vec<u8>,
    matched: usize,
    /// Output text came that did not repeat it (a prompt drawn after a blind answer).
    passed_over: bool,
}

/// One pty channel.
#[derive(Default)]
struct Channel {
    /// Input bytes seen so far: the offset of the next one.
    input_at: u64,
    run: Option<Run>,
    /// Inside an escape sequence the engineer's terminal sent (a key, a report).
    input_escape: bool,
    output: Escapes,
    /// The target shows the alternate screen.
    alternate: bool,
}

impl Channel {
    /// The mark for the pending run, which ends it.
    fn mark(&mut self, channel: u32) -> Option<Event> {
        self.run.take().map(|run| Event::Masked {
            channel,
            from: run.from,
            to: run.to,
        })
    }

    /// The pending run if the window for its echo has passed.
    fn expire(&mut self, channel: u32, at: u64) -> Option<Event> {
        match &self.run {
            Some(run) if at.saturating_sub(run.last_at) > WINDOW_MICROS => self.mark(channel),
            _ => None,
        }
    }

    fn input(&mut self, channel: u32, at: u64, data: &[u8]) -> Option<Event> {
        let mark = match &self.run {
            // The target printed other text instead of its echo, and now the engineer types
            // on: it was answered blind (`stty -echo; read`, a prompt with no line feed).
            Some(run) if run.passed_over && run.matched == 0 => self.mark(channel),
            _ => self.expire(channel, at),
        };
        for &b in data {
            let offset = self.input_at;
            self.input_at += 1;
            if self.input_escape {
                // CSI/SS3 keys and reports end with a letter or `~`.
                self.input_escape = !((b.is_ascii_alphabetic() || b == b'~') && b != b'O');
                continue;
            }
            match b {
                0x1b => self.input_escape = true,
                0x00..=0x1f | 0x7f => {}
                _ if self.alternate => {}
                _ => {
                    let run = self.run.get_or_insert(Run {
                        from: offset,
                        to: offset,
                        last_at: at,
                        bytes: Vec::new(),
                        matched: 0,
                        passed_over: false,
                    });
                    run.to = offset + 1;
                    run.last_at = at;
                    if run.bytes.len() < MAX_RUN {
                        run.bytes.push(b);
                    }
                }
            }
        }
        mark
    }

    fn output(&mut self, channel: u32, at: u64, data: &[u8]) -> Option<Event> {
        if let Some(mark) = self.expire(channel, at) {
            self.skim(data);
            return Some(mark);
        }
        let mut i = 0;
        while let Some(&b) = data.get(i) {
            i += 1;
            if self.escape(b) {
                continue;
            }
            let Some(run) = &mut self.run else {
                // No typed run to match: only the next escape sequence matters.
                i += self.output.plain_run(data.get(i..).unwrap_or_default());
                continue;
            };
            match b {
                // A new line before the echo: the run was typed blind.
                b'\n' => {
                    let mark = self.mark(channel);
                    self.skim(data.get(i..).unwrap_or_default());
                    return mark;
                }
                0x00..=0x1f | 0x7f => {}
                _ => {
                    if run.bytes.get(run.matched) == Some(&b) {
                        run.matched += 1;
                        if run.matched == run.bytes.len() {
                            self.run = None;
                        }
                    } else {
                        run.passed_over = true;
                    }
                }
            }
        }
        None
    }

    /// Follows escape sequences (and the alternate screen) without matching text.
    fn skim(&mut self, data: &[u8]) {
        let mut rest = data;
        while let Some((&b, after)) = rest
            .get(self.output.plain_run(rest)..)
            .and_then(<[u8]>::split_first)
        {
            self.escape(b);
            rest = after;
        }
    }

    /// Feeds one output byte to the escape parser; whether it belonged to a sequence.
    fn escape(&mut self, b: u8) -> bool {
        match self.output.feed(b) {
            Byte::Plain => false,
            Byte::Sequence => true,
            Byte::CsiEnd(fin) => {
                let screen = matches!(self.output.params(), b"?1049" | b"?1047" | b"?47");
                if screen && (fin == b'h' || fin == b'l') {
                    self.alternate = fin == b'h';
                    // Keys typed before a full-screen program took over are its keys.
                    self.run = None;
                }
                true
            }
        }
    }
}

/// The inference, fed event by event as they are recorded; each decision is a mark to record.
#[derive(Default)]
pub struct Masker {
    channels: BTreeMap<u32, Channel>,
}

impl Masker {
    /// Watches no channel yet.
    pub fn new() -> Masker {
        Masker::default()
    }

    /// Takes one event (a pty request starts watching its channel, a close ends it); the
    /// mark it decides, if any.
    pub fn event(&mut self, at: u64, event: &Event) -> Option<Event> {
        match event {
            Event::Pty { channel, .. } => {
                if self.channels.len() < MAX_CHANNELS {
                    self.channels.entry(*channel).or_default();
                }
                None
            }
            Event::Input { channel, data } => self.data(at, Stream::Input, *channel, data),
            Event::Output { channel, data } => self.data(at, Stream::Output, *channel, data),
            Event::Stderr { channel, data } => self.data(at, Stream::Stderr, *channel, data),
            // Nothing more will be echoed: what is pending was typed blind.
            Event::ChannelClose { channel, .. } => self
                .channels
                .remove(channel)
                .and_then(|mut c| c.mark(*channel)),
            // Neither types nor echoes.
            Event::ChannelOpen { .. }
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
            | Event::Refused { .. }
            | Event::Marker { .. }
            | Event::Masked { .. } => None,
        }
    }

    /// Takes terminal bytes of `stream` on `channel` (the recorder's path without an
    /// [`Event`]); the mark it decides, if any.
    pub fn data(&mut self, at: u64, stream: Stream, channel: u32, data: &[u8]) -> Option<Event> {
        let c = self.channels.get_mut(&channel)?;
        match stream {
            Stream::Input => c.input(channel, at, data),
            Stream::Output | Stream::Stderr => c.output(channel, at, data),
        }
    }

    /// The recording ends: every pending run was typed blind.
    pub fn finish(&mut self) -> Vec<Event> {
        let channels = std::mem::take(&mut self.channels);
        channels
            .into_iter()
            .filter_map(|(id, mut c)| c.mark(id))
            .collect()
    }
}

/// The masked input ranges `[from, to)` of each channel, sorted and merged: the recorded
/// marks and the inference over `events`.
pub fn masked_ranges(events: &[(u64, Event)]) -> BTreeMap<u32, Vec<(u64, u64)>> {
    let mut masker = Masker::new();
    let mut marks = Vec::new();
    for (at, event) in events {
        if let Event::Masked { .. } = event {
            marks.push(event.clone());
        }
        marks.extend(masker.event(*at, event));
    }
    marks.extend(masker.finish());
    let mut ranges: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    for mark in marks {
        if let Event::Masked { channel, from, to } = mark {
            if from < to {
                ranges.entry(channel).or_default().push((from, to));
            }
        }
    }
    for list in ranges.values_mut() {
        list.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(list.len());
        for &(from, to) in list.iter() {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        *list = merged;
    }
    ranges
}

/// `events` with every masked input run replaced by [`MASK`] and marked over the
/// replacement: what is shown or sent unless an auditor unmasks. Marks of the original are
/// dropped (their offsets no longer fit).
pub fn redact(events: &[(u64, Event)]) -> Vec<(u64, Event)> {
    let ranges = masked_ranges(events);
    // Per channel: input offset in the original, in the copy, and the next range to meet.
    let mut at_input: BTreeMap<u32, (u64, u64, usize)> = BTreeMap::new();
    let mut out = Vec::with_capacity(events.len());
    for (at, event) in events {
        match event {
            Event::Input { channel, data } => {
                let Some(list) = ranges.get(channel) else {
                    out.push((*at, event.clone()));
                    continue;
                };
                let (old, new, next) = at_input.entry(*channel).or_default();
                let mut kept = Vec::with_capacity(data.len());
                let mut marks = Vec::new();
                for &b in data {
                    while list.get(*next).is_some_and(|&(_, to)| to <= *old) {
                        *next += 1;
                    }
                    match list.get(*next) {
                        Some(&(from, _)) if from <= *old => {
                            if from == *old {
                                let start = *new + kept.len() as u64;
                                kept.extend_from_slice(MASK.as_bytes());
                                marks.push(Event::Masked {
                                    channel: *channel,
                                    from: start,
                                    to: start + MASK.len() as u64,
                                });
                            }
                        }
                        _ => kept.push(b),
                    }
                    *old += 1;
                }
                *new += kept.len() as u64;
                if !kept.is_empty() {
                    out.push((
                        *at,
                        Event::Input {
                            channel: *channel,
                            data: kept,
                        },
                    ));
                }
                out.extend(marks.into_iter().map(|m| (*at, m)));
            }
            Event::Masked { .. } => {}
            _ => out.push((*at, event.clone())),
        }
    }
    out
}

/// `rec` as a new recording with its events [`redact`]ed, signed by `key`: what is sent to
/// a browser that did not unmask (the original's signatures cannot cover changed bytes).
/// Sealed with the original's time and reason; a recording cut short (a live session) stays
/// unsealed.
pub fn redacted_copy(rec: &Recording, key: &SigningKey) -> Result<Vec<u8>, WriteError> {
    /// Events per chunk of the copy, about as large as the recorder's.
    const CHUNK: usize = 256 * 1024;
    let mut w = Writer::new(Vec::new(), rec.meta().clone(), key)?;
    for (at, event) in redact(rec.events()) {
        w.push(at, event)?;
        if w.buffered_bytes() >= CHUNK {
            w.flush_chunk()?;
        }
    }
    match rec.end_reason() {
        Some(reason) => w.seal(rec.duration_micros(), reason),
        None => {
            w.flush_chunk()?;
            Ok(w.get_ref().clone())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::testutil::{input, output, pty};
    use proptest::prelude::*;

    /// The marks a masker decides while the events are recorded (with the time of the
    /// event that decided them), then at the end (`u64::MAX`).
    fn marks(events: &[(u64, Event)]) -> Vec<(u64, u64, u64)> {
        let mut m = Masker::new();
        let mut got: Vec<(u64, Event)> = events
            .iter()
            .filter_map(|(at, e)| m.event(*at, e).map(|mark| (*at, mark)))
            .collect();
        got.extend(m.finish().into_iter().map(|mark| (u64::MAX, mark)));
        got.into_iter()
            .map(|(at, e)| match e {
                Event::Masked { from, to, .. } => (at, from, to),
                other => panic!("not a mark: {other:?}"),
            })
            .collect()
    }

    fn typed(events: &[(u64, Event)]) -> Vec<u8> {
        events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Input { data, .. } => Some(data.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn echoed_input_is_not_masked() {
        let events = vec![
            pty(),
            output(1, b"$ "),
            input(10, b"l"),
            output(11, b"l"),
            input(12, b"s -l /etc/hos\t"),
            output(13, b"s -l /etc/hosts "),
            input(14, b"\x7f\x1b[D\x1b[Do\r"),
            output(15, b"\x08 \x08\x08\x08\x1b[1@o\r\nfile\r\n$ "),
            input(20, b"vim x\r"),
            output(21, b"vim x\r\n\x1b[?1049h~\r\n"),
            // Keys of a full-screen program are not echoed, and not secrets.
            input(22, b"dd:wq\r"),
            output(23, b"\x1b[?1049l$ "),
        ];
        assert_eq!(marks(&events), vec![]);
        assert_eq!(redact(&events), events);
    }

    #[test]
    fn read_s_password_is_masked_when_the_next_line_comes() {
        let events = vec![
            pty(),
            output(1, b"$ "),
            input(2, b"read -s -p 'Password: ' P; echo\r"),
            output(3, b"read -s -p 'Password: ' P; echo\r\nPassword: "),
            input(10, b"h"),
            input(11, b"unter2"),
            input(12, b"\r"),
            output(13, b"\r\n$ "),
        ];
        let secret_at = b"read -s -p 'Password: ' P; echo\r".len() as u64;
        assert_eq!(marks(&events), vec![(13, secret_at, secret_at + 7)]);
        let shown = redact(&events);
        let typed = String::from_utf8(typed(&shown)).unwrap();
        assert_eq!(typed, "read -s -p 'Password: ' P; echo\r••••\r");
        assert!(shown.contains(&(
            10,
            Event::Masked {
                channel: 0,
                from: secret_at,
                to: secret_at + MASK.len() as u64
            }
        )));
        // A recorded mark alone masks too, and redacting twice changes nothing more.
        assert_eq!(redact(&shown), shown);
    }

    #[test]
    fn a_sudo_prompt_answered_with_newline_and_a_slow_prompt_are_masked() {
        let sudo = vec![
            pty(),
            input(1, b"sudo -k id\r"),
            output(2, b"sudo -k id\r\n[sudo] password for alice: "),
            input(3, b"s3cr3t\n"),
            output(4, b"\nuid=0(root)\r\n"),
        ];
        assert_eq!(marks(&sudo), vec![(4, 11, 17)]);
        // `stty -echo; read`: the answer, then the next prompt with no line feed, then the
        // next command (echoed, so not masked).
        let stty = vec![
            pty(),
            input(1, b"s3cr3t\r"),
            output(2, b"root@web01:~# "),
            input(3, b"exit\r"),
            output(4, b"exit\r\n"),
        ];
        assert_eq!(marks(&stty), vec![(3, 0, 6)]);
        // No output at all: the window decides at the next key, the end at the last.
        let slow = vec![pty(), input(1, b"abc"), input(1 + WINDOW_MICROS + 1, b"de")];
        assert_eq!(
            marks(&slow),
            vec![(1 + WINDOW_MICROS + 1, 0, 3), (u64::MAX, 3, 5)]
        );
    }

    #[test]
    fn old_recordings_without_marks_and_other_channels_are_handled() {
        let mut events = vec![
            pty(),
            input(1, b"pw\r"),
            output(2, b"\r\n"),
            (
                3,
                Event::Input {
                    channel: 7,
                    data: b"raw stdin".to_vec(),
                },
            ),
        ];
        let ranges = masked_ranges(&events);
        assert_eq!(ranges.get(&0), Some(&vec![(0, 2)]));
        assert_eq!(ranges.get(&7), None, "no pty: stdin is data, not typing");
        events.push((
            4,
            Event::Masked {
                channel: 0,
                from: 1,
                to: 3,
            },
        ));
        assert_eq!(masked_ranges(&events).get(&0), Some(&vec![(0, 3)]));
    }

    #[test]
    fn the_redacted_copy_reads_back_signed_and_sealed_like_the_original() {
        let sample = crate::testutil::sample(true);
        let rec = Recording::parse(&sample.bytes, Some(&crate::testutil::data_key())).unwrap();
        let copy = redacted_copy(&rec, &crate::testutil::key()).unwrap();
        // The copy holds no secret: compressed, not encrypted, so it names no data key.
        let back = Recording::parse(&copy, None).unwrap();
        let meta = crate::meta::Meta {
            key: None,
            ..rec.meta().clone()
        };
        assert_eq!(back.meta(), &meta);
        assert_eq!(back.end_reason(), rec.end_reason());
        assert_eq!(back.events(), redact(rec.events()).as_slice());
    }

    #[test]
    fn memory_stays_bounded() {
        let mut m = Masker::new();
        for ch in 0..1000 {
            m.event(
                0,
                &Event::Pty {
                    channel: ch,
                    term: String::new(),
                    cols: 1,
                    rows: 1,
                    modes: vec![],
                },
            );
        }
        assert_eq!(m.channels.len(), MAX_CHANNELS);
        m.data(1, Stream::Input, 0, &vec![b'x'; 100_000]);
        let run = m.channels[&0].run.as_ref().unwrap();
        assert_eq!((run.bytes.len(), run.to), (MAX_RUN, 100_000));
    }

    proptest! {
        #[test]
        fn never_panics_and_hides_every_masked_byte(
            chunks in proptest::collection::vec((any::<bool>(), 0u64..3_000_000, proptest::collection::vec(any::<u8>(), 0..40)), 0..40)
        ) {
            let mut events = vec![pty()];
            let mut at = 0;
            for (is_input, gap, data) in chunks {
                at += gap;
                events.push(if is_input { input(at, &data) } else { output(at, &data) });
            }
            let shown = redact(&events);
            let ranges = masked_ranges(&events);
            let raw = typed(&events);
            let kept = typed(&shown);
            let hidden: u64 = ranges.get(&0).map_or(0, |l| l.iter().map(|(f, t)| t - f).sum());
            let count = ranges.get(&0).map_or(0, Vec::len);
            prop_assert_eq!(kept.len() as u64, raw.len() as u64 - hidden + (count * MASK.len()) as u64);
        }

        /// Text is skipped at once up to the next escape sequence when nothing typed waits
        /// for its echo: the marks must be those of a masker fed one byte at a time, for
        /// output cut anywhere (sequences split across packets, the alternate screen turned
        /// on and off, echoes and prompts).
        #[test]
        fn the_marks_do_not_depend_on_how_output_is_cut(
            chunks in proptest::collection::vec((
                any::<bool>(),
                0u64..3_000_000,
                proptest::collection::vec(proptest::sample::select(&b"ab\r\n\x1b[?1049hl]\x07\\0;"[..]), 0..40),
            ), 0..40)
        ) {
            let mut whole = vec![pty()];
            let mut bytewise = vec![pty()];
            let mut at = 0;
            for (is_input, gap, data) in chunks {
                at += gap;
                if is_input {
                    whole.push(input(at, &data));
                    bytewise.push(input(at, &data));
                } else {
                    whole.push(output(at, &data));
                    // An empty packet is kept: it is a time the window can pass at.
                    bytewise.extend(data.chunks(1).map(|b| output(at, b)));
                    if data.is_empty() {
                        bytewise.push(output(at, &data));
                    }
                }
            }
            prop_assert_eq!(marks(&whole), marks(&bytewise));
        }
    }
}
