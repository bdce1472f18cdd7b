//! The replayable terminal of one recording: the interactive channel's output as one byte
//! buffer, the time of every output event, the resizes, and the marks an auditor jumps to
//! (gateway markers, exec commands, refusals, exit).
//!
//! Built once at load from [`recordings::Recording`] events (or grown packet by packet for a
//! live watch), then answered in O(log n): "how many output bytes are on screen at time t",
//! "which writes and resizes take the screen from here to there". It knows nothing about
//! xterm.js or the browser; `player/` does the writing and `seek.rs` the keyframes.

use recordings::Event;
use serde::Serialize;

/// Size used when the recording has no pty request (exec sessions) or a zero size.
pub const DEFAULT_SIZE: (u32, u32) = (80, 24);

/// A change of terminal size, placed in the output stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resize {
    /// Microseconds since the start.
    pub at: u64,
    /// Output bytes written before it applies.
    pub offset: usize,
    /// New width.
    pub cols: u32,
    /// New height.
    pub rows: u32,
}

/// What a mark is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkKind {
    /// Free text from the gateway (grant warnings, revocation).
    Marker,
    /// A command run without a shell (`ssh host cmd`).
    Exec,
    /// A request the gateway refused.
    Refused,
    /// The remote command's exit.
    Exit,
    /// Input the terminal did not echo (a password): `••••` in what the gateway sends unless
    /// an auditor unmasked it, then the typed text.
    Secret,
}

/// A point of interest in the recording, listed beside the player.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mark {
    /// Microseconds since the start.
    pub at: u64,
    /// What it is.
    pub kind: MarkKind,
    /// One line of text.
    pub text: String,
}

/// One piece of a write plan: output bytes `from..to`, then optionally a resize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First output byte.
    pub from: usize,
    /// One past the last output byte.
    pub to: usize,
    /// Size to set once these bytes are written.
    pub resize_after: Option<(u32, u32)>,
}

/// The interactive channel's terminal over time.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    output: Vec<u8>,
    /// For each output event: its time and the output length after it. Times never decrease.
    points: Vec<(u64, usize)>,
    resizes: Vec<Resize>,
    initial: Option<(u32, u32)>,
    marks: Vec<Mark>,
    duration: u64,
}

/// The latest input of the interactive channel, for the text of secret marks.
#[derive(Default)]
struct Typed {
    /// Offset in the input stream of `bytes[0]`.
    start: u64,
    bytes: Vec<u8>,
}

impl Typed {
    /// Input kept: a mark covers input typed shortly before it.
    const KEEP: usize = 16 * 1024;

    fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        if let Some(excess) = self.bytes.len().checked_sub(2 * Self::KEEP) {
            let cut = excess + Self::KEEP;
            self.bytes.drain(..cut);
            self.start += cut as u64;
        }
    }

    /// Input `from..to`, lossy UTF-8 with control characters dropped; `••••` if no longer kept.
    fn text(&self, from: u64, to: u64) -> String {
        let range = from
            .checked_sub(self.start)
            .zip(to.checked_sub(self.start))
            .and_then(|(a, b)| Some(usize::try_from(a).ok()?..usize::try_from(b).ok()?));
        match range.and_then(|r| self.bytes.get(r)) {
            Some(bytes) => String::from_utf8_lossy(bytes)
                .chars()
                .filter(|c| !c.is_control())
                .collect(),
            None => recordings::mask::MASK.to_string(),
        }
    }
}

fn size_or_default(cols: u32, rows: u32) -> (u32, u32) {
    if cols == 0 || rows == 0 {
        DEFAULT_SIZE
    } else {
        (cols.min(1000), rows.min(1000))
    }
}

