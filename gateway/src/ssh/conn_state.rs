//! What the channels of one authenticated SSH connection share: who logged in, the target
//! named at login, the live sessions opened (one per target), and the channel rules the
//! policy in force gives a target. A leaf of `ssh/`: the connection, channels, relay, menu
//! and prompts all read it; it imports none of them.
//!
//! Not which target a channel works on: with ControlMaster, several channels share one
//! connection and each may choose a different target from the menu, so each channel
//! carries its own target (`channel.rs`) and nothing here is a "current" target that
//! another channel could change.

use std::collections::BTreeMap;
use std::sync::Arc;

use policy::{ChannelRules, Refusal};
use russh::server;
use tokio::sync::watch;

use crate::session::Context;
use crate::session::{self, LiveSession};

/// What the channels of one authenticated connection share.
pub struct ConnState {
    /// The gateway.
    pub ctx: Arc<Context>,
    /// Who logged in.
    pub engineer: String,
    login_target: Result<Option<String>, Refusal>,
    /// The engineer's address, for audit.
    pub client_addr: String,
    /// russh's handle on this connection.
    pub handle: server::Handle,
    gone: watch::Receiver<bool>,
    /// The live session to each target, each behind its own lock so that opening one
    /// (seconds, for a slow target) does not hold up channels to another.
    live: std::sync::Mutex<BTreeMap<String, Arc<SessionSlot>>>,
}

type SessionSlot = tokio::sync::Mutex<Option<Arc<LiveSession>>>;

impl ConnState {
    /// The one log line (and count) of a channel request the policy refused: who, which
    /// target, what was asked (`exec`, `port forwarding`, never the command itself, which
    /// may carry a password), the code, the session when there is one, and the node.
    pub fn log_refused(
        &self,
        target: &str,
        what: &str,
        code: policy::codes::Code,
        session: Option<&str>,
    ) {
        crate::metrics::refused(code.as_str());
        tracing::warn!(
            node = %self.ctx.config.node_name,
            session,
            user = %self.engineer,
            target,
            request = what,
            %code,
            "channel request refused"
        );
    }

    /// The state of a connection that has just logged in.
    pub fn new(
        ctx: Arc<Context>,
        engineer: String,
        login_target: Result<Option<String>, Refusal>,
        client_addr: String,
        handle: server::Handle,
        gone: watch::Receiver<bool>,
    ) -> ConnState {
        ConnState {
            ctx,
            engineer,
            login_target,
            client_addr,
            handle,
            gone,
            live: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// What a channel may do: with a target, the policy in force for it; before a target
    /// is known only the requests that need none are judged.
    pub fn rules(&self, target: Option<&str>) -> ChannelRules {
        match target {
            Some(t) => self.ctx.policy.current().channel_rules(t),
            None => ChannelRules {
                exec_allowed: true,
                uploads_allowed: false,
                shell_syntax_allowed: false,
            },
        }
    }

    /// The target named at login, `None` when the login named none (each channel then
    /// chooses from the menu), or the refusal of a malformed login name.
    pub fn login_target(&self) -> Result<Option<String>, Refusal> {
        self.login_target.clone()
    }

    /// The target named at login for audit entries about the connection (empty when none).
    pub fn login_target_for_audit(&self) -> String {
        self.login_target.clone().ok().flatten().unwrap_or_default()
    }

    fn slot(&self, target: &str) -> Arc<SessionSlot> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.entry(target.to_owned()).or_default().clone()
    }

    /// The live session to `target` on this connection, if one is open.
    pub async fn session_to(&self, target: &str) -> Option<Arc<LiveSession>> {
        let slot = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(target)
            .cloned();
        match slot {
            Some(slot) => slot.lock().await.clone(),
            None => None,
        }
    }

    /// Every live session of this connection.
    pub async fn sessions(&self) -> Vec<Arc<LiveSession>> {
        let slots: Vec<_> = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut sessions = Vec::new();
        for slot in slots {
            if let Some(live) = slot.lock().await.clone() {
                sessions.push(live);
            }
        }
        sessions
    }

    /// The live session to `target`, opening it on first use.
    pub async fn session(self: &Arc<Self>, target: &str) -> Result<Arc<LiveSession>, Refusal> {
        let slot = self.slot(target);
        let mut slot = slot.lock().await;
        if let Some(live) = slot.as_ref() {
            if live.is_ending() {
                return Err(Refusal {
                    code: policy::codes::SESSION_ENDED,
                    message: "this session has ended; reconnect".into(),
                });
            }
            return Ok(live.clone());
        }
        let live = session::open(
            &self.ctx,
            &self.engineer,
            target,
            &self.client_addr,
            Some(self.handle.clone()),
            self.gone.clone(),
        )
        .await?;
        *slot = Some(live.clone());
        Ok(live)
    }
}
