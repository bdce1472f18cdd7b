//! Escape sequences in terminal output, followed byte by byte: what the command list's line
//! model (`commands.rs`) and the typed-secret inference (`mask.rs`) both need to tell text
//! from control. Not a terminal emulator: only where a sequence starts and ends, and the
//! parameters of a CSI sequence.

/// Parameter bytes kept of one CSI sequence (the rest are dropped).
const MAX_PARAMS: usize = 32;

/// What one byte of output was.
pub(crate) enum Byte {
    /// Not part of a sequence: text or a control character.
    Plain,
    /// The start or the inside of a sequence.
    Sequence,
    /// The final byte of a CSI sequence; its parameters are [`Escapes::params`].
    CsiEnd(u8),
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Ground,
    Escape,
    Csi,
    /// OSC, DCS, SOS, PM, APC: until BEL or ST.
    Str,
    StrEscape,
}

/// Where the output is: in a sequence or not, and the parameters of the CSI sequence read.
#[derive(Default)]
pub(crate) struct Escapes {
    state: State,
    params: Vec<u8>,
}

impl Escapes {
    /// Takes the next output byte.
    pub(crate) fn feed(&mut self, b: u8) -> Byte {
        self.state = match self.state {
            State::Ground if b == 0x1b => State::Escape,
            State::Ground => return Byte::Plain,
            State::Escape => match b {
                b'[' => {
                    self.params.clear();
                    State::Csi
                }
                b']' | b'P' | b'X' | b'^' | b'_' => State::Str,
                0x20..=0x2f => State::Escape,
                _ => State::Ground,
            },
            State::Csi if (0x40..=0x7e).contains(&b) => {
                self.state = State::Ground;
                return Byte::CsiEnd(b);
            }
            State::Csi => {
                if self.params.len() < MAX_PARAMS {
                    self.params.push(b);
                }
                State::Csi
            }
            State::Str => match b {
                0x07 => State::Ground,
                0x1b => State::StrEscape,
                _ => State::Str,
            },
            State::StrEscape if b == b'\\' => State::Ground,
            State::StrEscape => State::Str,
        };
        Byte::Sequence
    }

    /// How many of the first bytes of `data` are outside any sequence, up to the next ESC:
    /// bytes [`Escapes::feed`] would each take as [`Byte::Plain`] without changing state, so
    /// a reader with nothing to do for text skips them at once. None while in a sequence.
    pub(crate) fn plain_run(&self, data: &[u8]) -> usize {
        if self.state != State::Ground {
            return 0;
        }
        memchr::memchr(0x1b, data).unwrap_or(data.len())
    }

    /// The parameter bytes of the last CSI sequence (at most 32).
    pub(crate) fn params(&self) -> &[u8] {
        &self.params
    }

    /// Forgets a sequence in progress (output that starts afresh).
    pub(crate) fn reset(&mut self) {
        self.state = State::Ground;
    }
}
