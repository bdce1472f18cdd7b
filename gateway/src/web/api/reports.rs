//! `/reports`: the service report of the week (ISO, from Monday), month, quarter or year
//! (UTC) containing `at`: sessions and hours, per engineer, target and fault level,
//! request-to-decision times against the policy's response window, break-glass uses and
//! refused attempts (from the audit log). JSON, or CSV with `format=csv`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use policy::Millis;
use serde::Deserialize;
use serde_json::{json, Value};
use time::{Date, Duration, Month, OffsetDateTime};

use super::time_param;
use crate::web::error::{ApiError, ApiResult, Params};
use crate::web::AppState;

const HOUR: f64 = 3_600_000.0;

/// `GET /reports` parameters.
#[derive(Deserialize)]
pub struct ReportQuery {
    period: Option<String>,
    at: Option<String>,
    format: Option<String>,
}

/// The first day of the month `n` months after `d`'s month.
fn first_of_month_after(d: Date, n: u8) -> Option<Date> {
    let (mut year, mut month) = (d.year(), d.month());
    for _ in 0..n {
        if month == Month::December {
            year = year.checked_add(1)?;
        }
        month = month.next();
    }
    Date::from_calendar_date(year, month, 1).ok()
}

/// `[from, to)` of the period containing `at`, in UTC days: the ISO week from Monday, the
/// calendar month, quarter or year. An unknown period or an `at` outside the calendar's
/// range (years 1 to 9999) is an error naming it.
pub fn period_bounds(period: &str, at: Millis) -> Result<(Millis, Millis), String> {
    let day = OffsetDateTime::from_unix_timestamp(at.div_euclid(1000))
        .map_err(|_| "at: outside the calendar's range".to_string())?
        .date();
    let span = |start: Option<Date>, months: u8| {
        start.and_then(|s| Some((s, first_of_month_after(s, months)?)))
    };
    let bounds = match period {
        "week" => day
            .checked_sub(Duration::days(
                day.weekday().number_days_from_monday().into(),
            ))
            .and_then(|monday| Some((monday, monday.checked_add(Duration::days(7))?))),
        "month" => span(day.replace_day(1).ok(), 1),
        "quarter" => {
            let first = (u8::from(day.month()) - 1) / 3 * 3 + 1;
            let start = Month::try_from(first)
                .ok()
                .and_then(|m| Date::from_calendar_date(day.year(), m, 1).ok());
            span(start, 3)
        }
        "year" => span(
            Date::from_calendar_date(day.year(), Month::January, 1).ok(),
            12,
        ),
        _ => {
            return Err(format!(
                "period {period:?}: expected week, month, quarter or year"
            ))
        }
    };
    let millis = |d: Date| {
        d.midnight()
            .assume_utc()
            .unix_timestamp()
            .saturating_mul(1000)
    };
    bounds
        .map(|(from, to)| (millis(from), millis(to)))
        .ok_or_else(|| "at: outside the calendar's range".to_string())
}

#[derive(Default)]
struct Tally {
    sessions: u64,
    ms: Millis,
}

fn tallies(map: &BTreeMap<String, Tally>, key: &str) -> Vec<Value> {
    map.iter()
        .map(|(k, t)| json!({key: k, "sessions": t.sessions, "hours": hours(t.ms)}))
        .collect()
}

fn hours(ms: Millis) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let h = ms as f64 / HOUR;
    (h * 100.0).round() / 100.0
}

/// `GET /reports?period=week|month|quarter|year&at=RFC3339[&format=csv]`.
pub async fn report(
    State(state): State<AppState>,
    Params(q): Params<ReportQuery>,
) -> ApiResult<Response> {
    let period = q.period.as_deref().unwrap_or("month");
    let at = time_param("at", &q.at)?.unwrap_or_else(crate::time::now_ms);
    let (from, to) = period_bounds(period, at).map_err(ApiError::bad_input)?;
    let report = build(&state, period, from, to).await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(report).into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"menwei-report-{period}.csv\""),
                ),
            ],
            csv(&report),
        )
            .into_response()),
        other => Err(ApiError::bad_input(format!(
            "format {other:?}: expected json or csv"
        ))),
    }
}

