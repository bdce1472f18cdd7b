//! `/users/{name}/…`: what an admin does to an account — disable, enable, remove, log out,
//! list and remove its SSH keys — the twins of `menwei user disable | enable | remove |
//! logout | key list | key remove`, through the same [`crate::accounts`] calls (same checks,
//! same audit entries, with `via` saying `web` or `api:<token>`). The route table admits
//! admins only. One rule is the API's own: an admin does not disable or remove their own
//! account here, which would end the very login making the call.
//!
//! Errors: an unknown account or key is 404 `not_found` (reason `unknown_user`,
//! `unknown_key`); a missing or bad reason 400 `bad_input`; the last enabled admin, a
//! removed account or one's own account 409 `conflict` (reason `last_admin`,
//! `account_removed`, `own_account`).

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use policy::codes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::{AccountError, Admin};
use crate::web::auth::Caller;
use crate::web::error::{ApiCode, ApiError, ApiResult, Body};
use crate::web::AppState;

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Refused(r) => {
                let code = if [codes::UNKNOWN_USER, codes::UNKNOWN_KEY].contains(&r.code) {
                    ApiCode::NotFound
                } else if [
                    codes::LAST_ADMIN,
                    codes::ACCOUNT_REMOVED,
                    codes::OWN_ACCOUNT,
                ]
                .contains(&r.code)
                {
                    ApiCode::Conflict
                } else {
                    ApiCode::BadInput
                };
                ApiError {
                    code,
                    message: r.message,
                    reason: Some(r.code.to_string()),
                }
            }
            AccountError::Failed(cause) => ApiError::unavailable(cause),
        }
    }
}

/// The account (and key) a route's path names: `{name}` and, on key routes,
/// `{fingerprint}` (percent-decoded, so `SHA256%3A…%2F…` arrives as `SHA256:…/…`).
#[derive(Debug)]
pub struct Account {
    name: String,
    fingerprint: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Account {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(mut segments) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::bad_input(
                    "the path cannot be read; names and fingerprints are UTF-8, percent-encoded",
                )
            })?;
        Ok(Account {
            name: segments.remove("name").unwrap_or_default(),
            fingerprint: segments.remove("fingerprint"),
        })
    }
}

/// A body carrying why.
#[derive(Deserialize)]
pub struct Reason {
    reason: String,
}

/// The account desk for `caller`'s call: the caller acts, by cookie (`web`) or token.
fn admin<'a>(state: &'a AppState, caller: &'a Caller, via: &'a str) -> Admin<'a> {
    Admin {
        db: &state.ctx.db,
        node: &state.ctx.config.node_name,
        actor: &caller.name,
        via,
    }
}

/// Refuses `caller` disabling or removing their own account (409 `own_account`).
fn not_own(caller: &Caller, name: &str, action: &str) -> ApiResult<()> {
    if caller.name == name {
        return Err(AccountError::Refused(policy::Refusal::new(
            codes::OWN_ACCOUNT,
            format!(
                "an admin does not {action} their own account here; another admin or the CLI can"
            ),
        ))
        .into());
    }
    Ok(())
}

/// `POST /users/{name}/disable` with `{"reason": "…"}`.
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    account: Account,
    Body(body): Body<Reason>,
) -> ApiResult<Json<Value>> {
    not_own(&caller, &account.name, "disable")?;
    let via = caller.via_text();
    let now = crate::time::now_ms();
    let ended = admin(&state, &caller, &via)
        .disable(&account.name, &body.reason, now)
        .await?;
    Ok(Json(answer(&account.name, "disabled", ended)))
}

/// `POST /users/{name}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    account: Account,
) -> ApiResult<Json<Value>> {
    let via = caller.via_text();
    let now = crate::time::now_ms();
    let user = admin(&state, &caller, &via)
        .enable(&account.name, now)
        .await?;
    Ok(Json(json!({"name": user.name, "state": "active"})))
}

/// `DELETE /users/{name}` with `{"reason": "…"}`: removed, its history kept.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    account: Account,
    Body(body): Body<Reason>,
) -> ApiResult<Json<Value>> {
    not_own(&caller, &account.name, "remove")?;
    let via = caller.via_text();
    let now = crate::time::now_ms();
    let ended = admin(&state, &caller, &via)
        .remove(&account.name, &body.reason, now)
        .await?;
    Ok(Json(answer(&account.name, "removed", ended)))
}

/// `POST /users/{name}/logout`.
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    account: Account,
) -> ApiResult<Json<Value>> {
    let via = caller.via_text();
    let now = crate::time::now_ms();
    let ended = admin(&state, &caller, &via)
        .logout(&account.name, now)
        .await?;
    Ok(Json(answer(&account.name, "logged_out", ended)))
}

/// `GET /users/{name}/keys`.
pub async fn keys(
    State(state): State<AppState>,
    caller: Caller,
    account: Account,
) -> ApiResult<Json<Value>> {
    let via = caller.via_text();
    let keys = admin(&state, &caller, &via).keys(&account.name).await?;
    Ok(Json(keys.iter().map(crate::views::key_json).collect()))
}

/// `DELETE /users/{name}/keys/{fingerprint}`.
pub async fn key_remove(
    State(state): State<AppState>,
    caller: Caller,
    account: Account,
) -> ApiResult<Json<Value>> {
    let via = caller.via_text();
    let now = crate::time::now_ms();
    let fingerprint = account.fingerprint.unwrap_or_default();
    let ended = admin(&state, &caller, &via)
        .key_remove(&account.name, &fingerprint, now)
        .await?;
    let mut v = answer(&account.name, "key_removed", ended);
    if let Value::Object(m) = &mut v {
        m.insert("fingerprint".into(), json!(fingerprint));
    }
    Ok(Json(v))
}

/// `{"name", "done", "web_logins_ended", "tokens_revoked", "keys_removed"}`.
fn answer(name: &str, done: &str, ended: crate::accounts::Ended) -> Value {
    let mut v = ended.json();
    if let Value::Object(m) = &mut v {
        m.insert("name".into(), json!(name));
        m.insert("done".into(), json!(done));
    }
    v
}
