//! The relay of one running session channel: engineer → recorder → target for input, and
//! target → recorder → engineer for output, each direction its own loop with bounded
//! queues. Every byte is recorded before it is forwarded, so nothing reaches either side
//! that is not in the recording; the engineer's SSH window goes back only as input is
//! consumed (`window_on_consume`), and output waits for the engineer's window. Not the
//! setup of a channel or the decision of what it may run ([`super::channel`]).

use bytes::Bytes;
use policy::{ChannelRequest, Decision};
use recordings::{Event, Side, Stream};
use russh::{server, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Sig};
use serde_json::json;

use super::channel::rules;
use super::connection::ConnState;
use super::session::LiveSession;
use super::upload::{ScpSink, Uploaded};
use crate::enforcer::{trip, End, EndCode};
use crate::recorder::Recorder;
use crate::tap::Frame;

type ToEngineer = ChannelWriteHalf<server::Msg>;

pub(super) fn len_u32(data: &[u8]) -> u32 {
    u32::try_from(data.len()).unwrap_or(u32::MAX)
}

pub(super) fn id_u32(id: russh::ChannelId) -> u32 {
    u32::from(id)
}

/// Input: engineer → recorder → target.
pub(super) async fn engineer_to_target(
    conn: &ConnState,
    live: &LiveSession,
    id: russh::ChannelId,
    from_engineer: ChannelReadHalf,
    to_target: &ChannelWriteHalf<russh::client::Msg>,
    target: &str,
    upload: Option<ScpSink>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(IN_QUEUE);
    tokio::join!(
        drain_engineer(live, from_engineer, tx),
        write_target(conn, live, id, rx, to_target, target, upload),
    );
}

/// Messages queued between the engineer's connection and the target. Their bytes are
/// bounded by the SSH window, which goes back to the engineer only as input is consumed
/// (`window_on_consume`); the count bounds tiny packets. The connection must not stop
/// reading while the target is slow: the engineer's window adjustments for output travel
/// in the same stream, and a program that echoes (`cat`) would deadlock both directions.
const IN_QUEUE: usize = 4096;

/// Records and audits each uploaded file with its digest.
async fn record_uploads(
    conn: &ConnState,
    live: &LiveSession,
    ch: u32,
    target: &str,
    files: Vec<Uploaded>,
) -> Result<(), crate::recorder::RecordingFailed> {
    for file in files {
        live.recorder
            .record(Event::Upload {
                channel: ch,
                path: file.path.clone(),
                size: file.size,
                sha256: file.sha256,
            })
            .await?;
        conn.ctx
            .audit(
                &conn.engineer,
                "upload",
                target,
                json!({
                    "session": live.id,
                    "path": String::from_utf8_lossy(&file.path),
                    "size": file.size,
                    "sha256": hex::encode(file.sha256),
                }),
            )
            .await;
    }
    Ok(())
}

