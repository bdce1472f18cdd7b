//! The node's shared state: configuration, database, keys, vault, login throttle and alerts,
//! the registry of live sessions, the policy in force and the refusal counters. Every front door (SSH, web, `serve`)
//! holds an `Arc<Context>` and hands it to the core; nothing here decides.

use std::sync::Arc;

use russh::keys::PrivateKey;

use crate::audit::{self, AuditError, AuditEvent};
use crate::config::Config;
use crate::db::{self, Db, DbError};
use crate::login_alert::LoginAlerts;
use crate::outbox::Pending;
use crate::refusals::Refusals;
use crate::session::enforcer::{EndCode, Registry};
use crate::session::live_policy::SharedPolicy;
use crate::throttle::Throttle;
use crate::vault::Vault;

/// How long an entry for an event that has already happened is tried before it is kept in
/// the outbox: longer than a login's wait, as nobody waits on it, but bounded, so a hung
/// database holds up no task for long.
const AUDIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Everything a connection needs from the gateway.
pub struct Context {
    /// The loaded configuration.
    pub config: Config,
    /// The database.
    pub db: Db,
    /// The gateway's client key for targets.
    pub client_key: Arc<PrivateKey>,
    /// The key that seals recordings.
    pub signing_key: ed25519_dalek::SigningKey,
    /// Opens target passwords.
    pub vault: Vault,
    /// Where recordings are read back from, and the uploads to the recording store.
    pub recordings: crate::recording_store::RecordingStore,
    /// Failed-login counters.
    pub throttle: Arc<Throttle>,
    /// Live sessions on this node.
    pub sessions: Arc<Registry>,
    /// The policy in force (replaced on SIGHUP).
    pub policy: SharedPolicy,
    /// Refusals at the limits since the last audit summary.
    pub refusals: Refusals,
    /// Failed logins per account across addresses, for the alert.
    pub login_alerts: LoginAlerts,
    /// Audit entries and session ends waiting for the database, in order ([`crate::outbox`]).
    pub outbox: crate::outbox::Outbox,
    /// Held from a session's last count against `max_sessions_per_engineer` to its row in
    /// the database ([`crate::session::live`]).
    pub opening: tokio::sync::Mutex<()>,
}

impl Context {
    /// Appends an entry before the action it describes takes effect ([`audit`]'s rule): on
    /// an error the caller refuses the action. Entries kept from an outage go first
    /// ([`crate::outbox`]): if they do not drain within [`db::ANSWER_WAIT`], the action is
    /// refused too, so the log never holds it ahead of events that happened before it.
    #[must_use = "an action whose audit entry failed must not go ahead"]
    pub async fn audit_before(
        &self,
        actor: &str,
        action: &'static str,
        subject: &str,
        detail: serde_json::Value,
    ) -> Result<(), AuditError> {
        if !self.outbox.drained(db::ANSWER_WAIT).await {
            return Err(AuditError::Db(DbError::NoAnswer {
                what: "writing the entries kept during a database outage".into(),
                waited: db::ANSWER_WAIT,
            }));
        }
        let event = AuditEvent::new(actor, action, subject).with_detail(detail);
        let appended = crate::metrics::db(
            "audit_append",
            audit::append(&self.db, &self.config.node_name, event),
        )
        .await;
        if appended.is_err() {
            // The caller refuses the action and logs why.
            crate::metrics::audit_failed();
        }
        appended.map(|_| ())
    }

    /// Appends an entry for an event that has already happened ([`audit`]'s rule). Behind
    /// entries still kept from an outage it queues; if the database does not take it within
    /// a few seconds (`AUDIT_WAIT`) it is kept ([`crate::outbox`]) and written once the
    /// database is back.
    pub async fn audit(
        &self,
        actor: &str,
        action: &'static str,
        subject: &str,
        detail: serde_json::Value,
    ) {
        self.audit_event(happened(actor, action, subject, detail))
            .await;
    }

    async fn audit_event(&self, event: AuditEvent) {
        if !self.outbox.is_empty() {
            self.outbox.push(Pending::Audit(event), false);
            return;
        }
        let write = db::within(AUDIT_WAIT, "appending to the audit log", async {
            crate::metrics::db(
                "audit_append",
                audit::append(&self.db, &self.config.node_name, event.clone()),
            )
            .await
            .map_err(|e| match e {
                AuditError::Db(e) => e,
                other => DbError::Query {
                    what: "appending to the audit log".into(),
                    message: other.to_string(),
                },
            })
        });
        if let Err(e) = write.await {
            crate::metrics::audit_failed();
            tracing::warn!(
                node = %self.config.node_name,
                action = event.action,
                "cannot append to the audit log now, keeping the entry until the database answers: {e}"
            );
            self.outbox.push(Pending::Audit(event), true);
        }
    }

    /// Keeps an entry for an event that has already happened without trying the database,
    /// which was just found unavailable (a login refused for it must be answered now).
    pub fn audit_later(
        &self,
        actor: &str,
        action: &'static str,
        subject: &str,
        detail: serde_json::Value,
    ) {
        self.outbox.push(
            Pending::Audit(happened(actor, action, subject, detail)),
            false,
        );
    }

    /// Records a session's end in the sessions table, then its `session.end` entry; if the
    /// database does not answer within [`db::ANSWER_WAIT`], both are kept in that order and
    /// written once it is back, so the table and the log agree. A session that ends
    /// `node_lost` here was already ended in the table by the node that found this one lost
    /// (this node was cut off from the database): its entry is `session.closed`, saying when
    /// it really closed, and the one `session.end` stays the other node's.
    pub async fn session_ended(
        &self,
        session: &str,
        ended_at: i64,
        reason: &str,
        mut entry: AuditEvent,
    ) {
        if reason == EndCode::NodeLost.as_str() {
            entry.action = "session.closed";
        }
        let entry = entry.at(ended_at);
        if self.outbox.is_empty() {
            let end = db::within(
                db::ANSWER_WAIT,
                "recording a session end",
                self.db.session_end(session, ended_at, reason),
            );
            match end.await {
                Ok(()) => return self.audit_event(entry).await,
                Err(e) => tracing::warn!(
                    session = %session,
                    "cannot record the session end now, keeping it until the database answers: {e}"
                ),
            }
        }
        self.outbox.push(
            Pending::SessionEnd {
                session: session.to_string(),
                ended_at,
                reason: reason.to_string(),
            },
            false,
        );
        self.outbox.push(Pending::Audit(entry), false);
    }
}

/// An entry for an event that happens now.
fn happened(
    actor: &str,
    action: &'static str,
    subject: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent::new(actor, action, subject)
        .with_detail(detail)
        .at(crate::time::now_ms())
}
