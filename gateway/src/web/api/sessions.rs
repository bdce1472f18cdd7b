//! `/sessions`: the filtered list (engineer, target, time, grant, incident, level, live),
//! terminating a live session, a recording's bytes for the browser player and its command
//! list — each replay audited as `recording.replay` (who watched what), like `menwei
//! recording`. An encrypted recording's data key is unwrapped with the vault key for the
//! caller (the route table lets only the roles allowed to replay in), audited as
//! `recording.decrypt`: the page gets it in [`KEY_HEADER`] and decrypts in the browser.
//!
//! Typed secrets (input a terminal did not echo, `recordings::mask`) never reach a browser
//! that did not unmask: a recording holding some is sent as a copy with them replaced by
//! `••••` (decrypted here, compressed, signed by this gateway's key). `?unmask=1&reason=…`
//! sends the original, to auditors only, audited as `recording.unmask`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::paging::{given, List, PageParams, Paging, MAX_PAGE};
use super::time_param;
use crate::db::{Session, SessionFilter};
use crate::web::auth::Caller;
use crate::web::error::{ApiError, ApiResult, Id, Params};
use crate::web::AppState;

/// `GET /sessions` filters and paging.
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
    limit: Option<i64>,
    cursor: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

/// `GET /sessions`, newest first unless sorted otherwise; paged with `limit` and `cursor`
/// ([`super::paging`]).
pub async fn list(
    State(state): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Response> {
    let filter = SessionFilter {
        engineer: given(&q.engineer),
        target: given(&q.target),
        grant: given(&q.grant),
        incident: given(&q.incident),
        level: given(&q.level),
        from: time_param("from", &q.from)?,
        to: time_param("to", &q.to)?,
        live: q.live,
    };
    let paging = Paging::new(
        &state,
        List::Sessions,
        &PageParams {
            limit: q.limit,
            cursor: q.cursor.clone(),
            sort: q.sort.clone(),
            order: q.order.clone(),
        },
        &[
            ("engineer", filter.engineer.clone()),
            ("target", filter.target.clone()),
            ("grant", filter.grant.clone()),
            ("incident", filter.incident.clone()),
            ("level", filter.level.clone()),
            ("from", filter.from.map(|t| t.to_string())),
            ("to", filter.to.map(|t| t.to_string())),
            ("live", filter.live.map(|l| l.to_string())),
        ],
        None,
        MAX_PAGE,
    )?;
    let page = state.ctx.db.sessions_page(&filter, &paging.spec).await?;
    let rows = page
        .rows
        .iter()
        .map(|r| session_json(&r.session, r.request_id.as_deref(), &r.incident, &r.level))
        .collect();
    paging.answer(&state, &page, rows)
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
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let ctx = &state.ctx;
    let Some(session) = ctx.db.session(&id).await? else {
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
            crate::session::enforcer::EndCode::Terminated,
            format!("an approver ({}) ended the session", caller.name),
        ),
    );
    Ok(Json(json!({"id": session.id, "state": "terminating"})))
}