impl Timeline {
    /// An empty timeline (a live watch before its first packet).
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// Builds the timeline of `channel` (the interactive one, see
    /// [`recordings::interactive_channel`]) from a recording's events. `duration` is the
    /// recording's length (its seal time may be after the last event).
    pub fn from_events(events: &[(u64, Event)], channel: Option<u32>, duration: u64) -> Timeline {
        let mut t = Timeline::new();
        let total: usize = events
            .iter()
            .map(|(_, e)| match e {
                Event::Output { channel: c, data } | Event::Stderr { channel: c, data }
                    if Some(*c) == channel =>
                {
                    data.len()
                }
                _ => 0,
            })
            .sum();
        t.output.reserve_exact(total);
        let mut typed = Typed::default();
        for (at, event) in events {
            let on_channel = channel.is_some() && event.channel() == channel;
            match event {
                Event::Output { data, .. } | Event::Stderr { data, .. } if on_channel => {
                    t.push_output(*at, data);
                }
                Event::Pty { cols, rows, .. } if on_channel => {
                    if t.initial.is_none() && t.output.is_empty() {
                        t.initial = Some(size_or_default(*cols, *rows));
                    } else {
                        t.push_resize(*at, *cols, *rows);
                    }
                }
                Event::Resize { cols, rows, .. } if on_channel => t.push_resize(*at, *cols, *rows),
                Event::Exec { command, .. } => t.push_mark(
                    *at,
                    MarkKind::Exec,
                    String::from_utf8_lossy(command).into_owned(),
                ),
                Event::Refused { what, reason, .. } => {
                    t.push_mark(*at, MarkKind::Refused, format!("{what}: {reason}"));
                }
                Event::Marker { text } => t.push_mark(*at, MarkKind::Marker, text.clone()),
                Event::ExitStatus { code, .. } if on_channel => {
                    t.push_mark(*at, MarkKind::Exit, format!("exit {code}"));
                }
                Event::ExitSignal { signal, .. } if on_channel => {
                    t.push_mark(*at, MarkKind::Exit, format!("killed by SIG{signal}"));
                }
                // Other channels' terminal data is not this screen's.
                Event::Output { .. }
                | Event::Stderr { .. }
                | Event::Pty { .. }
                | Event::Resize { .. }
                | Event::ExitStatus { .. }
                | Event::ExitSignal { .. } => t.touch(*at),
                // Input is never drawn: the screen shows what the target echoed. The
                // command list (`recordings::commands`) reads it separately.
                Event::Input { data, .. } if on_channel => {
                    typed.push(data);
                    t.touch(*at);
                }
                Event::Input { .. } => t.touch(*at),
                // Its text is the input it covers: `••••` as the gateway sends it, unless an
                // auditor unmasked the recording.
                Event::Masked { from, to, .. } if on_channel => {
                    t.push_mark(*at, MarkKind::Secret, typed.text(*from, *to));
                }
                // Channel bookkeeping has no place on the screen or in the marks.
                Event::ChannelOpen { .. }
                | Event::Env { .. }
                | Event::Shell { .. }
                | Event::Subsystem { .. }
                | Event::Signal { .. }
                | Event::Upload { .. }
                | Event::Eof { .. }
                | Event::Masked { .. }
                | Event::ChannelClose { .. } => t.touch(*at),
            }
        }
        t.duration = t.duration.max(duration);
        t
    }

    fn touch(&mut self, at: u64) {
        self.duration = self.duration.max(at);
    }

    /// Times must not go backwards; a late event is placed at the latest time seen.
    fn monotonic(&self, at: u64) -> u64 {
        at.max(self.points.last().map_or(0, |p| p.0))
            .max(self.resizes.last().map_or(0, |r| r.at))
    }

    /// Appends output bytes at time `at` (microseconds).
    pub fn push_output(&mut self, at: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let at = self.monotonic(at);
        self.output.extend_from_slice(data);
        self.points.push((at, self.output.len()));
        self.touch(at);
    }

    /// Appends a resize at time `at`.
    pub fn push_resize(&mut self, at: u64, cols: u32, rows: u32) {
        let at = self.monotonic(at);
        let (cols, rows) = size_or_default(cols, rows);
        self.resizes.push(Resize {
            at,
            offset: self.output.len(),
            cols,
            rows,
        });
        self.touch(at);
    }

    /// Appends a mark at time `at`.
    pub fn push_mark(&mut self, at: u64, kind: MarkKind, text: String) {
        self.marks.push(Mark { at, kind, text });
        self.touch(at);
    }

    /// Extends the length (a live watch: time passes without output).
    pub fn extend_to(&mut self, at: u64) {
        self.touch(at);
    }

