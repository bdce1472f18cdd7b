//! The figures of the tender's documents, computed once from the database (and, for the
//! commands of a fault report, the recordings): the renderers in this module only format
//! what is here. Times are Unix milliseconds; JSON shows them as RFC 3339 (UTC).
//!
//! An incident is resolved when its last session ended and none is live; its response is
//! the first decision on one of its requests (or the opening of a break-glass grant).

use std::collections::BTreeMap;

use policy::sla::{self, Calendar, Compliance};
use policy::{Level, Millis, RequestState};
use serde::{Serialize, Serializer};

use crate::config::Config;
use crate::db::{AuditRow, Db, GrantRecord, RequestFilter, RequestRow, Session};

const HOUR: f64 = 3_600_000.0;
const MINUTE: f64 = 60_000.0;

fn ts<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*ms))
}

fn ts_opt<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&crate::time::rfc3339(*ms)),
        None => s.serialize_none(),
    }
}

/// Milliseconds as hours, two decimals.
pub fn hours(ms: Millis) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let h = ms as f64 / HOUR;
    (h * 100.0).round() / 100.0
}

/// Milliseconds as minutes, one decimal.
pub fn minutes(ms: Millis) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let m = ms as f64 / MINUTE;
    (m * 10.0).round() / 10.0
}

/// One review of a request.
#[derive(Serialize)]
pub struct Approval {
    /// The approver.
    pub approver: String,
    /// `approve` or `deny`.
    pub verdict: String,
    /// When.
    #[serde(serialize_with = "ts")]
    pub at: Millis,
}

/// One request filed under the incident.
#[derive(Serialize)]
pub struct RequestFact {
    /// `r-…`.
    pub id: String,
    /// Who filed it.
    pub engineer: String,
    /// Its targets.
    pub targets: Vec<String>,
    /// Fault level.
    pub level: Level,
    /// Why.
    pub reason: String,
    /// Where it stands.
    pub state: String,
    /// Filed.
    #[serde(serialize_with = "ts")]
    pub filed_at: Millis,
    /// Decided (approved, denied), if it was.
    #[serde(serialize_with = "ts_opt")]
    pub decided_at: Option<Millis>,
    /// Minutes from filing to decision.
    pub response_minutes: Option<f64>,
    /// The decision against the response window.
    pub response: Compliance,
    /// The reviews, oldest first.
    pub approvals: Vec<Approval>,
    /// An emergency grant was opened for it.
    pub break_glass: bool,
    /// Who signed the break-glass off.
    pub signed_off_by: Option<String>,
    /// When.
    #[serde(serialize_with = "ts_opt")]
    pub signed_off_at: Option<Millis>,
    /// Their comment.
    pub signoff_comment: Option<String>,
}

/// One command typed in a session (masked input stays masked).
#[derive(Serialize)]
pub struct CommandFact {
    /// When Enter was pressed.
    #[serde(serialize_with = "ts")]
    pub at: Millis,
    /// The command as echoed, `••••` when hidden.
    pub text: String,
    /// Typed without echo.
    pub hidden: bool,
}

/// One session under the incident's grants.
#[derive(Serialize)]
pub struct SessionFact {
    /// Session id (also the recording's name).
    pub id: String,
    /// Engineer.
    pub engineer: String,
    /// Target.
    pub target: String,
    /// Start.
    #[serde(serialize_with = "ts")]
    pub started_at: Millis,
    /// End, if it ended.
    #[serde(serialize_with = "ts_opt")]
    pub ended_at: Option<Millis>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// The recording's file, as stored.
    pub recording: Option<String>,
    /// Its commands from the recording.
    pub commands: Vec<CommandFact>,
    /// Why the commands could not be read, if they could not.
    pub commands_error: Option<String>,
}

/// A time limit and how it was kept.
#[derive(Serialize)]
pub struct Limit {
    /// Start of the clock.
    #[serde(serialize_with = "ts")]
    pub from: Millis,
    /// The limit.
    #[serde(serialize_with = "ts")]
    pub deadline: Millis,
    /// When it was done, if it was.
    #[serde(serialize_with = "ts_opt")]
    pub done_at: Option<Millis>,
    /// Minutes taken (to now if not done).
    pub minutes: f64,
    /// The verdict.
    pub compliance: Compliance,
}

