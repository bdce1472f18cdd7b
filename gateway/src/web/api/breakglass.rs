//! `/breakglass`: emergency grants awaiting sign-off, and signing one off — the twins of
//! `menwei breakglass list | signoff`, through [`crate::approvals::sign_off`].

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::desk;
use crate::approvals;
use crate::views::request_json;
use crate::web::auth::Caller;
use crate::web::error::{ApiResult, Body, Id};
use crate::web::AppState;

/// `GET /breakglass`.
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = state.ctx.db.break_glass_unsigned().await?;
    Ok(Json(rows.iter().map(request_json).collect()))
}

/// `POST /breakglass/{id}/signoff` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOff {
    comment: String,
}

/// `POST /breakglass/{id}/signoff`.
pub async fn signoff(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(b): Body<SignOff>,
) -> ApiResult<Json<Value>> {
    let policy = state.ctx.policy.current();
    let proof = caller.proof();
    approvals::sign_off(
        &desk(&state, &policy, &proof),
        &id,
        &caller.name,
        &b.comment,
        crate::time::now_ms(),
    )
    .await?;
    Ok(Json(json!({"id": id, "signed_off_by": caller.name})))
}
