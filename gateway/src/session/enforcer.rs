//! The enforcer: the registry of live sessions on this node and the loop that holds each
//! one to its grant and to the policy.
//!
//! Every half second it reads each live session's grant from the database (so a revocation
//! made on any node reaches the node that holds the session) and asks `policy`: is the grant
//! still live ([`policy::session_check`]), is a warning due ([`policy::warning_due`], ten
//! minutes and one minute before the end), has the session passed the longest session
//! ([`policy::session_limit`]) or been idle too long. When a grant expires while another
//! live grant for the same engineer and target exists (an approved extension), the session
//! continues under that one. An approver's terminate, stored in the database by any node,
//! ends the session here. When the database cannot be read (no answer within
//! [`db::ANSWER_WAIT`], tried once a tick) it keeps enforcing the grant it last saw, so an
//! expiry still ends the session on time and live sessions carry on through an outage; a
//! revocation or terminate made meanwhile takes effect once the database answers again. Not the session itself
//! ([`crate::session::live`]): the enforcer only says "end" or "warn", with the reason.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use policy::{Decision, Grant, Millis, SessionCheck, Warning};
use tokio::sync::{broadcast, watch};

use crate::db::{self, Db, DbError};
use crate::session::live_policy::SharedPolicy;
use crate::session::recorder::RecordingStopped;
use crate::session::upstream::Lost;
use crate::time::now_ms;

/// How old a session must be before warnings are sent to it.
const NOTICE_GRACE_MS: Millis = 1_000;

/// How often live sessions are checked against their grants.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Why a live session ended. [`EndCode::as_str`] (and the serde form) is the stable string
/// that `sessions.end_reason`, the `session.end` audit entry and the recording's seal carry;
/// compare codes as this enum, never as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCode {
    /// A rule of `policy` ended it: the grant expired or was revoked, the longest session
    /// passed; the refusal's own code (`grant_expired`, `grant_revoked`, `max_session`, …).
    Policy(policy::codes::Code),
    /// The engineer closed the connection: `client_closed`.
    ClientClosed,
    /// The session's end switch was dropped before anyone set it: `session_closed`.
    SessionClosed,
    /// No traffic for the policy's idle timeout: `idle_timeout`.
    IdleTimeout,
    /// An approver terminated it: `terminated`.
    Terminated,
    /// The gateway is stopping: `gateway_shutdown`.
    GatewayShutdown,
    /// The recording cannot be written (fail closed): `recording_failed`.
    RecordingFailed,
    /// The recording reached `[recordings] max_session_bytes`: `recording_size_limit`.
    RecordingSizeLimit,
    /// The recordings disk has no room for the next event: `recordings_disk_full`.
    RecordingsDiskFull,
    /// The audit log cannot be written for something the session was about to do (fail
    /// closed): `audit_failed`.
    AuditFailed,
    /// The node holding it stopped without ending it (killed, crashed), found when the
    /// node started again: `node_restarted`.
    NodeRestarted,
    /// The node holding it went silent past `[cluster] dead_after`; another node ended it:
    /// `node_lost`.
    NodeLost,
    /// The engineer's account was disabled or removed: `account_disabled`.
    AccountDisabled,
    /// An admin cut the engineer's logins off (a key removed, logged out everywhere):
    /// `account_cut_off`.
    AccountCutOff,
    /// The connection to the target went away (closed, reset, disconnected) while the
    /// session's channels were still open: `target_closed`.
    TargetClosed,
    /// The target left `[targets] keepalive_max_misses` keepalives in a row unanswered:
    /// `target_unreachable`.
    TargetUnreachable,
    /// The web login or API token a browser terminal was opened with ended (logout, a
    /// password change, expiry, a revoked token): `login_ended`.
    LoginEnded,
    /// A file transfer started in a channel's bytes under `transfer_guard = "end"`:
    /// `transfer_detected`.
    TransferDetected,
    /// The target's output passed the group's `max_output_bytes`: `output_limit`.
    OutputLimit,
}