/// A session and its recording's bytes; 404 when either is missing.
async fn recording_of(state: &AppState, id: &str) -> ApiResult<(Session, Vec<u8>)> {
    let ctx = &state.ctx;
    let Some(session) = ctx.db.session(id).await? else {
        return Err(ApiError::not_found(format!("no session {id}")));
    };
    match ctx
        .recordings
        .read(&session.id, session.recording.as_deref())
        .await
    {
        Ok(fetched) => Ok((session, fetched.bytes)),
        Err(crate::recording_store::StoreError::NotFound(_)) => {
            match ctx.db.recording_expired_at(id).await? {
                Some(at) => Err(ApiError::new(
                    crate::web::error::ApiCode::RecordingExpired,
                    crate::retention::expired_message(id, at),
                )),
                None => Err(ApiError::not_found(format!(
                    "session {id} has no recording"
                ))),
            }
        }
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}

/// Audits that `caller` replayed (part of) `session`'s recording: `recording.replay`, like
/// `menwei recording play`; `part` says what was fetched.
async fn audit_replay(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    part: &str,
    bytes: usize,
) -> ApiResult<()> {
    let ctx = &state.ctx;
    crate::audit::append(
        &ctx.db,
        &ctx.config.node_name,
        crate::audit::AuditEvent::new(caller.name.clone(), "recording.replay", session.id.clone())
            .with_detail(json!({
                "engineer": session.engineer,
                "target": session.target,
                "part": part,
                "bytes": bytes,
                "live": session.ended_at.is_none(),
                "via": caller.via_text(),
            })),
    )
    .await?;
    Ok(())
}

/// `GET /sessions/{id}/recording` options.
#[derive(Deserialize, Default)]
pub struct RecordingQuery {
    /// `1`: typed secrets as typed (auditors only, with a reason).
    unmask: Option<String>,
    /// Why they are unmasked; kept in the audit log.
    reason: Option<String>,
}

/// The refusal code of an unmask asked by someone who is not an auditor.
pub const UNMASK_AUDITOR_ONLY: &str = "unmask_auditor_only";

/// Checks an unmask request and audits it as `recording.unmask`; whether to unmask.
async fn unmask(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    q: &RecordingQuery,
) -> ApiResult<bool> {
    match q.unmask.as_deref() {
        None | Some("0") | Some("false") => return Ok(false),
        Some("1") | Some("true") => {}
        Some(_) => return Err(ApiError::bad_input("unmask takes 1 or 0")),
    }
    if caller.role != policy::Role::Auditor {
        return Err(ApiError {
            reason: Some(UNMASK_AUDITOR_ONLY.to_string()),
            ..ApiError::forbidden("only an auditor can unmask typed secrets")
        });
    }
    let reason = q.reason.as_deref().unwrap_or_default().trim();
    if reason.is_empty() {
        return Err(ApiError::bad_input(
            "unmasking needs a reason: ?unmask=1&reason=incident+42",
        ));
    }
    let ctx = &state.ctx;
    crate::audit::append(
        &ctx.db,
        &ctx.config.node_name,
        crate::audit::AuditEvent::new(caller.name.clone(), "recording.unmask", session.id.clone())
            .with_detail(json!({
                "reason": reason,
                "engineer": session.engineer,
                "target": session.target,
                "via": caller.via_text(),
            })),
    )
    .await?;
    Ok(true)
}

/// The response header carrying an encrypted recording's data key, base64.
pub const KEY_HEADER: &str = "x-menwei-recording-key";

/// The data key of an encrypted recording (`None` for one that is not), unwrapped with the
/// vault key for `caller` and audited as `recording.decrypt`; `how` says what for.
async fn data_key_for(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    bytes: &[u8],
    how: &str,
) -> ApiResult<Option<recordings::DataKey>> {
    let id = &session.id;
    let meta = recordings::Recording::meta_of(bytes).map_err(|e| {
        ApiError::conflict(format!(
            "the recording of session {id} cannot be read ({e}); check it with: menwei recording verify {id}"
        ))
    })?;
    let Some(wrapped) = meta.key else {
        return Ok(None);
    };
    let ctx = &state.ctx;
    let key = ctx.vault.open_data_key(&wrapped).map_err(|e| {
        ApiError::conflict(format!(
            "the recording of session {id} is encrypted under another vault key ({e})"
        ))
    })?;
    crate::audit::append(
        &ctx.db,
        &ctx.config.node_name,
        crate::audit::AuditEvent::new(caller.name.clone(), "recording.decrypt", id.clone())
            .with_detail(json!({"how": format!("api {how}"), "via": caller.via_text()})),
    )
    .await?;
    Ok(Some(key))
}

/// `GET /sessions/{id}/recording`: the `.mwrec` bytes as they are on disk with, for an
/// encrypted recording, its data key in [`KEY_HEADER`]; or, when it holds typed secrets and
/// no auditor unmasked, the redacted copy (no key needed). Audited as a replay and a
/// decryption.
pub async fn recording(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Params(q): Params<RecordingQuery>,
) -> ApiResult<Response> {
    let (session, bytes) = recording_of(&state, &id).await?;
    let key = data_key_for(&state, &caller, &session, &bytes, "recording").await?;
    let (bytes, key) = if unmask(&state, &caller, &session, &q).await? {
        (bytes, key)
    } else {
        let signing = state.ctx.signing_key.clone();
        tokio::task::spawn_blocking(move || match redacted(&bytes, key.as_ref(), &signing) {
            Ok(Some(copy)) => Ok((copy, None)),
            Ok(None) => Ok((bytes, key)),
            Err(e) => Err(e),
        })
        .await
        .map_err(ApiError::unavailable)?
        .map_err(|e| {
            ApiError::conflict(format!(
                "the recording of session {id} cannot be read ({e}); check it with: menwei recording verify {id}"
            ))
        })?
    };
    audit_replay(&state, &caller, &session, "recording", bytes.len()).await?;
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.mwrec\"", session.id),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response();
    if let Some(key) = key {
        let value = base64::engine::general_purpose::STANDARD.encode(key.expose());
        let value = header::HeaderValue::from_str(&value).map_err(ApiError::unavailable)?;
        response.headers_mut().insert(KEY_HEADER, value);
    }
    Ok(response)
}

