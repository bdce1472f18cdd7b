//! The SSH side of a running session channel: reads the engineer's channel into the input
//! queue, turns each SSH message into a call on the channel's [`Pipe`] (which records it,
//! then forwards it to the target), and writes the pipe's output to the engineer within
//! the engineer's SSH window. What is SSH's own stays here: the window given back as input
//! is consumed (`window_on_consume`), uploads' digests, requests refused while the program
//! runs, the replies to channel requests, and the end line. Not the setup of a channel or
//! the decision of what it may run ([`super::channel`]).

use bytes::Bytes;
use policy::{ChannelRequest, Decision};
use recordings::Event;
use russh::{server, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use serde_json::json;

use super::conn_state::ConnState;
use super::upload::{ScpSink, Uploaded};
use crate::session::enforcer::{trip, End, EndCode, Notice, NoticeCode};
use crate::session::pipe::{self, Input, Output, Pipe, Step};
use crate::session::queue::{self, MIN_COST};
use crate::session::LiveSession;

type ToEngineer = ChannelWriteHalf<server::Msg>;

pub(super) fn len_u32(data: &[u8]) -> u32 {
    u32::try_from(data.len()).unwrap_or(u32::MAX)
}

pub(super) fn id_u32(id: russh::ChannelId) -> u32 {
    u32::from(id)
}

/// The engineer's side of one channel, for [`run`].
pub(super) struct Engineer<'a> {
    pub conn: &'a ConnState,
    pub id: russh::ChannelId,
    pub from: ChannelReadHalf,
    pub to: &'a ToEngineer,
    pub pty: bool,
}

/// Relays one channel both ways until it closes or the session ends.
pub(super) async fn run(
    pipe: &Pipe<'_>,
    engineer: Engineer<'_>,
    from_target: ChannelReadHalf,
    target: &str,
    upload: Option<ScpSink>,
) {
    let Engineer {
        conn,
        id,
        from,
        to,
        pty,
    } = engineer;
    let (input, queued_input) = pipe::input_queue::<ChannelMsg>();
    let (output, queued_output) = pipe::output_queue();
    tokio::join!(
        drain_engineer(pipe.live(), from, input),
        write_target(conn, pipe, id, queued_input, target, upload),
        pipe.output(from_target, output),
        write_engineer(conn, pipe.live(), id, queued_output, to, pty),
    );
}

/// Records and audits each uploaded file with its digest.
async fn record_uploads(
    conn: &ConnState,
    pipe: &Pipe<'_>,
    ch: u32,
    target: &str,
    files: Vec<Uploaded>,
) -> Step {
    for file in files {
        let event = Event::Upload {
            channel: ch,
            path: file.path.clone(),
            size: file.size,
            sha256: file.sha256,
        };
        if pipe.record(event).await == Step::Stop {
            return Step::Stop;
        }
        // The file's last byte reaches the target only once its entry is written.
        let audited = conn
            .ctx
            .audit_before(
                &conn.engineer,
                "upload",
                target,
                json!({
                    "session": pipe.live().id,
                    "path": String::from_utf8_lossy(&file.path),
                    "size": file.size,
                    "sha256": hex::encode(file.sha256),
                }),
            )
            .await;
        if audited.is_err() {
            trip(&pipe.live().end, End::audit_failed());
            return Step::Stop;
        }
    }
    Step::Go
}

/// Takes the engineer's channel messages off the connection as they arrive, so that the
/// connection never stops reading while the target is slow.
async fn drain_engineer(
    live: &LiveSession,
    mut from_engineer: ChannelReadHalf,
    queue: queue::Sender<ChannelMsg>,
) {
    let mut ending = live.ending();
    loop {
        let msg = tokio::select! {
            msg = from_engineer.wait() => msg,
            _ = ending.wait() => return,
        };
        let Some(msg) = msg else { return };
        let bytes = match &msg {
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => data.len(),
            _ => MIN_COST,
        };
        if queue.send(msg, bytes).await.is_err() {
            return;
        }
    }
}