/// Takes the engineer's channel messages off the connection as they arrive.
async fn drain_engineer(
    live: &LiveSession,
    mut from_engineer: ChannelReadHalf,
    tx: tokio::sync::mpsc::Sender<ChannelMsg>,
) {
    loop {
        let msg = tokio::select! {
            msg = from_engineer.wait() => msg,
            _ = live.ended() => return,
        };
        let Some(msg) = msg else { return };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Records each engineer message and passes it to the target, within the target's window.
async fn write_target(
    conn: &ConnState,
    live: &LiveSession,
    id: russh::ChannelId,
    mut rx: tokio::sync::mpsc::Receiver<ChannelMsg>,
    to_target: &ChannelWriteHalf<russh::client::Msg>,
    target: &str,
    mut upload: Option<ScpSink>,
) {
    let ch = id_u32(id);
    let rec = &live.recorder;
    loop {
        let msg = tokio::select! {
            msg = rx.recv() => msg,
            _ = live.ended() => return,
        };
        let Some(msg) = msg else {
            let _ = to_target.close().await;
            return;
        };
        let recorded = match msg {
            ChannelMsg::Data { data } => {
                live.touch();
                let r = rec.record_data(Stream::Input, ch, data.clone()).await;
                let len = len_u32(&data);
                // An allowed upload: each file's digest goes into the recording before its
                // last byte reaches the target.
                let files = upload.as_mut().map(|u| u.feed(&data)).unwrap_or_default();
                let r = match r {
                    Ok(()) => record_uploads(conn, live, ch, target, files).await,
                    failed => failed,
                };
                if r.is_ok() && to_target.data_bytes(data).await.is_err() {
                    return;
                }
                let _ = conn.handle.consumed(id, len).await;
                r
            }
            ChannelMsg::Eof => {
                let r = rec
                    .record(Event::Eof {
                        channel: ch,
                        from: Side::Engineer,
                    })
                    .await;
                let _ = to_target.eof().await;
                r
            }
            ChannelMsg::Close => {
                let _ = rec
                    .record(Event::ChannelClose {
                        channel: ch,
                        from: Side::Engineer,
                    })
                    .await;
                let _ = to_target.close().await;
                return;
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            } => {
                let r = rec
                    .record(Event::Resize {
                        channel: ch,
                        cols: col_width,
                        rows: row_height,
                    })
                    .await;
                let _ = to_target
                    .window_change(col_width, row_height, pix_width, pix_height)
                    .await;
                live.tap.publish(Frame::Resize {
                    cols: col_width,
                    rows: row_height,
                });
                r
            }
            ChannelMsg::Signal { signal } => {
                let r = rec
                    .record(Event::Signal {
                        channel: ch,
                        name: sig_name(&signal),
                    })
                    .await;
                let _ = to_target.signal(signal).await;
                r
            }
            ChannelMsg::RequestX11 { .. } => {
                refused_live(conn, live, ch, &ChannelRequest::X11, "x11", target).await;
                let _ = conn.handle.channel_failure(id).await;
                Ok(())
            }
            ChannelMsg::AgentForward { .. } => {
                refused_live(
                    conn,
                    live,
                    ch,
                    &ChannelRequest::AgentForward,
                    "agent forwarding",
                    target,
                )
                .await;
                Ok(())
            }
            // A channel runs one program: a second pty, shell, exec or subsystem is refused.
            ChannelMsg::RequestPty { .. }
            | ChannelMsg::RequestShell { .. }
            | ChannelMsg::Exec { .. }
            | ChannelMsg::RequestSubsystem { .. } => {
                let _ = conn.handle.channel_failure(id).await;
                Ok(())
            }
            // Engineers have no stderr towards the target: dropped, its window given back.
            ChannelMsg::ExtendedData { data, .. } => {
                let _ = conn.handle.consumed(id, len_u32(&data)).await;
                Ok(())
            }
            // Environment after the program started is meaningless.
            ChannelMsg::SetEnv { .. } => Ok(()),
            // Not sent by clients on a running session channel.
            ChannelMsg::Open { .. }
            | ChannelMsg::XonXoff { .. }
            | ChannelMsg::ExitStatus { .. }
            | ChannelMsg::ExitSignal { .. }
            | ChannelMsg::WindowAdjusted { .. }
            | ChannelMsg::Success
            | ChannelMsg::Failure
            | ChannelMsg::OpenFailure(_) => Ok(()),
            _ => Ok(()),
        };
        if recorded.is_err() {
            trip(&live.end, End::recording_failed());
            return;
        }
    }
}

/// Packets queued between reading the target and writing to the engineer (each at most
/// 32 KiB, so at most 4 MiB per channel). The queue lets the target keep draining while
/// the engineer's connection is momentarily busy taking input: without it, a program that
/// echoes its input (`cat`) would deadlock both directions under a bulk paste.
const OUT_QUEUE: usize = 128;

/// What goes back to the engineer, in the target's order.
enum Out {
    Data(Bytes),
    Ext(u32, Bytes),
    Eof,
    Close,
    Exit(u32),
    Signal {
        sig: Sig,
        core_dumped: bool,
        message: String,
        lang: String,
    },
    Success,
    Failure,
}

/// Output: target → recorder → engineer; also carries the end line when the session ends.
pub(super) async fn target_to_engineer(
    conn: &ConnState,
    live: &LiveSession,
    id: russh::ChannelId,
    from_target: ChannelReadHalf,
    to_engineer: &ToEngineer,
    pty: bool,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(OUT_QUEUE);
    tokio::join!(
        read_target(live, id_u32(id), from_target, tx, pty),
        write_engineer(conn, live, id, rx, to_engineer, pty),
    );
}

/// Reads the target's channel and records each message before queueing it.
async fn read_target(
    live: &LiveSession,
    ch: u32,
    mut from_target: ChannelReadHalf,
    tx: tokio::sync::mpsc::Sender<Out>,
    pty: bool,
) {
    let rec: &Recorder = &live.recorder;
    // The target's EOF is held back until its exit status (or close): an OpenSSH client
    // whose input is done closes the channel on EOF, and russh answers that close at once,
    // so an exit status that came after the EOF would never reach the engineer.
    let mut eof_held = false;
    loop {
        let msg = tokio::select! {
            msg = from_target.wait() => msg,
            _ = live.ended() => return,
        };
        let Some(msg) = msg else {
            if eof_held {
                let _ = tx.send(Out::Eof).await;
            }
            let _ = tx.send(Out::Close).await;
            return;
        };
        let release_eof = eof_held
            && matches!(
                msg,
                ChannelMsg::ExitStatus { .. } | ChannelMsg::ExitSignal { .. } | ChannelMsg::Close
            );
        let (event, out) = match msg {
            ChannelMsg::Data { data } => {
                live.touch();
                if rec
                    .record_data(Stream::Output, ch, data.clone())
                    .await
                    .is_err()
                {
                    return recording_failed(live);
                }
                if pty {
                    live.tap.publish(Frame::Output(data.clone()));
                }
                (None, Some(Out::Data(data)))
            }
            ChannelMsg::ExtendedData { data, ext } => {
                if rec
                    .record_data(Stream::Stderr, ch, data.clone())
                    .await
                    .is_err()
                {
                    return recording_failed(live);
                }
                if pty {
                    live.tap.publish(Frame::Output(data.clone()));
                }
                (None, Some(Out::Ext(ext, data)))
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
                Some(Out::Close),
            ),
            ChannelMsg::ExitStatus { exit_status } => (
                Some(Event::ExitStatus {
                    channel: ch,
                    code: exit_status,
                }),
                Some(Out::Exit(exit_status)),
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
                Some(Out::Signal {
                    sig: signal_name,
                    core_dumped,
                    message: error_message,
                    lang: lang_tag,
                }),
            ),
            // The reply to the shell/exec/subsystem request, passed on in order.
            ChannelMsg::Success => (None, Some(Out::Success)),
            ChannelMsg::Failure => (None, Some(Out::Failure)),
            // Flow control is russh's; requests a server would never send a client are ignored.
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
            if rec.record(event).await.is_err() {
                trip(&live.end, End::recording_failed());
                return;
            }
        }
        if let Some(out) = out {
            let closing = matches!(out, Out::Close);
            let closing_first = closing && release_eof;
            if closing_first {
                eof_held = false;
                if tx.send(Out::Eof).await.is_err() {
                    return;
                }
            }
            if tx.send(out).await.is_err() || closing {
                return;
            }
            if release_eof && eof_held {
                eof_held = false;
                if tx.send(Out::Eof).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Ends the session because its recording failed (fail closed).
fn recording_failed(live: &LiveSession) {
    trip(&live.end, End::recording_failed());
}

/// Writes queued output to the engineer, within the engineer's SSH window.
async fn write_engineer(
    conn: &ConnState,
    live: &LiveSession,
    id: russh::ChannelId,
    mut rx: tokio::sync::mpsc::Receiver<Out>,
    to_engineer: &ToEngineer,
    pty: bool,
) {
    let mut notices = live.notices.subscribe();
    let nl = if pty { "\r\n" } else { "\n" };
    loop {
        let out = tokio::select! {
            out = rx.recv() => out,
            end = live.ended() => {
                say_end(to_engineer, pty, &end).await;
                return;
            }
            notice = notices.recv() => {
                // Warnings go to the engineer's terminal only, never to the target.
                if let Ok(text) = notice {
                    let line = format!(
                        "{nl}menwei: {text}; for more time: ssh {}@GATEWAY extend {} 30m \"why\"{nl}",
                        conn.engineer, live.target
                    );
                    let _ = to_engineer.extended_data_bytes(1, Bytes::from(line)).await;
                }
                continue;
            }
        };
        let delivered = match out {
            None => return,
            Some(Out::Data(data)) => to_engineer.data_bytes(data).await.is_ok(),
            Some(Out::Ext(ext, data)) => to_engineer.extended_data_bytes(ext, data).await.is_ok(),
            Some(Out::Eof) => to_engineer.eof().await.is_ok(),
            Some(Out::Close) => {
                let _ = to_engineer.close().await;
                return;
            }
            Some(Out::Exit(code)) => to_engineer.exit_status(code).await.is_ok(),
            Some(Out::Signal {
                sig,
                core_dumped,
                message,
                lang,
            }) => conn
                .handle
                .exit_signal_request(id, sig, core_dumped, message, lang)
                .await
                .is_ok(),
            Some(Out::Success) => conn.handle.channel_success(id).await.is_ok(),
            Some(Out::Failure) => conn.handle.channel_failure(id).await.is_ok(),
        };
        if !delivered {
            return;
        }
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

/// A request refused while the program runs: recorded, audited; the program goes on.
async fn refused_live(
    conn: &ConnState,
    live: &LiveSession,
    ch: u32,
    req: &ChannelRequest<'_>,
    what: &str,
    target: &str,
) {
    let refusal = match policy::channel_request(req, &rules(conn, Some(target))) {
        Decision::Deny(r) => r,
        Decision::Allow(()) => return,
    };
    conn.ctx
        .audit(&conn.engineer, "channel.refused", target, json!({"request": what, "code": refusal.code, "session": live.id, "client": conn.client_addr}))
        .await;
    let _ = live
        .recorder
        .record(Event::Refused {
            channel: Some(ch),
            what: what.into(),
            reason: refusal.message,
        })
        .await;
}