impl EndCode {
    /// The stable string.
    pub fn as_str(self) -> &'static str {
        match self {
            EndCode::Policy(code) => code.as_str(),
            EndCode::ClientClosed => "client_closed",
            EndCode::SessionClosed => "session_closed",
            EndCode::IdleTimeout => "idle_timeout",
            EndCode::Terminated => "terminated",
            EndCode::GatewayShutdown => "gateway_shutdown",
            EndCode::RecordingFailed => "recording_failed",
            EndCode::RecordingSizeLimit => "recording_size_limit",
            EndCode::RecordingsDiskFull => "recordings_disk_full",
            EndCode::AuditFailed => "audit_failed",
            EndCode::NodeRestarted => "node_restarted",
            EndCode::NodeLost => "node_lost",
            EndCode::AccountDisabled => "account_disabled",
            EndCode::AccountCutOff => "account_cut_off",
            EndCode::TargetClosed => "target_closed",
            EndCode::TargetUnreachable => "target_unreachable",
            EndCode::LoginEnded => "login_ended",
            EndCode::TransferDetected => "transfer_detected",
            EndCode::OutputLimit => "output_limit",
        }
    }
}

impl std::fmt::Display for EndCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for EndCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a live session is being ended: a stable code and the line the engineer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Stable machine code.
    pub code: EndCode,
    /// One line for the engineer; never carries a target address.
    pub message: String,
}

impl End {
    /// An end with a code and message.
    pub fn new(code: EndCode, message: impl Into<String>) -> End {
        End {
            code,
            message: message.into(),
        }
    }

    /// A rule of `policy` ends the session: its refusal's code and message.
    pub fn refused(refusal: policy::Refusal) -> End {
        End::new(EndCode::Policy(refusal.code), refusal.message)
    }

    /// The audit log cannot be written for what the session was about to do: it ends (fail
    /// closed).
    pub fn audit_failed() -> End {
        End::new(
            EndCode::AuditFailed,
            "the audit log cannot be written, so the session is closed",
        )
    }

    /// The session's recording cannot be written: it ends (fail closed).
    pub fn recording_failed() -> End {
        End::new(
            EndCode::RecordingFailed,
            "the session recording cannot be written, so the session is closed",
        )
    }

    /// The connection to the target is gone: the session ends, saying how it went.
    pub fn target_lost(lost: Lost) -> End {
        match lost {
            Lost::Closed => End::new(EndCode::TargetClosed, "the target closed the connection"),
            Lost::Unanswered { keepalives } => End::new(
                EndCode::TargetUnreachable,
                format!("the target stopped answering (no reply to {keepalives} keepalives)"),
            ),
        }
    }

    /// Whether the target ended it: nothing more comes from the target, so what it sent
    /// before (output, an exit status) is still the engineer's.
    pub fn by_target(&self) -> bool {
        matches!(
            self.code,
            EndCode::TargetClosed | EndCode::TargetUnreachable
        )
    }

    /// The session's recording takes no more events: it ends, saying why (fail closed).
    pub fn recording_stopped(why: RecordingStopped) -> End {
        match why {
            RecordingStopped::SizeLimit { limit } => End::new(
                EndCode::RecordingSizeLimit,
                format!(
                    "the session's recording reached its size limit ({}), so the session is closed",
                    crate::size::format_size(limit)
                ),
            ),
            RecordingStopped::DiskFull => End::new(
                EndCode::RecordingsDiskFull,
                "the recordings disk is full, so the session is closed; tell an administrator",
            ),
            RecordingStopped::Failed => End::recording_failed(),
        }
    }
}

/// A line for the engineer's terminal during a session, never sent to the target; the
/// supervisor also records it as a marker and audits it (`session.warning`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What it is about.
    pub code: NoticeCode,
    /// The line.
    pub text: String,
}

/// What a [`Notice`] is about; [`NoticeCode::as_str`] is the `code` of its audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeCode {
    /// The grant ends soon; the engineer may ask for more time: `grant_ending`.
    GrantEnding,
    /// The recordings disk is below `[recordings] min_free`: `recordings_disk_low`.
    RecordingsDiskLow,
    /// The session's output passed half of `max_output_bytes`: `output_limit_near`.
    OutputLimitNear,
}

