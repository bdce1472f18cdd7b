//! `/audit`: entries filtered by time, actor and action; the export as CSV or JSON lines
//! (audited first, so it includes its own entry, as `menwei audit export`); the chain's
//! verification (audited, as `menwei audit verify`). The chain itself is [`crate::audit`].

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::paging::{given, List, PageParams, Paging};
use super::time_param;
use crate::audit::{self, AuditEvent, ExportFormat};
use crate::db::AuditFilter;
use crate::web::auth::Caller;
use crate::web::error::{ApiError, ApiResult, Params};
use crate::web::AppState;

/// The most entries one `GET /audit` returns.
const MAX_LIST: i64 = 5000;

/// `GET /audit` filters and paging.
#[derive(Deserialize)]
pub struct ListQuery {
    since: Option<String>,
    until: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    session: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

/// `GET /audit`: oldest first unless sorted otherwise, at most `limit` (default and cap
/// 5000, as before paging); the next page with `cursor` ([`super::paging`]).
pub async fn list(
    State(state): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Response> {
    let filter = AuditFilter {
        since: time_param("since", &q.since)?,
        until: time_param("until", &q.until)?,
        actor: given(&q.actor),
        action: given(&q.action),
        session: given(&q.session),
        target: given(&q.target),
    };
    let paging = Paging::new(
        &state,
        List::Audit,
        &PageParams {
            // Out of range is clamped, as it was before paging.
            limit: q.limit.map(|l| l.clamp(1, MAX_LIST)),
            cursor: q.cursor.clone(),
            sort: q.sort.clone(),
            order: q.order.clone(),
        },
        &[
            ("since", filter.since.map(|t| t.to_string())),
            ("until", filter.until.map(|t| t.to_string())),
            ("actor", filter.actor.clone()),
            ("action", filter.action.clone()),
            ("session", filter.session.clone()),
            ("target", filter.target.clone()),
        ],
        Some(MAX_LIST),
        MAX_LIST,
    )?;
    let page = state.ctx.db.audit_page(&filter, &paging.spec).await?;
    let rows = page
        .rows
        .iter()
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
    paging.answer(&state, &page, rows)
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
