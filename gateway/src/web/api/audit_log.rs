//! `/audit`: entries filtered by time, actor and action; the export as CSV or JSON lines
//! (audited first, so it includes its own entry, as `menwei audit export`); the chain's
//! verification (audited, as `menwei audit verify`). The chain itself is [`crate::audit`].

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::time_param;
use crate::audit::{self, AuditEvent, ExportFormat};
use crate::web::auth::Caller;
use crate::web::error::{ApiError, ApiResult, Params};
use crate::web::AppState;

/// The most entries one `GET /audit` returns.
const MAX_LIST: i64 = 5000;

/// `GET /audit` filters.
#[derive(Deserialize)]
pub struct ListQuery {
    since: Option<String>,
    until: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    limit: Option<i64>,
}

/// `GET /audit`: oldest first, at most `limit` (default and cap 5000).
pub async fn list(
    State(state): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let since = time_param("since", &q.since)?.unwrap_or(0);
    let until = time_param("until", &q.until)?.unwrap_or(i64::MAX);
    let limit = q.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let rows = state
        .ctx
        .db
        .audit_rows_between(
            since,
            until,
            if q.actor.is_some() || q.action.is_some() {
                i64::MAX
            } else {
                limit
            },
        )
        .await?;
    let out: Vec<Value> = rows
        .iter()
        .filter(|r| q.actor.as_deref().is_none_or(|a| a.is_empty() || r.actor == a))
        .filter(|r| {
            q.action
                .as_deref()
                .is_none_or(|a| a.is_empty() || r.action == a || r.action.starts_with(&format!("{a}.")))
        })
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|r| {
            json!({
                "seq": r.seq,
                "at": crate::time::rfc3339(r.at),
                "node": r.node,
                "actor": r.actor,
                "action": r.action,
                "subject": r.subject,
                "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or_else(|_| Value::String(r.detail.clone())),
                "hash": r.hash,
            })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

/// `GET /audit/export` parameters.
#[derive(Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    since: Option<String>,
}

/// `GET /audit/export?format=csv|jsonl`.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ExportQuery>,
) -> ApiResult<Response> {
    let (format, name, mime) = match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => (ExportFormat::Jsonl, "jsonl", "application/jsonl"),
        "csv" => (ExportFormat::Csv, "csv", "text/csv; charset=utf-8"),
        other => {
            return Err(ApiError::bad_input(format!(
                "format {other:?}: expected csv or jsonl"
            )))
        }
    };
    let since = time_param("since", &q.since)?;
    let ctx = &state.ctx;
    audit::append(
        &ctx.db,
        &ctx.config.node_name,
        AuditEvent::new(caller.name.clone(), "audit.export", "audit_log").with_detail(json!({
            "format": name,
            "since": q.since,
            "via": caller.via_text(),
        })),
    )
    .await?;
    // `audit::export` writes to a `dyn Write`, which is not `Send`: run it on a blocking
    // thread that drives it to completion.
    let db = ctx.db.clone();
    let handle = tokio::runtime::Handle::current();
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        handle
            .block_on(audit::export(&db, format, since, &mut out))
            .map(|_| out)
    })
    .await
    .map_err(ApiError::unavailable)?
    .map_err(ApiError::unavailable)?;
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"menwei-audit.{name}\""),
            ),
        ],
        out,
    )
        .into_response())
}

/// `GET /audit/verify`.
pub async fn verify(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let ctx = &state.ctx;
    let report = audit::verify(&ctx.db).await?;
    let first_bad = report.problem.as_ref().map(|(seq, _)| *seq);
    audit::append(
        &ctx.db,
        &ctx.config.node_name,
        AuditEvent::new(caller.name.clone(), "audit.verify", "audit_log").with_detail(json!({
            "entries": report.entries,
            "intact": report.intact(),
            "first_bad_seq": first_bad,
            "via": caller.via_text(),
        })),
    )
    .await?;
    Ok(Json(json!({
        "intact": report.intact(),
        "entries": report.entries,
        "first_bad_seq": first_bad,
        "report": report.to_string(),
    })))
}