/// Turns each queued engineer message into a call on the pipe.
async fn write_target(
    conn: &ConnState,
    pipe: &Pipe<'_>,
    id: russh::ChannelId,
    mut queued: queue::Receiver<ChannelMsg>,
    target: &str,
    mut upload: Option<ScpSink>,
) {
    let ch = id_u32(id);
    let mut ending = pipe.live().ending();
    loop {
        let msg = tokio::select! {
            biased;
            _ = ending.wait() => return,
            msg = queued.recv() => msg,
        };
        // The engineer's side is gone without a close: the target's channel goes too.
        let Some(msg) = msg else {
            let _ = pipe.input(Input::Close).await;
            return;
        };
        let step = match msg {
            ChannelMsg::Data { data } => {
                let len = len_u32(&data);
                // An allowed upload: each file's digest goes into the recording before its
                // last byte reaches the target.
                let mut step = pipe.record_input(&data).await;
                if step == Step::Go {
                    let files = upload.as_mut().map(|u| u.feed(&data)).unwrap_or_default();
                    step = record_uploads(conn, pipe, ch, target, files).await;
                }
                if step == Step::Go {
                    step = pipe.forward_data(data).await;
                }
                let _ = conn.handle.consumed(id, len).await;
                step
            }
            ChannelMsg::Eof => pipe.input(Input::Eof).await,
            ChannelMsg::Close => pipe.input(Input::Close).await,
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            } => {
                pipe.input(Input::Resize {
                    cols: col_width,
                    rows: row_height,
                    pix_width,
                    pix_height,
                })
                .await
            }
            ChannelMsg::Signal { signal } => pipe.input(Input::Signal(signal)).await,
            ChannelMsg::RequestX11 { .. } => {
                let step = refused_live(conn, pipe, ch, &ChannelRequest::X11, "x11", target).await;
                let _ = conn.handle.channel_failure(id).await;
                step
            }
            ChannelMsg::AgentForward { .. } => {
                refused_live(
                    conn,
                    pipe,
                    ch,
                    &ChannelRequest::AgentForward,
                    "agent forwarding",
                    target,
                )
                .await
            }
            // A channel runs one program: a second pty, shell, exec or subsystem is refused.
            ChannelMsg::RequestPty { .. }
            | ChannelMsg::RequestShell { .. }
            | ChannelMsg::Exec { .. }
            | ChannelMsg::RequestSubsystem { .. } => {
                let _ = conn.handle.channel_failure(id).await;
                Step::Go
            }
            // Engineers have no stderr towards the target: dropped, its window given back.
            ChannelMsg::ExtendedData { data, .. } => {
                let _ = conn.handle.consumed(id, len_u32(&data)).await;
                Step::Go
            }
            // Environment after the program started is meaningless.
            ChannelMsg::SetEnv { .. } => Step::Go,
            // Not sent by clients on a running session channel.
            ChannelMsg::Open { .. }
            | ChannelMsg::XonXoff { .. }
            | ChannelMsg::ExitStatus { .. }
            | ChannelMsg::ExitSignal { .. }
            | ChannelMsg::WindowAdjusted { .. }
            | ChannelMsg::Success
            | ChannelMsg::Failure
            | ChannelMsg::OpenFailure(_) => Step::Go,
            _ => Step::Go,
        };
        if step == Step::Stop {
            return;
        }
    }
}

