//! One engineer's SSH connection: authentication, and what is opened on it.
//!
//! Authentication is by public key: the login name says who (and where to), the key must be
//! one registered to that user. For a role that needs a second factor ([`crate::totp::required`])
//! the right key is only a partial success, and the gateway then asks for the TOTP code by
//! keyboard-interactive (one prompt, no echo), so a plain OpenSSH client works (that step is
//! the `second_factor` module). Failed attempts, wrong codes included, are throttled per user and per
//! source address and audited. After login, every session channel gets its own task
//! ([`super::channel`]); the first one that runs a program opens the live session to the
//! target ([`crate::session::live`]), which later channels on the same connection share
//! (OpenSSH ControlMaster). Forwarding of any kind is refused here, audited.

use std::net::SocketAddr;
use std::sync::Arc;

use policy::Refusal;
use russh::keys::PublicKey;
use russh::server::{self, Auth, Msg, PublicKeyOffer, Response, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use serde_json::json;
use tokio::sync::watch;

use super::channel;
use super::conn_state::ConnState;
use super::limits::ChannelLimit;
use crate::db::{self, DbError};
use crate::session::upstream::fingerprint;
use crate::session::Context;

mod second_factor;

use second_factor::PendingTotp;

/// The handler russh drives for one TCP connection.
pub struct Connection {
    ctx: Arc<Context>,
    peer: Option<SocketAddr>,
    /// After a successful key check: who, and the parsed login.
    authed: Option<(String, Result<Option<String>, Refusal>)>,
    /// After the right key of a user who needs a second factor: waiting for the code.
    totp: Option<PendingTotp>,
    state: Option<Arc<ConnState>>,
    gone: watch::Sender<bool>,
    /// Turns true at login: the accept loop stops the login grace clock.
    logged_in: watch::Sender<bool>,
    /// Session channels open at once (`[ssh] max_channels_per_connection`).
    channels: ChannelLimit,
    /// The database did not answer this connection's login check: the connection only
    /// carries the refusal ([`Connection::refuse_unchecked`]).
    unchecked: bool,
}

impl Connection {
    /// A handler for a connection from `peer`; `logged_in` is told when it authenticates.
    pub fn new(
        ctx: Arc<Context>,
        peer: Option<SocketAddr>,
        logged_in: watch::Sender<bool>,
    ) -> Connection {
        let (gone, _) = watch::channel(false);
        let channels = ChannelLimit::new(ctx.config.ssh.max_channels_per_connection);
        Connection {
            logged_in,
            channels,
            ctx,
            peer,
            authed: None,
            totp: None,
            state: None,
            gone,
            unchecked: false,
        }
    }

    fn client_addr(&self) -> String {
        self.peer.map(|p| p.to_string()).unwrap_or_default()
    }

    /// The one log line (and count) of a refused SSH login: who (a checked name, or
    /// "(invalid name)"), why, from where, on which node. Never the key's secret half or a
    /// code: there are none to show.
    fn login_refused(&self, user: &str, reason: &'static str) {
        crate::metrics::login("ssh", false, reason);
        let user: String = user.chars().take(policy::MAX_NAME_LEN).collect();
        tracing::warn!(
            node = %self.ctx.config.node_name,
            user,
            client = %self.client_addr(),
            reason,
            "SSH login refused: {reason}"
        );
    }

    fn peer_ip(&self) -> Option<std::net::IpAddr> {
        self.peer.map(|p| p.ip())
    }

    fn publickey_only() -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey][..])),
            partial_success: false,
        }
    }

    fn keyboard_interactive_next(partial_success: bool) -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(MethodSet::from(&[MethodKind::KeyboardInteractive][..])),
            partial_success,
        }
    }

    /// Checks `key` for login name `raw`; `verified` is true once the client proved it holds the key.
    async fn check_key(&mut self, raw: &str, key: &PublicKey, verified: bool) -> Auth {
        // A new key attempt starts over: any earlier partial success no longer counts.
        self.totp = None;
        let login = policy::parse_login(raw.as_bytes());
        // Who is trying: the parsed engineer, or for a malformed login the name before ':'.
        let engineer = match &login {
            Ok(l) => Some(l.engineer.clone()),
            Err(_) => raw
                .split(':')
                .next()
                .filter(|n| policy::validate_name("user", n).is_ok())
                .map(str::to_string),
        };
        let shown = engineer.clone().unwrap_or_else(|| "(invalid name)".into());
        if self.ctx.throttle.is_blocked(&shown, self.peer_ip()) {
            if verified {
                self.login_refused(&shown, "throttled");
                self.ctx
                    .audit(
                        &shown,
                        "login.failure",
                        "",
                        json!({"reason": "throttled", "client": self.client_addr()}),
                    )
                    .await;
            }
            return Self::publickey_only();
        }
        let fp = fingerprint(key);
        // Failures of an account that exists count towards its alert ([`crate::login_alert`]).
        let mut account_exists = false;
        let outcome = match &engineer {
            None => Err("malformed login name"),
            // Bounded: a stopped, refusing or hung database answers the engineer within
            // seconds, as a refusal (fail closed), never as a wrong key.
            Some(_) if self.unchecked => {
                return self.refuse_unchecked(raw, shown, fp, verified, None).await
            }
            Some(name) => match db::within(db::ANSWER_WAIT, "checking a login", async {
                let user = crate::metrics::db("user", self.ctx.db.user(name)).await?;
                let keys = crate::metrics::db("user_keys", self.ctx.db.user_keys(name)).await?;
                Ok((user, keys))
            })
            .await
            {
                Ok((Some(user), lines)) if !user.disabled => {
                    account_exists = true;
                    let registered = lines.iter().any(|line| {
                        PublicKey::from_openssh(line).is_ok_and(|k| fingerprint(&k) == fp)
                    });
                    if registered {
                        Ok(user.role)
                    } else {
                        Err("key not registered for this user")
                    }
                }
                Ok((Some(_), _)) => {
                    account_exists = true;
                    Err("user disabled")
                }
                Ok((None, _)) => Err("unknown user"),
                Err(e) => {
                    crate::metrics::login("ssh", false, "database unavailable");
                    tracing::error!(node = %self.ctx.config.node_name, user = %shown, client = %self.client_addr(), "cannot check a login, refusing it: {e}");
                    return self
                        .refuse_unchecked(raw, shown, fp, verified, Some(e))
                        .await;
                }
            },
        };
        match (outcome, engineer) {
            (Ok(role), Some(engineer)) => {
                if verified && crate::totp::required(&self.ctx.policy.current(), role) {
                    let target = login.map(|l| l.target);
                    return self.ask_for_code(raw, engineer, role, target, fp).await;
                }
                if verified {
                    // No login without its audit entry.
                    let audited = tokio::time::timeout(
                        db::ANSWER_WAIT,
                        self.ctx.audit_before(
                            &engineer,
                            "login.success",
                            "",
                            json!({"key": fp, "client": self.client_addr(), "login": raw}),
                        ),
                    )
                    .await;
                    if !matches!(audited, Ok(Ok(()))) {
                        tracing::error!(node = %self.ctx.config.node_name, "cannot audit a login, refusing it");
                        let e = DbError::NoAnswer {
                            what: "auditing a login".into(),
                            waited: db::ANSWER_WAIT,
                        };
                        return self
                            .refuse_unchecked(raw, engineer, fp, verified, Some(e))
                            .await;
                    }
                    crate::metrics::login("ssh", true, "ok");
                    let target = login.map(|l| l.target);
                    self.authed = Some((engineer, target));
                }
                Auth::Accept
            }
            (outcome, _) => {
                let reason = match (reason_of(&login), outcome) {
                    (Some(r), _) => r,
                    (None, Err(r)) => r,
                    (None, Ok(_)) => "malformed login name",
                };
                self.ctx.throttle.record_failure(&shown, self.peer_ip());
                self.login_refused(&shown, reason);
                self.ctx
                    .audit(
                        &shown,
                        "login.failure",
                        "",
                        json!({"reason": reason, "key": fp, "client": self.client_addr()}),
                    )
                    .await;
                if account_exists {
                    crate::login_alert::failed(&self.ctx, &shown, self.peer_ip(), "ssh").await;
                }
                Self::publickey_only()
            }
        }
    }

    /// The database did not answer while a login was checked: refused, never let through
    /// (fail closed), with the one line an engineer needs instead of a wrong-key answer.
    ///
    /// SSH can only carry that line on a channel, so this is how it gets there, like a
    /// malformed login name's refusal: once the client proves it holds the key (`verified`;
    /// an offered key is answered "sign it" first), the connection is let in with no target
    /// but the refusal. Every channel gets the line and exit status 1, every forwarding is
    /// refused, nothing opens, and the connection is not counted as logged in, so the login
    /// grace still closes it and a busy gateway may close it to make room. The refusal is
    /// audited (`login.failure`, reason `database_unavailable`) once the database is back
    /// ([`crate::outbox`]); the throttle does not count it, as it is not the engineer's fault.
    async fn refuse_unchecked(
        &mut self,
        raw: &str,
        engineer: String,
        key: String,
        verified: bool,
        cause: Option<DbError>,
    ) -> Auth {
        if let Some(e) = &cause {
            tracing::warn!(user = %engineer, "refusing a login: {e}");
        }
        self.unchecked = true;
        if !verified {
            return Auth::Accept;
        }
        self.totp = None;
        self.ctx.audit_later(
            &engineer,
            "login.failure",
            "",
            json!({
                "reason": policy::codes::DATABASE_UNAVAILABLE,
                "key": key,
                "client": self.client_addr(),
                "login": raw,
            }),
        );
        self.authed = Some((engineer, Err(crate::session::live::db_unavailable())));
        Auth::Accept
    }

    /// Refuses a channel open; `what` forwarding is audited and recorded when given.
    async fn refuse_open(&self, what: Option<&str>, reply: server::ChannelOpenHandle) {
        if let Some(what) = what {
            self.refuse_forwarding(what).await;
        }
        reply
            .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
            .await;
    }

    async fn refuse_forwarding(&self, what: &str) {
        let Some(state) = &self.state else { return };
        let refusal = match policy::channel_request(
            &policy::ChannelRequest::LocalForward,
            &policy::ChannelRules {
                exec_allowed: true,
                uploads_allowed: false,
                shell_syntax_allowed: false,
            },
            &state.login_target_for_audit(),
        ) {
            policy::Decision::Deny(r) => r,
            policy::Decision::Allow(()) => return,
        };
        state.log_refused(&state.login_target_for_audit(), what, refusal.code, None);
        self.ctx
            .audit(
                &state.engineer,
                "channel.refused",
                &state.login_target_for_audit(),
                json!({"request": what, "code": refusal.code, "client": state.client_addr}),
            )
            .await;
        // Not a channel's: every session of the connection keeps it in its recording.
        for live in state.sessions().await {
            let _ = live
                .recorder
                .record(recordings::Event::Refused {
                    channel: None,
                    what: what.into(),
                    reason: refusal.message.clone(),
                })
                .await;
        }
    }
}

