//! The browser terminal and live watch, over WebSockets (docs/web.md).
//!
//! `GET /api/v1/terminal?target=NAME&cols=&rows=`: an engineer's shell on a target through
//! the same decision, recording, enforcement and audit as SSH ([`crate::ssh::session`]):
//! binary frames carry terminal bytes both ways, text frames carry JSON control (`resize`
//! from the page; `notice` and `end` from the gateway). No file transfer of any kind: the
//! only thing that reaches the target is what is typed, as a PTY shell's input.
//!
//! `GET /api/v1/sessions/{id}/watch`: a read-only copy of a live session's terminal for
//! approvers and auditors, from the session's feed ([`crate::tap`]); what a watcher sends is
//! ignored. Each watch is audited (who watched what).
//!
//! Both check `Origin` against `[https] origin` before upgrading: a page from another site
//! cannot open them with the user's cookie.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header::ORIGIN, HeaderMap};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use recordings::{Event, Side, Stream};
use russh::ChannelMsg;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::auth::Caller;
use super::error::{ApiCode, ApiError, ApiResult, Id, Params};
use super::AppState;
use crate::enforcer::{trip, End};
use crate::ssh::session::{self, LiveSession};
use crate::tap::Frame;

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

/// `?target=&cols=&rows=`.
#[derive(Debug, Deserialize)]
pub struct TerminalQuery {
    target: String,
    cols: Option<u32>,
    rows: Option<u32>,
}

/// A control frame from the page.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Resize { cols: u32, rows: u32 },
}

fn control(kind: &str, text: &str) -> Message {
    Message::Text(json!({"type": kind, "text": text}).to_string().into())
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
    if policy::validate_name("target", &q.target).is_err() {
        return Err(ApiError::not_found("no such target"));
    }
    let cols = q.cols.unwrap_or(80).clamp(10, 1000);
    let rows = q.rows.unwrap_or(24).clamp(5, 500);
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
        policy::codes::DATABASE_UNAVAILABLE | policy::codes::RECORDING_UNAVAILABLE => {
            ApiError::new(ApiCode::Unavailable, r.message)
        }
        _ => ApiError::new(ApiCode::Forbidden, r.message),
    })?;
    Ok(ws.on_upgrade(move |socket| async move {
        relay(live, socket, cols, rows).await;
        let _ = gone_tx.send(true);
    }))
}

