//! The pipe of one session channel, which both front doors drive: the SSH relay
//! (`ssh/relay.rs`) and the browser terminal (`web/terminal.rs`).
//!
//! Every event is recorded before it is forwarded, in both directions: the engineer's
//! input, resizes, signals, EOF and close go to the recording and then to the target; the
//! target's output, stderr, EOF, exit status and close go to the recording, to watchers,
//! and then into the one bounded queue towards the engineer ([`super::queue`], measured in
//! bytes). "Recorded" means the recorder accepted the event with its room on disk taken
//! ([`super::recorder`]): it will be in the file even if the disk fills or the session's
//! size limit is reached right after, so nothing reaches the target that the recording
//! lacks. A control message whose recording was refused is not forwarded. One failure
//! rule: if the recording takes no more events, the session ends with
//! [`End::recording_stopped`], saying why. One rule for watchers: they see a terminal
//! channel's (one with a PTY) output, stderr and size.
//!
//! How the engineer's side is read and written (SSH windows, WebSocket frames, the end
//! line) is the front door's business; what the channel may run is decided before the pipe
//! starts (`policy::channel_request`).

use bytes::Bytes;
use recordings::{Event, Side, Stream};
use russh::{client, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Pty, Sig};

use super::enforcer::{trip, End};
use super::guard::Guard;
use super::queue::{self, MIN_COST};
use super::recorder::RecordingStopped;
use super::tap::Frame;
use super::upstream::Lost;
use super::LiveSession;

/// How long a channel that vanished waits to hear how its connection was lost (russh says
/// so before it drops the channels; this only bounds a connection that never says).
const LOST_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The target's side of a channel, for writing.
pub type ToTarget = ChannelWriteHalf<client::Msg>;

/// Bytes of the engineer's input waiting for the target, per channel. On SSH the
/// engineer's window (2 MiB, given back only as input is consumed) keeps it from filling;
/// the connection must never stop reading while a target is slow, or the engineer's window
/// adjustments for output, which travel in the same stream, would stall an echoing program.
pub const INPUT_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of the target's output waiting for the engineer, per channel. The target keeps
/// draining while a write to the engineer is in flight; an engineer who stops reading fills
/// it, and then the target is held back by its SSH window instead of the gateway growing.
pub const OUTPUT_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// The queue towards the engineer of one channel.
pub fn output_queue() -> (queue::Sender<Output>, queue::Receiver<Output>) {
    queue::bounded(OUTPUT_QUEUE_BYTES, "engineer")
}

/// The queue of the engineer's input of one channel, in the front door's own messages.
pub fn input_queue<T>() -> (queue::Sender<T>, queue::Receiver<T>) {
    queue::bounded(INPUT_QUEUE_BYTES, "target")
}

/// The program a channel runs on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// An interactive shell.
    Shell,
    /// `ssh … command`.
    Exec(Vec<u8>),
    /// A subsystem by name (refused before this point unless policy allows it).
    Subsystem(String),
}

/// A pseudo-terminal as the engineer asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtySpec {
    /// `TERM`.
    pub term: String,
    /// Width in characters.
    pub cols: u32,
    /// Height in rows.
    pub rows: u32,
    /// Width in pixels (0 when unknown).
    pub pix_width: u32,
    /// Height in pixels (0 when unknown).
    pub pix_height: u32,
    /// Terminal modes.
    pub modes: Vec<(Pty, u32)>,
}

/// How a channel starts on the target: each part recorded, then replayed there.
pub struct Start<'a> {
    /// What opened it: `session` (SSH) or `browser`.
    pub kind: &'a str,
    /// Requests refused before the program started (what, why): recorded only.
    pub refused: &'a [(String, String)],
    /// Environment that passed the allow-list.
    pub env: &'a [(String, String)],
    /// The pseudo-terminal, if any.
    pub pty: Option<&'a PtySpec>,
    /// The program.
    pub program: &'a Program,
    /// Whether the target's answer to a shell request is passed on (an SSH client that
    /// asked for a reply gets the target's); exec and subsystem always ask.
    pub shell_reply: bool,
}

/// Something the engineer sent on a running channel.
#[derive(Debug)]
pub enum Input {
    /// Bytes typed or piped.
    Data(Bytes),
    /// The terminal's new size.
    Resize {
        /// Width in characters.
        cols: u32,
        /// Height in rows.
        rows: u32,
        /// Width in pixels.
        pix_width: u32,
        /// Height in pixels.
        pix_height: u32,
    },
    /// A signal for the program.
    Signal(Sig),
    /// No more input.
    Eof,
    /// The engineer closed the channel.
    Close,
}

