//! Refusals at the door's limits, counted and summarized: a connection closed at accept, a
//! login grace that ran out, a channel or stream over its cap, a slow client cut off. Each
//! is counted here (an atomic add, no I/O), and a small task writes one `limits.refused`
//! audit entry per kind and interval with the count, none when nothing was refused. A flood
//! of a million connections is a line a minute in the audit log, not a million rows.
//!
//! Not the limits themselves (their front doors and [`crate::accept`]) and not refusals of
//! someone logged in, which are audited one by one where they happen (a session over
//! `max_sessions_per_engineer`, a refused channel request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::session::Context;
use crate::time::{now_ms, rfc3339};

/// What was refused: the limit, named by its configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// An SSH connection over `[ssh] max_connections`.
    SshConnections,
    /// An SSH connection over `[ssh] max_connections_per_address`.
    SshConnectionsPerAddress,
    /// An SSH connection not logged in within `[ssh] login_grace`.
    SshLoginGrace,
    /// A session channel over `[ssh] max_channels_per_connection`.
    SshChannels,
    /// An HTTPS connection over `[https] max_connections`.
    HttpsConnections,
    /// An HTTPS connection whose TLS handshake or request headers took longer than
    /// `[https] header_read_timeout`.
    HttpsHeaderReadTimeout,
    /// A WebSocket or event stream over `[https] max_streams_per_login`.
    HttpsStreams,
}

impl Limit {
    /// Every kind, in the order summaries are written.
    pub const ALL: [Limit; 7] = [
        Limit::SshConnections,
        Limit::SshConnectionsPerAddress,
        Limit::SshLoginGrace,
        Limit::SshChannels,
        Limit::HttpsConnections,
        Limit::HttpsHeaderReadTimeout,
        Limit::HttpsStreams,
    ];

    /// The configuration key, the summary's subject.
    pub fn key(self) -> &'static str {
        match self {
            Limit::SshConnections => "ssh.max_connections",
            Limit::SshConnectionsPerAddress => "ssh.max_connections_per_address",
            Limit::SshLoginGrace => "ssh.login_grace",
            Limit::SshChannels => "ssh.max_channels_per_connection",
            Limit::HttpsConnections => "https.max_connections",
            Limit::HttpsHeaderReadTimeout => "https.header_read_timeout",
            Limit::HttpsStreams => "https.max_streams_per_login",
        }
    }

    fn index(self) -> usize {
        match self {
            Limit::SshConnections => 0,
            Limit::SshConnectionsPerAddress => 1,
            Limit::SshLoginGrace => 2,
            Limit::SshChannels => 3,
            Limit::HttpsConnections => 4,
            Limit::HttpsHeaderReadTimeout => 5,
            Limit::HttpsStreams => 6,
        }
    }
}

/// Refusals since the last summary, one counter per [`Limit`].
#[derive(Default)]
pub struct Refusals {
    counts: [AtomicU64; Limit::ALL.len()],
}

impl Refusals {
    /// Counts one refusal at `limit`.
    pub fn count(&self, limit: Limit) {
        crate::metrics::refused(limit.key());
        if let Some(c) = self.counts.get(limit.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts since the last call (those above zero), reset to zero.
    pub fn take(&self) -> Vec<(Limit, u64)> {
        Limit::ALL
            .into_iter()
            .filter_map(|l| {
                let n = self.counts.get(l.index())?.swap(0, Ordering::Relaxed);
                (n > 0).then_some((l, n))
            })
            .collect()
    }
}

/// Writes the summary every `every` until `shutdown`; returns when the last one began, for
/// the final [`summarize`] once the front doors have closed.
pub async fn run(ctx: Arc<Context>, every: Duration, mut shutdown: watch::Receiver<bool>) -> i64 {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut since = now_ms();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return since,
        }
        since = summarize(&ctx, since).await;
    }
}

/// One `limits.refused` entry per limit refused since `since`; returns the new `since`.
pub async fn summarize(ctx: &Context, since: i64) -> i64 {
    let until = now_ms();
    for (limit, count) in ctx.refusals.take() {
        ctx.audit(
            "menwei",
            "limits.refused",
            limit.key(),
            json!({
                "limit": limit.key(),
                "count": count,
                "since": rfc3339(since),
                "until": rfc3339(until),
            }),
        )
        .await;
    }
    until
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_taken_once_and_only_refused_kinds_appear() {
        let r = Refusals::default();
        assert!(r.take().is_empty());
        for _ in 0..1000 {
            r.count(Limit::SshConnectionsPerAddress);
        }
        r.count(Limit::HttpsStreams);
        assert_eq!(
            r.take(),
            vec![
                (Limit::SshConnectionsPerAddress, 1000),
                (Limit::HttpsStreams, 1)
            ]
        );
        assert!(r.take().is_empty());
    }

    #[test]
    fn every_limit_has_its_own_counter() {
        let r = Refusals::default();
        for l in Limit::ALL {
            r.count(l);
        }
        assert_eq!(r.take().len(), Limit::ALL.len());
    }
}
