//! 《故障处理报告》's facts: one incident number's requests, reviews, sessions and their
//! commands, response and resolution against the tender's limits.

use policy::sla::{self, Compliance};
use policy::{Level, Millis};
use serde::Serialize;

use super::{
    grants_of, minutes, resolved_at, Approval, CommandFact, FactsError, Limit, RequestFact,
    SessionFact,
};
use crate::config::Config;
use crate::db::{Db, GrantRecord, RequestFilter, RequestRow, Session};
use crate::recording_store::RecordingStore;

/// 《故障处理报告》: everything recorded about one incident number.
#[derive(Serialize)]
pub struct FaultReport {
    /// The incident number.
    pub incident: String,
    /// When the report was made.
    #[serde(serialize_with = "super::ts")]
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

/// When an incident was answered: its first decision or break-glass grant.
fn answered_at(rows: &[&RequestRow], grants: &[&GrantRecord]) -> Option<Millis> {
    rows.iter()
        .filter_map(|r| r.decided_at)
        .chain(grants.iter().filter(|g| g.emergency).map(|g| g.created_at))
        .min()
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
    store: &RecordingStore,
    s: &Session,
    actor: &str,
) -> Result<Vec<CommandFact>, String> {
    let bytes = store
        .read(&s.id, s.recording.as_deref())
        .await
        .map_err(|e| format!("no readable recording ({e})"))?
        .bytes;
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
            // The command list of the shell, and every exec line as run.
            let mut list = recordings::commands(rec.events(), channel);
            list.extend(rec.events().iter().filter_map(|(at, e)| match e {
                recordings::Event::Exec { command, .. } => Some(recordings::Command {
                    at: *at,
                    text: String::from_utf8_lossy(command).into_owned(),
                    hidden: false,
                }),
                _ => None,
            }));
            list.sort_by_key(|c| c.at);
            (rec.meta().started_at_ms, list)
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
    // Every reader of recordings goes through the store: a sealed recording may be in the
    // bucket only, its spool copy gone.
    let store = RecordingStore::open(&config.recordings).map_err(|e| e.to_string());
    let mut session_facts = Vec::new();
    for s in &sessions {
        let commands = match &store {
            Ok(store) => commands_of(config, db, store, s, actor).await,
            Err(e) => Err(e.clone()),
        };
        session_facts.push(SessionFact::of(s, commands));
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
