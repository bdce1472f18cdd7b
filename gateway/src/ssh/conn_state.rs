//! What the channels of one authenticated SSH connection share: who logged in, the target
//! named at login or chosen from the menu, the live session once opened, and the channel
//! rules the policy in force gives that target. A leaf of `ssh/`: the connection, channels,
//! relay, menu and prompts all read it; it imports none of them.

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
    chosen: std::sync::Mutex<Option<String>>,
    /// The engineer's address, for audit.
    pub client_addr: String,
    /// russh's handle on this connection.
    pub handle: server::Handle,
    gone: watch::Receiver<bool>,
    live: tokio::sync::Mutex<Option<Arc<LiveSession>>>,
}

impl ConnState {
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
            chosen: std::sync::Mutex::new(None),
            client_addr,
            handle,
            gone,
            live: tokio::sync::Mutex::new(None),
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
            },
        }
    }

    /// The target named at login (or chosen from the menu), `None` when there is none yet,
    /// or the refusal of a malformed login name.
    pub fn target(&self) -> Result<Option<String>, Refusal> {
        match &self.login_target {
            Err(refusal) => Err(refusal.clone()),
            Ok(Some(t)) => Ok(Some(t.clone())),
            Ok(None) => Ok(self.chosen.lock().ok().and_then(|c| c.clone())),
        }
    }

    /// Records the menu's choice.
    pub fn choose_target(&self, name: &str) {
        if let Ok(mut c) = self.chosen.lock() {
            *c = Some(name.to_string());
        }
    }

    /// The target for audit entries (empty when none).
    pub fn target_name_for_audit(&self) -> String {
        self.target().ok().flatten().unwrap_or_default()
    }

    /// The live session of this connection, if one is open.
    pub async fn current_session(&self) -> Option<Arc<LiveSession>> {
        self.live.lock().await.clone()
    }

    /// The live session to `target`, opening it on first use.
    pub async fn session(self: &Arc<Self>, target: &str) -> Result<Arc<LiveSession>, Refusal> {
        let mut slot = self.live.lock().await;
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
