//! The enforcer: the registry of live sessions on this node and the loop that ends them
//! when their grant expires or is revoked.
//!
//! Every half second it reads each live session's grant from the database (so a revocation
//! made on any node reaches the node that holds the session) and asks
//! [`policy::session_check`]. When the database cannot be read it keeps enforcing the grant
//! it last saw, so an expiry still ends the session on time. Not the session itself
//! ([`crate::ssh::session`]): the enforcer only says "end", with the reason.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use policy::{Grant, SessionCheck};
use tokio::sync::watch;

use crate::db::Db;

/// How often live sessions are checked against their grants.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Why a live session is being ended: a stable code and the line the engineer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Stable machine code (`grant_revoked`, `grant_expired`, `client_closed`, …).
    pub code: &'static str,
    /// One line for the engineer; never carries a target address.
    pub message: String,
}

impl End {
    /// An end with a code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> End {
        End {
            code,
            message: message.into(),
        }
    }
}

/// The end switch of one session: set once, observed by its channels and supervisor.
pub type EndSwitch = Arc<watch::Sender<Option<End>>>;

struct Entry {
    grant: Grant,
    end: EndSwitch,
    /// Last traffic in either direction, epoch milliseconds.
    activity: Arc<AtomicI64>,
}

/// Live sessions on this node, by session id.
#[derive(Default)]
pub struct Registry {
    sessions: Mutex<HashMap<String, Entry>>,
}

impl Registry {
    /// Registers a live session under `grant`; `activity` holds its last traffic time.
    pub fn insert(&self, session_id: &str, grant: Grant, end: EndSwitch, activity: Arc<AtomicI64>) {
        if let Ok(mut map) = self.sessions.lock() {
            map.insert(
                session_id.to_string(),
                Entry {
                    grant,
                    end,
                    activity,
                },
            );
        }
    }

    /// Ends every session without traffic for `timeout`.
    fn end_idle(&self, now: policy::Millis, timeout: Duration) {
        let limit = crate::time::duration_ms(timeout);
        if let Ok(map) = self.sessions.lock() {
            for entry in map.values() {
                if now.saturating_sub(entry.activity.load(Ordering::Relaxed)) >= limit {
                    trip(
                        &entry.end,
                        End::new(
                            "idle_timeout",
                            format!(
                                "the session was idle for {}; it is closed",
                                policy::format_duration(limit)
                            ),
                        ),
                    );
                }
            }
        }
    }

    /// Forgets a session that has ended.
    pub fn remove(&self, session_id: &str) {
        if let Ok(mut map) = self.sessions.lock() {
            map.remove(session_id);
        }
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
                trip(&entry.end, end.clone());
            }
        }
    }

    fn grants(&self) -> Vec<(String, Grant)> {
        self.sessions
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(id, e)| (id.clone(), e.grant.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn update(&self, session_id: &str, grant: Grant, check: SessionCheck) {
        if let Ok(mut map) = self.sessions.lock() {
            if let Some(entry) = map.get_mut(session_id) {
                if let SessionCheck::End(refusal) = check {
                    trip(&entry.end, End::new(refusal.code, refusal.message));
                }
                entry.grant = grant;
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

/// Checks every live session against its grant and the idle timeout until `shutdown`
/// turns true.
pub async fn run(
    registry: Arc<Registry>,
    db: Db,
    idle_timeout: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        if let Some(timeout) = idle_timeout {
            registry.end_idle(crate::time::now_ms(), timeout);
        }
        let live = registry.grants();
        let mut fresh: HashMap<String, Option<Grant>> = HashMap::new();
        for (session_id, known) in live {
            let grant = match fresh.get(&known.id) {
                Some(g) => g.clone(),
                None => {
                    let g = match db.grant(&known.id).await {
                        Ok(g) => g,
                        Err(e) => {
                            tracing::warn!("enforcer cannot read grant {}: {e}; enforcing the last known window", known.id);
                            Some(known.clone())
                        }
                    };
                    fresh.insert(known.id.clone(), g.clone());
                    g
                }
            };
            // A grant deleted from the database ends its sessions like a revocation.
            let grant = grant.unwrap_or_else(|| Grant {
                revoked_at: Some(crate::time::now_ms()),
                ..known
            });
            let check = policy::session_check(&grant, crate::time::now_ms());
            registry.update(&session_id, grant, check);
        }
    }
}
