//! 《服务报告》 and 《监控日志》's facts: what a month, quarter, year or day held.

use std::collections::BTreeMap;

use policy::sla::{self, Compliance};
use policy::{Level, Millis, RequestState};
use serde::Serialize;

use super::{
    audit_chain, day_bounds, grants_of, hours, is_refusal, minutes, overlapping, period_days,
    resolved_at, AuditChain, FactsError, SessionFact,
};
use crate::config::Config;
use crate::db::{Db, RequestFilter, RequestRow, Session};

/// Requests and incidents of one level.
#[derive(Serialize, Default)]
pub struct LevelRow {
    /// The level.
    pub level: String,
    /// Requests filed.
    pub requests: u64,
    /// Distinct incident numbers (counted at their most urgent level).
    pub incidents: u64,
    /// Requests decided within the window.
    pub responded_in_time: u64,
    /// Requests whose response counts (decided, or pending past the window).
    pub responses_counted: u64,
    /// Incidents resolved by their limit.
    pub resolved_in_time: u64,
    /// Incidents whose resolution counts (resolved, or past their limit).
    pub resolutions_counted: u64,
}

/// Sessions and hours of one engineer or target.
#[derive(Serialize)]
pub struct Usage {
    /// Engineer or target.
    pub name: String,
    /// Sessions in the period.
    pub sessions: u64,
    /// Their hours within the period.
    pub hours: f64,
}

/// 《服务报告》 of a month, quarter or year.
#[derive(Serialize)]
pub struct ServiceReport {
    /// As asked: `2026-11`, `2026-Q4`, `2026`.
    pub period: String,
    /// Start (local midnight).
    #[serde(serialize_with = "super::ts")]
    pub from: Millis,
    /// End, exclusive.
    #[serde(serialize_with = "super::ts")]
    pub to: Millis,
    /// When made.
    #[serde(serialize_with = "super::ts")]
    pub generated_at: Millis,
    /// The response window, minutes.
    pub response_window_minutes: f64,
    /// Per level A–D.
    pub levels: Vec<LevelRow>,
    /// Requests filed.
    pub requests: u64,
    /// Distinct incidents.
    pub incidents: u64,
    /// Response compliance, %.
    pub response_percent: Option<f64>,
    /// Median minutes from filing to the answer, over the requests answered.
    pub response_median_minutes: Option<f64>,
    /// 90th percentile of the same.
    pub response_p90_minutes: Option<f64>,
    /// Responses that missed the window (answered late, or pending past it).
    pub response_breaches: u64,
    /// Resolution compliance, %.
    pub resolution_percent: Option<f64>,
    /// Break-glass uses.
    pub break_glass: u64,
    /// Sessions.
    pub sessions: u64,
    /// Session hours.
    pub hours: f64,
    /// Per engineer.
    pub by_engineer: Vec<Usage>,
    /// Per target.
    pub by_target: Vec<Usage>,
    /// Refusals by audit action.
    pub refusals: BTreeMap<String, u64>,
    /// `transfer.detected` entries.
    pub transfer_detections: u64,
    /// Audit chain: entries read and whether it is intact.
    pub audit_chain: AuditChain,
}

fn usage(map: BTreeMap<String, (u64, Millis)>) -> Vec<Usage> {
    map.into_iter()
        .map(|(name, (sessions, ms))| Usage {
            name,
            sessions,
            hours: hours(ms),
        })
        .collect()
}

/// 《服务报告》 of `period`.
pub async fn service(
    config: &Config,
    db: &Db,
    window_ms: Millis,
    period: &str,
) -> Result<ServiceReport, FactsError> {
    let (d0, d1) = period_days(period).map_err(FactsError::BadInput)?;
    let mut r = service_days(config, db, window_ms, period, d0, d1).await?;
    r.audit_chain = audit_chain(db).await;
    Ok(r)
}

