//! One engineer session channel, from open to close: the requests that set it up (pty,
//! env, refused X11/agent requests), the decision on what it may run (policy's channel
//! rules; a refusal is one line and an audit entry), the target menu, gateway commands and
//! the in-`ssh` request prompt for a connection without a target or grant, then the opening
//! of the target's channel and its replayed setup, and finally the relay
//! ([`super::relay`]: engineer → recorder → target and back, bounded at every hop).

use std::sync::Arc;

use bytes::Bytes;
use policy::{ChannelRequest, Decision, Refusal};
use recordings::Event;
use russh::{server, ChannelMsg, ChannelWriteHalf};
use serde_json::json;

use super::commands;
use super::conn_state::ConnState;
use super::menu;
use super::relay::{self, id_u32, len_u32};
use super::request_prompt;
use super::terminal::Terminal;
use super::upload::ScpSink;
use crate::session::pipe::{self, Pipe, Program, PtySpec, Step};

/// What the engineer asked for before the program started.
#[derive(Default)]
pub struct Setup {
    /// The pseudo-terminal, if one was requested.
    pub pty: Option<PtySpec>,
    env: Vec<(String, String)>,
    refused: Vec<(String, String)>,
}

type ToEngineer = ChannelWriteHalf<server::Msg>;

/// Runs one session channel until it closes.
pub async fn run(conn: Arc<ConnState>, channel: russh::Channel<server::Msg>) {
    let id = channel.id();
    let (mut from_engineer, to_engineer) = channel.split();
    let mut setup = Setup::default();

    let start = loop {
        let Some(msg) = from_engineer.wait().await else {
            return;
        };
        match msg {
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                pix_width,
                pix_height,
                terminal_modes,
                ..
            } => {
                setup.pty = Some(PtySpec {
                    term,
                    cols: col_width,
                    rows: row_height,
                    pix_width,
                    pix_height,
                    modes: terminal_modes,
                });
                let _ = conn.handle.channel_success(id).await;
            }
            ChannelMsg::SetEnv {
                variable_name,
                variable_value,
                ..
            } => {
                // env requests carry no reply from OpenSSH clients; refused ones are dropped quietly.
                let req = ChannelRequest::Env {
                    name: &variable_name,
                };
                if matches!(
                    policy::channel_request(&req, &conn.rules(None), ""),
                    Decision::Allow(())
                ) {
                    setup.env.push((variable_name, variable_value));
                }
            }
            ChannelMsg::RequestShell { .. } => break Program::Shell,
            ChannelMsg::Exec { command, .. } => break Program::Exec(command),
            ChannelMsg::RequestSubsystem { name, .. } => break Program::Subsystem(name),
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            } => {
                if let Some(pty) = setup.pty.as_mut() {
                    pty.cols = col_width;
                    pty.rows = row_height;
                }
            }
            ChannelMsg::RequestX11 { .. } => {
                refuse_request(&conn, &to_engineer, &mut setup, &ChannelRequest::X11, "x11").await;
                let _ = conn.handle.channel_failure(id).await;
            }
            // russh answers agent requests itself from `Handler::agent_request` (always no).
            ChannelMsg::AgentForward { .. } => {
                refuse_request(
                    &conn,
                    &to_engineer,
                    &mut setup,
                    &ChannelRequest::AgentForward,
                    "agent forwarding",
                )
                .await;
            }
            ChannelMsg::Close => return,
            // Input or signals before any program runs have nowhere to go; the input's
            // window goes back to the engineer.
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                let _ = conn.handle.consumed(id, len_u32(&data)).await;
            }
            ChannelMsg::Signal { .. } | ChannelMsg::Eof => {}
            // Messages a client does not send on a session channel: ignored.
            ChannelMsg::Open { .. }
            | ChannelMsg::XonXoff { .. }
            | ChannelMsg::ExitStatus { .. }
            | ChannelMsg::ExitSignal { .. }
            | ChannelMsg::WindowAdjusted { .. }
            | ChannelMsg::Success
            | ChannelMsg::Failure
            | ChannelMsg::OpenFailure(_) => {}
            _ => {}
        }
    };

    let pty = setup.pty.is_some();
    // This channel's target, its own: the login's, or the one chosen in this channel's
    // menu. Other channels of the connection (ControlMaster) may choose others.
    let login_target = conn.login_target();
    let target = match login_target.clone() {
        Err(refusal) => return refuse(&conn, &to_engineer, id, pty, &refusal).await,
        Ok(Some(target)) => target,
        Ok(None) => match (&start, pty) {
            (Program::Shell, true) => {
                let _ = conn.handle.channel_success(id).await;
                match menu::choose(&conn, &mut from_engineer, &to_engineer).await {
                    Some(target) => target,
                    None => {
                        let _ = to_engineer.exit_status(1).await;
                        let _ = to_engineer.eof().await;
                        let _ = to_engineer.close().await;
                        return;
                    }
                }
            }
            (Program::Exec(cmd), _) if commands::is_gateway_command(cmd) => {
                let _ = conn.handle.channel_success(id).await;
                let reply = commands::run(&conn, cmd).await;
                if !reply.out.is_empty() {
                    let _ = to_engineer.data_bytes(Bytes::from(reply.out)).await;
                }
                if !reply.err.is_empty() {
                    let _ = to_engineer
                        .extended_data_bytes(1, Bytes::from(reply.err))
                        .await;
                }
                let _ = to_engineer.exit_status(reply.status).await;
                let _ = to_engineer.eof().await;
                let _ = to_engineer.close().await;
                return;
            }
            _ => {
                let refusal = Refusal {
                    code: policy::codes::NO_TARGET,
                    message: format!(
                        "no target given; connect as {}:TARGET (run `ssh -t` without a command for a menu of your granted targets)",
                        conn.engineer
                    ),
                };
                return refuse(&conn, &to_engineer, id, pty, &refusal).await;
            }
        },
    };
    // Whether the start request was already answered (the menu or a request prompt ran
    // first); the target's own reply must then not be passed on a second time.
    let mut replied = !matches!(login_target, Ok(Some(_)));

    // What the program may be.
    let (request, what) = match &start {
        Program::Shell => (ChannelRequest::Shell, "shell".to_string()),
        Program::Exec(cmd) => (ChannelRequest::Exec(cmd), "exec".to_string()),
        Program::Subsystem(name) => (ChannelRequest::Subsystem(name), format!("subsystem {name}")),
    };
    let target_rules = conn.rules(Some(&target));
    if let Decision::Deny(refusal) = policy::channel_request(&request, &target_rules, &target) {
        // SFTP stays refused; where uploads are allowed, say how they are made.
        let refusal = if target_rules.uploads_allowed && refusal.code == policy::codes::SFTP_REFUSED
        {
            Refusal {
                code: refusal.code,
                message: format!(
                    "{}; uploads to this target are allowed with scp -O",
                    refusal.message
                ),
            }
        } else {
            refusal
        };
        let command = match &start {
            Program::Exec(cmd) => String::from_utf8_lossy(cmd).into_owned(),
            _ => String::new(),
        };
        conn.log_refused(&target, &what, refusal.code, None);
        conn.ctx
            .audit(&conn.engineer, "channel.refused", &target, json!({"request": what, "code": refusal.code, "command": command, "client": conn.client_addr}))
            .await;
        if let Some(live) = conn.session_to(&target).await {
            let _ = live
                .recorder
                .record(Event::Refused {
                    channel: Some(id_u32(id)),
                    what: what.clone(),
                    reason: refusal.message.clone(),
                })
                .await;
        }
        return refuse_after(&conn, &to_engineer, id, pty, &refusal, !replied).await;
    }

    let live = match conn.session(&target).await {
        Ok(live) => live,
        // No grant, on a terminal, for a target the engineer may ask for: offer a request
        // right here and go on in this connection once it is approved.
        Err(refusal)
            if pty
                && REQUESTABLE.contains(&refusal.code)
                && conn
                    .ctx
                    .policy
                    .current()
                    .may_request(&conn.engineer, &target) =>
        {
            if !replied {
                let _ = conn.handle.channel_success(id).await;
                replied = true;
            }
            let mut term = Terminal::new(&conn, &mut from_engineer, &to_engineer);
            let granted = request_prompt::offer(&conn, &mut term, &target, &refusal).await;
            if granted == request_prompt::Outcome::NotGranted {
                let _ = to_engineer.exit_status(1).await;
                let _ = to_engineer.eof().await;
                let _ = to_engineer.close().await;
                return;
            }
            match conn.session(&target).await {
                Ok(live) => live,
                Err(refusal) => {
                    return refuse_after(&conn, &to_engineer, id, pty, &refusal, false).await
                }
            }
        }
        Err(refusal) => {
            let refusal = with_request_hint(&conn, &target, refusal);
            return refuse_after(&conn, &to_engineer, id, pty, &refusal, !replied).await;
        }
    };
    let upstream = match live.upstream.open_session().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(session = %live.id, "target refused a channel: {e}");
            let refusal = Refusal {
                code: policy::codes::TARGET_CHANNEL_REFUSED,
                message: format!("target \"{target}\" refused to open a channel"),
            };
            return refuse_after(&conn, &to_engineer, id, pty, &refusal, !replied).await;
        }
    };
    // Uploads that policy allows (`scp -O`, scp's classic protocol) get their digests.
    let upload = match &start {
        Program::Exec(cmd) if policy::classify_exec(cmd) == policy::ExecKind::ScpUpload => {
            Some(ScpSink::default())
        }
        _ => None,
    };
    let (from_target, to_target) = upstream.split();
    let pipe = Pipe::new(&live, id_u32(id), pty, &to_target);
    let pipe = if upload.is_some() {
        pipe.allowing_upload()
    } else {
        pipe
    };
    let started = pipe
        .start(pipe::Start {
            kind: "session",
            refused: &setup.refused,
            env: &setup.env,
            pty: setup.pty.as_ref(),
            program: &start,
            shell_reply: !replied,
        })
        .await;
    if started == Step::Stop {
        return;
    }
    let engineer = relay::Engineer {
        conn: &conn,
        id,
        from: from_engineer,
        to: &to_engineer,
        pty,
    };
    relay::run(&pipe, engineer, from_target, &target, upload).await;
}

