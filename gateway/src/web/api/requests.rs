//! `/requests`: file, list, show, withdraw, approve, deny — the twins of `menwei request`
//! and `menwei review`, through [`crate::approvals`] with the caller as the engineer or
//! approver. JSON shapes are the CLI's (`--json`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use policy::{RequestState, Verdict};
use serde::Deserialize;
use serde_json::{json, Value};

use super::paging::{given, List, PageParams, Paging, MAX_PAGE};
use super::{desk, engineer_filter, own_only, time_param};
use crate::approvals::{self, RequestInput};
use crate::db::RequestListFilter;
use crate::views::request_json;
use crate::web::auth::Caller;
use crate::web::error::{ApiError, ApiResult, Body, Id, Params};
use crate::web::AppState;

/// `GET /requests` filters and paging.
#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    engineer: Option<String>,
    level: Option<String>,
    incident: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

/// `GET /requests`: an engineer sees their own; approvers and auditors everyone's. Newest
/// first unless sorted otherwise; paged with `limit` and `cursor` ([`super::paging`]).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Response> {
    let filter_state = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<RequestState>)
        .transpose()
        .map_err(|e| ApiError::bad_input(format!("state: {e}")))?;
    let engineer = engineer_filter(&caller, &q.engineer, "requests")?;
    let filter = RequestListFilter {
        state: filter_state,
        engineer,
        level: given(&q.level),
        incident: given(&q.incident),
        target: given(&q.target),
        from: time_param("from", &q.from)?,
        to: time_param("to", &q.to)?,
    };
    let paging = Paging::new(
        &state,
        List::Requests,
        &PageParams {
            limit: q.limit,
            cursor: q.cursor.clone(),
            sort: q.sort.clone(),
            order: q.order.clone(),
        },
        &[
            ("state", filter.state.map(|s| s.as_str().to_string())),
            ("engineer", filter.engineer.clone()),
            ("level", filter.level.clone()),
            ("incident", filter.incident.clone()),
            ("target", filter.target.clone()),
            ("from", filter.from.map(|t| t.to_string())),
            ("to", filter.to.map(|t| t.to_string())),
        ],
        None,
        MAX_PAGE,
    )?;
    let now = crate::time::now_ms();
    let policy = state.ctx.policy.current();
    let proof = caller.proof();
    approvals::lapse_due(&desk(&state, &policy, &proof), now).await?;
    let page = state.ctx.db.requests_page(&filter, &paging.spec).await?;
    let window = policy.response_window_ms;
    let rows = page
        .rows
        .iter()
        .map(|row| {
            let mut v = request_json(row);
            if row.request.state == RequestState::Pending {
                let waited = now.saturating_sub(row.request.filed_at).max(0);
                if let Value::Object(m) = &mut v {
                    m.insert("waiting_ms".into(), waited.into());
                    m.insert("response_window_ms".into(), window.into());
                    m.insert("overdue".into(), (waited > window).into());
                }
            }
            v
        })
        .collect();
    paging.answer(&state, &page, rows)
}

/// `POST /requests` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    group: Option<String>,
    reason: String,
    incident: String,
    level: String,
    duration: String,
    #[serde(default)]
    start: Option<String>,
}

/// `POST /requests`: files a request for the calling engineer.
pub async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<NewRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !b.targets.is_empty() && b.group.is_some() {
        return Err(ApiError::bad_input("give targets or a group, not both"));
    }
    let policy = state.ctx.policy.current();
    let proof = caller.proof();
    let input = RequestInput {
        engineer: caller.name.clone(),
        targets: b.targets,
        group: b.group,
        reason: b.reason,
        incident: b.incident,
        level: b.level,
        duration: b.duration,
        start: b.start,
        extends_grant: None,
    };
    let filed = approvals::file(
        &desk(&state, &policy, &proof),
        &input,
        crate::time::now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(request_json(&filed.row))))
}

/// `GET /requests/{id}`: with its grants.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let Some(row) = state.ctx.db.request_row(&id).await? else {
        return Err(ApiError::not_found(format!("no request {id}")));
    };
    if own_only(&caller).is_some_and(|me| me != row.request.engineer) {
        return Err(ApiError::forbidden("engineers see only their own requests"));
    }
    let grants = state.ctx.db.grants_for_request(&row.request.id).await?;
    let now = crate::time::now_ms();
    let mut v = request_json(&row);
    if let Value::Object(m) = &mut v {
        m.insert(
            "grants".into(),
            grants
                .iter()
                .map(|g| crate::views::grant_json(g, now))
                .collect(),
        );
    }
    Ok(Json(v))
}

/// `POST /requests/{id}/withdraw`: only by the engineer who filed it.
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let policy = state.ctx.policy.current();
    let proof = caller.proof();
    let req = approvals::withdraw(
        &desk(&state, &policy, &proof),
        &id,
        &caller.name,
        crate::time::now_ms(),
    )
    .await?;
    Ok(Json(json!({"id": req.id, "state": "withdrawn"})))
}

/// `POST /requests/{id}/approve` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    #[serde(default)]
    comment: String,
    #[serde(default)]
    duration: Option<String>,
}

/// `POST /requests/{id}/deny` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deny {
    comment: String,
}

/// `POST /requests/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(b): Body<Approve>,
) -> ApiResult<Json<Value>> {
    review(
        &state,
        &caller,
        &id,
        Verdict::Approve,
        &b.comment,
        b.duration.as_deref(),
    )
    .await
}

/// `POST /requests/{id}/deny`.
pub async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(b): Body<Deny>,
) -> ApiResult<Json<Value>> {
    review(&state, &caller, &id, Verdict::Deny, &b.comment, None).await
}

async fn review(
    state: &AppState,
    caller: &Caller,
    id: &str,
    verdict: Verdict,
    comment: &str,
    shorten: Option<&str>,
) -> ApiResult<Json<Value>> {
    let policy = state.ctx.policy.current();
    let proof = caller.proof();
    let done = approvals::review(
        &desk(state, &policy, &proof),
        id,
        &caller.name,
        verdict,
        comment,
        shorten,
        crate::time::now_ms(),
    )
    .await?;
    let outcome = match done.outcome {
        policy::ReviewOutcome::Pending { approvals, needed } => {
            json!({"state": "pending", "approvals": approvals, "needed": needed})
        }
        policy::ReviewOutcome::Approved { starts_at, ends_at } => json!({
            "state": "approved",
            "starts_at": crate::time::rfc3339(starts_at),
            "ends_at": crate::time::rfc3339(ends_at),
        }),
        policy::ReviewOutcome::Denied => json!({"state": "denied"}),
    };
    Ok(Json(json!({
        "id": done.before.id,
        "outcome": outcome,
        "grants": done.grants.iter().map(|g| json!({"id": g.id, "target": g.target})).collect::<Vec<_>>(),
    })))
}
