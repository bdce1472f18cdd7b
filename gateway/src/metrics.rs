//! What Prometheus scrapes: the gateway's counters, gauges and histograms, and the plain
//! HTTP listener at `[metrics] listen` that serves them as `GET /metrics` (text exposition
//! format, no login: bind it to localhost or a management network).
//!
//! The `metrics` facade records; `metrics-exporter-prometheus` (without its own HTTP
//! listener and push gateway, which would bring a second TLS stack) keeps the values and
//! renders the text, served here by a one-route axum router. Without `[metrics] listen`
//! no recorder is installed and every call below is a no-op.
//!
//! The names are in [`names`], each described once (the `# HELP` line). The functions below are
//! what the rest of the gateway calls: one per thing that happened, so a call site names
//! the event, not the metric. Not here: what is logged ([`crate::log`]) or audited
//! ([`crate::audit`]).

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::session::Context;

/// The metrics' names: `menwei_` and what they count; counters end in `_total`, durations
/// in `_seconds`, sizes in `_bytes` (Prometheus' conventions, which `promtool check
/// metrics` holds them to).
pub mod names {
    /// Gauge: sessions live on this node now.
    pub const SESSIONS_LIVE: &str = "menwei_sessions_live";
    /// Counter: sessions started on this node.
    pub const SESSIONS_STARTED: &str = "menwei_sessions_started_total";
    /// Counter by `reason` (the end reason `session list` shows): sessions ended.
    pub const SESSIONS_ENDED: &str = "menwei_sessions_ended_total";
    /// Counter by `door` (ssh, web), `result` (success, failure) and `reason`: logins.
    pub const LOGINS: &str = "menwei_logins_total";
    /// Counter by `kind`: connections and sessions refused (a limit, a policy code).
    pub const REFUSALS: &str = "menwei_refusals_total";
    /// Counter: bytes written to recording files.
    pub const RECORDING_BYTES: &str = "menwei_recording_bytes_written_total";
    /// Histogram: how long one write to a recording file took.
    pub const RECORDING_WRITE: &str = "menwei_recording_write_seconds";
    /// Counter: recordings that failed (the session ended with them).
    pub const RECORDING_FAILURES: &str = "menwei_recording_failures_total";
    /// Histogram by `direction`: bytes waiting in a session's relay queue when a message
    /// joins it.
    pub const RELAY_QUEUE: &str = "menwei_relay_queue_bytes";
    /// Histogram by `query`: how long a database call on the login and session paths took.
    pub const DB_QUERY: &str = "menwei_db_query_seconds";
    /// Counter: database queries that failed.
    pub const DB_ERRORS: &str = "menwei_db_errors_total";
    /// Counter: audit entries that could not be appended.
    pub const AUDIT_FAILURES: &str = "menwei_audit_write_failures_total";
    /// Counter: webhook delivery attempts that failed.
    pub const WEBHOOK_FAILURES: &str = "menwei_webhook_failures_total";
    /// Gauge, always 1, by `version`: the build that is running.
    pub const BUILD_INFO: &str = "menwei_build_info";
}

/// Latency buckets in seconds: 100 µs to 10 s.
const SECONDS_BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0,
];

/// Queue depth buckets in bytes: empty to the 4 MiB a queue holds.
const QUEUE_BUCKETS: [f64; 8] = [
    64.0, 1024.0, 16384.0, 65536.0, 262144.0, 1048576.0, 2097152.0, 4194304.0,
];

/// How often histograms are trimmed to their buckets between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the recorder (once per process); what [`serve`] renders.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    use metrics_exporter_prometheus::Matcher;
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(names::RELAY_QUEUE.into()), &QUEUE_BUCKETS)
        })
        .and_then(|b| b.install_recorder())
        .context("cannot start the metrics recorder")?;
    describe();
    gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // Present from the first scrape, so a rate has a starting point.
    for name in [
        names::SESSIONS_STARTED,
        names::RECORDING_BYTES,
        names::RECORDING_FAILURES,
        names::DB_ERRORS,
        names::AUDIT_FAILURES,
        names::WEBHOOK_FAILURES,
    ] {
        counter!(name).absolute(0);
    }
    Ok(handle)
}

