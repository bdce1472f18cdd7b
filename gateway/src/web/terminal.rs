//! The browser terminal and live watch, over WebSockets (docs/web.md).
//!
//! `GET /api/v1/terminal?target=NAME&cols=&rows=&lang=`: an engineer's shell on a target
//! through the same decision, recording, enforcement and audit as SSH
//! ([`crate::session::live`]), in a UTF-8 locale for the page's language (`locale`):
//! binary frames carry terminal bytes both ways, text frames carry JSON control (`resize`
//! from the page; `notice` and `end` from the gateway). No file transfer of any kind: the
//! only thing that reaches the target is what is typed, as a PTY shell's input.
//!
//! `GET /api/v1/sessions/{id}/watch`: a read-only copy of a live session's terminal for
//! approvers and auditors, from the session's feed ([`crate::session::tap`]): its output, and its
//! size whenever that changes; what a watcher sends is ignored. Each watch is audited (who
//! watched what). A session another node holds is watched the same way through a relay
//! from that node ([`super::relay`]), audited here, where the watcher is.
//!
//! The frames are the `menwei-protocol` crate's, the same types the page parses.
//!
//! The data path of the terminal: a key from the page is recorded, then written to the
//! target's channel within its SSH window (a page typing faster than the target reads waits
//! on TCP); the target's output is recorded, fed to watchers, and queued for the page in a
//! bounded queue: the same [`Pipe`] and queues as SSH.
//!
//! Both check `Origin` against `[https] origin` before upgrading: a page from another site
//! cannot open them with the user's cookie. Both hold only while the login that opened them
//! does ([`login_ended`]): when it ends, the terminal's session ends (`login_ended`, the
//! page told why) and a watch stops; either socket then closes with
//! [`LOGIN_ENDED_CLOSE`] and the same line as its reason.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header::ORIGIN, HeaderMap};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use menwei_protocol::{GatewayMessage, Lang, PageMessage, LOGIN_ENDED_CLOSE};
use policy::{ChannelRequest, Decision};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::auth::{login_ended, Caller};
use super::error::{ApiCode, ApiError, ApiResult, Id, Params};
use super::relay::{Feed, Next};
use super::AppState;
use crate::session::enforcer::{trip, End, EndCode};
use crate::session::pipe::{self, Input, Output, Pipe, Program, PtySpec, Step};
use crate::session::queue::{self, MIN_COST};
use crate::session::tap::Frame;
use crate::session::{self, LiveSession};

mod locale;

/// The browser terminal's recording channel number (an SSH connection's would be its own).
const BROWSER_CHANNEL: u32 = 0;

fn check_origin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    match headers.get(ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(origin) if origin == state.https.origin => Ok(()),
        _ => Err(ApiError::new(
            ApiCode::Origin,
            "WebSockets are only opened from the gateway's own page",
        )),
    }
}

fn not_websocket(e: WebSocketUpgradeRejection) -> ApiError {
    ApiError::new(
        ApiCode::WebsocketRequired,
        format!("this endpoint is a WebSocket: {e}"),
    )
}

/// `?target=&cols=&rows=&lang=`.
#[derive(Debug, Deserialize)]
pub struct TerminalQuery {
    target: String,
    cols: Option<u32>,
    rows: Option<u32>,
    /// The page's language ([`Lang`]); anything else counts as none.
    lang: Option<String>,
}

/// A control frame to the page.
fn control(msg: GatewayMessage) -> Message {
    Message::Text(msg.to_text().into())
}

fn notice(text: &str) -> Message {
    control(GatewayMessage::Notice { text: text.into() })
}

fn end(text: &str) -> Message {
    control(GatewayMessage::End { text: text.into() })
}

/// The close frame of a socket whose login ended: [`LOGIN_ENDED_CLOSE`], and why as the
/// reason the page shows.
fn login_ended_close(why: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: LOGIN_ENDED_CLOSE,
        reason: format!("menwei: {why}").into(),
    }))
}

