//! A live session: one engineer's SSH connection joined to one target under one grant.
//!
//! Opening one is where the gateway decides: the grant must be live ([`policy::connect`]),
//! the target pinned, the recordings disk above `[recordings] min_free`, the recording
//! writable and the database reachable, or nothing opens (fail closed). Once open, a
//! supervisor task waits for the end: the enforcer tripping the end switch (grant expired or
//! revoked, gateway stopping), the recording stopping (full disk, size limit, write error),
//! the connection to the target going away (`target_closed`, `target_unreachable`), or the
//! engineer leaving; meanwhile it passes on notices (grant warnings, and once the
//! recordings disk running low). Then it tells the channels, seals the recording, and writes
//! the end into the database and the audit log. Not the byte relay (`ssh::relay`,
//! `web::terminal`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use policy::{Decision, Grant, Refusal};
use rand::RngCore;
use russh::server;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch};

use crate::db::{self, NewSession};
use crate::session::enforcer::{trip, End, EndCode, EndSwitch, Notice, NoticeCode};
use crate::session::recorder::{Limits, Recorder, StartError};
use crate::session::room;
use crate::session::upstream::{Credential, Upstream, UpstreamError};
use crate::session::Context;
use crate::time::now_ms;

pub use super::open_checks::db_unavailable;
use super::open_checks::{checked, disk_nearly_full, log_refusal, refused, within_session_cap};

/// How long the supervisor gives channels to print the end line before disconnecting.
const GOODBYE: Duration = Duration::from_millis(300);

/// One live session.
pub struct LiveSession {
    /// Session id, also the recording's file stem.
    pub id: String,
    /// Target name (never its address).
    pub target: String,
    /// The recording of this session.
    pub recorder: Recorder,
    /// The connection to the target.
    pub upstream: Upstream,
    /// Tripped once, when the session must end.
    pub end: EndSwitch,
    /// Last traffic in either direction, epoch milliseconds (for the idle timeout).
    pub activity: Arc<AtomicI64>,
    /// Lines for the engineer's terminal (warnings), never sent to the target.
    pub notices: broadcast::Sender<Notice>,
    /// What read-only watchers see.
    pub tap: Arc<crate::session::tap::Tap>,
    /// What its bytes are held to (`transfer_guard`, `max_output_bytes`).
    pub streams: policy::StreamRules,
    /// Target → engineer bytes so far, all channels.
    pub output_bytes: AtomicU64,
    /// Transfers its channels recognised, for the supervisor ([`crate::session::guard`]).
    pub transfers: mpsc::UnboundedSender<crate::session::guard::Transfer>,
}

impl LiveSession {
    /// A handle that resolves once the session is ending, to keep across the packets of a
    /// relay loop (one subscription, not one per packet).
    pub fn ending(&self) -> Ending {
        Ending(self.end.subscribe())
    }

    /// Notes traffic now.
    pub fn touch(&self) {
        self.activity.store(now_ms(), Ordering::Relaxed);
    }

    /// Whether the session is ending.
    pub fn is_ending(&self) -> bool {
        self.end.borrow().is_some()
    }
}

/// See [`LiveSession::ending`].
pub struct Ending(watch::Receiver<Option<End>>);

impl Ending {
    /// Resolves with the end reason once the session is ending.
    pub async fn wait(&mut self) -> End {
        match self.0.wait_for(Option::is_some).await {
            Ok(end) => end.clone().unwrap_or_else(closed),
            Err(_) => closed(),
        }
    }
}

fn closed() -> End {
    End::new(EndCode::SessionClosed, "the session is closed")
}

fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Starts the session's recording, encrypted at rest under a fresh data key wrapped by the
/// vault key (a bench build run with `MENWEI_BENCH_NO_RECORDING` records nothing).
fn start_recording(
    ctx: &Context,
    meta: recordings::Meta,
    limits: Limits,
) -> Result<Recorder, StartError> {
    #[cfg(feature = "bench-no-recording")]
    if std::env::var_os("MENWEI_BENCH_NO_RECORDING").is_some() {
        return Ok(Recorder::disabled(
            &ctx.config.recordings.dir,
            &meta.session_id,
        ));
    }
    let encryption = ctx
        .vault
        .new_data_key()
        .map_err(|e| StartError::Io(std::io::Error::other(e.to_string())))?;
    Recorder::start(
        &ctx.config.recordings.dir,
        meta,
        &ctx.signing_key,
        Some(encryption),
        ctx.config.recordings.flush_interval,
        limits,
    )
}

