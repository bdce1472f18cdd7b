//! The command list of an interactive session, rebuilt from the engineer's keystrokes and the
//! line the target echoed back.
//!
//! An audit aid, not a security boundary: a shell sees what it sees, and an engineer can hide
//! a command from this list (aliases, scripts, editing tricks, `stty -echo`). The recording's
//! raw bytes stay the evidence; this list only helps find the place to replay.
//!
//! How: the current output line is kept as a small line model (printing, carriage return,
//! backspace, cursor left/right, erase and insert/delete characters: what shells use for
//! line editing). When the engineer starts typing, the cursor column marks the end of the
//! prompt. Enter makes the command pending; the next newline the target echoes ends it, and
//! the command is the line from the prompt's end. So history recall and tab completion show
//! the command that ran, not the keys. Typing that the target never echoed (a password at a
//! prompt) is listed as hidden, as [`crate::mask::MASK`], never its text; so is a line typed
//! entirely inside masked input (`mask.rs` decides which input that is, for replay and
//! exports too), whatever the line model holds (a prompt drawn after a blind answer).
//!
//! One code for both readers: the browser player (`web-terminal`, compiled to wasm32) and the
//! gateway's `GET /api/v1/sessions/{id}/commands` call [`commands`] on the same events.

use crate::escapes::{Byte, Escapes};
use crate::Event;
use serde::Serialize;

/// One command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Command {
    /// When Enter was typed, microseconds since the start.
    pub at: u64,
    /// The command as echoed; `••••` when hidden.
    pub text: String,
    /// Input was typed but not echoed (a password prompt, `stty -echo`).
    pub hidden: bool,
}

/// The echoed line.
#[derive(Default)]
struct Line {
    chars: Vec<char>,
    cursor: usize,
    /// Bytes of an incomplete UTF-8 character.
    utf8: Vec<u8>,
    esc: Escapes,
}

/// What an output byte did to the line.
enum Effect {
    Nothing,
    /// A line feed: the line is about to be replaced by a new one.
    Newline,
}

impl Line {
    fn put(&mut self, c: char) {
        match self.chars.get_mut(self.cursor) {
            Some(slot) => *slot = c,
            None => {
                while self.chars.len() < self.cursor {
                    self.chars.push(' ');
                }
                self.chars.push(c);
            }
        }
        self.cursor += 1;
    }

