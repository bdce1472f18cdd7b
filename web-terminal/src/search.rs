//! Searching the output text: the terminal bytes with escape sequences and control
//! characters stripped, matched case-insensitively (ASCII), each hit reported with the time
//! its last byte was written so the player can seek there.
//!
//! The stripped text is a projection, not a screen: text overwritten by cursor movement is
//! still found. That is what an auditor wants from "did this string ever appear".

use serde::Serialize;

use crate::timeline::Timeline;

/// At most this many hits are returned.
pub const MAX_HITS: usize = 1000;
/// Bytes of context shown each side of a hit.
const CONTEXT: usize = 32;

/// One place where the query occurs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// Time (microseconds) at which the hit was fully on screen.
    pub at: u64,
    /// The hit with some text around it, on one line.
    pub context: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    Escape,
    Csi,
    /// OSC, DCS, SOS, PM, APC: until BEL or ST.
    Str,
    StrEscape,
}

/// The output text of a timeline, lowercased, with a map back to output offsets.
#[derive(Clone, Debug, Default)]
pub struct TextIndex {
    text: Vec<u8>,
    /// For each output event (in timeline order): the text length after it.
    ends: Vec<usize>,
    /// Time of each output event.
    times: Vec<u64>,
}

impl TextIndex {
    /// Strips the timeline's output down to its text.
    pub fn build(timeline: &Timeline) -> TextIndex {
        let mut index = TextIndex {
            text: Vec::with_capacity(timeline.output().len() / 2),
            ends: Vec::with_capacity(timeline.points().len()),
            times: Vec::with_capacity(timeline.points().len()),
        };
        let mut state = State::Ground;
        let mut from = 0;
        for &(at, to) in timeline.points() {
            for &b in timeline.bytes(from, to) {
                state = index.step(state, b);
            }
            index.ends.push(index.text.len());
            index.times.push(at);
            from = to;
        }
        index
    }

    fn step(&mut self, state: State, b: u8) -> State {
        match state {
            State::Ground => match b {
                0x1b => State::Escape,
                b'\n' => {
                    self.text.push(b'\n');
                    State::Ground
                }
                b'\t' => {
                    self.text.push(b' ');
                    State::Ground
                }
                0x00..=0x1f | 0x7f => State::Ground,
                _ => {
                    self.text.push(b);
                    State::Ground
                }
            },
            State::Escape => match b {
                b'[' => State::Csi,
                b']' | b'P' | b'X' | b'^' | b'_' => State::Str,
                // Intermediate bytes: the sequence goes on.
                0x20..=0x2f => State::Escape,
                _ => State::Ground,
            },
            State::Csi => match b {
                0x40..=0x7e => State::Ground,
                0x1b => State::Escape,
                _ => State::Csi,
            },
            State::Str => match b {
                0x07 => State::Ground,
                0x1b => State::StrEscape,
                _ => State::Str,
            },
            State::StrEscape => match b {
                b'\\' => State::Ground,
                _ => State::Str,
            },
        }
    }

    /// Finds `query` (case-insensitive for ASCII), at most [`MAX_HITS`] hits in time order.
    pub fn search(&self, query: &str) -> Vec<Hit> {
        let needle: Vec<u8> = query
            .trim()
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .collect();
        let Some(&first) = needle.first() else {
            return Vec::new();
        };
        let mut hits = Vec::new();
        let mut pos = 0;
        while hits.len() < MAX_HITS {
            let Some(rest) = self.text.get(pos..) else {
                break;
            };
            let Some(found) = rest
                .iter()
                .position(|&b| b.to_ascii_lowercase() == first)
                .map(|i| pos + i)
            else {
                break;
            };
            let end = found + needle.len();
            if self
                .text
                .get(found..end)
                .is_some_and(|t| t.eq_ignore_ascii_case(&needle))
            {
                hits.push(Hit {
                    at: self.time_of_text(end.saturating_sub(1)),
                    context: self.context(found, end),
                });
                pos = end;
            } else {
                pos = found + 1;
            }
        }
        hits
    }

    fn time_of_text(&self, pos: usize) -> u64 {
        let i = self.ends.partition_point(|&e| e <= pos);
        self.times
            .get(i)
            .or(self.times.last())
            .copied()
            .unwrap_or(0)
    }

    fn context(&self, from: usize, to: usize) -> String {
        let start = from.saturating_sub(CONTEXT);
        let end = (to + CONTEXT).min(self.text.len());
        let slice = self.text.get(start..end).unwrap_or_default();
        let text = String::from_utf8_lossy(slice);
        // A cut through a multi-byte character shows as U+FFFD at the edges; drop those.
        text.trim_matches('\u{fffd}')
            .replace('\n', " ⏎ ")
            .trim()
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(packets: &[(u64, &[u8])]) -> Timeline {
        let mut t = Timeline::new();
        for (at, data) in packets {
            t.push_output(*at, data);
        }
        t
    }

    #[test]
    fn finds_text_through_colour_codes_and_reports_when_it_was_complete() {
        let t = timeline(&[
            (1_000, b"$ ls\r\n"),
            (2_000, b"\x1b[01;34mbackup\x1b[0m  \x1b]0;title\x07Err"),
            (3_000, b"or: disk full\r\n"),
        ]);
        let index = TextIndex::build(&t);
        let hits = index.search("BACKUP");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].at, 2_000);
        let hits = index.search("error: disk");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].at, 3_000, "the hit ends in the third packet");
        assert!(
            hits[0].context.contains("Error: disk full"),
            "{:?}",
            hits[0]
        );
        assert!(
            index.search("title").is_empty(),
            "window titles are not output text"
        );
        assert!(index.search("  ").is_empty() || !index.search(" ").is_empty());
        assert!(index.search("").is_empty());
    }

    #[test]
    fn every_occurrence_is_found_in_order_and_capped() {
        let t = timeline(&[(1, b"ok ok\n"), (2, b"ok\n")]);
        let hits = TextIndex::build(&t).search("ok");
        assert_eq!(hits.iter().map(|h| h.at).collect::<Vec<_>>(), vec![1, 1, 2]);
        let many = "x\n".repeat(MAX_HITS + 10);
        let t = timeline(&[(5, many.as_bytes())]);
        assert_eq!(TextIndex::build(&t).search("x").len(), MAX_HITS);
    }

    #[test]
    fn chinese_text_is_found() {
        let t = timeline(&[(7, "磁盘已满\r\n".as_bytes())]);
        let hits = TextIndex::build(&t).search("已满");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].at, 7);
    }
}
