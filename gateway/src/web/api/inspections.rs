//! `/inspections…`: the inspection runbooks for approvers and auditors, the twin of `menwei
//! inspection`: list and show (the current version, its approvals, the latest runs),
//! approve a version (approvers), ask for a run now (approvers and auditors; `serve` takes
//! it), and a run's 《服务器巡检报告》 (json, csv, html, pdf; zh or en). Engineers are refused
//! by the route table.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::documents::{answer, DocQuery};
use crate::inspections;
use crate::reports::output::Kind;
use crate::web::auth::Caller;
use crate::web::error::{ApiError, ApiResult, Body, Id, Params};
use crate::web::AppState;

/// `GET /inspections`.
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let all = inspections::list(&state.ctx.config, &state.ctx.db).await?;
    Ok(Json(Value::Array(
        all.iter().map(inspections::Status::json).collect(),
    )))
}

/// `GET /inspections/{name}`.
pub async fn show(State(state): State<AppState>, Id(name): Id) -> ApiResult<Json<Value>> {
    match inspections::status(&state.ctx.config, &state.ctx.db, &name).await? {
        Some(s) => Ok(Json(s.json())),
        None => Err(ApiError::refused(&inspections::unknown(&name))),
    }
}

/// `POST /inspections/{name}/approve` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    #[serde(default)]
    comment: String,
}

/// `POST /inspections/{name}/approve`: the caller approves the current version.
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Id(name): Id,
    Body(b): Body<Approve>,
) -> ApiResult<Json<Value>> {
    let ctx = &state.ctx;
    let s = inspections::approve(
        &ctx.config,
        &ctx.db,
        &caller.proof(),
        &name,
        &caller.name,
        &b.comment,
        crate::time::now_ms(),
    )
    .await?;
    Ok(Json(s.json()))
}

/// `POST /inspections/{name}/run`: asks `serve` to run it now; 202 with the run's id.
pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
    Id(name): Id,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = &state.ctx;
    let id = inspections::ask(
        &ctx.config,
        &ctx.db,
        &caller.proof(),
        &name,
        &caller.name,
        crate::time::now_ms(),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"run": id, "runbook": name, "state": "queued"})),
    ))
}

/// The runbook and run a report route names.
pub struct RunPath {
    name: String,
    id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RunPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(mut segments) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_input("the path cannot be read"))?;
        let path = RunPath {
            name: segments.remove("name").unwrap_or_default(),
            id: segments.remove("id").unwrap_or_default(),
        };
        for part in [&path.name, &path.id] {
            crate::web::error::no_nul("the path", part)?;
        }
        Ok(path)
    }
}

/// `GET /inspections/{name}/runs/{id}/report?format=&lang=`.
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    RunPath { name, id }: RunPath,
    Params(q): Params<DocQuery>,
) -> ApiResult<Response> {
    match state.ctx.db.inspection_run(&id).await? {
        Some(run) if run.runbook == name => {}
        _ => {
            return Err(ApiError::not_found(format!(
                "runbook {name:?} has no run {id:?}"
            )))
        }
    }
    answer(&state, &caller, Kind::Inspection(id), &q).await
}
