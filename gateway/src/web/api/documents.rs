//! `/reports/fault/{incident}`, `/reports/service`, `/reports/daily`: the tender's documents
//! (《故障处理报告》, 《服务报告》, 《监控日志》) as JSON, CSV, a printable HTML page or PDF, in
//! Chinese (`lang=zh`, the default) or English (`lang=en`). The same code as `menwei report`;
//! each one made is audited as `report.made`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::audit::AuditEvent;
use crate::reports::facts::FactsError;
use crate::reports::output::{produce, Kind, ReportError};
use crate::reports::{Format, Lang};
use crate::web::auth::Caller;
use crate::web::error::{ApiError, ApiResult, Id, Params};
use crate::web::AppState;

/// Format and language.
#[derive(Deserialize)]
pub struct DocQuery {
    format: Option<String>,
    lang: Option<String>,
    period: Option<String>,
    date: Option<String>,
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Facts(FactsError::NoIncident(_)) => ApiError::not_found(e.to_string()),
            ReportError::Facts(FactsError::BadInput(m)) | ReportError::Format(m) => {
                ApiError::bad_input(m)
            }
            ReportError::Facts(FactsError::Db(db)) => db.into(),
            ReportError::Pdf(p) => ApiError::unavailable(p),
        }
    }
}

pub(crate) async fn answer(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    q: &DocQuery,
) -> ApiResult<Response> {
    let format = Format::parse(q.format.as_deref()).map_err(ApiError::bad_input)?;
    let lang = Lang::parse(q.lang.as_deref()).map_err(ApiError::bad_input)?;
    let ctx = &state.ctx;
    let window = ctx.policy.current().response_window_ms;
    let made = produce(
        &ctx.config,
        &ctx.db,
        window,
        &kind,
        format,
        lang,
        &caller.name,
    )
    .await?;
    crate::audit::append(
        &ctx.db,
        &ctx.config.node_name,
        AuditEvent::new(caller.name.clone(), "report.made", made.file_name.clone())
            .with_detail(json!({"via": caller.via_text(), "kind": format!("{kind:?}")})),
    )
    .await?;
    let disposition = match format {
        Format::Html | Format::Json => format!("inline; filename=\"{}\"", made.file_name),
        Format::Csv | Format::Pdf => format!("attachment; filename=\"{}\"", made.file_name),
    };
    Ok((
        [
            (header::CONTENT_TYPE, made.content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        made.body,
    )
        .into_response())
}

/// `GET /reports/fault/{incident}?format=&lang=`.
pub async fn fault(
    State(state): State<AppState>,
    caller: Caller,
    Id(incident): Id,
    Params(q): Params<DocQuery>,
) -> ApiResult<Response> {
    answer(&state, &caller, Kind::Fault(incident), &q).await
}

/// `GET /reports/service?period=2026-11|2026-Q4|2026&format=&lang=`.
pub async fn service(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<DocQuery>,
) -> ApiResult<Response> {
    let Some(period) = q.period.clone().filter(|p| !p.is_empty()) else {
        return Err(ApiError::bad_input(
            "period: missing; expected YYYY-MM, YYYY-Qn or YYYY",
        ));
    };
    answer(&state, &caller, Kind::Service(period), &q).await
}

/// `GET /reports/daily?date=YYYY-MM-DD&format=&lang=`.
pub async fn daily(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<DocQuery>,
) -> ApiResult<Response> {
    let Some(date) = q.date.clone().filter(|d| !d.is_empty()) else {
        return Err(ApiError::bad_input("date: missing; expected YYYY-MM-DD"));
    };
    answer(&state, &caller, Kind::Daily(date), &q).await
}

/// `GET /reports/overview` range.
#[derive(Deserialize)]
pub struct OverviewQuery {
    from: Option<String>,
    to: Option<String>,
}

/// Days in the overview's period when the caller names none: two weeks to today.
const OVERVIEW_DAYS: i64 = 14;

/// `GET /reports/overview?from=YYYY-MM-DD&to=YYYY-MM-DD`: the console's dashboard, the
/// service report's figures for the period, today and each day (JSON). Without `from` and
/// `to`, the 14 days (`OVERVIEW_DAYS`) to today in the reports' calendar (`[reports]
/// utc_offset`), not the browser's: a console in another zone still sees the bureau's today.
pub async fn overview(
    State(state): State<AppState>,
    Params(q): Params<OverviewQuery>,
) -> ApiResult<axum::Json<crate::reports::facts::Overview>> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let need = |name: &str, v: &Option<String>| {
        given(v).ok_or_else(|| ApiError::bad_input(format!("{name}: missing; expected YYYY-MM-DD")))
    };
    let ctx = &state.ctx;
    let (from, to) = if given(&q.from).is_none() && given(&q.to).is_none() {
        let today = ctx.config.reports.calendar.day_of(crate::time::now_ms());
        (
            policy::sla::format_day(today - (OVERVIEW_DAYS - 1)),
            policy::sla::format_day(today),
        )
    } else {
        (need("from", &q.from)?, need("to", &q.to)?)
    };
    let window = ctx.policy.current().response_window_ms;
    let o = crate::reports::facts::overview(&ctx.config, &ctx.db, window, &from, &to)
        .await
        .map_err(|e| ApiError::from(ReportError::Facts(e)))?;
    Ok(axum::Json(o))
}
