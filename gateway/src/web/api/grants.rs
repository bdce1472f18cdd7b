//! `/grants`: list (an engineer sees their own) and revoke — the twins of `menwei grant
//! list` and `menwei grant revoke`, with the same policy check, audit entry and webhook. A
//! revocation ends live sessions on this node at once and on other nodes through their
//! enforcers (which read grants every half second).

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::engineer_filter;
use super::paging::{given, List, PageParams, Paging, MAX_PAGE};
use crate::db::GrantFilter;
use crate::views::grant_json;
use crate::web::auth::Caller;
use crate::web::error::{ApiResult, Id, Params};
use crate::web::AppState;

/// `GET /grants` filters and paging.
#[derive(Deserialize)]
pub struct ListQuery {
    live: Option<bool>,
    engineer: Option<String>,
    target: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

/// `GET /grants?live=true`: newest first unless sorted otherwise; paged with `limit` and
/// `cursor` ([`super::paging`]). An engineer sees their own.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Response> {
    let now = crate::time::now_ms();
    let engineer = engineer_filter(&caller, &q.engineer, "grants")?;
    let live = q.live.unwrap_or(false);
    let filter = GrantFilter {
        engineer,
        target: given(&q.target),
        live_at: live.then_some(now),
    };
    let paging = Paging::new(
        &state,
        List::Grants,
        &PageParams {
            limit: q.limit,
            cursor: q.cursor.clone(),
            sort: q.sort.clone(),
            order: q.order.clone(),
        },
        &[
            ("engineer", filter.engineer.clone()),
            ("target", filter.target.clone()),
            ("live", Some(live.to_string())),
        ],
        None,
        MAX_PAGE,
    )?;
    let page = state.ctx.db.grants_page(&filter, &paging.spec).await?;
    let rows = page
        .rows
        .iter()
        .map(|g| {
            let mut v = grant_json(g, now);
            if let Value::Object(m) = &mut v {
                m.insert("request_id".into(), json!(g.request_id));
                m.insert("emergency".into(), json!(g.emergency));
            }
            v
        })
        .collect();
    paging.answer(&state, &page, rows)
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