/// HELP lines of every metric.
fn describe() {
    describe_gauge!(names::SESSIONS_LIVE, "Sessions live on this node.");
    describe_counter!(names::SESSIONS_STARTED, "Sessions started on this node.");
    describe_counter!(
        names::SESSIONS_ENDED,
        "Sessions ended on this node, by end reason."
    );
    describe_counter!(
        names::LOGINS,
        "Logins by front door (ssh, web), result (success, failure) and reason."
    );
    describe_counter!(
        names::REFUSALS,
        "Connections, channels and sessions refused, by kind (the limit's key or the policy's code)."
    );
    describe_counter!(names::RECORDING_BYTES, "Bytes written to recording files.");
    describe_histogram!(
        names::RECORDING_WRITE,
        "Time one write to a recording file took, in seconds."
    );
    describe_counter!(
        names::RECORDING_FAILURES,
        "Recordings that failed, ending their session."
    );
    describe_histogram!(
        names::RELAY_QUEUE,
        "Bytes waiting in a session's relay queue as a message joins it, by direction."
    );
    describe_histogram!(
        names::DB_QUERY,
        "Time a database call on the login and session paths took, in seconds, by query."
    );
    describe_counter!(names::DB_ERRORS, "Database queries that failed.");
    describe_counter!(
        names::AUDIT_FAILURES,
        "Audit entries that could not be appended."
    );
    describe_counter!(
        names::WEBHOOK_FAILURES,
        "Webhook delivery attempts that failed."
    );
    describe_gauge!(names::BUILD_INFO, "The running build; always 1.");
}

/// What the scrape handler needs.
#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    ctx: Arc<Context>,
}

/// Serves `GET /metrics` on `listener` until `stopped`, trimming histograms meanwhile.
pub async fn serve(
    handle: PrometheusHandle,
    listener: TcpListener,
    ctx: Arc<Context>,
    mut stopped: watch::Receiver<bool>,
) {
    let upkeep = handle.clone();
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(Scrape { handle, ctx });
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .into_future();
    let mut tick = tokio::time::interval(UPKEEP);
    tokio::pin!(server);
    loop {
        tokio::select! {
            r = &mut server => {
                if let Err(e) = r {
                    tracing::error!("the metrics listener failed: {e}");
                }
                return;
            }
            _ = tick.tick() => upkeep.run_upkeep(),
        }
    }
}

/// Binds `[metrics] listen`.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} ([metrics] listen)"))
}

async fn scrape(State(s): State<Scrape>) -> impl IntoResponse {
    gauge!(names::SESSIONS_LIVE).set(s.ctx.sessions.len() as f64);
    s.handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.handle.render(),
    )
}

/// A session started.
pub fn session_started() {
    counter!(names::SESSIONS_STARTED).increment(1);
}

/// A session ended for `reason`.
pub fn session_ended(reason: &'static str) {
    counter!(names::SESSIONS_ENDED, "reason" => reason).increment(1);
}

/// A login at `door` (`ssh`, `web`): `reason` is `ok` on success, else why it failed.
pub fn login(door: &'static str, success: bool, reason: &'static str) {
    let result = if success { "success" } else { "failure" };
    counter!(names::LOGINS, "door" => door, "result" => result, "reason" => reason).increment(1);
}

/// Something was refused; `kind` is the limit's key or the policy's refusal code.
pub fn refused(kind: &'static str) {
    counter!(names::REFUSALS, "kind" => kind).increment(1);
}

/// `bytes` were written to a recording, taking `took`.
pub fn recording_written(bytes: usize, took: Duration) {
    counter!(names::RECORDING_BYTES).increment(bytes as u64);
    histogram!(names::RECORDING_WRITE).record(took.as_secs_f64());
}

/// A recording failed.
pub fn recording_failed() {
    counter!(names::RECORDING_FAILURES).increment(1);
}

/// `bytes` are queued in a relay queue towards `direction` after a message joined it.
pub fn relay_queued(direction: &'static str, bytes: usize) {
    histogram!(names::RELAY_QUEUE, "direction" => direction).record(bytes as f64);
}

/// A database query failed.
pub fn db_error() {
    counter!(names::DB_ERRORS).increment(1);
}

/// An audit entry could not be appended.
pub fn audit_failed() {
    counter!(names::AUDIT_FAILURES).increment(1);
}

/// A webhook delivery attempt failed.
pub fn webhook_failed() {
    counter!(names::WEBHOOK_FAILURES).increment(1);
}

/// Runs the database call `fut`, named `query`, timing it into [`names::DB_QUERY`].
pub async fn db<T>(query: &'static str, fut: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = fut.await;
    histogram!(names::DB_QUERY, "query" => query).record(started.elapsed().as_secs_f64());
    out
}