/// Decides and opens a session for `engineer` to `target`, or says why not.
/// `gone` turns true when the engineer's connection has closed; `handle`, for an SSH
/// engineer, is used to disconnect them when the session ends (a browser terminal closes
/// its WebSocket itself).
pub async fn open(
    ctx: &Arc<Context>,
    engineer: &str,
    target: &str,
    client_addr: &str,
    handle: Option<server::Handle>,
    gone: watch::Receiver<bool>,
) -> Result<Arc<LiveSession>, Refusal> {
    let grants = checked(
        "reading grants",
        crate::metrics::db("grants_for", ctx.db.grants_for(engineer)),
    )
    .await?;
    // Grants are an engineer's: an account given another role since keeps its grant rows
    // (they stay on record) but opens nothing with them.
    let account = checked("reading the account", ctx.db.user(engineer)).await?;
    let decision = match account {
        Some(u) if u.role != policy::Role::Engineer => Decision::deny(
            policy::codes::NOT_ENGINEER,
            format!(
                "only engineers open sessions on targets; your role is {}",
                u.role.as_str()
            ),
        ),
        _ => policy::connect(engineer, target, now_ms(), &grants),
    };
    let grant: Grant = match decision {
        Decision::Allow(g) => g.clone(),
        Decision::Deny(refusal) => {
            log_refusal(ctx, engineer, target, client_addr, &refusal);
            ctx.audit(
                engineer,
                "connect.refused",
                target,
                json!({"code": refusal.code, "reason": refusal.message, "client": client_addr}),
            )
            .await;
            return Err(refusal);
        }
    };
    open_under(ctx, engineer, target, grant, client_addr, handle, gone).await
}

