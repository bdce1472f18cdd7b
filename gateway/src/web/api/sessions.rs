//! `/sessions`: the filtered list (engineer, target, time, grant, incident, level, live),
//! terminating a live session, and a recording's bytes for the browser player — each
//! replay audited as `recording.replay` (who watched what), like `menwei recording`.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::time_param;
use crate::db::Session;
use crate::web::auth::Caller;
use crate::web::error::{check_id, ApiError, ApiResult};
use crate::web::AppState;

/// `GET /sessions` filters.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    engineer: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    grant: Option<String>,
    incident: Option<String>,
    level: Option<String>,
    live: Option<bool>,
}

/// `GET /sessions`, newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let from = time_param("from", &q.from)?;
    let to = time_param("to", &q.to)?;
    let db = &state.ctx.db;
    let grants: HashMap<String, crate::db::GrantRecord> = db
        .grants()
        .await?
        .into_iter()
        .map(|g| (g.grant.id.clone(), g))
        .collect();
    let requests: HashMap<String, crate::db::RequestRow> = db
        .requests(&crate::db::RequestFilter::default())
        .await?
        .into_iter()
        .map(|r| (r.request.id.clone(), r))
        .collect();
    let eq = |want: &Option<String>, have: &str| {
        want.as_deref().is_none_or(|w| w.is_empty() || w == have)
    };
    let mut sessions = db.sessions().await?;
    sessions.reverse();
    let mut out = Vec::new();
    for s in &sessions {
        let request = grants
            .get(&s.grant_id)
            .and_then(|g| g.request_id.as_ref())
            .and_then(|r| requests.get(r));
        let incident = request.map(|r| r.incident.as_str()).unwrap_or("");
        let level = request
            .map(|r| r.request.level.to_string())
            .unwrap_or_default();
        let keep = eq(&q.engineer, &s.engineer)
            && eq(&q.target, &s.target)
            && eq(&q.grant, &s.grant_id)
            && eq(&q.incident, incident)
            && eq(&q.level, &level)
            && from.is_none_or(|f| s.ended_at.unwrap_or(i64::MAX) >= f)
            && to.is_none_or(|t| s.started_at < t)
            && q.live.is_none_or(|live| live == s.ended_at.is_none());
        if keep {
            out.push(session_json(
                s,
                request.map(|r| r.request.id.as_str()),
                incident,
                &level,
            ));
        }
    }
    Ok(Json(Value::Array(out)))
}

fn session_json(s: &Session, request: Option<&str>, incident: &str, level: &str) -> Value {
    json!({
        "id": s.id,
        "engineer": s.engineer,
        "target": s.target,
        "grant_id": s.grant_id,
        "request_id": request,
        "incident": incident,
        "level": level,
        "started_at": crate::time::rfc3339(s.started_at),
        "ended_at": s.ended_at.map(crate::time::rfc3339),
        "end_reason": s.end_reason,
        "live": s.ended_at.is_none(),
        "node": s.node,
    })
}

/// `POST /sessions/{id}/terminate`: asks the node holding it to end it (at once when that
/// is this node).
pub async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = check_id(&id)?;
    let ctx = &state.ctx;
    let Some(session) = ctx.db.session(id).await? else {
        return Err(ApiError::not_found(format!("no session {id}")));
    };
    if session.ended_at.is_some() {
        return Err(ApiError::conflict(format!(
            "session {id} has already ended"
        )));
    }
    let now = crate::time::now_ms();
    if !ctx.db.session_stop(&session.id, &caller.name, now).await? {
        return Err(ApiError::conflict(format!(
            "session {id} is already being ended"
        )));
    }
    crate::audit::append(
        &ctx.db,
        &ctx.config.node_name,
        crate::audit::AuditEvent::new(caller.name.clone(), "session.terminate", session.id.clone())
            .with_detail(json!({
                "engineer": session.engineer,
                "target": session.target,
                "node": session.node,
                "via": caller.via_text(),
            })),
    )
    .await?;
    ctx.sessions.end_session(
        &session.id,
        &crate::session::enforcer::End::new(
            "terminated",
            format!("an approver ({}) ended the session", caller.name),
        ),
    );
    Ok(Json(json!({"id": session.id, "state": "terminating"})))
}

/// `GET /sessions/{id}/recording`: the `.mwrec` bytes; audited as a replay.
pub async fn recording(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = check_id(&id)?;
    let ctx = &state.ctx;
    let Some(session) = ctx.db.session(id).await? else {
        return Err(ApiError::not_found(format!("no session {id}")));
    };
    let dir = &ctx.config.recordings.dir;
    let named = session.recording.as_deref().map(PathBuf::from).map(|p| {
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    });
    let path = named
        .filter(|p| p.is_file())
        .unwrap_or_else(|| dir.join(format!("{}.mwrec", session.id)));
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!(
                "session {id} has no recording"
            )))
        }
        Err(e) => {
            return Err(ApiError::unavailable(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    crate::audit::append(
        &ctx.db,
        &ctx.config.node_name,
        crate::audit::AuditEvent::new(caller.name.clone(), "recording.replay", session.id.clone())
            .with_detail(json!({
                "engineer": session.engineer,
                "target": session.target,
                "bytes": bytes.len(),
                "live": session.ended_at.is_none(),
                "via": caller.via_text(),
            })),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.mwrec\"", session.id),
            ),
        ],
        bytes,
    )
        .into_response())
}
