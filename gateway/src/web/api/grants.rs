//! `/grants`: list (an engineer sees their own) and revoke — the twins of `menwei grant
//! list` and `menwei grant revoke`, with the same policy check, audit entry and webhook. A
//! revocation ends live sessions on this node at once and on other nodes through their
//! enforcers (which read grants every half second).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::own_only;
use crate::views::{grant_json, state_name};
use crate::web::auth::Caller;
use crate::web::error::{ApiResult, Id, Params};
use crate::web::AppState;

/// `GET /grants` filters.
#[derive(Deserialize)]
pub struct ListQuery {
    live: Option<bool>,
}

/// `GET /grants?live=true`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let now = crate::time::now_ms();
    let grants = state.ctx.db.grants().await?;
    let me = own_only(&caller);
    Ok(Json(
        grants
            .iter()
            .filter(|g| me.is_none_or(|m| g.grant.engineer == m))
            .filter(|g| !q.live.unwrap_or(false) || state_name(&g.grant, now) == "live")
            .map(|g| {
                let mut v = grant_json(g, now);
                if let Value::Object(m) = &mut v {
                    m.insert("request_id".into(), json!(g.request_id));
                    m.insert("emergency".into(), json!(g.emergency));
                }
                v
            })
            .collect(),
    ))
}

/// `POST /grants/{id}/revoke`: the CLI's `grant revoke`; live sessions under the grant on
/// this node end at once, elsewhere at their enforcer's next check.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let policy = state.ctx.policy.current();
    let proof = caller.proof();
    let desk = super::desk(&state, &policy, &proof);
    let grant = crate::approvals::revoke(&desk, &id, &caller.name, crate::time::now_ms()).await?;
    state.ctx.sessions.end_grant(
        &grant.id,
        &crate::session::enforcer::End::new(
            crate::session::enforcer::EndCode::Policy(policy::codes::GRANT_REVOKED),
            "the grant was revoked; the session is closed",
        ),
    );
    Ok(Json(json!({"id": grant.id, "state": "revoked"})))
}
