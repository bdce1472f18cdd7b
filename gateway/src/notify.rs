//! Webhook notifications: requests filed, decisions, break-glass, revocations, expiries,
//! login alerts and failed backups POSTed as signed JSON to the receivers in `[[webhooks]]`.
//!
//! [`enqueue`] only stores one row per matching webhook in the database (`notifications`)
//! and returns: whoever acts (a CLI command, the SSH server) never waits for a receiver.
//! [`run`], started by `menwei serve`, sends what is due: `POST` with
//! `Content-Type: application/json`, `X-Menwei-Event: KIND`, `X-Menwei-Delivery: ID` and
//! `X-Menwei-Signature: sha256=<hex HMAC-SHA256(secret, body)>`. A 2xx answer within the
//! timeout delivers it; anything else is tried again after 1 s, 2 s, 4 s … (capped at 5 min)
//! up to 10 attempts, then kept as failed (`notify.failed` in the audit log) for
//! `menwei notify list --failed`. Every node of a cluster runs the sender; a claim in the
//! database keeps two nodes from sending the same attempt. Not what the events mean (their
//! callers decide), and the secrets are never logged or stored in the database.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::audit::{self, AuditEvent};
use crate::config::{Config, NotifyConfig};
use crate::db::notify::{Notification, NEVER};
use crate::db::{Db, DbError};
use crate::vault::Secret;

pub use crate::config::WEBHOOK_EVENTS as KINDS;

/// What happened, as sent in `X-Menwei-Event` and matched against `events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request was filed.
    Request,
    /// A request was approved or denied.
    Decision,
    /// An emergency grant was opened.
    BreakGlass,
    /// A grant was revoked.
    Revocation,
    /// A grant ended.
    Expiry,
    /// Many failed logins for one account ([`crate::login_alert`]).
    LoginAlert,
    /// A file transfer went on under `transfer_guard = "alert"`.
    Transfer,
    /// A scheduled backup failed ([`crate::backup::schedule`]).
    BackupFailed,
    /// The recording store became unreachable, or reachable again
    /// ([`crate::recording_store`]).
    RecordingsStore,
}

impl Kind {
    /// Its name in the configuration and the `X-Menwei-Event` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Decision => "decision",
            Kind::BreakGlass => "break_glass",
            Kind::Revocation => "revocation",
            Kind::Expiry => "expiry",
            Kind::LoginAlert => "login_alert",
            Kind::Transfer => "transfer",
            Kind::BackupFailed => "backup_failed",
            Kind::RecordingsStore => "recordings_store",
        }
    }
}

/// Why webhooks could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A secret file is missing, unreadable or empty.
    #[error("webhook {url}: cannot use secret file {path}: {message}")]
    Secret {
        /// The webhook.
        url: String,
        /// The file.
        path: String,
        /// What is wrong (never the content).
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the webhook HTTP client: {0}")]
    Client(String),
}

/// One receiver, ready to send to.
#[derive(Debug)]
struct Receiver {
    url: String,
    secret: Secret<Vec<u8>>,
}

/// The configured receivers with their secrets, and how to retry.
#[derive(Debug)]
pub struct Webhooks {
    receivers: Vec<Receiver>,
    settings: NotifyConfig,
    node: String,
}

impl Webhooks {
    /// Reads every webhook's secret file. Done once at start, so a missing file stops
    /// `menwei serve` with a clear line instead of failing every delivery later.
    pub fn load(config: &Config) -> Result<Webhooks, NotifyError> {
        let mut receivers = Vec::new();
        for w in &config.webhooks {
            let bad = |message: String| NotifyError::Secret {
                url: w.url.clone(),
                path: w.secret_file.display().to_string(),
                message,
            };
            let raw = Secret::new(std::fs::read(&w.secret_file).map_err(|e| bad(e.to_string()))?);
            let trimmed = raw.expose().trim_ascii().to_vec();
            if trimmed.is_empty() {
                return Err(bad("the file is empty".into()));
            }
            receivers.push(Receiver {
                url: w.url.clone(),
                secret: Secret::new(trimmed),
            });
        }
        Ok(Webhooks {
            receivers,
            settings: config.notify.clone(),
            node: config.node_name.clone(),
        })
    }

