//! `/grants`: list (an engineer sees their own) and revoke — the twins of `menwei grant
//! list` and `menwei grant revoke`, with the same policy check, audit entry and webhook. A
//! revocation ends live sessions on this node at once and on other nodes through their
//! enforcers (which read grants every half second).

use axum::extract::{Path, Query, State};
use axum::Json;
use policy::Actor;
use serde::Deserialize;
use serde_json::{json, Value};

use super::own_only;
use crate::audit::AuditEvent;
use crate::cli::grants::{grant_json, state_name};
use crate::web::auth::Caller;
use crate::web::error::{check_id, ApiError, ApiResult};
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
    Query(q): Query<ListQuery>,
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

/// `POST /grants/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = check_id(&id)?;
    let ctx = &state.ctx;
    let audit = |ev: AuditEvent| async move {
        crate::audit::append(&ctx.db, &ctx.config.node_name, ev).await
    };
    let Some(grant) = ctx.db.grant(id).await? else {
        return Err(ApiError::not_found(format!("no grant {id}")));
    };
    if let Err(refusal) = policy::revoke_grant(&Actor {
        name: &caller.name,
        role: caller.role,
    })
    .into_result()
    {
        audit(
            AuditEvent::new(
                caller.name.clone(),
                "grant.revoke.refused",
                grant.id.clone(),
            )
            .with_detail(json!({"code": refusal.code, "via": caller.via_text()})),
        )
        .await?;
        return Err(ApiError::refused(&refusal));
    }
    let now = crate::time::now_ms();
    if !ctx.db.grant_revoke(&grant.id, &caller.name, now).await? {
        return Err(ApiError::conflict(format!(
            "grant {} is already revoked",
            grant.id
        )));
    }
    audit(
        AuditEvent::new(caller.name.clone(), "grant.revoke", grant.id.clone()).with_detail(json!({
            "engineer": grant.engineer,
            "target": grant.target,
            "state_before": state_name(&grant, now),
            "via": caller.via_text(),
        })),
    )
    .await?;
    crate::notify::enqueue_logged(
        &ctx.db,
        &ctx.config,
        crate::notify::Kind::Revocation,
        json!({
            "grant": grant.id,
            "engineer": grant.engineer,
            "target": grant.target,
            "revoked_by": caller.name,
            "revoked_at": crate::time::rfc3339(now),
        }),
    )
    .await;
    ctx.sessions.end_grant(
        &grant.id,
        &crate::enforcer::End::new(
            "grant_revoked",
            "the grant was revoked; the session is closed",
        ),
    );
    Ok(Json(json!({"id": grant.id, "state": "revoked"})))
}
