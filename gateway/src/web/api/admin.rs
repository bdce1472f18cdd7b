//! The admin's read-only views: `/users` (role, keys, second factor, web password),
//! `/targets` (with pinned host keys; never a stored password) and `/policy` as loaded.
//! Changes stay on the CLI, where they are made and audited today.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::web::error::ApiResult;
use crate::web::AppState;

/// `GET /users`.
pub async fn users(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let db = &state.ctx.db;
    let mut out = Vec::new();
    for u in db.users().await? {
        let keys = db.user_key_rows(&u.name).await?;
        out.push(json!({
            "name": u.name,
            "role": u.role.as_str(),
            "disabled": u.disabled,
            "created_at": crate::time::rfc3339(u.created_at),
            "totp": db.totp_secret(&u.name).await?.is_some(),
            "password": db.password_hash(&u.name).await?.is_some(),
            "keys": keys.iter().map(|k| json!({
                "fingerprint": k.fingerprint,
                "added_at": crate::time::rfc3339(k.added_at),
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(Json(Value::Array(out)))
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