    /// Length in microseconds.
    pub fn duration(&self) -> u64 {
        self.duration
    }

    /// All output bytes.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Output bytes `from..to` (clamped).
    pub fn bytes(&self, from: usize, to: usize) -> &[u8] {
        let to = to.min(self.output.len());
        self.output.get(from.min(to)..to).unwrap_or_default()
    }

    /// The output events: time and output length after each.
    pub fn points(&self) -> &[(u64, usize)] {
        &self.points
    }

    /// The marks in time order.
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// The resizes in order.
    pub fn resizes(&self) -> &[Resize] {
        &self.resizes
    }

    /// Output bytes on screen at time `at`: those of every output event at or before it.
    pub fn offset_at(&self, at: u64) -> usize {
        let n = self.points.partition_point(|p| p.0 <= at);
        n.checked_sub(1)
            .and_then(|i| self.points.get(i))
            .map_or(0, |p| p.1)
    }

    /// Time at which output byte `offset` was written (of the event holding it).
    pub fn time_of(&self, offset: usize) -> u64 {
        let i = self.points.partition_point(|p| p.1 <= offset);
        self.points.get(i).or(self.points.last()).map_or(0, |p| p.0)
    }

    /// Number of resizes that happened at or before `at`.
    pub fn resizes_until(&self, at: u64) -> usize {
        self.resizes.partition_point(|r| r.at <= at)
    }

    /// Number of resizes placed at or before output offset `offset`.
    pub fn resizes_before_offset(&self, offset: usize) -> usize {
        self.resizes.partition_point(|r| r.offset <= offset)
    }

    /// The size once the first `applied` resizes happened.
    pub fn size_after(&self, applied: usize) -> (u32, u32) {
        applied
            .checked_sub(1)
            .and_then(|i| self.resizes.get(i))
            .map(|r| (r.cols, r.rows))
            .or(self.initial)
            .unwrap_or(DEFAULT_SIZE)
    }