/// Refusals after which an engineer may file a request instead.
const REQUESTABLE: &[policy::codes::Code] = &[
    policy::codes::NO_GRANT,
    policy::codes::GRANT_EXPIRED,
    policy::codes::GRANT_REVOKED,
];

/// A no-grant refusal, plus how to ask for access when the engineer may.
fn with_request_hint(conn: &ConnState, target: &str, refusal: Refusal) -> Refusal {
    if REQUESTABLE.contains(&refusal.code)
        && conn
            .ctx
            .policy
            .current()
            .may_request(&conn.engineer, target)
    {
        Refusal {
            code: refusal.code,
            message: format!(
                "{}; to request access, connect with a terminal: ssh -t {}:{target}@GATEWAY",
                refusal.message, conn.engineer
            ),
        }
    } else {
        refusal
    }
}

/// A request refused before the program started: told, audited, kept for the recording.
async fn refuse_request(
    conn: &ConnState,
    to_engineer: &ToEngineer,
    setup: &mut Setup,
    req: &ChannelRequest<'_>,
    what: &str,
) {
    let refusal = match policy::channel_request(req, &conn.rules(None), "") {
        Decision::Deny(r) => r,
        Decision::Allow(()) => return,
    };
    conn.log_refused(&conn.login_target_for_audit(), what, refusal.code, None);
    conn.ctx
        .audit(
            &conn.engineer,
            "channel.refused",
            &conn.login_target_for_audit(),
            json!({"request": what, "code": refusal.code, "client": conn.client_addr}),
        )
        .await;
    let nl = if setup.pty.is_some() { "\r\n" } else { "\n" };
    let _ = to_engineer
        .extended_data_bytes(1, Bytes::from(format!("menwei: {}{nl}", refusal.message)))
        .await;
    setup.refused.push((what.to_string(), refusal.message));
}

/// Refuses the channel's start request: success reply, one stderr line, exit status 1.
async fn refuse(
    conn: &ConnState,
    to_engineer: &ToEngineer,
    id: russh::ChannelId,
    pty: bool,
    refusal: &Refusal,
) {
    refuse_after(conn, to_engineer, id, pty, refusal, true).await;
}

async fn refuse_after(
    conn: &ConnState,
    to_engineer: &ToEngineer,
    id: russh::ChannelId,
    pty: bool,
    refusal: &Refusal,
    reply: bool,
) {
    if reply {
        let _ = conn.handle.channel_success(id).await;
    }
    let nl = if pty { "\r\n" } else { "\n" };
    let _ = to_engineer
        .extended_data_bytes(1, Bytes::from(format!("menwei: {}{nl}", refusal.message)))
        .await;
    let _ = to_engineer.exit_status(1).await;
    let _ = to_engineer.eof().await;
    let _ = to_engineer.close().await;
}