/// 《故障处理报告》: everything recorded about one incident number.
#[derive(Serialize)]
pub struct FaultReport {
    /// The incident number.
    pub incident: String,
    /// When the report was made.
    #[serde(serialize_with = "ts")]
    pub generated_at: Millis,
    /// The most urgent level of its requests.
    pub level: Level,
    /// The level's resolution limit in words (`2h`, `1 working day`).
    pub resolution_limit: String,
    /// The response window, minutes.
    pub response_window_minutes: f64,
    /// Response: first filing to first decision.
    pub response: Limit,
    /// Resolution: first filing to the end of the last session.
    pub resolution: Limit,
    /// Any break-glass.
    pub break_glass: bool,
    /// The requests, oldest first.
    pub requests: Vec<RequestFact>,
    /// The sessions, oldest first.
    pub sessions: Vec<SessionFact>,
}

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// No request carries the incident number.
    #[error("no request carries incident {0:?}")]
    NoIncident(String),
    /// The period or date is malformed.
    #[error("{0}")]
    BadInput(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

fn limit_text(level: Level) -> String {
    match sla::resolution_limit(level) {
        sla::ResolutionLimit::Hours(h) => format!("{h}h"),
        sla::ResolutionLimit::WorkingDays(1) => "1 working day".to_string(),
        sla::ResolutionLimit::WorkingDays(n) => format!("{n} working days"),
    }
}

fn limit(from: Millis, deadline: Millis, done_at: Option<Millis>, now: Millis) -> Limit {
    Limit {
        from,
        deadline,
        done_at,
        minutes: minutes(done_at.unwrap_or(now).saturating_sub(from).max(0)),
        compliance: Compliance::of(done_at, deadline, now),
    }
}

/// The sessions of a set of requests' grants, and its emergency grants.
fn grants_of<'a>(
    grants: &'a [GrantRecord],
    request_ids: &[&str],
) -> impl Iterator<Item = &'a GrantRecord> + 'a {
    let ids: Vec<String> = request_ids.iter().map(|s| (*s).to_string()).collect();
    grants
        .iter()
        .filter(move |g| g.request_id.as_ref().is_some_and(|r| ids.contains(r)))
}

/// When an incident was answered: its first decision or break-glass grant.
fn answered_at(rows: &[&RequestRow], grants: &[&GrantRecord]) -> Option<Millis> {
    rows.iter()
        .filter_map(|r| r.decided_at)
        .chain(grants.iter().filter(|g| g.emergency).map(|g| g.created_at))
        .min()
}

/// When an incident was resolved: the end of its last session, once none is live.
fn resolved_at(sessions: &[&Session]) -> Option<Millis> {
    if sessions.is_empty() || sessions.iter().any(|s| s.ended_at.is_none()) {
        return None;
    }
    sessions.iter().filter_map(|s| s.ended_at).max()
}

fn request_fact(r: &RequestRow, window_ms: Millis, now: Millis) -> RequestFact {
    let q = &r.request;
    RequestFact {
        id: q.id.clone(),
        engineer: q.engineer.clone(),
        targets: q.targets.clone(),
        level: q.level,
        reason: r.reason.clone(),
        state: q.state.to_string(),
        filed_at: q.filed_at,
        decided_at: r.decided_at,
        response_minutes: r
            .decided_at
            .map(|d| minutes(d.saturating_sub(q.filed_at).max(0))),
        response: sla::response(q.filed_at, r.decided_at, window_ms, now),
        approvals: q
            .reviews
            .iter()
            .map(|v| Approval {
                approver: v.approver.clone(),
                verdict: v.verdict.to_string(),
                at: v.at,
            })
            .collect(),
        break_glass: q.break_glass,
        signed_off_by: r.signed_off_by.clone(),
        signed_off_at: r.signed_off_at,
        signoff_comment: r.signoff_comment.clone(),
    }
}

