//! The console's dashboard figures: a chosen run of days and today, each the service
//! report's own figures ([`service_days`]) — the period as a whole, and one point per day
//! for the charts. Nothing is counted here that the service report does not count.

use policy::sla;
use serde::Serialize;

use super::period::service_days;
use super::{FactsError, ServiceReport};
use crate::config::Config;
use crate::db::Db;

/// The longest run of days one overview covers (a quarter): every day is its own report.
pub const MAX_DAYS: i64 = 92;

/// One day's figures, taken from that day's service report.
#[derive(Serialize)]
pub struct DayPoint {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    /// The day's start (the bureau's midnight).
    #[serde(serialize_with = "super::ts")]
    pub from: policy::Millis,
    /// Its end, exclusive.
    #[serde(serialize_with = "super::ts")]
    pub to: policy::Millis,
    /// Sessions that ran that day.
    pub sessions: u64,
    /// Requests filed, per level A–D (in that order).
    pub requests: Vec<u64>,
    /// Break-glass uses.
    pub break_glass: u64,
    /// Refusals, all kinds.
    pub refusals: u64,
    /// `transfer.detected` entries.
    pub transfer_detections: u64,
    /// Responses that missed the window.
    pub response_breaches: u64,
}

/// The dashboard: the period, today, and the period day by day.
#[derive(Serialize)]
pub struct Overview {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    pub to: String,
    /// The whole period.
    pub period: ServiceReport,
    /// Today (the bureau's day).
    pub today: ServiceReport,
    /// One point per day of the period.
    pub days: Vec<DayPoint>,
}

/// The overview of the local days `from` to `to` (both `YYYY-MM-DD`, inclusive).
pub async fn overview(
    config: &Config,
    db: &Db,
    window_ms: policy::Millis,
    from: &str,
    to: &str,
) -> Result<Overview, FactsError> {
    let day = |name: &str, s: &str| {
        sla::parse_day(s).map_err(|e| FactsError::BadInput(format!("{name}: {e}")))
    };
    let (d0, d1) = (day("from", from)?, day("to", to)?);
    if d1 < d0 {
        return Err(FactsError::BadInput(format!(
            "to ({to}) is before from ({from})"
        )));
    }
    if d1 - d0 + 1 > MAX_DAYS {
        return Err(FactsError::BadInput(format!(
            "from {from} to {to} is more than {MAX_DAYS} days; use the service report for longer periods"
        )));
    }
    let label = format!("{from}..{to}");
    let period = service_days(config, db, window_ms, &label, d0, d1 + 1).await?;
    let today_day = config.reports.calendar.day_of(crate::time::now_ms());
    let today = service_days(
        config,
        db,
        window_ms,
        &sla::format_day(today_day),
        today_day,
        today_day + 1,
    )
    .await?;
    let mut days = Vec::new();
    for d in d0..=d1 {
        let date = sla::format_day(d);
        let r = service_days(config, db, window_ms, &date, d, d + 1).await?;
        days.push(DayPoint {
            date,
            from: r.from,
            to: r.to,
            sessions: r.sessions,
            requests: r.levels.iter().map(|l| l.requests).collect(),
            break_glass: r.break_glass,
            refusals: r.refusals.values().sum(),
            transfer_detections: r.transfer_detections,
            response_breaches: r.response_breaches,
        });
    }
    Ok(Overview {
        from: from.to_string(),
        to: to.to_string(),
        period,
        today,
        days,
    })
}