    fn param(&self) -> usize {
        std::str::from_utf8(self.esc.params())
            .ok()
            .and_then(|s| s.split(';').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn csi(&mut self, fin: u8) {
        let n = self.param();
        let at_least_one = n.max(1);
        if self.esc.params().first() == Some(&b'?') {
            return; // private modes: nothing to do with the line's text
        }
        match fin {
            b'C' => self.cursor += at_least_one,
            b'D' => self.cursor = self.cursor.saturating_sub(at_least_one),
            b'G' => self.cursor = at_least_one - 1,
            b'K' => match n {
                0 => self.chars.truncate(self.cursor),
                1 => {
                    for c in self.chars.iter_mut().take(self.cursor + 1) {
                        *c = ' ';
                    }
                }
                _ => self.chars.clear(),
            },
            b'P' => {
                let end = (self.cursor + at_least_one).min(self.chars.len());
                if self.cursor < end {
                    self.chars.drain(self.cursor..end);
                }
            }
            b'@' if self.cursor <= self.chars.len() => {
                for _ in 0..at_least_one {
                    self.chars.insert(self.cursor, ' ');
                }
            }
            // Erase in display or a clear: the line is gone.
            b'J' if n == 2 || n == 3 => {
                self.chars.clear();
                self.cursor = 0;
            }
            _ => {}
        }
    }

    fn feed(&mut self, b: u8) -> Effect {
        match self.esc.feed(b) {
            Byte::Plain => {}
            Byte::Sequence => return Effect::Nothing,
            Byte::CsiEnd(fin) => {
                self.csi(fin);
                return Effect::Nothing;
            }
        }
        match b {
            b'\r' => self.cursor = 0,
            b'\n' => return Effect::Newline,
            0x08 => self.cursor = self.cursor.saturating_sub(1),
            b'\t' => self.cursor = (self.cursor / 8 + 1) * 8,
            0x00..=0x1f | 0x7f => {}
            0x20..=0x7e => {
                self.utf8.clear();
                self.put(char::from(b));
            }
            _ => {
                self.utf8.push(b);
                match std::str::from_utf8(&self.utf8) {
                    Ok(s) => {
                        let chars: Vec<char> = s.chars().collect();
                        self.utf8.clear();
                        for c in chars {
                            self.put(c);
                        }
                    }
                    Err(e) if e.error_len().is_some() || self.utf8.len() >= 4 => {
                        self.utf8.clear();
                        self.put('\u{fffd}');
                    }
                    Err(_) => {}
                }
            }
        }
        Effect::Nothing
    }

    fn text_from(&self, col: usize) -> String {
        let s: String = self.chars.iter().skip(col).collect();
        s.trim().to_owned()
    }

    fn clear(&mut self) {
        self.chars.clear();
        self.cursor = 0;
    }
}

/// Keystrokes of the command being typed.
#[derive(Default)]
struct Typing {
    /// Column where the prompt ended when typing began; `None` when not typing.
    start_col: Option<usize>,
    /// Printable keys typed (for telling echoed from unechoed input).
    keys: usize,
    /// Of those, keys inside a masked run (`mask.rs`: input the terminal did not echo).
    masked_keys: usize,
    /// Enter was typed at this time; waiting for the echoed newline.
    enter_at: Option<u64>,
    /// Inside an escape sequence sent by a key (arrows, function keys).
    in_escape: bool,
}

struct Rebuild {
    line: Line,
    typing: Typing,
    out: Vec<Command>,
    /// The channel's masked input ranges (sorted), the first that may still come, and the
    /// offset of the next input byte.
    masked: Vec<(u64, u64)>,
    next_masked: usize,
    input_at: u64,
}

impl Rebuild {
    fn finish(&mut self, at: u64) {
        if let Some(col) = self.typing.start_col {
            let text = self.line.text_from(col);
            let blind = self.typing.masked_keys > 0 && self.typing.masked_keys >= self.typing.keys;
            if !text.is_empty() && !blind {
                self.out.push(Command {
                    at,
                    text,
                    hidden: false,
                });
            } else if self.typing.keys > 0 {
                self.out.push(Command {
                    at,
                    text: crate::mask::MASK.to_string(),
                    hidden: true,
                });
            }
        }
        self.typing = Typing::default();
    }

    fn input(&mut self, at: u64, data: &[u8]) {
        for &b in data {
            let offset = self.input_at;
            self.input_at += 1;
            while self
                .masked
                .get(self.next_masked)
                .is_some_and(|&(_, to)| to <= offset)
            {
                self.next_masked += 1;
            }
            let masked = self
                .masked
                .get(self.next_masked)
                .is_some_and(|&(from, _)| from <= offset);
            if let Some(enter_at) = self.typing.enter_at {
                // A key before the echo of Enter came back: take the line as it is.
                self.finish(enter_at);
            }
            if self.typing.in_escape {
                // CSI/SS3 keys end with a letter or `~`.
                if (b.is_ascii_alphabetic() || b == b'~') && b != b'O' {
                    self.typing.in_escape = false;
                }
                continue;
            }
            let begin = |t: &mut Typing, col: usize| {
                if t.start_col.is_none() {
                    t.start_col = Some(col);
                }
            };
            match b {
                b'\r' | b'\n' => {
                    if self.typing.start_col.is_some() {
                        self.typing.enter_at = Some(at);
                    }
                }
                // Ctrl-C, Ctrl-D, Ctrl-G: whatever was typed is abandoned.
                0x03 | 0x04 | 0x07 => self.typing = Typing::default(),
                0x1b => {
                    begin(&mut self.typing, self.line.cursor);
                    self.typing.in_escape = true;
                }
                0x7f | 0x08 => self.typing.keys = self.typing.keys.saturating_sub(1),
                0x15 => self.typing.keys = 0,
                0x00..=0x1f => begin(&mut self.typing, self.line.cursor),
                _ => {
                    begin(&mut self.typing, self.line.cursor);
                    self.typing.keys += 1;
                    self.typing.masked_keys += usize::from(masked);
                }
            }
        }
    }

    fn output(&mut self, mut data: &[u8]) {
        loop {
            if self.typing.start_col.is_none() {
                // Nobody is typing: only the text after the last line feed can become the
                // prompt, so skip to it (most output of a busy session is never looked at).
                if let Some(i) = data.iter().rposition(|&b| b == b'\n') {
                    self.line.clear();
                    self.line.esc.reset();
                    data = data.get(i + 1..).unwrap_or_default();
                }
            }
            let mut rest = None;
            for (i, &b) in data.iter().enumerate() {
                if let Effect::Newline = self.line.feed(b) {
                    let finished = self.typing.enter_at.is_some();
                    if let Some(at) = self.typing.enter_at {
                        self.finish(at);
                    }
                    self.line.clear();
                    if finished {
                        rest = Some(i + 1);
                        break;
                    }
                }
            }
            match rest.and_then(|i| data.get(i..)) {
                Some(more) if !more.is_empty() => data = more,
                _ => return,
            }
        }
    }
}

/// The command lines typed on `channel`, in order.
pub fn commands(events: &[(u64, Event)], channel: Option<u32>) -> Vec<Command> {
    let Some(channel) = channel else {
        return Vec::new();
    };
    let mut r = Rebuild {
        line: Line::default(),
        typing: Typing::default(),
        out: Vec::new(),
        masked: crate::mask::masked_ranges(events)
            .remove(&channel)
            .unwrap_or_default(),
        next_masked: 0,
        input_at: 0,
    };
    for (at, event) in events {
        match event {
            Event::Input { channel: c, data } if *c == channel => r.input(*at, data),
            Event::Output { channel: c, data } | Event::Stderr { channel: c, data }
                if *c == channel =>
            {
                r.output(data)
            }
            // Everything else neither types nor echoes on this line.
            _ => {}
        }
    }
    if let Some(at) = r.typing.enter_at {
        r.finish(at);
    }
    r.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{input, output, pty};

    fn texts(events: &[(u64, Event)]) -> Vec<(u64, String, bool)> {
        commands(events, Some(0))
            .into_iter()
            .map(|c| (c.at, c.text, c.hidden))
            .collect()
    }

    #[test]
    fn typed_and_echoed_commands_are_listed_without_the_prompt() {
        let events = vec![
            output(0, b"\x1b[01;32malice@web01\x1b[00m:~$ "),
            input(10, b"l"),
            output(11, b"l"),
            input(12, b"s"),
            output(13, b"s"),
            input(14, b"\r"),
            output(15, b"\r\nfile1  file2\r\nalice@web01:~$ "),
            input(20, b"uptime\r"),
            output(21, b"uptime\r\n 10:00 up 3 days\r\n$ "),
        ];
        assert_eq!(
            texts(&events),
            vec![(14, "ls".into(), false), (20, "uptime".into(), false)]
        );
    }

    #[test]
    fn backspace_history_and_tab_completion_show_what_ran() {
        let events = vec![
            output(0, b"$ "),
            // "cat" then backspace twice, "p": echo erases with BS SP BS.
            input(1, b"cat"),
            output(2, b"cat"),
            input(3, b"\x7f\x7f"),
            output(4, b"\x08 \x08\x08 \x08"),
            input(5, b"p /etc/hos\t"),
            output(6, b"p /etc/hosts "),
            input(7, b"\r"),
            output(8, b"\r\n"),
            output(9, b"$ "),
            // Up arrow recalls the previous command.
            input(10, b"\x1b[A"),
            output(11, b"cp /etc/hosts "),
            input(12, b"\r"),
            output(13, b"\r\n$ "),
        ];
        assert_eq!(
            texts(&events),
            vec![
                (7, "cp /etc/hosts".into(), false),
                (12, "cp /etc/hosts".into(), false)
            ]
        );
    }

    #[test]
    fn unechoed_input_is_hidden_and_ctrl_c_abandons() {
        let events = vec![
            output(0, b"$ "),
            input(1, b"sudo -i\r"),
            output(2, b"sudo -i\r\n[sudo] password for alice: "),
            input(3, b"hunter2\r"),
            output(4, b"\r\n# "),
            input(5, b"rm -rf /tmp/x"),
            output(6, b"rm -rf /tmp/x"),
            input(7, b"\x03"),
            output(8, b"^C\r\n# "),
            input(9, b"\r"),
            output(10, b"\r\n# "),
        ];
        let got = texts(&events);
        assert_eq!(
            got,
            vec![(1, "sudo -i".into(), false), (3, "••••".into(), true)]
        );
        assert!(!format!("{got:?}").contains("hunter2"));
    }

    #[test]
    fn an_answer_typed_blind_before_a_prompt_without_line_feed_is_hidden() {
        let mut events = vec![pty()];
        events.extend([
            output(1, b"ready\r\n"),
            input(2, b"s3cr3t\r"),
            output(3, b"root@web01:~# "),
            input(4, b"exit\r"),
            output(5, b"exit\r\n"),
        ]);
        assert_eq!(
            texts(&events),
            vec![(2, "••••".into(), true), (4, "exit".into(), false)]
        );
    }

    #[test]
    fn readline_redraws_with_cursor_moves_are_followed() {
        let events = vec![
            output(0, "$ ".as_bytes()),
            input(1, b"echo wrld"),
            output(2, b"echo wrld"),
            // Left three times, insert "o": readline redraws the rest.
            input(3, b"\x1b[D\x1b[D\x1b[Do"),
            output(4, b"\x08\x08\x08\x1b[1@o"),
            input(5, b"\r"),
            output(6, "\r\n世界\r\n$ ".as_bytes()),
            input(7, "echo 世界\r".as_bytes()),
            output(8, "echo 世界\r\n".as_bytes()),
        ];
        assert_eq!(
            texts(&events),
            vec![
                (5, "echo world".into(), false),
                (7, "echo 世界".into(), false)
            ]
        );
    }

    #[test]
    fn no_channel_no_commands_and_enter_without_echo_at_the_end_counts() {
        assert!(commands(&[input(1, b"ls\r")], None).is_empty());
        let events = vec![output(0, b"$ "), input(1, b"exit\r"), output(2, b"exit")];
        assert_eq!(texts(&events), vec![(1, "exit".into(), false)]);
    }
}
