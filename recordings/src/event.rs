//! What a recording holds: the events of one SSH connection's session channels.
//!
//! This file only defines the events; their byte encoding lives in `codec.rs`. Data that
//! can be arbitrary bytes on the wire (terminal data, command lines, environment values,
//! file names) is kept as `Vec<u8>`; names that SSH defines as text are `String`.

/// Which party sent something on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The engineer's SSH client (or the browser terminal).
    Engineer,
    /// The target server.
    Target,
}

/// The three byte streams of a session channel, for [`crate::Writer::push_data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Engineer to target (keystrokes, stdin).
    Input,
    /// Target to engineer, stdout.
    Output,
    /// Target to engineer, stderr (SSH extended data).
    Stderr,
}

/// One recorded event. Timestamps are kept beside it, as microseconds since the recording
/// started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A channel was opened, e.g. `kind` = `"session"`.
    ChannelOpen {
        /// Channel id (the gateway's numbering, stable within the connection).
        channel: u32,
        /// SSH channel type.
        kind: String,
    },
    /// A pseudo-terminal was requested.
    Pty {
        /// Channel id.
        channel: u32,
        /// Terminal type, e.g. `xterm-256color`.
        term: String,
        /// Width in characters.
        cols: u32,
        /// Height in rows.
        rows: u32,
        /// Encoded terminal modes (opcode, value) as sent by the client, e.g. ECHO = 53.
        modes: Vec<(u8, u32)>,
    },
    /// An environment variable was passed (only those the gateway let through).
    Env {
        /// Channel id.
        channel: u32,
        /// Variable name.
        name: String,
        /// Variable value, raw.
        value: Vec<u8>,
    },
    /// An interactive shell was started.
    Shell {
        /// Channel id.
        channel: u32,
    },
    /// A command was executed.
    Exec {
        /// Channel id.
        channel: u32,
        /// The command line, raw.
        command: Vec<u8>,
    },
    /// A subsystem was started (only those policy allows).
    Subsystem {
        /// Channel id.
        channel: u32,
        /// Subsystem name.
        name: String,
    },
    /// Bytes from the engineer to the target.
    Input {
        /// Channel id.
        channel: u32,
        /// The bytes, raw.
        data: Vec<u8>,
    },
    /// Bytes from the target's stdout to the engineer.
    Output {
        /// Channel id.
        channel: u32,
        /// The bytes, raw.
        data: Vec<u8>,
    },
    /// Bytes from the target's stderr to the engineer.
    Stderr {
        /// Channel id.
        channel: u32,
        /// The bytes, raw.
        data: Vec<u8>,
    },
    /// The engineer's terminal changed size.
    Resize {
        /// Channel id.
        channel: u32,
        /// New width in characters.
        cols: u32,
        /// New height in rows.
        rows: u32,
    },
    /// The engineer sent a signal to the remote process.
    Signal {
        /// Channel id.
        channel: u32,
        /// Signal name without `SIG`, e.g. `INT`.
        name: String,
    },
    /// A file upload that policy allowed, with its digest.
    Upload {
        /// Channel id.
        channel: u32,
        /// Destination path as given by the client, raw.
        path: Vec<u8>,
        /// Size in bytes.
        size: u64,
        /// SHA-256 of the uploaded content.
        sha256: [u8; 32],
    },
    /// One side will send no more data on the channel.
    Eof {
        /// Channel id.
        channel: u32,
        /// Who sent the EOF.
        from: Side,
    },
    /// The remote command exited with a status.
    ExitStatus {
        /// Channel id.
        channel: u32,
        /// Exit status.
        code: u32,
    },
    /// The remote command was killed by a signal.
    ExitSignal {
        /// Channel id.
        channel: u32,
        /// Signal name without `SIG`, e.g. `KILL`.
        signal: String,
        /// Whether a core was dumped.
        core_dumped: bool,
        /// Error message sent with the signal.
        message: String,
    },
    /// The channel was closed.
    ChannelClose {
        /// Channel id.
        channel: u32,
        /// Who closed first.
        from: Side,
    },
    /// The gateway refused a request (port forwarding, SFTP, agent, X11, ...).
    Refused {
        /// The channel the request came on; `None` for connection-level requests.
        channel: Option<u32>,
        /// What was asked, e.g. `direct-tcpip to port 5432` or `subsystem sftp`.
        what: String,
        /// Why it was refused, as shown to the engineer.
        reason: String,
    },
    /// Free text from the gateway, e.g. a warning shown to the engineer before the grant ends.
    Marker {
        /// The text.
        text: String,
    },
    /// Input the terminal did not echo (a password at a prompt), decided while recording
    /// (`mask.rs`): replay and exports show it as `••••` unless an auditor unmasks. Recorded
    /// after the input it covers.
    Masked {
        /// Channel id.
        channel: u32,
        /// Offset in the channel's input stream (all its `Input` bytes so far) of the first
        /// masked byte.
        from: u64,
        /// One past the last masked byte.
        to: u64,
    },
}

impl Event {
    /// The channel the event belongs to, if any.
    pub fn channel(&self) -> Option<u32> {
        match self {
            Event::ChannelOpen { channel, .. }
            | Event::Pty { channel, .. }
            | Event::Env { channel, .. }
            | Event::Shell { channel }
            | Event::Exec { channel, .. }
            | Event::Subsystem { channel, .. }
            | Event::Input { channel, .. }
            | Event::Output { channel, .. }
            | Event::Stderr { channel, .. }
            | Event::Resize { channel, .. }
            | Event::Signal { channel, .. }
            | Event::Upload { channel, .. }
            | Event::Eof { channel, .. }
            | Event::ExitStatus { channel, .. }
            | Event::ExitSignal { channel, .. }
            | Event::ChannelClose { channel, .. }
            | Event::Masked { channel, .. } => Some(*channel),
            Event::Refused { channel, .. } => *channel,
            Event::Marker { .. } => None,
        }
    }
}
