//! Node membership: every node writes a heartbeat to the shared database every `[cluster]
//! heartbeat`, and looks for nodes silent past `[cluster] dead_after`. A silent node is
//! marked lost once (`node.lost` audited by whichever node saw it first) and the sessions
//! it held are ended `node_lost`, each exactly once cluster-wide (one conditional UPDATE
//! decides which node audits it). A clean stop is not a loss: the node says it stopped.
//! A node that was only cut off from the database (a partition) carries its sessions on
//! meanwhile, as through any outage; its first heartbeat back tells it it was marked lost,
//! and it ends every session the cluster ended (`session.closed`, `node.rejoined`).
//! Not where the rows live ([`crate::db`]) nor the listing (`menwei node list`,
//! `GET /api/v1/nodes`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::db::NodeRow;
use crate::session::enforcer::{End, EndCode};
use crate::session::Context;

/// This node's `menwei` version, as `node list` shows it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where `config` listens, as `node list` shows it: `ssh://ADDR` and `https://ADDR`, the
/// latter `[cluster] https_address` when set (where the other nodes relay a watch from).
pub fn address(config: &crate::config::Config) -> String {
    let mut a = format!("ssh://{}", config.ssh.listen);
    if let Some(h) = &config.https {
        let https = config.cluster.https_address.unwrap_or(h.listen);
        a.push_str(&format!(" https://{https}"));
    }
    a
}

/// Until shutdown: the heartbeat, then the look for lost nodes, every `[cluster] heartbeat`.
/// A database that does not answer skips a beat (the next one catches up).
pub async fn run(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let cluster = ctx.config.cluster.clone();
    let mut tick = tokio::time::interval(cluster.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = crate::time::now_ms();
        let live = i64::try_from(ctx.sessions.len()).unwrap_or(i64::MAX);
        let beat = crate::db::within(
            crate::db::ANSWER_WAIT,
            "writing this node's heartbeat",
            ctx.db.node_heartbeat(&ctx.config.node_name, now, live),
        );
        match beat.await {
            Ok(Some(lost_at)) => rejoined(&ctx, lost_at).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(node = %ctx.config.node_name, "cannot write the heartbeat: {e}");
                continue;
            }
        }
        sweep(&ctx, now, crate::time::duration_ms(cluster.dead_after)).await;
    }
}

/// Marks nodes silent for `dead_after_ms` lost and ends the sessions they held.
async fn sweep(ctx: &Context, now: i64, dead_after_ms: i64) {
    let me = &ctx.config.node_name;
    let silent_before = now.saturating_sub(dead_after_ms);
    let nodes = match ctx.db.nodes().await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(node = %me, "cannot list nodes: {e}");
            return;
        }
    };
    for n in nodes
        .iter()
        .filter(|n| &n.name != me && n.stopped_at.is_none() && n.heartbeat_at < silent_before)
    {
        match ctx.db.node_mark_lost(&n.name, now, silent_before).await {
            Ok(true) => {
                tracing::warn!(node = %me, lost = %n.name, "node {} is lost: no heartbeat for {} s", n.name, (now - n.heartbeat_at) / 1000);
                ctx.audit(
                    "menwei",
                    "node.lost",
                    &n.name,
                    json!({"last_heartbeat": crate::time::rfc3339(n.heartbeat_at), "seen_by": me}),
                )
                .await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(node = %me, "cannot mark node {} lost: {e}", n.name),
        }
        end_sessions_of(ctx, n, now).await;
    }
}

/// This node reached the database again after another node had marked it lost at
/// `lost_at`: the sessions it held were ended in the table then (`node_lost`), and a session
/// the cluster counts as ended must not go on here, so each still live here ends now with
/// one line to its engineer. Audited `node.rejoined` once per return.
async fn rejoined(ctx: &Context, lost_at: i64) {
    let me = &ctx.config.node_name;
    let code = EndCode::NodeLost;
    let ended = match ctx.db.sessions_ended_on(me, code.as_str(), lost_at).await {
        Ok(ids) => ids,
        Err(e) => {
            // Not lost from sight: the sweep ends nothing here, so the next beat cannot
            // see the mark again. Every such session is ended rather than kept.
            tracing::warn!(node = %me, "cannot read which sessions were ended while this node was lost: {e}; ending every live session");
            ctx.sessions.end_all(&lost_end());
            Vec::new()
        }
    };
    tracing::warn!(node = %me, sessions = ended.len(), "this node was marked lost at {}; it is back and ends the sessions the cluster ended", crate::time::rfc3339(lost_at));
    for id in &ended {
        ctx.sessions.end_session(id, &lost_end());
    }
    ctx.audit(
        "menwei",
        "node.rejoined",
        me,
        json!({"lost_at": crate::time::rfc3339(lost_at), "sessions_ended": ended}),
    )
    .await;
}

/// The end of a session the cluster ended while this node was cut off.
fn lost_end() -> End {
    End::new(
        EndCode::NodeLost,
        "this gateway node lost contact with the cluster and the session was ended",
    )
}

/// Ends the sessions lost node `n` held, auditing those this node ended.
async fn end_sessions_of(ctx: &Context, n: &NodeRow, now: i64) {
    let open = match ctx.db.sessions_open_on(&n.name).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot read the sessions of lost node {}: {e}", n.name);
            return;
        }
    };
    let code = EndCode::NodeLost.as_str();
    for s in open {
        match ctx.db.session_end_first(&s.id, now, code).await {
            Ok(true) => {
                tracing::info!(session = %s.id, lost = %n.name, reason = code, "session ended: its node is lost");
                crate::metrics::session_ended(code);
                ctx.audit(
                    &s.engineer,
                    "session.end",
                    &s.target,
                    json!({"session": s.id, "reason": code, "message": "the node holding the session stopped answering", "node": n.name}),
                )
                .await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(session = %s.id, "cannot end a lost node's session: {e}"),
        }
    }
}

/// A node's state for people: `alive`, `stopped`, `lost` or `silent` (missed beats, not yet
/// `dead_after`).
pub fn state(n: &NodeRow, now: i64, heartbeat: Duration) -> &'static str {
    if n.stopped_at.is_some() {
        "stopped"
    } else if n.lost_at.is_some() {
        "lost"
    } else if now.saturating_sub(n.heartbeat_at) > crate::time::duration_ms(heartbeat) * 2 {
        "silent"
    } else {
        "alive"
    }
}

/// A node as the CLI's `--json` and the API show it.
pub fn json(n: &NodeRow, now: i64, heartbeat: Duration) -> Value {
    json!({
        "name": n.name,
        "address": n.address,
        "version": n.version,
        "state": state(n, now, heartbeat),
        "started_at": crate::time::rfc3339(n.started_at),
        "last_heartbeat": crate::time::rfc3339(n.heartbeat_at),
        "live_sessions": n.live_sessions,
        "stopped_at": n.stopped_at.map(crate::time::rfc3339),
        "lost_at": n.lost_at.map(crate::time::rfc3339),
    })
}