/// Opens a session for `engineer` (an engineer, or a system identity such as an
/// inspection's) to `target` under `grant`, already decided live for them: the session cap,
/// the pinned target, room and a writable recording, the audit entry and the session's row,
/// then the supervisor. Every session, whoever decided its grant, opens here.
pub async fn open_under(
    ctx: &Arc<Context>,
    engineer: &str,
    target: &str,
    grant: Grant,
    client_addr: &str,
    handle: Option<server::Handle>,
    gone: watch::Receiver<bool>,
) -> Result<Arc<LiveSession>, Refusal> {
    // Before the target is touched: most refusals at the cap cost no connection.
    within_session_cap(ctx, engineer, target, client_addr).await?;
    let row = db::within(db::ANSWER_WAIT, "reading the target", ctx.db.target(target))
        .await
        .map_err(|_| db_unavailable())?
        .ok_or_else(|| Refusal {
            code: policy::codes::NO_GRANT,
            message: format!("no live grant for target \"{target}\"; ask an approver for access"),
        })?;
    let Some(pin) = row.host_key_fingerprint.clone() else {
        let refusal = Refusal {
            code: policy::codes::TARGET_UNPINNED,
            message: format!("target \"{target}\" has no pinned host key, so the gateway will not connect; an administrator must run: menwei target pin {target}"),
        };
        return Err(refused(ctx, engineer, target, client_addr, refusal).await);
    };
    // Room to record, before the target is even dialled.
    let limits = Limits {
        max_bytes: ctx.config.recordings.max_session_bytes,
        min_free: ctx.config.recordings.min_free,
    };
    match room::room(&ctx.config.recordings.dir, limits.min_free) {
        Ok(room) if room.is_short() => {
            crate::metrics::refused(policy::codes::RECORDINGS_DISK_FULL.as_str());
            tracing::warn!(
                node = %ctx.config.node_name,
                user = engineer,
                target,
                code = %policy::codes::RECORDINGS_DISK_FULL,
                "session refused: the recordings disk is nearly full ({room})"
            );
            ctx.audit(
                engineer,
                "connect.refused",
                target,
                json!({"code": policy::codes::RECORDINGS_DISK_FULL, "client": client_addr, "free": room.free, "min_free": room.required}),
            )
            .await;
            return Err(disk_nearly_full());
        }
        Ok(_) => {}
        // Creating the recording below says what is wrong with the folder.
        Err(e) => tracing::warn!("cannot read the recordings disk's free space: {e}"),
    }
    let password = match &row.password_enc {
        Some(sealed) => match ctx.vault.open(sealed) {
            Ok(secret) => Some(secret),
            Err(e) => {
                tracing::error!(
                    target = target,
                    "cannot open the target's vaulted password: {e}"
                );
                None
            }
        },
        None => None,
    };
    let credential = Credential {
        login: row.login.clone(),
        key: ctx.client_key.clone(),
        password,
    };
    let targets = &ctx.config.targets;
    let upstream = match Upstream::connect(&row.address, &pin, &credential, targets).await {
        Ok(u) => u,
        Err(e) => {
            let action = match e {
                UpstreamError::HostKeyMismatch { .. } => "target.hostkey_mismatch",
                _ => "connect.refused",
            };
            crate::metrics::refused(e.code().as_str());
            tracing::warn!(
                node = %ctx.config.node_name,
                user = engineer,
                target,
                code = %e.code(),
                "session refused: connection to target failed: {e}"
            );
            ctx.audit(
                engineer,
                action,
                target,
                json!({"code": e.code(), "detail": e.to_string(), "client": client_addr}),
            )
            .await;
            return Err(Refusal {
                code: e.code(),
                message: e.engineer_message(target),
            });
        }
    };

    let id = random_id("s-");
    let started_at = now_ms();
    let meta = recordings::Meta {
        session_id: id.clone(),
        engineer: engineer.to_string(),
        target: target.to_string(),
        grant_id: grant.id.clone(),
        started_at_ms: started_at,
        node: ctx.config.node_name.clone(),
        key: None,
    };
    let recorder = start_recording(ctx, meta, limits);
    let recorder = match recorder {
        Ok(r) => r,
        Err(StartError::DiskFull) => {
            upstream.close().await;
            return Err(refused(ctx, engineer, target, client_addr, disk_nearly_full()).await);
        }
        Err(e) => {
            tracing::error!(session = %id, node = %ctx.config.node_name, "cannot create the recording: {e}");
            upstream.close().await;
            let refusal = Refusal {
                code: policy::codes::RECORDING_UNAVAILABLE,
                message: "the session cannot be recorded right now, so it cannot start; tell an administrator".into(),
            };
            return Err(refused(ctx, engineer, target, client_addr, refusal).await);
        }
    };
    let new = NewSession {
        id: id.clone(),
        engineer: engineer.to_string(),
        target: target.to_string(),
        grant_id: grant.id.clone(),
        started_at,
        recording: recorder.path().display().to_string(),
        node: ctx.config.node_name.clone(),
        client_addr: client_addr.to_string(),
    };
    // A session under a break-glass grant says so in its recording and audit entries.
    let emergency = matches!(
        db::within(db::ANSWER_WAIT, "reading the grant", ctx.db.grant_record(&grant.id)).await,
        Ok(Some(g)) if g.emergency
    );
    // Counted again from here to the session's row under this node's lock, so sessions
    // opening at once on this node cannot all pass the last slot (across nodes, the window
    // is these few database writes).
    let opening = ctx.opening.lock().await;
    if let Err(refusal) = within_session_cap(ctx, engineer, target, client_addr).await {
        recorder.discard().await;
        upstream.close().await;
        return Err(refusal);
    }
    // No session without its audit entry.
    if let Err(e) = ctx
        .audit_before(
            engineer,
            "session.start",
            target,
            json!({"session": id, "grant": grant.id, "client": client_addr, "node": ctx.config.node_name, "emergency": emergency}),
        )
        .await
    {
        tracing::error!(session = %id, node = %ctx.config.node_name, "cannot audit the session start, refusing it: {e}");
        recorder.discard().await;
        upstream.close().await;
        return Err(db_unavailable());
    }
    if let Err(e) = db::within(
        db::ANSWER_WAIT,
        "recording a session start",
        crate::metrics::db("session_start", ctx.db.session_start(&new)),
    )
    .await
    {
        tracing::error!(session = %id, node = %ctx.config.node_name, "cannot record the session start: {e}");
        let _ = recorder.seal("refused: database unavailable").await;
        ctx.recordings.sealed(&id);
        upstream.close().await;
        // Its start is audited and its row may have landed without an answer: it ends
        // there too, now or once the database is back.
        let refusal = db_unavailable();
        let entry = crate::audit::AuditEvent::new(engineer, "session.end", target).with_detail(
            json!({"session": id, "reason": refusal.code, "message": refusal.message, "recording_sealed": true}),
        );
        ctx.session_ended(&id, now_ms(), &refusal.code.to_string(), entry)
            .await;
        return Err(refusal);
    }
    drop(opening);
    crate::metrics::session_started();
    if emergency {
        let marked = recorder
            .record(recordings::Event::Marker {
                text: format!("emergency (break-glass) session under grant {}", grant.id),
            })
            .await;
        if marked.is_err() {
            upstream.close().await;
            return Err(Refusal {
                code: policy::codes::RECORDING_UNAVAILABLE,
                message: "the session cannot be recorded right now, so it cannot start; tell an administrator".into(),
            });
        }
    }

    let (end, _) = watch::channel(None);
    let end: EndSwitch = Arc::new(end);
    let activity = Arc::new(AtomicI64::new(now_ms()));
    let (notices, _) = broadcast::channel(8);
    let tap = Arc::new(crate::session::tap::Tap::default());
    ctx.sessions.insert(
        &id,
        crate::session::enforcer::Watch {
            grant: grant.clone(),
            started_at,
            end: end.clone(),
            activity: activity.clone(),
            notices: notices.clone(),
            tap: tap.clone(),
        },
    );
    let (transfers, transfers_rx) = mpsc::unbounded_channel();
    let live = Arc::new(LiveSession {
        id,
        target: target.to_string(),
        recorder,
        upstream,
        end,
        activity,
        notices,
        tap,
        streams: ctx.policy.current().stream_rules(target),
        output_bytes: AtomicU64::new(0),
        transfers,
    });
    tokio::spawn(supervise(
        ctx.clone(),
        live.clone(),
        engineer.to_string(),
        handle,
        (gone, transfers_rx),
    ));
    Ok(live)
}

