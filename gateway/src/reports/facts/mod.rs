//! The figures of the tender's documents, computed once from the database (and, for the
//! commands of a fault report, the recordings): the renderers in this module only format
//! what is here. Times are Unix milliseconds; JSON shows them as RFC 3339 (UTC).
//!
//! An incident is resolved when its last session ended and none is live; its response is
//! the first decision on one of its requests (or the opening of a break-glass grant).

mod incident;
mod overview;
mod period;

pub use incident::{fault, FaultReport};
pub use overview::{overview, DayPoint, Overview};
pub use period::{
    daily, service, service_days, DailyLog, Entry, LevelRow, NodeFact, ServiceReport, Usage,
};

use policy::sla::{self, Calendar, Compliance};
use policy::{Level, Millis};
use serde::{Serialize, Serializer};

use crate::db::{AuditRow, Db, GrantRecord, Session};

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

impl SessionFact {
    /// Session `s` with the commands read from its recording (`Err`: why they could not be).
    fn of(s: &Session, commands: Result<Vec<CommandFact>, String>) -> SessionFact {
        let (commands, commands_error) = match commands {
            Ok(c) => (c, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        SessionFact {
            id: s.id.clone(),
            engineer: s.engineer.clone(),
            target: s.target.clone(),
            started_at: s.started_at,
            ended_at: s.ended_at,
            end_reason: s.end_reason.clone(),
            recording: s.recording.clone(),
            commands,
            commands_error,
        }
    }
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

/// When an incident was resolved: the end of its last session, once none is live.
fn resolved_at(sessions: &[&Session]) -> Option<Millis> {
    if sessions.is_empty() || sessions.iter().any(|s| s.ended_at.is_none()) {
        return None;
    }
    sessions.iter().filter_map(|s| s.ended_at).max()
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

impl AuditChain {
    /// Not checked for this figure (the overview's days): never claims to be intact.
    pub fn unchecked() -> AuditChain {
        AuditChain {
            entries: 0,
            intact: false,
            summary: "not checked".to_string(),
        }
    }
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