    /// The writes and resizes that take a screen showing output `..from` with `from_resizes`
    /// applied to one showing `..to` with `to_resizes` applied. Resizes in between are
    /// placed at their offsets.
    pub fn segments(
        &self,
        from: usize,
        from_resizes: usize,
        to: usize,
        to_resizes: usize,
    ) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut at = from;
        let pending = self
            .resizes
            .get(from_resizes.min(to_resizes)..to_resizes)
            .unwrap_or_default();
        for r in pending {
            let end = r.offset.clamp(at, to.max(at));
            out.push(Segment {
                from: at,
                to: end,
                resize_after: Some((r.cols, r.rows)),
            });
            at = end;
        }
        if at < to || out.is_empty() {
            out.push(Segment {
                from: at,
                to: to.max(at),
                resize_after: None,
            });
        }
        out
    }

    /// The output events around `at`: the last at or before it, the first after it.
    pub fn around(&self, at: u64) -> (Option<u64>, Option<u64>) {
        let n = self.points.partition_point(|p| p.0 <= at);
        let before = n
            .checked_sub(1)
            .and_then(|i| self.points.get(i))
            .map(|p| p.0);
        let after = self.points.get(n).map(|p| p.0);
        (before, after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(at: u64, data: &[u8]) -> (u64, Event) {
        (
            at,
            Event::Output {
                channel: 0,
                data: data.to_vec(),
            },
        )
    }

    fn sample() -> Timeline {
        let events = vec![
            (
                0,
                Event::Pty {
                    channel: 0,
                    term: "xterm".into(),
                    cols: 100,
                    rows: 30,
                    modes: vec![],
                },
            ),
            out(10, b"hello "),
            (
                15,
                Event::Output {
                    channel: 1,
                    data: b"other channel".to_vec(),
                },
            ),
            (
                20,
                Event::Stderr {
                    channel: 0,
                    data: b"world".to_vec(),
                },
            ),
            (
                25,
                Event::Resize {
                    channel: 0,
                    cols: 120,
                    rows: 40,
                },
            ),
            (
                26,
                Event::Marker {
                    text: "grant ends in 5 minutes".into(),
                },
            ),
            out(30, b"!\r\n"),
        ];
        Timeline::from_events(&events, Some(0), 100)
    }

    #[test]
    fn output_of_the_interactive_channel_only_is_on_screen() {
        let t = sample();
        assert_eq!(t.output(), b"hello world!\r\n");
        assert_eq!(t.duration(), 100);
        assert_eq!(t.offset_at(0), 0);
        assert_eq!(t.offset_at(10), 6);
        assert_eq!(t.offset_at(19), 6);
        assert_eq!(t.offset_at(20), 11);
        assert_eq!(t.offset_at(1000), 14);
        assert_eq!(t.time_of(0), 10);
        assert_eq!(t.time_of(6), 20);
        assert_eq!(t.time_of(13), 30);
    }

    #[test]
    fn size_follows_pty_then_resizes() {
        let t = sample();
        assert_eq!(t.size_after(0), (100, 30));
        assert_eq!(t.resizes_until(24), 0);
        assert_eq!(t.resizes_until(25), 1);
        assert_eq!(t.size_after(1), (120, 40));
        assert_eq!(Timeline::new().size_after(0), DEFAULT_SIZE);
    }

    #[test]
    fn segments_place_resizes_at_their_offsets() {
        let t = sample();
        assert_eq!(
            t.segments(0, 0, 14, 1),
            vec![
                Segment {
                    from: 0,
                    to: 11,
                    resize_after: Some((120, 40))
                },
                Segment {
                    from: 11,
                    to: 14,
                    resize_after: None
                },
            ]
        );
        assert_eq!(
            t.segments(6, 0, 11, 0),
            vec![Segment {
                from: 6,
                to: 11,
                resize_after: None
            }]
        );
    }

    #[test]
    fn marks_list_markers_exec_refusals_and_exit() {
        let events = vec![
            (
                1,
                Event::Exec {
                    channel: 0,
                    command: b"uptime".to_vec(),
                },
            ),
            (
                2,
                Event::Refused {
                    channel: None,
                    what: "subsystem sftp".into(),
                    reason: "file transfer is not allowed".into(),
                },
            ),
            (
                3,
                Event::ExitStatus {
                    channel: 0,
                    code: 2,
                },
            ),
        ];
        let t = Timeline::from_events(&events, Some(0), 0);
        let kinds: Vec<_> = t.marks().iter().map(|m| (m.at, m.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (1, MarkKind::Exec),
                (2, MarkKind::Refused),
                (3, MarkKind::Exit)
            ]
        );
        assert_eq!(
            t.marks()[1].text,
            "subsystem sftp: file transfer is not allowed"
        );
    }

    #[test]
    fn late_packets_do_not_go_back_in_time_and_idle_is_found() {
        let mut t = Timeline::new();
        t.push_output(100, b"a");
        t.push_output(50, b"b");
        t.push_output(5_000_000, b"c");
        assert_eq!(t.points(), &[(100, 1), (100, 2), (5_000_000, 3)]);
        assert_eq!(t.around(200), (Some(100), Some(5_000_000)));
        assert_eq!(t.around(0), (None, Some(100)));
        assert_eq!(t.around(6_000_000), (Some(5_000_000), None));
    }

    #[test]
    fn a_masked_run_is_a_secret_mark_with_the_input_it_covers() {
        let typed = |data: &[u8]| Event::Input {
            channel: 0,
            data: data.to_vec(),
        };
        let mark = |from, to| Event::Masked {
            channel: 0,
            from,
            to,
        };
        // As the gateway sends it (`••••` in place of the secret), then unmasked.
        let masked = "ls\r••••\r".as_bytes();
        let events = vec![(1, typed(masked)), (2, mark(3, 3 + "••••".len() as u64))];
        let t = Timeline::from_events(&events, Some(0), 10);
        assert_eq!(t.marks()[0].kind, MarkKind::Secret);
        assert_eq!(t.marks()[0].text, "••••");
        let events = vec![
            (1, typed(b"ls\r")),
            (2, typed(b"hunter2\r")),
            (3, mark(3, 10)),
        ];
        let t = Timeline::from_events(&events, Some(0), 10);
        assert_eq!(t.marks()[0].text, "hunter2");
    }
}
