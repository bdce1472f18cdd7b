//! `[retention] recordings`: `serve` removes the recordings of sessions that ended longer
//! ago than the retention, every `check_interval`, each audited as `recording.expired`
//! (with where it was removed from). The session row and every audit entry stay; a replay
//! of the session answers that its recording expired, and when ([`expired_message`]).
//!
//! Without a store, each node removes only the recordings of its own sessions (its
//! recordings directory holds nothing else); with a store any node may, and the row in
//! `recordings_expired` that one conditional INSERT adds decides which node audits it.
//! Removal comes first and is idempotent: a removal cut short (the store away) is tried
//! again at the next pass, and a recording is never reported expired while it is still
//! kept somewhere.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;

use crate::session::Context;
use policy::Millis;

/// Recordings removed per pass at most, so one pass over years of history stays short.
const BATCH: i64 = 200;

/// Runs until shutdown; nothing without `[retention] recordings`.
pub async fn run(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let Some(keep) = ctx.config.retention.recordings else {
        return;
    };
    let keep_ms = crate::time::duration_ms(keep);
    loop {
        let before = crate::time::now_ms().saturating_sub(keep_ms);
        // Full batches mean more are waiting: go on at once.
        let full = match pass(&ctx, before, keep).await {
            Ok(n) => n == usize::try_from(BATCH).unwrap_or(usize::MAX),
            Err(e) => {
                tracing::warn!(node = %ctx.config.node_name, "recording retention: {e}; trying again at the next check");
                false
            }
        };
        if full {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.config.retention.check_interval) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// One pass: removes up to [`BATCH`] recordings of sessions ended before `before`; how
/// many sessions it looked at.
async fn pass(ctx: &Context, before: Millis, keep: std::time::Duration) -> Result<usize, String> {
    let node = (!ctx.recordings.is_remote()).then_some(ctx.config.node_name.as_str());
    let due = ctx
        .db
        .recordings_past(before, node, BATCH)
        .await
        .map_err(|e| e.to_string())?;
    let keep_text = humantime::format_duration(keep).to_string();
    for (id, named) in &due {
        let removed = ctx
            .recordings
            .remove(id, named.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let now = crate::time::now_ms();
        let claimed = ctx
            .db
            .claim_recording_expiry(id, now, &ctx.config.node_name)
            .await
            .map_err(|e| e.to_string())?;
        if claimed {
            tracing::info!(session = %id, node = %ctx.config.node_name, "recording removed: past [retention] recordings = {keep_text}");
            ctx.audit(
                "menwei",
                "recording.expired",
                id,
                json!({"retention": keep_text, "removed_from": removed, "node": ctx.config.node_name}),
            )
            .await;
        }
    }
    Ok(due.len())
}

/// What a reader of an expired recording is told.
pub fn expired_message(id: &str, at: Millis) -> String {
    format!(
        "the recording of session {id} was removed on {} under [retention] recordings",
        crate::time::rfc3339(at)
    )
}
