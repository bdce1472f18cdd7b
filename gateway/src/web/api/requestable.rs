//! `GET /requestable`: what the calling engineer may request under the policy in force —
//! the registered targets some group lets them request, with their descriptions, and the
//! groups that admit them, with their targets' names. Names and descriptions only: never
//! a target's address, port or login (those are secret towards engineers). The request
//! form offers these instead of a free-text target name.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::web::auth::Caller;
use crate::web::error::ApiResult;
use crate::web::AppState;

/// `GET /requestable` (engineers).
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let policy = state.ctx.policy.current();
    let registered = state.ctx.db.targets().await?;
    let targets: Vec<Value> = registered
        .iter()
        .filter(|t| policy.may_request(&caller.name, &t.name))
        .map(|t| json!({ "name": t.name, "description": t.description }))
        .collect();
    let groups: Vec<Value> = policy
        .groups
        .iter()
        .filter(|(_, g)| g.admits(&caller.name))
        .map(|(name, g)| json!({ "name": name, "targets": g.targets }))
        .collect();
    Ok(Json(json!({ "targets": targets, "groups": groups })))
}