/// What may go to a browser that did not unmask: `None` when nothing was typed blind (the
/// recording as stored will do), else the redacted copy (not encrypted: it holds no secret
/// and goes only over TLS to a role allowed to replay).
fn redacted(
    bytes: &[u8],
    data_key: Option<&recordings::DataKey>,
    key: &ed25519_dalek::SigningKey,
) -> Result<Option<Vec<u8>>, String> {
    let rec = recordings::Recording::parse(bytes, data_key).map_err(|e| e.to_string())?;
    if recordings::mask::masked_ranges(rec.events()).is_empty() {
        return Ok(None);
    }
    recordings::mask::redacted_copy(&rec, key)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// `GET /sessions/{id}/commands`: the player's command list (the `recordings` crate's
/// [`recordings::commands()`], the code the page runs), with each command's time since the
/// start and as an instant; audited as a replay. Of a live session, what is recorded so far.
pub async fn commands(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let (session, bytes) = recording_of(&state, &id).await?;
    let size = bytes.len();
    let key = data_key_for(&state, &caller, &session, &bytes, "commands").await?;
    let parsed = tokio::task::spawn_blocking(move || {
        recordings::Recording::parse(&bytes, key.as_ref()).map(|rec| {
            let channel = recordings::interactive_channel(rec.events());
            let list = recordings::commands(rec.events(), channel);
            (rec.meta().started_at_ms, rec.is_sealed(), list)
        })
    })
    .await
    .map_err(ApiError::unavailable)?;
    let (started_at_ms, sealed, list) = parsed.map_err(|e| {
        ApiError::conflict(format!(
            "the recording of session {id} cannot be read ({e}); check it with: menwei recording verify {id}"
        ))
    })?;
    audit_replay(&state, &caller, &session, "commands", size).await?;
    let micros_to_ms = |at: u64| i64::try_from(at / 1000).unwrap_or(i64::MAX);
    let commands: Vec<Value> = list
        .iter()
        .map(|c| {
            let at_ms = micros_to_ms(c.at);
            json!({
                "at_ms": at_ms,
                "at": crate::time::rfc3339(started_at_ms.saturating_add(at_ms)),
                "text": c.text,
                "hidden": c.hidden,
            })
        })
        .collect();
    Ok(Json(json!({
        "session_id": session.id,
        "engineer": session.engineer,
        "target": session.target,
        "started_at": crate::time::rfc3339(started_at_ms),
        "sealed": sealed,
        "commands": commands,
    })))
}
