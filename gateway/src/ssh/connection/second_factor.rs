//! The second factor of an SSH login: after the right key of a role that needs one
//! ([`crate::totp::required`]), a partial success and the TOTP code asked for by
//! keyboard-interactive (one prompt, no echo), checked, used once, audited and throttled
//! like a wrong key.

use policy::{Refusal, Role};
use russh::server::{Auth, Response};
use serde_json::json;
use zeroize::Zeroizing;

use super::Connection;
use crate::db;

impl Connection {
    /// The key of `engineer` (whose `role` needs a second factor) is right: a partial
    /// success, and keyboard-interactive next, if they have enrolled; refused if not.
    pub(super) async fn ask_for_code(
        &mut self,
        raw: &str,
        engineer: String,
        role: Role,
        target: Result<Option<String>, Refusal>,
        key: String,
    ) -> Auth {
        let secret = db::within(
            db::ANSWER_WAIT,
            "reading a TOTP secret",
            self.ctx.db.totp_secret(&engineer),
        );
        let sealed = match secret.await {
            Ok(Some((sealed, _))) => sealed,
            Ok(None) => {
                self.ctx
                    .audit(
                        &engineer,
                        "login.totp.failure",
                        "",
                        json!({
                            "reason": "not enrolled",
                            "role": role.as_str(),
                            "key": key,
                            "client": self.client_addr(),
                        }),
                    )
                    .await;
                return Self::publickey_only();
            }
            Err(e) => {
                return self
                    .refuse_unchecked(raw, engineer, key, true, Some(e))
                    .await;
            }
        };
        let secret = match crate::totp::open(&self.ctx.vault, &sealed) {
            Ok(secret) => secret,
            Err(e) => {
                tracing::error!(user = %engineer, "cannot open a TOTP secret, refusing the login: {e}");
                self.ctx
                    .audit(
                        &engineer,
                        "login.totp.failure",
                        "",
                        json!({"reason": "secret does not open", "key": key, "client": self.client_addr()}),
                    )
                    .await;
                return Self::publickey_only();
            }
        };
        self.totp = Some(PendingTotp {
            raw: raw.to_string(),
            engineer,
            target,
            key,
            secret,
        });
        Self::keyboard_interactive_next(true)
    }

    /// The keyboard-interactive step: asks for the code, then checks it.
    pub(super) async fn check_code(&mut self, user: &str, response: Option<Response<'_>>) -> Auth {
        // Only after the right key, and for the same login name.
        let Some(pending) = self.totp.as_ref().filter(|p| p.raw == user) else {
            return Self::publickey_only();
        };
        let engineer = pending.engineer.clone();
        if self.ctx.throttle.is_blocked(&engineer, self.peer_ip()) {
            self.totp = None;
            self.login_refused(&engineer, "throttled");
            self.ctx
                .audit(
                    &engineer,
                    "login.failure",
                    "",
                    json!({"reason": "throttled", "client": self.client_addr()}),
                )
                .await;
            return Self::publickey_only();
        }
        let Some(mut response) = response else {
            return Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: std::borrow::Cow::Owned(vec![("Verification code: ".into(), false)]),
            };
        };
        let answer = Zeroizing::new(
            response
                .next()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        );
        let now_secs = u64::try_from(crate::time::now_ms() / 1000).unwrap_or(0);
        let reason = match crate::totp::matching_step(&pending.secret, &answer, now_secs) {
            Some(step) => match self.ctx.db.totp_use(&engineer, step).await {
                Ok(true) => None,
                Ok(false) => Some("code already used"),
                // Fail closed: a code that cannot be marked used is not accepted.
                Err(e) => {
                    tracing::error!(user = %engineer, "cannot record the TOTP code use: {e}");
                    Some("code use cannot be recorded")
                }
            },
            None => Some("wrong code"),
        };
        if let Some(reason) = reason {
            self.ctx.throttle.record_failure(&engineer, self.peer_ip());
            self.login_refused(&engineer, reason);
            self.ctx
                .audit(
                    &engineer,
                    "login.totp.failure",
                    "",
                    json!({"reason": reason, "key": pending.key, "client": self.client_addr()}),
                )
                .await;
            crate::login_alert::failed(&self.ctx, &engineer, self.peer_ip(), "ssh").await;
            if self.ctx.throttle.is_blocked(&engineer, self.peer_ip()) {
                self.totp = None;
                return Self::publickey_only();
            }
            // The key still stands; another code may be tried.
            return Self::keyboard_interactive_next(false);
        }
        let Some(pending) = self.totp.take() else {
            return Self::publickey_only();
        };
        // No login without its audit entry.
        if let Err(e) = self
            .ctx
            .audit_before(
                &pending.engineer,
                "login.success",
                "",
                json!({
                    "key": pending.key,
                    "client": self.client_addr(),
                    "login": pending.raw,
                    "second_factor": "totp",
                }),
            )
            .await
        {
            tracing::error!(node = %self.ctx.config.node_name, "cannot audit a login, refusing it: {e}");
            return Self::publickey_only();
        }
        crate::metrics::login("ssh", true, "ok");
        self.authed = Some((pending.engineer, pending.target));
        Auth::Accept
    }
}

/// A user whose key was right and who must now give a TOTP code.
pub(super) struct PendingTotp {
    /// The login name as sent; the code must come for the same one.
    raw: String,
    engineer: String,
    target: Result<Option<String>, Refusal>,
    /// The key's fingerprint, for audit.
    key: String,
    secret: Zeroizing<Vec<u8>>,
}