impl NoticeCode {
    /// The stable string.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeCode::GrantEnding => "grant_ending",
            NoticeCode::RecordingsDiskLow => "recordings_disk_low",
            NoticeCode::OutputLimitNear => "output_limit_near",
        }
    }
}

/// The end switch of one session: set once, observed by its channels and supervisor.
pub type EndSwitch = Arc<watch::Sender<Option<End>>>;

/// What the enforcer needs to watch one session.
pub struct Watch {
    /// The grant the session runs under now.
    pub grant: Grant,
    /// When the session started.
    pub started_at: Millis,
    /// Tripped to end the session.
    pub end: EndSwitch,
    /// Last traffic in either direction, epoch milliseconds.
    pub activity: Arc<AtomicI64>,
    /// Lines for the engineer's terminal (warnings); also recorded as markers.
    pub notices: broadcast::Sender<Notice>,
    /// The live-watch feed.
    pub tap: Arc<crate::session::tap::Tap>,
}

struct Entry {
    watch: Watch,
    warned: Vec<Warning>,
}

/// Live sessions on this node, by session id.
#[derive(Default)]
pub struct Registry {
    sessions: Mutex<HashMap<String, Entry>>,
}

impl Registry {
    /// Registers a live session.
    pub fn insert(&self, session_id: &str, watch: Watch) {
        if let Ok(mut map) = self.sessions.lock() {
            map.insert(
                session_id.to_string(),
                Entry {
                    watch,
                    warned: Vec::new(),
                },
            );
        }
    }