/// Writes the pipe's output to the engineer, within the engineer's SSH window; grant
/// warnings go to the engineer's terminal (never to the target), and the end line last.
async fn write_engineer(
    conn: &ConnState,
    live: &LiveSession,
    id: russh::ChannelId,
    mut queued: queue::Receiver<Output>,
    to_engineer: &ToEngineer,
    pty: bool,
) {
    let mut notices = live.notices.subscribe();
    let mut ending = live.ending();
    let nl = if pty { "\r\n" } else { "\n" };
    loop {
        let out = tokio::select! {
            // The session's end wins over what is still queued: its reason is the last
            // thing the engineer reads.
            biased;
            end = ending.wait() => {
                // A dead target sends nothing more: what it sent before (an exit status
                // above all) is still the engineer's, then the line. Bounded, since the
                // supervisor disconnects soon after.
                if end.by_target() {
                    let drained = tokio::time::timeout(DRAIN, async {
                        while let Some(out) = queued.recv().await {
                            match deliver(conn, id, to_engineer, out).await {
                                Delivered::Go => {}
                                // The target finished this channel before it died.
                                Delivered::Closed => return false,
                                Delivered::Failed => break,
                            }
                        }
                        true
                    })
                    .await;
                    if drained == Ok(false) {
                        return;
                    }
                }
                say_end(to_engineer, pty, &end).await;
                return;
            }
            out = queued.recv() => out,
            notice = notices.recv() => {
                if let Ok(Notice { code, text }) = notice {
                    let line = match code {
                        NoticeCode::GrantEnding => format!(
                            "{nl}menwei: {text}; for more time: ssh {}@GATEWAY extend {} 30m \"why\"{nl}",
                            conn.engineer, live.target
                        ),
                        NoticeCode::RecordingsDiskLow | NoticeCode::OutputLimitNear => {
                            format!("{nl}menwei: {text}{nl}")
                        }
                    };
                    let _ = to_engineer.extended_data_bytes(1, Bytes::from(line)).await;
                }
                continue;
            }
        };
        let Some(out) = out else {
            // The pipe stopped without the target's close: the session is ending (a dead
            // target, a recording that takes no more); its line is the last word.
            let end = ending.wait().await;
            say_end(to_engineer, pty, &end).await;
            return;
        };
        if deliver(conn, id, to_engineer, out).await != Delivered::Go {
            return;
        }
    }
}

/// How long the engineer's side takes what a dead target sent before it died.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(200);

/// What became of one output message towards the engineer.
#[derive(Debug, PartialEq, Eq)]
enum Delivered {
    /// Sent; more may follow.
    Go,
    /// The target's close, passed on: the channel is over.
    Closed,
    /// The engineer's channel takes no more.
    Failed,
}

/// Sends one output message to the engineer.
async fn deliver(
    conn: &ConnState,
    id: russh::ChannelId,
    to_engineer: &ToEngineer,
    out: Output,
) -> Delivered {
    let sent = match out {
        Output::Data(data) => to_engineer.data_bytes(data).await.is_ok(),
        Output::Stderr(ext, data) => to_engineer.extended_data_bytes(ext, data).await.is_ok(),
        Output::Eof => to_engineer.eof().await.is_ok(),
        Output::Close => {
            let _ = to_engineer.close().await;
            return Delivered::Closed;
        }
        Output::Exit(code) => to_engineer.exit_status(code).await.is_ok(),
        Output::ExitSignal {
            sig,
            core_dumped,
            message,
            lang,
        } => conn
            .handle
            .exit_signal_request(id, sig, core_dumped, message, lang)
            .await
            .is_ok(),
        Output::Success => conn.handle.channel_success(id).await.is_ok(),
        Output::Failure => conn.handle.channel_failure(id).await.is_ok(),
    };
    if sent {
        Delivered::Go
    } else {
        Delivered::Failed
    }
}

async fn say_end(to_engineer: &ToEngineer, pty: bool, end: &End) {
    if end.code == EndCode::ClientClosed {
        return;
    }
    let nl = if pty { "\r\n" } else { "\n" };
    let line = format!("{nl}menwei: {}{nl}", end.message);
    let _ = to_engineer.extended_data_bytes(1, Bytes::from(line)).await;
    let _ = to_engineer.eof().await;
    let _ = to_engineer.close().await;
}

/// A request refused while the program runs: recorded, audited; the program goes on.
async fn refused_live(
    conn: &ConnState,
    pipe: &Pipe<'_>,
    ch: u32,
    req: &ChannelRequest<'_>,
    what: &str,
    target: &str,
) -> Step {
    let refusal = match policy::channel_request(req, &conn.rules(Some(target)), target) {
        Decision::Deny(r) => r,
        Decision::Allow(()) => return Step::Go,
    };
    conn.log_refused(target, what, refusal.code, Some(&pipe.live().id));
    conn.ctx
        .audit(&conn.engineer, "channel.refused", target, json!({"request": what, "code": refusal.code, "session": pipe.live().id, "client": conn.client_addr}))
        .await;
    pipe.record(Event::Refused {
        channel: Some(ch),
        what: what.into(),
        reason: refusal.message,
    })
    .await
}
