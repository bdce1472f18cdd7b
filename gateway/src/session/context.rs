//! The node's shared state: configuration, database, keys, vault, login throttle and alerts,
//! the registry of live sessions, the policy in force and the refusal counters. Every front door (SSH, web, `serve`)
//! holds an `Arc<Context>` and hands it to the core; nothing here decides.

use std::sync::Arc;

use russh::keys::PrivateKey;

use crate::audit::{self, AuditError, AuditEvent};
use crate::config::Config;
use crate::db::Db;
use crate::login_alert::LoginAlerts;
use crate::refusals::Refusals;
use crate::session::enforcer::Registry;
use crate::session::live_policy::SharedPolicy;
use crate::throttle::Throttle;
use crate::vault::Vault;

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
    /// Failed-login counters.
    pub throttle: Throttle,
    /// Live sessions on this node.
    pub sessions: Arc<Registry>,
    /// The policy in force (replaced on SIGHUP).
    pub policy: SharedPolicy,
    /// Refusals at the limits since the last audit summary.
    pub refusals: Refusals,
    /// Failed logins per account across addresses, for the alert.
    pub login_alerts: LoginAlerts,
    /// Held from a session's last count against `max_sessions_per_engineer` to its row in
    /// the database ([`crate::session::live`]).
    pub opening: tokio::sync::Mutex<()>,
}

impl Context {
    /// Appends an entry before the action it describes takes effect ([`audit`]'s rule): on
    /// an error the caller refuses the action.
    #[must_use = "an action whose audit entry failed must not go ahead"]
    pub async fn audit_before(
        &self,
        actor: &str,
        action: &'static str,
        subject: &str,
        detail: serde_json::Value,
    ) -> Result<(), AuditError> {
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

    /// Appends an entry for an event that has already happened ([`audit`]'s rule): if it
    /// cannot be written, the whole entry is kept on the node's log ([`audit::unwritten`]).
    pub async fn audit(
        &self,
        actor: &str,
        action: &'static str,
        subject: &str,
        detail: serde_json::Value,
    ) {
        let event = AuditEvent::new(actor, action, subject).with_detail(detail);
        let appended = crate::metrics::db(
            "audit_append",
            audit::append(&self.db, &self.config.node_name, event.clone()),
        )
        .await;
        if let Err(e) = appended {
            audit::unwritten(&self.config.node_name, &event, &e);
        }
    }
}