    /// Forgets a session that has ended.
    pub fn remove(&self, session_id: &str) {
        if let Ok(mut map) = self.sessions.lock() {
            map.remove(session_id);
        }
        crate::memory::closed();
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.sessions.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends every live session with `end` (gateway shutdown).
    pub fn end_all(&self, end: &End) {
        if let Ok(map) = self.sessions.lock() {
            for entry in map.values() {
                trip(&entry.watch.end, end.clone());
            }
        }
    }

    /// The live-watch feed of session `session_id`, if it is live on this node.
    pub fn tap(&self, session_id: &str) -> Option<Arc<crate::session::tap::Tap>> {
        self.sessions
            .lock()
            .ok()
            .and_then(|m| m.get(session_id).map(|e| e.watch.tap.clone()))
    }

    /// Ends session `session_id` if it is live on this node (an approver's terminate).
    pub fn end_session(&self, session_id: &str, end: &End) {
        if let Ok(map) = self.sessions.lock() {
            if let Some(entry) = map.get(session_id) {
                trip(&entry.watch.end, end.clone());
            }
        }
    }

    /// Ends every live session under `grant_id` (a revocation made on this node).
    pub fn end_grant(&self, grant_id: &str, end: &End) {
        if let Ok(map) = self.sessions.lock() {
            for entry in map.values().filter(|e| e.watch.grant.id == grant_id) {
                trip(&entry.watch.end, end.clone());
            }
        }
    }

    /// Each live session's engineer and start: (session id, engineer, started at).
    fn engineers(&self) -> Vec<(String, String, Millis)> {
        self.sessions
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(id, e)| {
                        (
                            id.clone(),
                            e.watch.grant.engineer.clone(),
                            e.watch.started_at,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn snapshot(&self) -> Vec<(String, Grant)> {
        self.sessions
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(id, e)| (id.clone(), e.watch.grant.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Applies the time limits that need no database: idle, longest session, warnings.
    fn check_times(&self, policy: &policy::Policy, now: Millis) {
        let Ok(mut map) = self.sessions.lock() else {
            return;
        };
        for entry in map.values_mut() {
            let w = &entry.watch;
            let idle = now.saturating_sub(w.activity.load(Ordering::Relaxed));
            if policy.idle_timeout_ms > 0 && idle >= policy.idle_timeout_ms {
                let text = format!(
                    "the session was idle for {}; it is closed",
                    policy::format_duration(policy.idle_timeout_ms)
                );
                trip(&w.end, End::new(EndCode::IdleTimeout, text));
            }
            if let SessionCheck::End(refusal) = policy::session_limit(w.started_at, policy, now) {
                trip(&w.end, End::refused(refusal));
            }
            // A session's channels subscribe to notices as they start: give a new session
            // a moment, so its first warning is not sent before anyone listens.
            if w.grant.is_live(now) && now.saturating_sub(w.started_at) >= NOTICE_GRACE_MS {
                if let Some(warning) = policy::warning_due(w.grant.ends_at, now, &entry.warned) {
                    entry.warned.push(warning);
                    let _ = w.notices.send(Notice {
                        code: NoticeCode::GrantEnding,
                        text: warning.message(&w.grant.target, w.grant.ends_at, now),
                    });
                }
            }
        }
    }

    /// Puts the fresh `grant` on the session, or ends it as `check` says.
    fn update(&self, session_id: &str, grant: Grant, check: SessionCheck) {
        if let Ok(mut map) = self.sessions.lock() {
            if let Some(entry) = map.get_mut(session_id) {
                if let SessionCheck::End(refusal) = check {
                    trip(&entry.watch.end, End::refused(refusal));
                }
                if entry.watch.grant.id != grant.id || entry.watch.grant.ends_at != grant.ends_at {
                    entry.warned.clear();
                }
                entry.watch.grant = grant;
            }
        }
    }
}

/// Sets the end of a session unless it is already ending.
pub fn trip(switch: &watch::Sender<Option<End>>, end: End) {
    switch.send_if_modified(|current| {
        if current.is_none() {
            *current = Some(end);
            true
        } else {
            false
        }
    });
}

/// Checks every live session until `shutdown` turns true.
pub async fn run(
    registry: Arc<Registry>,
    db: Db,
    policy: SharedPolicy,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        registry.check_times(&policy.current(), now_ms());
        // An approver's terminate, made on any node, reaches the node holding the session.
        // A database that does not answer is looked at once a tick, not once per session:
        // sessions then run on the grants last read, whose end is still enforced here from
        // memory (expiry is not waived; only a revocation waits for the database).
        let mut answering = true;
        if !registry.is_empty() {
            match db::within(db::ANSWER_WAIT, "reading session stops", db.session_stops()).await {
                Ok(stops) => {
                    for (session_id, by) in stops {
                        registry.end_session(
                            &session_id,
                            &End::new(
                                EndCode::Terminated,
                                format!("an approver ({by}) ended the session"),
                            ),
                        );
                    }
                }
                Err(e) => {
                    answering = false;
                    tracing::warn!("enforcer cannot read session stops: {e}");
                }
            }
        }
        if answering && !registry.is_empty() {
            answering = check_accounts(&registry, &db).await;
        }
        let mut fresh: HashMap<String, Option<Grant>> = HashMap::new();
        for (session_id, known) in registry.snapshot() {
            let grant = match fresh.get(&known.id) {
                Some(g) => g.clone(),
                None => {
                    let read = if answering {
                        db::within(db::ANSWER_WAIT, "reading a grant", db.grant(&known.id)).await
                    } else {
                        Err(DbError::NoAnswer {
                            what: "reading a grant".into(),
                            waited: Duration::ZERO,
                        })
                    };
                    let g = match read {
                        Ok(g) => g,
                        Err(e) => {
                            answering = false;
                            tracing::warn!(
                                "enforcer cannot read grant {}: {e}; enforcing the last known window",
                                known.id
                            );
                            Some(known.clone())
                        }
                    };
                    fresh.insert(known.id.clone(), g.clone());
                    g
                }
            };
            // A grant deleted from the database ends its sessions like a revocation.
            let grant = grant.unwrap_or_else(|| Grant {
                revoked_at: Some(now_ms()),
                ..known
            });
            let now = now_ms();
            let check = policy::session_check(&grant, now);
            let (grant, check) = match check {
                SessionCheck::End(refusal) if refusal.code == policy::codes::GRANT_EXPIRED => {
                    let next = if answering {
                        successor(&db, &grant, now).await
                    } else {
                        None
                    };
                    match next {
                        Some(next) => {
                            let check = policy::session_check(&next, now);
                            (next, check)
                        }
                        None => (grant, SessionCheck::End(refusal)),
                    }
                }
                other => (grant, other),
            };
            registry.update(&session_id, grant, check);
        }
    }
}

/// Ends the live sessions of accounts cut off since they began (disabled, a key removed,
/// logged out everywhere, gone): an admin's decision on any node reaches every node within
/// a tick. False when the database did not answer (the accounts are looked at next tick).
async fn check_accounts(registry: &Registry, db: &Db) -> bool {
    let live = registry.engineers();
    let mut names: Vec<String> = live.iter().map(|(_, e, _)| e.clone()).collect();
    names.sort();
    names.dedup();
    // One query for every account holding a session, in slices the query can take.
    let mut accounts: HashMap<String, crate::db::User> = HashMap::new();
    for slice in names.chunks(1000) {
        match db::within(db::ANSWER_WAIT, "reading accounts", db.users_named(slice)).await {
            Ok(users) => accounts.extend(users.into_iter().map(|u| (u.name.clone(), u))),
            Err(e) => {
                tracing::warn!("enforcer cannot read the accounts of live sessions: {e}");
                return false;
            }
        }
    }
    for (session_id, engineer, started_at) in live {
        // An inspection's identity is no account: its run's grant holds it (above).
        if crate::inspections::is_identity(&engineer) {
            continue;
        }
        let user = accounts.get(&engineer).cloned();
        let end = match user {
            None => Some(End::new(
                EndCode::AccountDisabled,
                "your account was removed",
            )),
            Some(u) if u.disabled => Some(End::new(
                EndCode::AccountDisabled,
                match (u.removed_at.is_some(), u.disabled_reason.as_deref()) {
                    (true, Some(why)) => format!("your account was removed: {why}"),
                    (true, None) => "your account was removed".to_string(),
                    (false, Some(why)) => format!("your account was disabled: {why}"),
                    (false, None) => "your account was disabled".to_string(),
                },
            )),
            Some(u) if u.cut_off_at.is_some_and(|at| at >= started_at) => Some(End::new(
                EndCode::AccountCutOff,
                "an administrator ended your logins (a key removed, the role changed or logged out everywhere)",
            )),
            Some(_) => None,
        };
        if let Some(end) = end {
            registry.end_session(&session_id, &end);
        }
    }
    true
}

/// Another live grant for the same engineer and target (an approved extension), if any.
async fn successor(db: &Db, ended: &Grant, now: Millis) -> Option<Grant> {
    let grants = db::within(
        db::ANSWER_WAIT,
        "reading grants",
        db.grants_for(&ended.engineer),
    )
    .await
    .ok()?;
    match policy::connect(&ended.engineer, &ended.target, now, &grants) {
        Decision::Allow(next) if next.id != ended.id => Some(next.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_codes_keep_the_strings_stored_in_the_database_audit_and_recordings() {
        for (code, text) in [
            (EndCode::ClientClosed, "client_closed"),
            (EndCode::SessionClosed, "session_closed"),
            (EndCode::IdleTimeout, "idle_timeout"),
            (EndCode::Terminated, "terminated"),
            (EndCode::GatewayShutdown, "gateway_shutdown"),
            (EndCode::RecordingFailed, "recording_failed"),
            (EndCode::AuditFailed, "audit_failed"),
            (EndCode::RecordingSizeLimit, "recording_size_limit"),
            (EndCode::RecordingsDiskFull, "recordings_disk_full"),
            (EndCode::LoginEnded, "login_ended"),
            (EndCode::NodeLost, "node_lost"),
            (EndCode::TransferDetected, "transfer_detected"),
            (EndCode::OutputLimit, "output_limit"),
            (
                EndCode::Policy(policy::codes::GRANT_EXPIRED),
                "grant_expired",
            ),
            (
                EndCode::Policy(policy::codes::GRANT_REVOKED),
                "grant_revoked",
            ),
            (EndCode::Policy(policy::codes::MAX_SESSION), "max_session"),
        ] {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
            assert_eq!(serde_json::json!({ "reason": code })["reason"], text);
        }
        let end = End::refused(policy::Refusal::new(policy::codes::GRANT_REVOKED, "gone"));
        assert_eq!(
            (end.code, end.message.as_str()),
            (EndCode::Policy(policy::codes::GRANT_REVOKED), "gone")
        );
    }
}
