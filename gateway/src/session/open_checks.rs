//! The checks a session's opening refuses on, each refusal logged, counted and audited as
//! `connect.refused` with its code: the database not answering in time (fail closed), the
//! recordings disk below `min_free`, `[policy] max_sessions_per_engineer`. Split from
//! [`super::live`], which decides in this order and opens.

use policy::{Decision, Refusal};
use serde_json::json;

use crate::db;
use crate::session::Context;

/// What an engineer reads when the recordings disk is below `min_free` (how much is free
/// goes to the audit log and the gateway's log, not to engineers).
pub(super) fn disk_nearly_full() -> Refusal {
    Refusal {
        code: policy::codes::RECORDINGS_DISK_FULL,
        message:
            "the recordings disk is nearly full, so no new session can start; tell an administrator"
                .into(),
    }
}

/// A read a session's opening depends on, waited for at most [`db::ANSWER_WAIT`]: on
/// failure, logged and refused with [`db_unavailable`] (fail closed).
pub(super) async fn checked<T>(
    what: &'static str,
    read: impl std::future::Future<Output = Result<T, db::DbError>>,
) -> Result<T, Refusal> {
    db::within(db::ANSWER_WAIT, what, read).await.map_err(|e| {
        tracing::error!("{what}: {e}");
        db_unavailable()
    })
}

/// What an engineer reads when the database does not answer within [`db::ANSWER_WAIT`]:
/// nothing opens without a check (fail closed), and nothing did.
pub fn db_unavailable() -> Refusal {
    Refusal {
        code: policy::codes::DATABASE_UNAVAILABLE,
        message: "access cannot be checked right now (database unavailable); nothing was opened"
            .into(),
    }
}

/// A connection refused after the decision to let it through (no pin, no recording):
/// audited with its code, given back to say.
pub(super) async fn refused(
    ctx: &Context,
    engineer: &str,
    target: &str,
    client_addr: &str,
    refusal: Refusal,
) -> Refusal {
    log_refusal(ctx, engineer, target, client_addr, &refusal);
    ctx.audit(
        engineer,
        "connect.refused",
        target,
        json!({"code": refusal.code, "client": client_addr}),
    )
    .await;
    refusal
}

/// The one log line (and count) of a session refused at open: who, which target (by name;
/// the log is the operator's), the code, and the node.
pub(super) fn log_refusal(
    ctx: &Context,
    engineer: &str,
    target: &str,
    client_addr: &str,
    r: &Refusal,
) {
    crate::metrics::refused(r.code.as_str());
    tracing::warn!(
        node = %ctx.config.node_name,
        user = engineer,
        target,
        client = client_addr,
        code = %r.code,
        "session refused: {}",
        r.message
    );
}

/// Refuses a session past `[policy] max_sessions_per_engineer`: the engineer's live sessions
/// are counted from the database, so on every node (and a node's leftovers after a crash
/// are ended at its start, [`crate::serve`]). Audited as `connect.refused` with the code
/// `too_many_sessions`.
pub(super) async fn within_session_cap(
    ctx: &Context,
    engineer: &str,
    target: &str,
    client_addr: &str,
) -> Result<(), Refusal> {
    let live = checked(
        "counting live sessions",
        ctx.db.live_session_count(engineer),
    )
    .await?;
    let max = ctx.policy.current().max_sessions_per_engineer;
    match policy::session_count_check(live, max) {
        Decision::Allow(()) => Ok(()),
        Decision::Deny(refusal) => Err(refused(ctx, engineer, target, client_addr, refusal).await),
    }
}
