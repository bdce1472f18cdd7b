//! Failed logins per account, whatever the source address: once an existing account has
//! `[audit] login_alert_failures` failures (SSH keys and codes, web passwords and codes)
//! within `login_alert_window`, an alert goes out, a `login.alert` audit entry and a
//! `login_alert` webhook, once per window per account. An alert, never a lock: locking an
//! account on failures would let anyone lock an engineer out from anywhere. The per-address
//! throttle ([`crate::throttle`]) slows each source; this sees many sources working on one
//! account.
//!
//! With PostgreSQL (several nodes), counted in the database: every node's failures of an
//! account count together, and one conditional upsert (`login_alerts`) makes the alert go out
//! once per window, whichever node sees the failure that makes it due. A database that does
//! not answer falls back on this node's own count. With SQLite (one node), counted in this
//! node's memory. Bounded: only accounts that exist are counted (the callers check), at most
//! `MAX_ACCOUNTS` of them, each holding at most `login_alert_failures` instants and
//! `MAX_SOURCES` addresses.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::session::Context;

/// Accounts counted at most; past it the oldest is dropped.
const MAX_ACCOUNTS: usize = 10_000;
/// Distinct source addresses kept per account, for the alert's text.
const MAX_SOURCES: usize = 16;

/// Recent failures of one account.
#[derive(Default)]
struct Account {
    failures: VecDeque<Instant>,
    sources: BTreeSet<IpAddr>,
    alerted: Option<Instant>,
}

#[derive(Default)]
struct Table {
    accounts: HashMap<String, Account>,
    arrival: VecDeque<String>,
}

/// An alert that is due: the account, how many failures in the window, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The account.
    pub account: String,
    /// Failures within the window.
    pub failures: usize,
    /// Distinct source addresses among them (at most `MAX_SOURCES`).
    pub sources: Vec<IpAddr>,
}

/// The per-account counters of one node.
pub struct LoginAlerts {
    threshold: usize,
    window: Duration,
    table: Mutex<Table>,
}

impl LoginAlerts {
    /// Alerts after `threshold` failures within `window`.
    pub fn new(threshold: u32, window: Duration) -> LoginAlerts {
        LoginAlerts {
            threshold: usize::try_from(threshold).unwrap_or(usize::MAX).max(1),
            window,
            table: Mutex::default(),
        }
    }

    /// Counts a failure of the existing `account` from `source` at `now`; the alert, if
    /// this one makes it due and none went out for the account within the window.
    pub fn failure(&self, account: &str, source: Option<IpAddr>, now: Instant) -> Option<Alert> {
        let Ok(mut table) = self.table.lock() else {
            return None;
        };
        if !table.accounts.contains_key(account) {
            if table.accounts.len() >= MAX_ACCOUNTS {
                if let Some(oldest) = table.arrival.pop_front() {
                    table.accounts.remove(&oldest);
                }
            }
            table.arrival.push_back(account.to_string());
        }
        let a = table.accounts.entry(account.to_string()).or_default();
        while a
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            a.failures.pop_front();
        }
        if a.failures.is_empty() {
            a.sources.clear();
        }
        if a.failures.len() >= self.threshold {
            a.failures.pop_front();
        }
        a.failures.push_back(now);
        if let Some(ip) = source {
            if a.sources.len() < MAX_SOURCES {
                a.sources.insert(ip);
            }
        }
        let quiet = a
            .alerted
            .is_none_or(|t| now.duration_since(t) > self.window);
        if a.failures.len() >= self.threshold && quiet {
            a.alerted = Some(now);
            return Some(Alert {
                account: account.to_string(),
                failures: a.failures.len(),
                sources: a.sources.iter().copied().collect(),
            });
        }
        None
    }
}