/// The service report's figures over the local days `[d0, d1)` (days since 1970-01-01),
/// labelled `label`, without the audit chain check (its `audit_chain` is left unchecked:
/// [`service`] fills it in; the overview's days do not repeat it).
pub async fn service_days(
    config: &Config,
    db: &Db,
    window_ms: Millis,
    label: &str,
    d0: i64,
    d1: i64,
) -> Result<ServiceReport, FactsError> {
    let now = crate::time::now_ms();
    let cal = &config.reports.calendar;
    let (from, to) = day_bounds(cal, d0, d1);
    let all = db.requests(&RequestFilter::default()).await?;
    let grants = db.grants().await?;
    let sessions = db.sessions().await?;
    let in_period: Vec<&RequestRow> = all
        .iter()
        .filter(|r| r.request.filed_at >= from && r.request.filed_at < to)
        .collect();
    let mut levels: Vec<LevelRow> = Level::ALL
        .iter()
        .map(|l| LevelRow {
            level: l.to_string(),
            ..LevelRow::default()
        })
        .collect();
    let index = |l: Level| Level::ALL.iter().position(|x| *x == l).unwrap_or(3);
    let mut break_glass = 0;
    let (mut response_minutes, mut response_breaches) = (Vec::new(), 0u64);
    for r in &in_period {
        let Some(row) = levels.get_mut(index(r.request.level)) else {
            continue;
        };
        row.requests += 1;
        if r.request.break_glass {
            break_glass += 1;
        }
        // Answered: decided, or an emergency grant opened for it (which break-glass allows
        // only after the window, so it counts as missed).
        let answered = r
            .decided_at
            .into_iter()
            .chain(
                grants
                    .iter()
                    .filter(|g| g.emergency && g.request_id.as_deref() == Some(&r.request.id))
                    .map(|g| g.created_at),
            )
            .min();
        let pending = r.request.state == RequestState::Pending;
        let c = sla::response(r.request.filed_at, answered, window_ms, now);
        if let Some(at) = answered {
            response_minutes.push(minutes(at.saturating_sub(r.request.filed_at)));
        }
        if answered.is_some() || pending {
            if let Some(kept) = c.kept() {
                row.responses_counted += 1;
                if kept {
                    row.responded_in_time += 1;
                } else {
                    response_breaches += 1;
                }
            }
        }
    }
    // Incidents: grouped by number, at their most urgent level, reported at first filing.
    let mut incidents: BTreeMap<&str, Vec<&RequestRow>> = BTreeMap::new();
    for r in &in_period {
        incidents.entry(r.incident.as_str()).or_default().push(r);
    }
    for rows in incidents.values() {
        let level = rows
            .iter()
            .map(|r| r.request.level)
            .min()
            .unwrap_or(Level::D);
        let reported = rows
            .iter()
            .map(|r| r.request.filed_at)
            .min()
            .unwrap_or(from);
        let ids: Vec<&str> = rows.iter().map(|r| r.request.id.as_str()).collect();
        let grant_ids: Vec<&str> = grants_of(&grants, &ids)
            .map(|g| g.grant.id.as_str())
            .collect();
        let mine: Vec<&Session> = sessions
            .iter()
            .filter(|s| grant_ids.contains(&s.grant_id.as_str()))
            .collect();
        let deadline = sla::resolution_deadline(level, reported, cal);
        let Some(row) = levels.get_mut(index(level)) else {
            continue;
        };
        row.incidents += 1;
        if let Some(kept) = Compliance::of(resolved_at(&mine), deadline, now).kept() {
            row.resolutions_counted += 1;
            if kept {
                row.resolved_in_time += 1;
            }
        }
    }
    let sum = |f: fn(&LevelRow) -> u64| levels.iter().map(f).sum::<u64>();
    let (mut by_engineer, mut by_target) = (BTreeMap::new(), BTreeMap::new());
    let (mut count, mut total) = (0u64, 0i64);
    for (s, ms) in overlapping(&sessions, from, to, now) {
        for (map, key) in [(&mut by_engineer, &s.engineer), (&mut by_target, &s.target)] {
            let e: &mut (u64, Millis) = map.entry(key.clone()).or_default();
            e.0 += 1;
            e.1 = e.1.saturating_add(ms);
        }
        count += 1;
        total = total.saturating_add(ms);
    }
    let mut refusals = BTreeMap::new();
    let mut transfer_detections = 0;
    for row in db.audit_rows_between(from, to, i64::MAX).await? {
        if is_refusal(&row) {
            *refusals.entry(row.action.clone()).or_default() += 1;
        }
        if row.action == "transfer.detected" {
            transfer_detections += 1;
        }
    }
    Ok(ServiceReport {
        period: label.to_string(),
        from,
        to,
        generated_at: now,
        response_window_minutes: minutes(window_ms),
        requests: sum(|r| r.requests),
        incidents: sum(|r| r.incidents),
        response_percent: sla::percent(sum(|r| r.responded_in_time), sum(|r| r.responses_counted)),
        response_median_minutes: sla::percentile(&response_minutes, 50.0),
        response_p90_minutes: sla::percentile(&response_minutes, 90.0),
        response_breaches,
        resolution_percent: sla::percent(
            sum(|r| r.resolved_in_time),
            sum(|r| r.resolutions_counted),
        ),
        levels,
        break_glass,
        sessions: count,
        hours: hours(total),
        by_engineer: usage(by_engineer),
        by_target: usage(by_target),
        refusals,
        transfer_detections,
        audit_chain: AuditChain::unchecked(),
    })
}