/// Waits for the session's end, then closes everything in order.
async fn supervise(
    ctx: Arc<Context>,
    live: Arc<LiveSession>,
    engineer: String,
    handle: Option<server::Handle>,
    (mut gone, mut transfers): (
        watch::Receiver<bool>,
        mpsc::UnboundedReceiver<crate::session::guard::Transfer>,
    ),
) {
    let mut notices = live.notices.subscribe();
    let mut ending = live.ending();
    let mut disk_warned = false;
    let end = loop {
        // Biased: an end already decided (terminated, revoked, expired) wins over the client
        // going away, which it causes (the browser relay closes its socket on the end).
        tokio::select! {
            biased;
            end = ending.wait() => break end,
            // Before the client leaving: a channel stopped by the guard closes soon after.
            Some(t) = transfers.recv() => {
                if let Some(end) = crate::session::guard::report(&ctx, &live, &engineer, t).await {
                    break end;
                }
            }
            why = live.recorder.stopped() => break End::recording_stopped(why),
            _ = async { let _ = gone.wait_for(|g| *g).await; } => break End::new(EndCode::ClientClosed, "the engineer closed the connection"),
            // The target's side died under the session: closed, reset, or silent past its
            // keepalives. Channels that finished (exit status, EOF, close) passed all that
            // on already; the engineer's client then leaves first (above).
            lost = live.upstream.lost() => break End::target_lost(lost),
            room = live.recorder.disk_low(), if !disk_warned => {
                disk_warned = true;
                tracing::warn!(session = %live.id, "warning the session: the recordings disk is nearly full ({room})");
                // Through the notices, like a grant warning: to the engineer, the watchers,
                // the recording and the audit log (below).
                let _ = live.notices.send(Notice {
                    code: NoticeCode::RecordingsDiskLow,
                    text: "the recordings disk is nearly full; this session ends if it fills, so save your work".into(),
                });
            }
            notice = notices.recv() => {
                let Ok(notice) = notice else { continue };
                let text = notice.text;
                live.tap.publish(crate::session::tap::Frame::Notice(text.clone()));
                let _ = live.recorder.record(recordings::Event::Marker { text: text.clone() }).await;
                ctx.audit(&engineer, "session.warning", &live.target, json!({"session": live.id, "code": notice.code.as_str(), "message": text})).await;
            }
        }
    };
    trip(&live.end, end.clone());
    live.tap.publish(crate::session::tap::Frame::Notice(format!(
        "session ended: {}",
        end.message
    )));
    let client_left = end.code == EndCode::ClientClosed;
    if !client_left {
        // Channels print the end line and close; give them a moment before disconnecting.
        tokio::time::sleep(GOODBYE).await;
    }
    // Into the room the recorder held back for the end, so a full disk or a recording at
    // its size limit still ends sealed.
    let sealed = live
        .recorder
        .end(&format!("session ended: {}", end.message), &end.message)
        .await
        .is_ok();
    live.upstream.close().await;
    ctx.recordings.sealed(&live.id);
    if let (false, Some(handle)) = (client_left, &handle) {
        let _ = handle
            .disconnect(
                russh::Disconnect::ByApplication,
                format!("menwei: {}", end.message),
                "en".into(),
            )
            .await;
    }
    // One line per end, whatever ended it: the operator's journal names the session, the
    // node and the stable reason (what `session list` and the audit log carry).
    tracing::info!(
        session = %live.id,
        node = %ctx.config.node_name,
        reason = %end.code,
        sealed,
        "session ended: {}",
        end.message
    );
    crate::metrics::session_ended(end.code.as_str());
    // Table first, then the audit entry; kept in that order if the database is away.
    let entry = crate::audit::AuditEvent::new(&engineer, "session.end", &live.target).with_detail(
        json!({"session": live.id, "reason": end.code, "message": end.message, "recording_sealed": sealed}),
    );
    ctx.session_ended(&live.id, now_ms(), end.code.as_str(), entry)
        .await;
    ctx.sessions.remove(&live.id);
}
