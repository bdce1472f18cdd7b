//! The admin's read-only views: `/users` (role, state, keys, second factor, web password),
//! `/targets` (with pinned host keys; never a stored password) and `/policy` as loaded.
//! What an admin does to accounts is in `accounts.rs`; other changes stay on the CLI.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use serde::Deserialize;

use crate::web::error::{ApiResult, Params};
use crate::web::AppState;

/// `GET /users` filters.
#[derive(Deserialize)]
pub struct UsersQuery {
    all: Option<bool>,
}

/// `GET /users?all=true`: removed accounts only with `all`, as `menwei user list --all`.
pub async fn users(
    State(state): State<AppState>,
    Params(q): Params<UsersQuery>,
) -> ApiResult<Json<Value>> {
    let db = &state.ctx.db;
    let mut out = Vec::new();
    let all = q.all.unwrap_or(false);
    for u in db.users().await? {
        if u.removed_at.is_some() && !all {
            continue;
        }
        let keys = db.user_key_rows(&u.name).await?;
        out.push(json!({
            "name": u.name,
            "role": u.role.as_str(),
            "state": crate::views::account_state(&u),
            "disabled": u.disabled,
            "disabled_reason": u.disabled_reason,
            "removed": u.removed_at.is_some(),
            "removed_at": u.removed_at.map(crate::time::rfc3339),
            "created_at": crate::time::rfc3339(u.created_at),
            "totp": db.totp_secret(&u.name).await?.is_some(),
            "password": db.password_hash(&u.name).await?.is_some(),
            "keys": keys.iter().map(crate::views::key_json).collect::<Vec<_>>(),
        }));
    }
    Ok(Json(Value::Array(out)))
}

/// `GET /nodes`: the nodes sharing the database, from their heartbeats.
pub async fn nodes(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let nodes = state.ctx.db.nodes().await?;
    let now = crate::time::now_ms();
    let beat = state.ctx.config.cluster.heartbeat;
    Ok(Json(Value::Array(
        nodes
            .iter()
            .map(|n| crate::nodes::json(n, now, beat))
            .collect(),
    )))
}

/// `GET /targets`.
pub async fn targets(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let targets = state.ctx.db.targets().await?;
    Ok(Json(
        targets
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "address": t.address,
                    "login": t.login,
                    "description": t.description,
                    "host_key_fingerprint": t.host_key_fingerprint,
                    "pinned": t.host_key.is_some(),
                    "password": t.password_enc.is_some(),
                    "created_at": crate::time::rfc3339(t.created_at),
                })
            })
            .collect(),
    ))
}

/// `GET /policy`.
pub async fn policy(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let p = state.ctx.policy.current();
    Ok(Json(serde_json::to_value(&*p).unwrap_or(Value::Null)))
}