/// The commands of a session's recording; decrypting is audited as `recording.decrypt` by
/// `actor`.
async fn commands_of(
    config: &Config,
    db: &Db,
    s: &Session,
    actor: &str,
) -> Result<Vec<CommandFact>, String> {
    let dir = &config.recordings.dir;
    let path = s
        .recording
        .as_deref()
        .map(std::path::PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { dir.join(p) })
        .filter(|p| p.is_file())
        .unwrap_or_else(|| dir.join(format!("{}.mwrec", s.id)));
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| format!("no readable recording ({e})"))?;
    let meta = recordings::Recording::meta_of(&bytes).map_err(|e| e.to_string())?;
    let key = match &meta.key {
        None => None,
        Some(wrapped) => {
            let vault = config.load_vault().map_err(|e| e.to_string())?;
            let key = vault.open_data_key(wrapped).map_err(|e| e.to_string())?;
            crate::audit::append(
                db,
                &config.node_name,
                crate::audit::AuditEvent::new(actor.to_string(), "recording.decrypt", s.id.clone())
                    .with_detail(serde_json::json!({"how": "report fault"})),
            )
            .await
            .map_err(|e| e.to_string())?;
            Some(key)
        }
    };
    let parsed = tokio::task::spawn_blocking(move || {
        recordings::Recording::parse(&bytes, key.as_ref()).map(|rec| {
            let channel = recordings::interactive_channel(rec.events());
            (
                rec.meta().started_at_ms,
                recordings::commands(rec.events(), channel),
            )
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let (started, list) = parsed;
    Ok(list
        .into_iter()
        .map(|c| CommandFact {
            at: started.saturating_add(i64::try_from(c.at / 1000).unwrap_or(i64::MAX)),
            text: c.text,
            hidden: c.hidden,
        })
        .collect())
}

/// 《故障处理报告》 of `incident`.
pub async fn fault(
    config: &Config,
    db: &Db,
    window_ms: Millis,
    incident: &str,
    actor: &str,
) -> Result<FaultReport, FactsError> {
    let now = crate::time::now_ms();
    let all = db.requests(&RequestFilter::default()).await?;
    let mut rows: Vec<&RequestRow> = all.iter().filter(|r| r.incident == incident).collect();
    rows.sort_by_key(|r| r.request.filed_at);
    let Some(first) = rows.first() else {
        return Err(FactsError::NoIncident(incident.to_string()));
    };
    let reported = first.request.filed_at;
    let level = rows
        .iter()
        .map(|r| r.request.level)
        .min()
        .unwrap_or(Level::D);
    let ids: Vec<&str> = rows.iter().map(|r| r.request.id.as_str()).collect();
    let grants = db.grants().await?;
    let mine: Vec<&GrantRecord> = grants_of(&grants, &ids).collect();
    let grant_ids: Vec<&str> = mine.iter().map(|g| g.grant.id.as_str()).collect();
    let all_sessions = db.sessions().await?;
    let mut sessions: Vec<&Session> = all_sessions
        .iter()
        .filter(|s| grant_ids.contains(&s.grant_id.as_str()))
        .collect();
    sessions.sort_by_key(|s| s.started_at);
    let mut session_facts = Vec::new();
    for s in &sessions {
        let (commands, commands_error) = match commands_of(config, db, s, actor).await {
            Ok(c) => (c, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        session_facts.push(SessionFact {
            id: s.id.clone(),
            engineer: s.engineer.clone(),
            target: s.target.clone(),
            started_at: s.started_at,
            ended_at: s.ended_at,
            end_reason: s.end_reason.clone(),
            recording: s.recording.clone(),
            commands,
            commands_error,
        });
    }
    let cal = &config.reports.calendar;
    Ok(FaultReport {
        incident: incident.to_string(),
        generated_at: now,
        level,
        resolution_limit: limit_text(level),
        response_window_minutes: minutes(window_ms),
        response: limit(
            reported,
            reported.saturating_add(window_ms),
            answered_at(&rows, &mine),
            now,
        ),
        resolution: limit(
            reported,
            sla::resolution_deadline(level, reported, cal),
            resolved_at(&sessions),
            now,
        ),
        break_glass: rows.iter().any(|r| r.request.break_glass) || mine.iter().any(|g| g.emergency),
        requests: rows
            .iter()
            .map(|r| request_fact(r, window_ms, now))
            .collect(),
        sessions: session_facts,
    })
}

/// The local days `[from, to)` of a period `2026-11`, `2026-Q4` or `2026`.
pub fn period_days(period: &str) -> Result<(i64, i64), String> {
    let bad = || format!("period {period:?}: expected YYYY-MM, YYYY-Qn or YYYY");
    let year = |y: &str| {
        (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
            .then(|| y.parse::<i64>().ok())
            .flatten()
            .filter(|y| *y >= 1)
            .ok_or_else(bad)
    };
    let (y, first, months) = match period.split_once('-') {
        None => (year(period)?, 1u32, 12u32),
        Some((y, q)) if q.starts_with('Q') => {
            let n: u32 = q.get(1..).and_then(|n| n.parse().ok()).ok_or_else(bad)?;
            if !(1..=4).contains(&n) || q.len() != 2 {
                return Err(bad());
            }
            (year(y)?, (n - 1) * 3 + 1, 3)
        }
        Some((y, m)) => {
            let m: u32 = (m.len() == 2)
                .then(|| m.parse().ok())
                .flatten()
                .ok_or_else(bad)?;
            if !(1..=12).contains(&m) {
                return Err(bad());
            }
            (year(y)?, m, 1)
        }
    };
    let from = sla::days_from_civil(y, first, 1);
    let end_month = first + months;
    let to = if end_month > 12 {
        sla::days_from_civil(y + 1, end_month - 12, 1)
    } else {
        sla::days_from_civil(y, end_month, 1)
    };
    Ok((from, to))
}

/// A local day's `[from, to)` as instants.
pub fn day_bounds(cal: &Calendar, from_day: i64, to_day: i64) -> (Millis, Millis) {
    let ms = |d: i64| {
        d.saturating_mul(86_400_000)
            .saturating_sub(cal.utc_offset_ms)
    };
    (ms(from_day), ms(to_day))
}

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
    #[serde(serialize_with = "ts")]
    pub from: Millis,
    /// End, exclusive.
    #[serde(serialize_with = "ts")]
    pub to: Millis,
    /// When made.
    #[serde(serialize_with = "ts")]
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

/// The audit chain's state when the report was made.
#[derive(Serialize)]
pub struct AuditChain {
    /// Rows read.
    pub entries: u64,
    /// No row changed, deleted or inserted.
    pub intact: bool,
    /// What `menwei audit verify` says.
    pub summary: String,
}

async fn audit_chain(db: &Db) -> AuditChain {
    match crate::audit::verify(db).await {
        Ok(r) => AuditChain {
            entries: r.entries,
            intact: r.intact(),
            summary: r.to_string(),
        },
        Err(e) => AuditChain {
            entries: 0,
            intact: false,
            summary: e.to_string(),
        },
    }
}

fn is_refusal(row: &AuditRow) -> bool {
    row.action.ends_with(".refused") || row.action.ends_with(".failure")
}

/// Sessions overlapping `[from, to)` and their time inside it.
fn overlapping(
    sessions: &[Session],
    from: Millis,
    to: Millis,
    now: Millis,
) -> Vec<(&Session, Millis)> {
    sessions
        .iter()
        .filter(|s| s.started_at < to && s.ended_at.unwrap_or(now) >= from)
        .map(|s| {
            let ms = s
                .ended_at
                .unwrap_or(now)
                .min(to)
                .saturating_sub(s.started_at.max(from));
            (s, ms.max(0))
        })
        .collect()
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
    let now = crate::time::now_ms();
    let cal = &config.reports.calendar;
    let (d0, d1) = period_days(period).map_err(FactsError::BadInput)?;
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
        if answered.is_some() || pending {
            if let Some(kept) = c.kept() {
                row.responses_counted += 1;
                if kept {
                    row.responded_in_time += 1;
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
        period: period.to_string(),
        from,
        to,
        generated_at: now,
        response_window_minutes: minutes(window_ms),
        requests: sum(|r| r.requests),
        incidents: sum(|r| r.incidents),
        response_percent: sla::percent(sum(|r| r.responded_in_time), sum(|r| r.responses_counted)),
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
        audit_chain: audit_chain(db).await,
    })
}

/// One audit entry of the day, as listed.
#[derive(Serialize)]
pub struct Entry {
    /// When.
    #[serde(serialize_with = "ts")]
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
    #[serde(serialize_with = "ts")]
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
    #[serde(serialize_with = "ts")]
    pub from: Millis,
    /// End, exclusive.
    #[serde(serialize_with = "ts")]
    pub to: Millis,
    /// When made.
    #[serde(serialize_with = "ts")]
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
        .map(|(s, _)| SessionFact {
            id: s.id.clone(),
            engineer: s.engineer.clone(),
            target: s.target.clone(),
            started_at: s.started_at,
            ended_at: s.ended_at,
            end_reason: s.end_reason.clone(),
            recording: s.recording.clone(),
            commands: Vec::new(),
            commands_error: None,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let d = |s| sla::parse_day(s).unwrap();
        assert_eq!(
            period_days("2026-11"),
            Ok((d("2026-11-01"), d("2026-12-01")))
        );
        assert_eq!(
            period_days("2026-12"),
            Ok((d("2026-12-01"), d("2027-01-01")))
        );
        assert_eq!(
            period_days("2026-Q4"),
            Ok((d("2026-10-01"), d("2027-01-01")))
        );
        assert_eq!(
            period_days("2026-Q1"),
            Ok((d("2026-01-01"), d("2026-04-01")))
        );
        assert_eq!(period_days("2026"), Ok((d("2026-01-01"), d("2027-01-01"))));
        for bad in [
            "2026-13", "2026-Q5", "2026-Q", "26", "2026-1", "month", "2026-Q44",
        ] {
            assert!(period_days(bad).is_err(), "{bad}");
        }
    }
}