/// Something for the engineer, in the target's order.
#[derive(Debug)]
pub enum Output {
    /// Standard output (or a terminal's output).
    Data(Bytes),
    /// Extended data: `1` is stderr.
    Stderr(u32, Bytes),
    /// No more output.
    Eof,
    /// The target closed the channel.
    Close,
    /// The program's exit status.
    Exit(u32),
    /// The program died of a signal.
    ExitSignal {
        /// Which.
        sig: Sig,
        /// Whether it dumped core.
        core_dumped: bool,
        /// The target's message.
        message: String,
        /// Its language tag.
        lang: String,
    },
    /// The target's yes to the program request.
    Success,
    /// The target's no to the program request.
    Failure,
}

impl Output {
    /// What it costs in the queue.
    fn bytes(&self) -> usize {
        match self {
            Output::Data(d) | Output::Stderr(_, d) => d.len(),
            Output::ExitSignal { message, .. } => MIN_COST + message.len(),
            _ => MIN_COST,
        }
    }
}

/// Whether the channel goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Step {
    /// Go on.
    Go,
    /// The channel or the session is over (the recording failed, the target went away,
    /// the engineer closed it).
    Stop,
}

/// One channel of a live session, between the engineer's front door and the target.
pub struct Pipe<'a> {
    live: &'a LiveSession,
    ch: u32,
    pty: bool,
    to_target: &'a ToTarget,
    guard: Guard,
}