/// Joins the WebSocket to a PTY shell on the target until either side ends.
async fn relay(live: Arc<LiveSession>, socket: WebSocket, cols: u32, rows: u32) {
    let (mut to_page, mut from_page) = socket.split();
    let ch = BROWSER_CHANNEL;
    let rec = &live.recorder;
    let channel = match live.upstream.open_session().await {
        Ok(c) => c,
        Err(_) => {
            let text = format!("target \"{}\" refused to open a channel", live.target);
            let _ = to_page.send(control("end", &text)).await;
            return;
        }
    };
    let (mut from_target, to_target) = channel.split();
    let setup = async {
        rec.record(Event::ChannelOpen {
            channel: ch,
            kind: "browser".into(),
        })
        .await?;
        rec.record(Event::Pty {
            channel: ch,
            term: "xterm-256color".into(),
            cols,
            rows,
            modes: Vec::new(),
        })
        .await?;
        rec.record(Event::Shell { channel: ch }).await
    };
    if setup.await.is_err() {
        trip(&live.end, End::recording_failed());
    }
    live.tap.publish(Frame::Resize { cols, rows });
    let _ = to_target
        .request_pty(false, "xterm-256color", cols, rows, 0, 0, &[])
        .await;
    let _ = to_target.request_shell(false).await;

    let input = async {
        loop {
            let msg = tokio::select! {
                msg = from_page.next() => msg,
                // The output side tells the page why and closes the socket; returning at
                // once would drop it mid-send (the page saw a bare 1006). A moment, then go.
                _ = live.ended() => {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    return;
                }
            };
            let recorded = match msg {
                Some(Ok(Message::Binary(data))) => {
                    live.touch();
                    let r = rec.record_data(Stream::Input, ch, data.clone()).await;
                    if r.is_ok() && to_target.data_bytes(data).await.is_err() {
                        return;
                    }
                    r
                }
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Control>(&text) {
                    Ok(Control::Resize { cols, rows }) => {
                        let (cols, rows) = (cols.clamp(10, 1000), rows.clamp(5, 500));
                        let r = rec
                            .record(Event::Resize {
                                channel: ch,
                                cols,
                                rows,
                            })
                            .await;
                        let _ = to_target.window_change(cols, rows, 0, 0).await;
                        live.tap.publish(Frame::Resize { cols, rows });
                        r
                    }
                    // Anything else from the page is not a terminal's business.
                    Err(_) => Ok(()),
                },
                // Pings are answered by axum; pongs carry nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    let _ = rec
                        .record(Event::ChannelClose {
                            channel: ch,
                            from: Side::Engineer,
                        })
                        .await;
                    let _ = to_target.close().await;
                    return;
                }
            };
            if recorded.is_err() {
                trip(&live.end, End::recording_failed());
                return;
            }
        }
    };

    let output = async {
        let mut notices = live.notices.subscribe();
        loop {
            let msg = tokio::select! {
                msg = from_target.wait() => msg,
                notice = notices.recv() => {
                    if let Ok(text) = notice {
                        let _ = to_page.send(control("notice", &text)).await;
                    }
                    continue;
                }
                end = live.ended() => {
                    if end.code != crate::enforcer::EndCode::ClientClosed {
                        let _ = to_page.send(control("end", &end.message)).await;
                    }
                    let _ = to_page.close().await;
                    return;
                }
            };
            let recorded = match msg {
                Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                    live.touch();
                    let r = rec.record_data(Stream::Output, ch, data.clone()).await;
                    live.tap.publish(Frame::Output(data.clone()));
                    if r.is_ok() && to_page.send(Message::Binary(data)).await.is_err() {
                        return;
                    }
                    r
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    rec.record(Event::ExitStatus {
                        channel: ch,
                        code: exit_status,
                    })
                    .await
                }
                Some(ChannelMsg::Eof) => {
                    rec.record(Event::Eof {
                        channel: ch,
                        from: Side::Target,
                    })
                    .await
                }
                Some(ChannelMsg::Close) | None => {
                    let _ = rec
                        .record(Event::ChannelClose {
                            channel: ch,
                            from: Side::Target,
                        })
                        .await;
                    let _ = to_page
                        .send(control("end", "the shell on the target has ended"))
                        .await;
                    let _ = to_page.close().await;
                    return;
                }
                // Flow control and requests a server never sends a client.
                Some(_) => Ok(()),
            };
            if recorded.is_err() {
                trip(&live.end, End::recording_failed());
            }
        }
    };
    // Either side ending ends the relay; the supervisor then seals the recording.
    tokio::select! {
        _ = input => {}
        _ = output => {}
    }
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
    let ctx = &state.ctx;
    let Some(session) = ctx.db.session(&id).await? else {
        return Err(ApiError::not_found(format!("no session {id}")));
    };
    if session.ended_at.is_some() {
        return Err(ApiError::conflict(format!(
            "session {id} has ended; replay its recording instead"
        )));
    }
    let Some(tap) = ctx.sessions.tap(&id) else {
        return Err(ApiError::conflict(format!(
            "session {id} is live on node {}; watch it there",
            session.node
        )));
    };
    crate::audit::append(
        &ctx.db,
        &ctx.config.node_name,
        crate::audit::AuditEvent::new(caller.name.clone(), "session.watch", id.clone()).with_detail(
            json!({"engineer": session.engineer, "target": session.target, "via": caller.via_text()}),
        ),
    )
    .await?;
    Ok(ws.on_upgrade(move |socket| async move {
        let (mut to_page, mut from_page) = socket.split();
        let (size, recent, mut frames) = tap.join();
        // Only the session holds the feed open: when it ends, the watch ends.
        drop(tap);
        if let Some((cols, rows)) = size {
            let text = json!({"type": "resize", "cols": cols, "rows": rows}).to_string();
            let _ = to_page.send(Message::Text(text.into())).await;
        }
        if !recent.is_empty() && to_page.send(Message::Binary(recent)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                frame = frames.recv() => {
                    let msg = match frame {
                        Ok(Frame::Output(data)) => Message::Binary(data),
                        Ok(Frame::Resize { cols, rows }) => Message::Text(
                            json!({"type": "resize", "cols": cols, "rows": rows}).to_string().into(),
                        ),
                        Ok(Frame::Notice(text)) => control("notice", &text),
                        // A watcher too slow for the session loses frames, never slows it.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            control("notice", "some output was skipped (the connection was too slow)")
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            let _ = to_page.send(control("end", "the session has ended")).await;
                            let _ = to_page.close().await;
                            return;
                        }
                    };
                    if to_page.send(msg).await.is_err() {
                        return;
                    }
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