/// One audit entry of the day, as listed.
#[derive(Serialize)]
pub struct Entry {
    /// When.
    #[serde(serialize_with = "super::ts")]
    pub at: Millis,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub subject: String,
}

/// One gateway node's state.
#[derive(Serialize)]
pub struct NodeFact {
    /// Node name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Last heartbeat.
    #[serde(serialize_with = "super::ts")]
    pub heartbeat_at: Millis,
    /// `up`, `stopped` or `lost`.
    pub state: String,
    /// Live sessions at the last heartbeat.
    pub live_sessions: i64,
}

/// 《监控日志》 of one day.
#[derive(Serialize)]
pub struct DailyLog {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    /// Start.
    #[serde(serialize_with = "super::ts")]
    pub from: Millis,
    /// End, exclusive.
    #[serde(serialize_with = "super::ts")]
    pub to: Millis,
    /// When made.
    #[serde(serialize_with = "super::ts")]
    pub generated_at: Millis,
    /// Sessions that ran that day.
    pub sessions: Vec<SessionFact>,
    /// Refusals.
    pub refusals: Vec<Entry>,
    /// Alerts (`login.alert`, `transfer.detected`, `notify.failed`).
    pub alerts: Vec<Entry>,
    /// Failed logins.
    pub failed_logins: Vec<Entry>,
    /// The nodes.
    pub nodes: Vec<NodeFact>,
    /// Free bytes on the recordings disk now, if known.
    pub recordings_free_bytes: Option<u64>,
    /// The audit chain now.
    pub audit_chain: AuditChain,
}

/// 《监控日志》 of `date` (`YYYY-MM-DD`, the bureau's day).
pub async fn daily(config: &Config, db: &Db, date: &str) -> Result<DailyLog, FactsError> {
    let now = crate::time::now_ms();
    let cal = &config.reports.calendar;
    let day = sla::parse_day(date).map_err(|e| FactsError::BadInput(format!("date: {e}")))?;
    let (from, to) = day_bounds(cal, day, day + 1);
    let sessions = db.sessions().await?;
    let mut list: Vec<SessionFact> = overlapping(&sessions, from, to, now)
        .into_iter()
        .map(|(s, _)| SessionFact::of(s, Ok(Vec::new())))
        .collect();
    list.sort_by_key(|s| s.started_at);
    let (mut refusals, mut alerts, mut failed_logins) = (Vec::new(), Vec::new(), Vec::new());
    for row in db.audit_rows_between(from, to, i64::MAX).await? {
        let bucket = if row.action == "login.failure" {
            &mut failed_logins
        } else if is_refusal(&row) {
            &mut refusals
        } else if matches!(
            row.action.as_str(),
            "login.alert" | "transfer.detected" | "notify.failed"
        ) {
            &mut alerts
        } else {
            continue;
        };
        bucket.push(Entry {
            at: row.at,
            actor: row.actor,
            action: row.action,
            subject: row.subject,
        });
    }
    let nodes = db
        .nodes()
        .await?
        .into_iter()
        .map(|n| NodeFact {
            state: if n.lost_at.is_some() {
                "lost"
            } else if n.stopped_at.is_some() {
                "stopped"
            } else {
                "up"
            }
            .to_string(),
            name: n.name,
            version: n.version,
            heartbeat_at: n.heartbeat_at,
            live_sessions: n.live_sessions,
        })
        .collect();
    let recordings_free_bytes = rustix::fs::statvfs(&config.recordings.dir)
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize));
    Ok(DailyLog {
        date: sla::format_day(day),
        from,
        to,
        generated_at: now,
        sessions: list,
        refusals,
        alerts,
        failed_logins,
        nodes,
        recordings_free_bytes,
        audit_chain: audit_chain(db).await,
    })
}