/// `GET /api/v1/terminal` (WebSocket): a shell on `target` for the calling engineer.
pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Params(q): Params<TerminalQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let ws = ws.map_err(not_websocket)?;
    let slot = super::streams::slot(&state, &caller)?;
    if policy::validate_name("target", &q.target).is_err() {
        return Err(ApiError::not_found("no such target"));
    }
    let cols = q.cols.unwrap_or(80).clamp(10, 1000);
    let rows = q.rows.unwrap_or(24).clamp(5, 500);
    // The shell's locale, through the same allow-list as an SSH client's `env` requests.
    let rules = state.ctx.policy.current().channel_rules(&q.target);
    let env: Vec<(String, String)> = locale::shell_env(q.lang.as_deref().and_then(Lang::parse))
        .into_iter()
        .filter(|(name, _)| {
            matches!(
                policy::channel_request(&ChannelRequest::Env { name }, &rules, &q.target),
                Decision::Allow(())
            )
        })
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let (gone_tx, gone_rx) = watch::channel(false);
    // The same decision as SSH: a live grant, a pinned target, a writable recording.
    let live = session::open(
        &state.ctx,
        &caller.name,
        &q.target,
        &format!("web:{peer}"),
        None,
        gone_rx,
    )
    .await
    .map_err(|r| match r.code {
        // The gateway cannot decide or record right now: fail closed, say so.
        policy::codes::DATABASE_UNAVAILABLE
        | policy::codes::RECORDING_UNAVAILABLE
        | policy::codes::RECORDINGS_DISK_FULL => ApiError::new(ApiCode::Unavailable, r.message),
        policy::codes::TOO_MANY_SESSIONS => ApiError::new(ApiCode::TooManySessions, r.message),
        _ => ApiError::new(ApiCode::Forbidden, r.message),
    })?;
    Ok(ws.on_upgrade(move |socket| async move {
        let relay = relay(live.clone(), socket, cols, rows, &env);
        tokio::pin!(relay);
        tokio::select! {
            _ = &mut relay => {}
            ended = login_ended(state, caller) => {
                // Ended like a terminate: recorded, audited, the page told why (write_page).
                trip(&live.end, End::new(EndCode::LoginEnded, ended.line()));
                relay.await;
            }
        }
        let _ = gone_tx.send(true);
        drop(slot);
    }))
}

/// Joins the WebSocket to a PTY shell on the target until either side ends: the page's
/// frames become calls on the channel's [`Pipe`] (recorded, then forwarded), the pipe's
/// output goes to the page through the same bounded queue as on SSH.
async fn relay(
    live: Arc<LiveSession>,
    socket: WebSocket,
    cols: u32,
    rows: u32,
    env: &[(String, String)],
) {
    let (mut to_page, from_page) = socket.split();
    let channel = match live.upstream.open_session().await {
        Ok(c) => c,
        Err(_) => {
            let text = format!("target \"{}\" refused to open a channel", live.target);
            let _ = to_page.send(end(&text)).await;
            return;
        }
    };
    let (from_target, to_target) = channel.split();
    let pipe = Pipe::new(&live, BROWSER_CHANNEL, true, &to_target);
    let pty = PtySpec {
        term: "xterm-256color".into(),
        cols,
        rows,
        pix_width: 0,
        pix_height: 0,
        modes: Vec::new(),
    };
    let started = pipe
        .start(pipe::Start {
            kind: "browser",
            refused: &[],
            env,
            pty: Some(&pty),
            program: &Program::Shell,
            shell_reply: false,
        })
        .await;
    if started == Step::Stop {
        // The pipe has ended the session, saying why (a full recordings disk, the size
        // limit, a failed write).
        let why = live.ending().wait().await;
        let _ = to_page.send(end(&why.message)).await;
        return;
    }
    let (input, queued_input) = pipe::input_queue::<Message>();
    let (output, queued_output) = pipe::output_queue();
    // Either side ending ends the relay; the supervisor then seals the recording.
    tokio::select! {
        _ = async { tokio::join!(read_page(&live, from_page, input), write_target(&pipe, queued_input)) } => {}
        _ = async { tokio::join!(pipe.output(from_target, output), write_page(&live, queued_output, to_page)) } => {}
    }
}

/// Takes the page's frames off the socket into the input queue.
async fn read_page(
    live: &LiveSession,
    mut from_page: futures::stream::SplitStream<WebSocket>,
    queue: queue::Sender<Message>,
) {
    let mut ending = live.ending();
    loop {
        let msg = tokio::select! {
            msg = from_page.next() => msg,
            // The output side tells the page why and closes the socket; returning at once
            // would drop it mid-send (the page saw a bare 1006). A moment, then go.
            _ = ending.wait() => {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                return;
            }
        };
        let msg = match msg {
            Some(Ok(msg)) => msg,
            Some(Err(_)) | None => Message::Close(None),
        };
        let bytes = match &msg {
            Message::Binary(data) => data.len(),
            Message::Text(text) => text.len(),
            _ => MIN_COST,
        };
        let closing = matches!(msg, Message::Close(_));
        if queue.send(msg, bytes).await.is_err() || closing {
            return;
        }
    }
}

/// Turns each queued page frame into a call on the pipe.
async fn write_target(pipe: &Pipe<'_>, mut queued: queue::Receiver<Message>) {
    while let Some(msg) = queued.recv().await {
        let input = match msg {
            Message::Binary(data) => Input::Data(data),
            Message::Text(text) => match PageMessage::parse(&text) {
                Some(PageMessage::Resize { cols, rows }) => Input::Resize {
                    cols: cols.clamp(10, 1000),
                    rows: rows.clamp(5, 500),
                    pix_width: 0,
                    pix_height: 0,
                },
                // Anything else from the page is not a terminal's business.
                None => continue,
            },
            // Pings are answered by axum; pongs carry nothing.
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => Input::Close,
        };
        if pipe.input(input).await == Step::Stop {
            return;
        }
    }
}

