//! `/users/{name}/…`: what an admin does to an account — disable, enable, remove, log out,
//! list and remove its SSH keys — the twins of `menwei user disable | enable | remove |
//! logout | key list | key remove`, through the same [`crate::accounts`] calls (same checks,
//! same audit entries, with `via` saying `web`, or `api-token` with the token's id). The
//! route table admits admins only. One rule is the API's own: an admin does not disable or remove their own
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
use policy::{codes, Millis};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::{AccountError, Admin, Ended};
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
        let account = Account {
            name: segments.remove("name").unwrap_or_default(),
            fingerprint: segments.remove("fingerprint"),
        };
        crate::web::error::no_nul("the user name in the path", &account.name)?;
        if let Some(fingerprint) = &account.fingerprint {
            crate::web::error::no_nul("the key fingerprint in the path", fingerprint)?;
        }
        Ok(account)
    }
}

/// A body carrying why.
#[derive(Deserialize)]
pub struct Reason {
    reason: String,
}

/// Runs `op` on the account desk as `caller` at this moment, audited with `via` `web`, or
/// `api-token` and the token's id.
async fn act<T>(
    state: &AppState,
    caller: &Caller,
    op: impl AsyncFnOnce(&Admin<'_>, Millis) -> Result<T, AccountError>,
) -> ApiResult<T> {
    let proof = caller.proof();
    let admin = Admin {
        db: &state.ctx.db,
        node: &state.ctx.config.node_name,
        actor: &caller.name,
        proof: &proof,
    };
    Ok(op(&admin, crate::time::now_ms()).await?)
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
    Account { name, .. }: Account,
    Body(body): Body<Reason>,
) -> ApiResult<Json<Value>> {
    not_own(&caller, &name, "disable")?;
    let ended = act(&state, &caller, async |a, now| {
        a.disable(&name, &body.reason, now).await
    })
    .await?;
    Ok(Json(answer(&name, "disabled", ended)))
}

/// `POST /users/{name}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Account { name, .. }: Account,
) -> ApiResult<Json<Value>> {
    act(&state, &caller, async |a, now| a.enable(&name, now).await).await?;
    Ok(Json(json!({"name": name, "done": "enabled"})))
}

/// `DELETE /users/{name}` with `{"reason": "…"}`: removed, its history kept.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Account { name, .. }: Account,
    Body(body): Body<Reason>,
) -> ApiResult<Json<Value>> {
    not_own(&caller, &name, "remove")?;
    let ended = act(&state, &caller, async |a, now| {
        a.remove(&name, &body.reason, now).await
    })
    .await?;
    Ok(Json(answer(&name, "removed", ended)))
}

/// A body carrying a new role and why.
#[derive(Deserialize)]
pub struct NewRole {
    role: String,
    reason: String,
}

/// `POST /users/{name}/role` with `{"role": "…", "reason": "…"}`.
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Account { name, .. }: Account,
    Body(body): Body<NewRole>,
) -> ApiResult<Json<Value>> {
    let role: policy::Role = body
        .role
        .parse()
        .map_err(|e: policy::UnknownRole| ApiError::bad_input(format!("role: {e}")))?;
    not_own(&caller, &name, "change the role of")?;
    let ended = act(&state, &caller, async |a, now| {
        a.set_role(&name, role, &body.reason, now).await
    })
    .await?;
    Ok(Json(answer(&name, "role_changed", ended)))
}

/// `POST /users/{name}/logout`.
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    Account { name, .. }: Account,
) -> ApiResult<Json<Value>> {
    let ended = act(&state, &caller, async |a, now| a.logout(&name, now).await).await?;
    Ok(Json(answer(&name, "logged_out", ended)))
}

/// `GET /users/{name}/keys`.
pub async fn keys(
    State(state): State<AppState>,
    caller: Caller,
    Account { name, .. }: Account,
) -> ApiResult<Json<Value>> {
    let keys = act(&state, &caller, async |a, _| a.keys(&name).await).await?;
    Ok(Json(keys.iter().map(crate::views::key_json).collect()))
}

/// `DELETE /users/{name}/keys/{fingerprint}`.
pub async fn key_remove(
    State(state): State<AppState>,
    caller: Caller,
    Account { name, fingerprint }: Account,
) -> ApiResult<Json<Value>> {
    let fingerprint = fingerprint.unwrap_or_default();
    let ended = act(&state, &caller, async |a, now| {
        a.key_remove(&name, &fingerprint, now).await
    })
    .await?;
    Ok(Json(ended.json_with(
        json!({"name": name, "done": "key_removed", "fingerprint": fingerprint}),
    )))
}

/// `{"name", "done", "web_logins_ended", "tokens_revoked", "keys_removed"}`.
fn answer(name: &str, done: &str, ended: Ended) -> Value {
    ended.json_with(json!({"name": name, "done": done}))
}
