//! The probes a load balancer asks without login: `GET /healthz` (the process answers) and
//! `GET /readyz` (this node can serve: [`crate::health`]). Reachable before login, so
//! bounded: the checks run at most once a second, however many probes arrive; the others
//! get the last answer.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::Mutex;

use super::AppState;
use crate::health::{readiness, Readiness};

/// How long an answer of `/readyz` is given again instead of checking anew.
const FRESH: Duration = Duration::from_secs(1);

/// `GET /healthz`: 200 as long as the process serves HTTPS.
pub async fn alive() -> Response {
    Json(serde_json::json!({"status": "alive"})).into_response()
}

/// `GET /readyz`: 200 with every check when all pass, 503 with them when one fails.
pub async fn ready(State(state): State<AppState>) -> Response {
    static LAST: OnceLock<Mutex<Option<(Instant, Readiness)>>> = OnceLock::new();
    let mut last = LAST.get_or_init(|| Mutex::new(None)).lock().await;
    let report = match last.as_ref() {
        Some((at, report)) if at.elapsed() < FRESH => report.clone(),
        _ => {
            let report = readiness(
                &state.ctx.config,
                Some(&state.ctx.db),
                Some(&state.ctx.recordings),
            )
            .await;
            // One log line when readiness changes, not one per probe.
            let was_ready = last.as_ref().is_none_or(|(_, r)| r.ready);
            if was_ready != report.ready {
                let summary = report.to_string().replace('\n', "; ");
                if report.ready {
                    tracing::info!(node = %report.node, "ready again: {summary}");
                } else {
                    tracing::warn!(node = %report.node, "not ready: {summary}");
                }
            }
            *last = Some((Instant::now(), report.clone()));
            report
        }
    };
    drop(last);
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}