impl<'a> Pipe<'a> {
    /// The pipe of channel `ch` (the recording's channel number) of `live`; `pty` when the
    /// channel has a terminal, which is what watchers see.
    pub fn new(live: &'a LiveSession, ch: u32, pty: bool, to_target: &'a ToTarget) -> Pipe<'a> {
        Pipe {
            live,
            ch,
            pty,
            to_target,
            guard: Guard::new(),
        }
    }

    /// The pipe of an allowed upload's channel (`scp -t` where `allow_uploads` holds): a
    /// transfer by leave, which the guard does not stop.
    pub fn allowing_upload(self) -> Pipe<'a> {
        Pipe {
            guard: Guard::for_allowed_upload(),
            ..self
        }
    }

    /// The session this pipe belongs to.
    pub fn live(&self) -> &LiveSession {
        self.live
    }

    /// Ends the session because its recording takes no more events (fail closed).
    fn recording_stopped(&self, why: RecordingStopped) -> Step {
        trip(&self.live.end, End::recording_stopped(why));
        Step::Stop
    }

    /// Records an event that is not forwarded (a refusal, an upload's digest).
    pub async fn record(&self, event: Event) -> Step {
        match self.live.recorder.record(event).await {
            Ok(()) => Step::Go,
            Err(why) => self.recording_stopped(why),
        }
    }

    /// Records how the channel starts and replays it on the target, part by part: a part
    /// whose recording failed is not sent, and the session ends.
    pub async fn start(&self, start: Start<'_>) -> Step {
        let rec = &self.live.recorder;
        let ch = self.ch;
        let to_target = self.to_target;
        let replayed = async {
            rec.record(Event::ChannelOpen {
                channel: ch,
                kind: start.kind.into(),
            })
            .await?;
            for (what, reason) in start.refused {
                rec.record(Event::Refused {
                    channel: Some(ch),
                    what: what.clone(),
                    reason: reason.clone(),
                })
                .await?;
            }
            for (name, value) in start.env {
                rec.record(Event::Env {
                    channel: ch,
                    name: name.clone(),
                    value: value.clone().into_bytes(),
                })
                .await?;
                let _ = to_target.set_env(false, name.clone(), value.clone()).await;
            }
            if let Some(p) = start.pty {
                rec.record(Event::Pty {
                    channel: ch,
                    term: p.term.clone(),
                    cols: p.cols,
                    rows: p.rows,
                    modes: p.modes.iter().map(|(m, v)| (*m as u8, *v)).collect(),
                })
                .await?;
                self.live.tap.publish(Frame::Resize {
                    cols: p.cols,
                    rows: p.rows,
                });
                let _ = to_target
                    .request_pty(
                        false,
                        &p.term,
                        p.cols,
                        p.rows,
                        p.pix_width,
                        p.pix_height,
                        &p.modes,
                    )
                    .await;
            }
            match start.program {
                Program::Shell => {
                    rec.record(Event::Shell { channel: ch }).await?;
                    let _ = to_target.request_shell(start.shell_reply).await;
                }
                Program::Exec(cmd) => {
                    rec.record(Event::Exec {
                        channel: ch,
                        command: cmd.clone(),
                    })
                    .await?;
                    let _ = to_target.exec(true, cmd.clone()).await;
                }
                Program::Subsystem(name) => {
                    rec.record(Event::Subsystem {
                        channel: ch,
                        name: name.clone(),
                    })
                    .await?;
                    let _ = to_target.request_subsystem(true, name.clone()).await;
                }
            }
            Ok::<(), RecordingStopped>(())
        };
        match replayed.await {
            Ok(()) => Step::Go,
            Err(why) => self.recording_stopped(why),
        }
    }

    /// Records input bytes and shows them to the guard (not yet forwarded: see
    /// [`Pipe::forward_data`]); [`Step::Stop`] if they must not be.
    pub async fn record_input(&self, data: &Bytes) -> Step {
        self.live.touch();
        match self
            .live
            .recorder
            .record_data(Stream::Input, self.ch, data.clone())
            .await
        {
            Ok(()) => self
                .guard
                .check(self.live, self.ch, policy::Stream::Input, data, true),
            Err(why) => self.recording_stopped(why),
        }
    }

    /// Sends recorded input bytes to the target, within its window.
    pub async fn forward_data(&self, data: Bytes) -> Step {
        match self.to_target.data_bytes(data).await {
            Ok(()) => Step::Go,
            Err(_) => Step::Stop,
        }
    }

    /// Records one thing the engineer sent, then forwards it to the target.
    pub async fn input(&self, input: Input) -> Step {
        let ch = self.ch;
        let rec = &self.live.recorder;
        match input {
            Input::Data(data) => match self.record_input(&data).await {
                Step::Go => self.forward_data(data).await,
                Step::Stop => Step::Stop,
            },
            Input::Resize {
                cols,
                rows,
                pix_width,
                pix_height,
            } => {
                if self
                    .record(Event::Resize {
                        channel: ch,
                        cols,
                        rows,
                    })
                    .await
                    == Step::Stop
                {
                    return Step::Stop;
                }
                let _ = self
                    .to_target
                    .window_change(cols, rows, pix_width, pix_height)
                    .await;
                if self.pty {
                    self.live.tap.publish(Frame::Resize { cols, rows });
                }
                Step::Go
            }
            Input::Signal(sig) => {
                if self
                    .record(Event::Signal {
                        channel: ch,
                        name: sig_name(&sig),
                    })
                    .await
                    == Step::Stop
                {
                    return Step::Stop;
                }
                let _ = self.to_target.signal(sig).await;
                Step::Go
            }
            Input::Eof => {
                if self
                    .record(Event::Eof {
                        channel: ch,
                        from: Side::Engineer,
                    })
                    .await
                    == Step::Stop
                {
                    return Step::Stop;
                }
                let _ = self.to_target.eof().await;
                Step::Go
            }
            Input::Close => {
                // Closing goes through even when it cannot be recorded: the session ends
                // either way, and the supervisor seals what was written.
                let _ = rec
                    .record(Event::ChannelClose {
                        channel: ch,
                        from: Side::Engineer,
                    })
                    .await;
                let _ = self.to_target.close().await;
                Step::Stop
            }
        }
    }

    /// Records output bytes of the target, shows them to the guard and feeds them to
    /// watchers (terminal channels).
    async fn take_output(&self, stream: Stream, data: &Bytes) -> Step {
        self.live.touch();
        if let Err(why) = self
            .live
            .recorder
            .record_data(stream, self.ch, data.clone())
            .await
        {
            return self.recording_stopped(why);
        }
        let stdout = stream == Stream::Output;
        let step = self
            .guard
            .check(self.live, self.ch, policy::Stream::Output, data, stdout);
        if step == Step::Go && self.pty {
            self.live.tap.publish(Frame::Output(data.clone()));
        }
        step
    }

    /// Output: reads the target's channel, records each message, feeds watchers, and
    /// queues it for the engineer, until the target closes the channel or the session
    /// ends; a channel gone without its close ends the session as the target's fault. The target's EOF is held back until its exit status (or close): an OpenSSH
    /// client whose input is done closes the channel on EOF, and an exit status that came
    /// after the EOF would then never reach the engineer.
    pub async fn output(&self, mut from_target: ChannelReadHalf, queue: queue::Sender<Output>) {
        let ch = self.ch;
        let mut ending = self.live.ending();
        let mut eof_held = false;
        loop {
            let msg = tokio::select! {
                msg = from_target.wait() => msg,
                _ = ending.wait() => return,
            };
            let Some(msg) = msg else {
                // The channel ended without the target's close: its connection is gone. The
                // session ends saying so (the supervisor hears it too); what the target sent
                // before, an exit status included, is already queued for the engineer.
                let lost = tokio::time::timeout(LOST_WAIT, self.live.upstream.lost()).await;
                trip(
                    &self.live.end,
                    End::target_lost(lost.unwrap_or(Lost::Closed)),
                );
                return;
            };
            let release_eof = eof_held
                && matches!(
                    msg,
                    ChannelMsg::ExitStatus { .. }
                        | ChannelMsg::ExitSignal { .. }
                        | ChannelMsg::Close
                );
            let (event, out) = match msg {
                ChannelMsg::Data { data } => {
                    if self.take_output(Stream::Output, &data).await == Step::Stop {
                        return;
                    }
                    (None, Some(Output::Data(data)))
                }
                ChannelMsg::ExtendedData { data, ext } => {
                    if self.take_output(Stream::Stderr, &data).await == Step::Stop {
                        return;
                    }
                    (None, Some(Output::Stderr(ext, data)))
                }
                ChannelMsg::Eof => {
                    eof_held = true;
                    (
                        Some(Event::Eof {
                            channel: ch,
                            from: Side::Target,
                        }),
                        None,
                    )
                }
                ChannelMsg::Close => (
                    Some(Event::ChannelClose {
                        channel: ch,
                        from: Side::Target,
                    }),
                    Some(Output::Close),
                ),
                ChannelMsg::ExitStatus { exit_status } => (
                    Some(Event::ExitStatus {
                        channel: ch,
                        code: exit_status,
                    }),
                    Some(Output::Exit(exit_status)),
                ),
                ChannelMsg::ExitSignal {
                    signal_name,
                    core_dumped,
                    error_message,
                    lang_tag,
                } => (
                    Some(Event::ExitSignal {
                        channel: ch,
                        signal: sig_name(&signal_name),
                        core_dumped,
                        message: error_message.clone(),
                    }),
                    Some(Output::ExitSignal {
                        sig: signal_name,
                        core_dumped,
                        message: error_message,
                        lang: lang_tag,
                    }),
                ),
                // The reply to the shell/exec/subsystem request, passed on in order.
                ChannelMsg::Success => (None, Some(Output::Success)),
                ChannelMsg::Failure => (None, Some(Output::Failure)),
                // Flow control is russh's; requests a server never sends a client are
                // ignored.
                ChannelMsg::WindowAdjusted { .. }
                | ChannelMsg::XonXoff { .. }
                | ChannelMsg::Open { .. }
                | ChannelMsg::OpenFailure(_)
                | ChannelMsg::RequestPty { .. }
                | ChannelMsg::RequestShell { .. }
                | ChannelMsg::Exec { .. }
                | ChannelMsg::Signal { .. }
                | ChannelMsg::RequestSubsystem { .. }
                | ChannelMsg::RequestX11 { .. }
                | ChannelMsg::SetEnv { .. }
                | ChannelMsg::WindowChange { .. }
                | ChannelMsg::AgentForward { .. } => (None, None),
                _ => (None, None),
            };
            if let Some(event) = event {
                if self.record(event).await == Step::Stop {
                    return;
                }
            }
            let Some(out) = out else { continue };
            let closing = matches!(out, Output::Close);
            if closing && release_eof {
                eof_held = false;
                if queue.send(Output::Eof, MIN_COST).await.is_err() {
                    return;
                }
            }
            let cost = out.bytes();
            if queue.send(out, cost).await.is_err() || closing {
                return;
            }
            if release_eof && eof_held {
                eof_held = false;
                if queue.send(Output::Eof, MIN_COST).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Name of a signal as SSH spells it (without "SIG").
pub fn sig_name(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT".into(),
        Sig::ALRM => "ALRM".into(),
        Sig::FPE => "FPE".into(),
        Sig::HUP => "HUP".into(),
        Sig::ILL => "ILL".into(),
        Sig::INT => "INT".into(),
        Sig::KILL => "KILL".into(),
        Sig::PIPE => "PIPE".into(),
        Sig::QUIT => "QUIT".into(),
        Sig::SEGV => "SEGV".into(),
        Sig::TERM => "TERM".into(),
        Sig::USR1 => "USR1".into(),
        Sig::Custom(name) => name.clone(),
    }
}