/// Writes the pipe's output to the page; grant warnings as notices, and why it ended last.
async fn write_page(
    live: &LiveSession,
    mut queued: queue::Receiver<Output>,
    mut to_page: futures::stream::SplitSink<WebSocket, Message>,
) {
    let mut notices = live.notices.subscribe();
    let mut ending = live.ending();
    loop {
        let msg = tokio::select! {
            // The session's end wins over what is still queued: its reason is what the
            // engineer must read (an approver's terminate also closes the target's channel).
            biased;
            why = ending.wait() => {
                if why.code != EndCode::ClientClosed {
                    let _ = to_page.send(end(&why.message)).await;
                }
                if why.code == EndCode::LoginEnded {
                    let _ = to_page.send(login_ended_close(&why.message)).await;
                    return;
                }
                break;
            }
            out = queued.recv() => match out {
                Some(Output::Data(data) | Output::Stderr(_, data)) => Some(Message::Binary(data)),
                Some(Output::Close) | None => {
                    let why = if live.is_ending() {
                        live.ending().wait().await.message
                    } else {
                        "the shell on the target has ended".to_string()
                    };
                    let _ = to_page.send(end(&why)).await;
                    break;
                }
                // Exit status and EOF are in the recording; the page learns of the end
                // from the close that follows. The shell request's answer is not passed on.
                Some(
                    Output::Eof
                    | Output::Exit(_)
                    | Output::ExitSignal { .. }
                    | Output::Success
                    | Output::Failure,
                ) => None,
            },
            line = notices.recv() => line.ok().map(|n| notice(&n.text)),
        };
        if let Some(msg) = msg {
            if to_page.send(msg).await.is_err() {
                return;
            }
        }
    }
    let _ = to_page.close().await;
}

/// `GET /api/v1/sessions/{id}/watch` (WebSocket): a read-only view of a live session.
pub async fn watch_session(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Id(id): Id,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let ws = ws.map_err(not_websocket)?;
    let slot = super::streams::slot(&state, &caller)?;
    let ctx = &state.ctx;
    let Some(session) = ctx.db.session(&id).await? else {
        return Err(ApiError::not_found(format!("no session {id}")));
    };
    if session.ended_at.is_some() {
        return Err(ApiError::conflict(format!(
            "session {id} has ended; replay its recording instead"
        )));
    }
    // Held here: its tap. Held by another node: a relay from that node (relay.rs).
    let (mut feed, first) = match ctx.sessions.tap(&id) {
        Some(tap) => {
            let (size, recent, frames) = tap.join();
            // Only the session holds the feed open: when it ends, the watch ends.
            drop(tap);
            (Feed::Local(frames), Some((size, recent)))
        }
        None if session.node == ctx.config.node_name => {
            return Err(ApiError::conflict(format!(
                "session {id} has ended; replay its recording instead"
            )));
        }
        None => (
            super::relay::open(&state, &session, &caller.name).await?,
            None,
        ),
    };
    crate::audit::append(
        &ctx.db,
        &ctx.config.node_name,
        crate::audit::AuditEvent::new(caller.name.clone(), "session.watch", id.clone()).with_detail(
            json!({"engineer": session.engineer, "target": session.target, "via": caller.via_text(), "node": session.node}),
        ),
    )
    .await?;
    Ok(ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        let login = login_ended(state, caller);
        tokio::pin!(login);
        let (mut to_page, mut from_page) = socket.split();
        if let Some((size, recent)) = first {
            if let Some((cols, rows)) = size {
                let _ = to_page.send(control(GatewayMessage::Resize { cols, rows })).await;
            }
            if !recent.is_empty() && to_page.send(Message::Binary(recent)).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                frame = feed.next() => {
                    let msg = match frame {
                        Next::Frame(Frame::Output(data)) => Message::Binary(data),
                        Next::Frame(Frame::Resize { cols, rows }) => control(GatewayMessage::Resize { cols, rows }),
                        Next::Frame(Frame::Notice(text)) => notice(&text),
                        // A watcher too slow for the session loses frames, never slows it.
                        Next::Lagged => {
                            notice("some output was skipped (the connection was too slow)")
                        }
                        Next::Closed => {
                            let _ = to_page.send(end("the session has ended")).await;
                            let _ = to_page.close().await;
                            return;
                        }
                    };
                    if to_page.send(msg).await.is_err() {
                        return;
                    }
                }
                // The watcher's login ended: the watch stops, the session goes on.
                ended = &mut login => {
                    let _ = to_page.send(notice(&format!("watching stopped: {}", ended.line()))).await;
                    let _ = to_page.send(login_ended_close(ended.line())).await;
                    return;
                }
                // Read-only: whatever the watcher sends is dropped; closing ends the watch.
                msg = from_page.next() => {
                    if matches!(msg, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) {
                        return;
                    }
                }
            }
        }
    }))
}