/// Counts a failed login of the existing `account` from `source` (`via` "ssh" or "web") and,
/// when an alert is due, audits it and hands it to the webhooks.
pub async fn failed(ctx: &Context, account: &str, source: Option<IpAddr>, via: &str) {
    let due = if ctx.db.is_postgres() {
        match crate::db::within(
            crate::db::ANSWER_WAIT,
            "counting a failed login",
            cluster_failure(ctx, account, source),
        )
        .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!("failed logins counted on this node only: {e}");
                ctx.login_alerts.failure(account, source, Instant::now())
            }
        }
    } else {
        ctx.login_alerts.failure(account, source, Instant::now())
    };
    let Some(alert) = due else {
        return;
    };
    let window = crate::time::duration_ms(ctx.config.audit.login_alert_window);
    let sources: Vec<String> = alert.sources.iter().map(IpAddr::to_string).collect();
    let detail = json!({
        "failures": alert.failures,
        "window": policy::format_duration(window),
        "sources": sources,
        "via": via,
        "node": ctx.config.node_name,
    });
    tracing::warn!(
        account = %alert.account,
        failures = alert.failures,
        "failed logins for one account from several addresses: alert raised"
    );
    ctx.audit(
        &alert.account,
        "login.alert",
        &alert.account,
        detail.clone(),
    )
    .await;
    let mut data = detail;
    if let Some(map) = data.as_object_mut() {
        map.insert("account".into(), json!(alert.account));
    }
    crate::notify::enqueue_logged(&ctx.db, &ctx.config, crate::notify::Kind::LoginAlert, data)
        .await;
}

/// Counts the failure in the database; the alert if it is due now and no node sent one
/// within the window.
async fn cluster_failure(
    ctx: &Context,
    account: &str,
    source: Option<IpAddr>,
) -> Result<Option<Alert>, crate::db::DbError> {
    let threshold = i64::from(ctx.config.audit.login_alert_failures.max(1));
    let now = crate::time::now_ms();
    let since = now.saturating_sub(crate::time::duration_ms(
        ctx.config.audit.login_alert_window,
    ));
    let from = source.map(|ip| ip.to_string());
    let (failures, sources) = ctx
        .db
        .account_failure(&ctx.config.node_name, account, from.as_deref(), now, since)
        .await?;
    if failures < threshold || !ctx.db.login_alert_claim(account, now, since).await? {
        return Ok(None);
    }
    Ok(Some(Alert {
        account: account.to_string(),
        failures: usize::try_from(failures).unwrap_or(usize::MAX),
        sources: sources.iter().filter_map(|s| s.parse().ok()).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn failures_from_many_addresses_alert_once_per_window() {
        let a = LoginAlerts::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(a.failure("alice", ip("10.0.0.1"), t0), None);
        assert_eq!(a.failure("alice", ip("10.0.0.2"), t0), None);
        let alert = a.failure("alice", ip("10.0.0.3"), t0).unwrap();
        assert_eq!(alert.failures, 3);
        assert_eq!(alert.sources.len(), 3);
        // Further failures within the window: no second alert.
        for _ in 0..10 {
            assert_eq!(a.failure("alice", ip("10.0.0.4"), t0), None);
        }
        // Another account is counted on its own.
        assert_eq!(a.failure("bob", ip("10.0.0.1"), t0), None);
        // After the window, a new burst alerts again.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(a.failure("alice", ip("10.0.0.1"), later), None);
        assert_eq!(a.failure("alice", ip("10.0.0.1"), later), None);
        assert!(a.failure("alice", ip("10.0.0.1"), later).is_some());
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_alert() {
        let a = LoginAlerts::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..10 {
            let t = t0 + Duration::from_secs(40 * i);
            assert_eq!(a.failure("alice", ip("10.0.0.1"), t), None);
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let a = LoginAlerts::new(1000, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..(MAX_ACCOUNTS + 5) {
            a.failure(&format!("u{i}"), None, t0);
        }
        for i in 0..100u8 {
            a.failure("alice", ip(&format!("10.0.1.{i}")), t0);
        }
        let t = a.table.lock().unwrap();
        assert_eq!(t.accounts.len(), MAX_ACCOUNTS);
        assert_eq!(t.accounts.get("alice").unwrap().sources.len(), MAX_SOURCES);
    }
}