    /// Whether any webhook is configured.
    pub fn is_empty(&self) -> bool {
        self.receivers.is_empty()
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`: the `X-Menwei-Signature`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        // HMAC takes keys of any length; not reached.
        Err(_) => String::new(),
    }
}

/// Stores `data` as a `kind` notification for every webhook that wants `kind`; returns how
/// many were stored. Never contacts a receiver. The body sent is
/// `{"id", "event", "created_at", "node", "data"}`.
pub async fn enqueue(db: &Db, config: &Config, kind: Kind, data: Value) -> Result<usize, DbError> {
    enqueue_keyed(db, config, kind, None, data).await
}

/// [`enqueue`] for an event several nodes may notice at once (a grant's expiry): with a
/// `key`, each webhook's notification id is derived from it, and a second node storing the
/// same one finds it already there and stores nothing.
pub async fn enqueue_keyed(
    db: &Db,
    config: &Config,
    kind: Kind,
    key: Option<&str>,
    data: Value,
) -> Result<usize, DbError> {
    let now = crate::time::now_ms();
    let mut stored = 0;
    for (index, w) in config
        .webhooks
        .iter()
        .enumerate()
        .filter(|(_, w)| w.events.iter().any(|e| e == kind.as_str()))
    {
        let id = match key {
            Some(key) => format!("n-{}-{key}-{index}", kind.as_str()),
            None => format!("n-{}", hex::encode(rand::random::<[u8; 8]>())),
        };
        let body = json!({
            "id": id,
            "event": kind.as_str(),
            "created_at": crate::time::rfc3339(now),
            "node": config.node_name,
            "data": data,
        });
        let added = db
            .notification_add(&Notification {
                id,
                kind: kind.as_str().to_string(),
                payload: body.to_string(),
                created_at: now,
                attempts: 0,
                next_attempt_at: now,
                delivered_at: None,
                last_error: None,
                webhook: w.url.clone(),
            })
            .await;
        match (added, key) {
            (Ok(()), _) => stored += 1,
            (Err(DbError::Conflict(_)), Some(_)) => {}
            (Err(e), _) => return Err(e),
        }
    }
    Ok(stored)
}

/// [`enqueue`] for callers that must not fail because of a notification: a failure is
/// logged, and the event itself (already audited by the caller) stands.
pub async fn enqueue_logged(db: &Db, config: &Config, kind: Kind, data: Value) {
    if let Err(e) = enqueue(db, config, kind, data).await {
        tracing::error!(
            event = kind.as_str(),
            "cannot store a webhook notification: {e}"
        );
    }
}

/// The wait after failed attempt number `attempts` (1-based): initial, doubling, capped.
pub fn backoff(settings: &NotifyConfig, attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    settings
        .initial_backoff
        .checked_mul(factor)
        .unwrap_or(settings.max_backoff)
        .min(settings.max_backoff)
}

/// At most this many deliveries in flight at once.
const PARALLEL: usize = 16;

/// Sends due notifications until `shutdown` turns true. Returns at once when no webhook is
/// configured. Deliveries in flight at shutdown are dropped; their claim runs out and the
/// next start (or another node) tries them again.
pub async fn run(db: Db, webhooks: Webhooks, mut shutdown: watch::Receiver<bool>) {
    if webhooks.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(webhooks.settings.timeout)
        .connect_timeout(webhooks.settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("menwei-webhooks")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{}", NotifyError::Client(e.to_string()));
            return;
        }
    };
    let webhooks = std::sync::Arc::new(webhooks);
    let poll = webhooks
        .settings
        .initial_backoff
        .clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut inflight: JoinSet<()> = JoinSet::new();
    loop {
        while inflight.try_join_next().is_some() {}
        if inflight.len() < PARALLEL {
            let now = crate::time::now_ms();
            let room = i64::try_from(PARALLEL - inflight.len()).unwrap_or(1);
            match db.notifications_due(now, room).await {
                Ok(due) => {
                    for n in due {
                        // Another node may try again if this one dies mid-attempt.
                        let lease = now
                            .saturating_add(crate::time::duration_ms(webhooks.settings.timeout))
                            .saturating_add(5_000);
                        match db.notification_claim(&n, lease).await {
                            Ok(true) => {
                                inflight.spawn(deliver(
                                    db.clone(),
                                    client.clone(),
                                    webhooks.clone(),
                                    n,
                                ));
                            }
                            Ok(false) => {}
                            Err(e) => tracing::warn!("webhooks: {e}"),
                        }
                    }
                }
                Err(e) => tracing::warn!("webhooks: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    inflight.abort_all();
}

/// One attempt of `n` (already claimed, its `attempts` not yet counting this one).
async fn deliver(
    db: Db,
    client: reqwest::Client,
    webhooks: std::sync::Arc<Webhooks>,
    n: Notification,
) {
    let attempt = u32::try_from(n.attempts.saturating_add(1)).unwrap_or(u32::MAX);
    let outcome = match webhooks.receivers.iter().find(|r| r.url == n.webhook) {
        None => Err("this webhook is no longer configured".to_string()),
        Some(r) => send(&client, r, &n).await,
    };
    let now = crate::time::now_ms();
    let recorded = match &outcome {
        Ok(()) => db.notification_delivered(&n.id, now).await,
        Err(error) if attempt >= webhooks.settings.max_attempts => {
            let r = db.notification_failed(&n.id, error, NEVER).await;
            let event =
                AuditEvent::new("menwei", "notify.failed", n.id.clone()).with_detail(json!({
                    "event": n.kind,
                    "webhook": n.webhook,
                    "attempts": attempt,
                    "error": error,
                }));
            if let Err(e) = audit::append(&db, &webhooks.node, event.clone()).await {
                audit::unwritten(&webhooks.node, &event, &e);
            }
            crate::metrics::webhook_failed();
            tracing::warn!(node = %webhooks.node, id = %n.id, webhook = %shown_url(&n.webhook), "webhook given up after {attempt} attempts: {error}");
            r
        }
        Err(error) => {
            let wait = backoff(&webhooks.settings, attempt);
            crate::metrics::webhook_failed();
            tracing::info!(node = %webhooks.node, id = %n.id, webhook = %shown_url(&n.webhook), "webhook attempt {attempt} failed, next in {wait:?}: {error}");
            db.notification_failed(
                &n.id,
                error,
                now.saturating_add(crate::time::duration_ms(wait)),
            )
            .await
        }
    };
    if let Err(e) = recorded {
        tracing::error!("webhooks: {e}");
    }
}

/// A webhook's URL as the log shows it: scheme, host and port only, since a path or query
/// often carries the receiver's token.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}/…", u.scheme()),
            (Some(host), None) => format!("{}://{host}/…", u.scheme()),
            (None, _) => "(a URL without a host)".to_string(),
        },
        Err(_) => "(not a URL)".to_string(),
    }
}

/// One POST; `Ok` for a 2xx answer.
async fn send(client: &reqwest::Client, r: &Receiver, n: &Notification) -> Result<(), String> {
    let body = n.payload.as_bytes().to_vec();
    let answer = client
        .post(&r.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Menwei-Event", &n.kind)
        .header("X-Menwei-Delivery", &n.id)
        .header("X-Menwei-Signature", signature(r.secret.expose(), &body))
        .body(body)
        .send()
        .await
        .map_err(|e| one_line(&describe(&e)))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("receiver answered HTTP {}", status.as_u16()))
    }
}

/// A transport error with its causes, without the URL (which the row already names).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = NotifyConfig::default();
        let waits: Vec<u64> = (1..=10).map(|a| backoff(&s, a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(&s, 1000), Duration::from_secs(300));
    }

    #[test]
    fn every_kind_is_configurable() {
        for k in [
            Kind::Request,
            Kind::Decision,
            Kind::BreakGlass,
            Kind::Revocation,
            Kind::Expiry,
            Kind::LoginAlert,
            Kind::Transfer,
            Kind::RecordingsStore,
        ] {
            assert!(KINDS.contains(&k.as_str()));
        }
    }
}