fn reason_of(login: &Result<policy::Login, Refusal>) -> Option<&'static str> {
    login.as_ref().err().map(|_| "malformed login name")
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.gone.send(true);
    }
}

impl server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Self::publickey_only())
    }

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        // Password login is off; the attempt is still a failed login.
        self.ctx.throttle.record_failure(user, self.peer_ip());
        Ok(Self::publickey_only())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.check_key(user, offer.public_key, false).await)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.check_key(user, key.public_key, true).await)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.check_code(user, response).await)
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        let Some((engineer, login_target)) = self.authed.take() else {
            return Err(russh::Error::NotAuthenticated);
        };
        self.state = Some(Arc::new(ConnState::new(
            self.ctx.clone(),
            engineer,
            login_target,
            self.client_addr(),
            session.handle(),
            self.gone.subscribe(),
        )));
        // A connection let in only to carry a refusal is not logged in: the login grace
        // still ends it.
        if !self.unchecked {
            let _ = self.logged_in.send(true);
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(state) = self.state.clone() else {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        let Some(slot) = self.channels.open() else {
            // Past `max_channels_per_connection`: the client reads "resource shortage".
            // Counted for the audit's summary, not a row per attempt.
            self.ctx.refusals.count(crate::refusals::Limit::SshChannels);
            tracing::debug!(engineer = %state.engineer, "session channel refused: max_channels_per_connection");
            reply
                .reject(russh::ChannelOpenFailure::ResourceShortage)
                .await;
            return Ok(());
        };
        reply.accept().await;
        tokio::spawn(async move {
            channel::run(state, channel).await;
            drop(slot);
        });
        Ok(())
    }

    async fn channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _addr: &str,
        _port: u32,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // X11 channels only follow an x11-req, which is always refused.
        self.refuse_open(Some("x11 channel"), reply).await;
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host: &str,
        _port: u32,
        _orig: &str,
        _orig_port: u32,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // -L and -D: data would leave the site through the gateway.
        self.refuse_open(Some("local port forwarding"), reply).await;
        Ok(())
    }

    async fn channel_open_forwarded_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host: &str,
        _port: u32,
        _orig: &str,
        _orig_port: u32,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Only a server opens forwarded-tcpip channels; from a client it is refused.
        self.refuse_open(None, reply).await;
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _path: &str,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_open(Some("stream-local forwarding"), reply)
            .await;
        Ok(())
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        // Refused; the channel task tells the engineer and audits it.
        Ok(false)
    }

    async fn tcpip_forward(
        &mut self,
        _address: &str,
        _port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_forwarding("remote port forwarding").await;
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        _path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_forwarding("stream-local forwarding").await;
        Ok(false)
    }
}