async fn build(state: &AppState, period: &str, from: Millis, to: Millis) -> ApiResult<Value> {
    let db = &state.ctx.db;
    let now = crate::time::now_ms();
    let window = state.ctx.policy.current().response_window_ms;
    let grants: BTreeMap<String, crate::db::GrantRecord> = db
        .grants()
        .await?
        .into_iter()
        .map(|g| (g.grant.id.clone(), g))
        .collect();
    let requests = db.requests(&crate::db::RequestFilter::default()).await?;
    let level_of: BTreeMap<&str, String> = requests
        .iter()
        .map(|r| (r.request.id.as_str(), r.request.level.to_string()))
        .collect();

    let (mut total, mut by_engineer, mut by_target, mut by_level) = (
        Tally::default(),
        BTreeMap::<String, Tally>::new(),
        BTreeMap::<String, Tally>::new(),
        BTreeMap::<String, Tally>::new(),
    );
    for s in db.sessions().await? {
        let end = s.ended_at.unwrap_or(now).min(to);
        let start = s.started_at.max(from);
        if s.started_at >= to || s.ended_at.unwrap_or(now) < from {
            continue;
        }
        let ms = end.saturating_sub(start).max(0);
        let level = grants
            .get(&s.grant_id)
            .and_then(|g| g.request_id.as_deref())
            .and_then(|r| level_of.get(r).cloned())
            .unwrap_or_else(|| "-".to_string());
        for (map, key) in [
            (&mut by_engineer, s.engineer.clone()),
            (&mut by_target, s.target.clone()),
            (&mut by_level, level),
        ] {
            let t = map.entry(key).or_default();
            t.sessions += 1;
            t.ms = t.ms.saturating_add(ms);
        }
        total.sessions += 1;
        total.ms = total.ms.saturating_add(ms);
    }

    let mut decision_ms: Vec<Millis> = Vec::new();
    let (mut filed, mut within, mut over, mut waiting_over, mut break_glass) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for r in requests
        .iter()
        .filter(|r| r.request.filed_at >= from && r.request.filed_at < to)
    {
        filed += 1;
        if r.request.break_glass {
            break_glass += 1;
        }
        match r.decided_at {
            Some(d) => {
                let took = d.saturating_sub(r.request.filed_at).max(0);
                decision_ms.push(took);
                if took <= window {
                    within += 1;
                } else {
                    over += 1;
                }
            }
            None if r.request.state == policy::RequestState::Pending
                && now.saturating_sub(r.request.filed_at) > window =>
            {
                waiting_over += 1;
            }
            None => {}
        }
    }
    decision_ms.sort_unstable();
    let median = decision_ms.get(decision_ms.len() / 2).copied();

    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    for row in db.audit_rows_between(from, to, i64::MAX).await? {
        if row.action.ends_with(".refused") || row.action.ends_with(".failure") {
            *refusals.entry(row.action).or_default() += 1;
        }
    }
    Ok(json!({
        "period": period,
        "from": crate::time::rfc3339(from),
        "to": crate::time::rfc3339(to),
        "response_window_ms": window,
        "sessions": {"count": total.sessions, "hours": hours(total.ms)},
        "by_engineer": tallies(&by_engineer, "engineer"),
        "by_target": tallies(&by_target, "target"),
        "by_level": tallies(&by_level, "level"),
        "requests": {
            "filed": filed,
            "decided": decision_ms.len(),
            "decided_within_window": within,
            "decided_over_window": over,
            "pending_over_window": waiting_over,
            "median_decision_ms": median,
            "max_decision_ms": decision_ms.last(),
        },
        "break_glass": {"uses": break_glass},
        "refusals": {"total": refusals.values().sum::<u64>(), "by_action": refusals},
    }))
}

/// The report as `section,key,sessions,hours,count` lines.
fn csv(r: &Value) -> String {
    use crate::audit::csv_field;
    let mut out = String::from("section,key,sessions,hours,count\n");
    let s = |v: &Value, k: &str| v.get(k).map(|x| x.to_string()).unwrap_or_default();
    let mut line = |section: &str, key: &str, sessions: String, hours: String, count: String| {
        out.push_str(&format!(
            "{},{},{sessions},{hours},{count}\n",
            csv_field(section),
            csv_field(key)
        ));
    };
    line(
        "period",
        &s(r, "period").replace('"', ""),
        String::new(),
        String::new(),
        String::new(),
    );
    if let Some(t) = r.get("sessions") {
        line(
            "sessions",
            "total",
            s(t, "count"),
            s(t, "hours"),
            String::new(),
        );
    }
    for (section, key) in [
        ("by_engineer", "engineer"),
        ("by_target", "target"),
        ("by_level", "level"),
    ] {
        for row in r
            .get(section)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            line(
                section,
                &s(row, key).replace('"', ""),
                s(row, "sessions"),
                s(row, "hours"),
                String::new(),
            );
        }
    }
    if let Some(Value::Object(m)) = r.get("requests") {
        for (k, v) in m {
            line("requests", k, String::new(), String::new(), v.to_string());
        }
    }
    if let Some(b) = r.get("break_glass") {
        line(
            "break_glass",
            "uses",
            String::new(),
            String::new(),
            s(b, "uses"),
        );
    }
    if let Some(Value::Object(m)) = r.get("refusals").and_then(|x| x.get("by_action")) {
        for (k, v) in m {
            line("refusals", k, String::new(), String::new(), v.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_contain_their_instant() {
        // 2026-11-29T08:00:00Z is a Sunday.
        let at = crate::time::parse_rfc3339("2026-11-29T08:00:00Z").unwrap();
        let b = |p| {
            let (f, t) = period_bounds(p, at).unwrap();
            (crate::time::rfc3339(f), crate::time::rfc3339(t))
        };
        assert_eq!(
            b("week"),
            (
                "2026-11-23T00:00:00.000Z".into(),
                "2026-11-30T00:00:00.000Z".into()
            )
        );
        assert_eq!(
            b("month"),
            (
                "2026-11-01T00:00:00.000Z".into(),
                "2026-12-01T00:00:00.000Z".into()
            )
        );
        assert_eq!(
            b("quarter"),
            (
                "2026-10-01T00:00:00.000Z".into(),
                "2027-01-01T00:00:00.000Z".into()
            )
        );
        assert_eq!(
            b("year"),
            (
                "2026-01-01T00:00:00.000Z".into(),
                "2027-01-01T00:00:00.000Z".into()
            )
        );
        assert!(period_bounds("decade", at)
            .unwrap_err()
            .contains("expected week"));
        // Edges: a Monday at midnight starts its own week; February of a leap year; the
        // last instant of a year is in it.
        let b_at = |p, s: &str| {
            let (f, t) = period_bounds(p, crate::time::parse_rfc3339(s).unwrap()).unwrap();
            (crate::time::rfc3339(f), crate::time::rfc3339(t))
        };
        assert_eq!(
            b_at("week", "2026-11-30T00:00:00Z"),
            (
                "2026-11-30T00:00:00.000Z".into(),
                "2026-12-07T00:00:00.000Z".into()
            )
        );
        assert_eq!(
            b_at("month", "2028-02-29T12:00:00Z").1,
            "2028-03-01T00:00:00.000Z"
        );
        assert_eq!(
            b_at("year", "2026-12-31T23:59:59.999Z"),
            (
                "2026-01-01T00:00:00.000Z".into(),
                "2027-01-01T00:00:00.000Z".into()
            )
        );
        assert!(period_bounds("month", i64::MAX).is_err());
    }
}
