//! The four lists the web API pages through — sessions, requests, grants and the audit log —
//! each with its filters and the columns it can be sorted by ([`SortColumn`]s, the names the
//! API takes in `sort=`). Paging itself is `pages.rs`; what a filter means for a caller
//! (an engineer sees only their own) is decided by the API.

use policy::RequestState;

use super::pages::{
    contains_pattern, like_escaped, Filters, KeyValue, Page, PageSpec, SortColumn, OPEN_END,
};
use super::requests::REQUEST_SELECT;
use super::sessions::session_from_row;
use super::*;

const fn int(name: &'static str, expr: &'static str) -> SortColumn {
    SortColumn {
        name,
        expr,
        text: false,
    }
}

const fn text(name: &'static str, expr: &'static str) -> SortColumn {
    SortColumn {
        name,
        expr,
        text: true,
    }
}

/// Sessions' sort columns; the first is the default (newest first).
pub const SESSION_SORTS: &[SortColumn] = &[
    int("started_at", "s.started_at"),
    // A live session has not ended: it sorts as the latest end and the longest.
    int("ended_at", "COALESCE(s.ended_at, 9000000000000000)"),
    text("engineer", "s.engineer"),
    text("target", "s.target"),
    int(
        "duration",
        "COALESCE(s.ended_at - s.started_at, 9000000000000000)",
    ),
];

/// Requests' sort columns; the first is the default (newest first).
pub const REQUEST_SORTS: &[SortColumn] = &[
    int("created_at", "filed_at"),
    text("engineer", "engineer"),
    text("level", "level"),
    text("state", "state"),
];

/// Grants' sort columns; the first (when made, not offered in `sort=`) is the default.
pub const GRANT_SORTS: &[SortColumn] = &[
    int("created_at", "created_at"),
    int("starts_at", "starts_at"),
    int("ends_at", "ends_at"),
    text("engineer", "engineer"),
    text("target", "target"),
];

/// The audit log's sort columns; the first (the chain's order, not offered in `sort=`) is
/// the default.
pub const AUDIT_SORTS: &[SortColumn] = &[
    int("seq", "seq"),
    int("at", "at"),
    text("actor", "actor"),
    text("action", "action"),
];

const ID: SortColumn = text("id", "id");

/// `GET /sessions` filters (each `None` for any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Engineer.
    pub engineer: Option<String>,
    /// Target.
    pub target: Option<String>,
    /// Grant id.
    pub grant: Option<String>,
    /// The incident of the request behind its grant.
    pub incident: Option<String>,
    /// The fault level of that request.
    pub level: Option<String>,
    /// Not ended before this instant.
    pub from: Option<Millis>,
    /// Started before this instant.
    pub to: Option<Millis>,
    /// Live (or ended).
    pub live: Option<bool>,
}

/// A session as the list shows it: with the request behind its grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionListRow {
    /// The session.
    pub session: Session,
    /// The request its grant was made for, if any.
    pub request_id: Option<String>,
    /// That request's incident, or empty.
    pub incident: String,
    /// That request's fault level, or empty.
    pub level: String,
}

/// `GET /requests` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestListFilter {
    /// State.
    pub state: Option<RequestState>,
    /// Engineer.
    pub engineer: Option<String>,
    /// Fault level.
    pub level: Option<String>,
    /// Incident reference.
    pub incident: Option<String>,
    /// Among its targets.
    pub target: Option<String>,
    /// Filed at or after.
    pub from: Option<Millis>,
    /// Filed before.
    pub to: Option<Millis>,
}

/// `GET /grants` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    /// Engineer.
    pub engineer: Option<String>,
    /// Target.
    pub target: Option<String>,
    /// Live at this instant.
    pub live_at: Option<Millis>,
}

/// `GET /audit` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// At or after.
    pub since: Option<Millis>,
    /// Before.
    pub until: Option<Millis>,
    /// Who acted.
    pub actor: Option<String>,
    /// The action, or its family (`grant` for `grant.*`).
    pub action: Option<String>,
    /// About this subject (a session's entries carry its id).
    pub session: Option<String>,
    /// Naming this target in its detail.
    pub target: Option<String>,
}

fn time_range(f: &mut Filters, expr: &str, from: Option<Millis>, to: Option<Millis>) {
    if let Some(from) = from {
        f.clause(&format!("{expr} >= ?"), vec![KeyValue::Int(from)]);
    }
    if let Some(to) = to {
        f.clause(&format!("{expr} < ?"), vec![KeyValue::Int(to)]);
    }
}

impl Db {
    /// A page of sessions with the request behind each.
    pub async fn sessions_page(
        &self,
        filter: &SessionFilter,
        spec: &PageSpec,
    ) -> Result<Page<SessionListRow>, DbError> {
        let select = "SELECT s.id AS id, s.engineer AS engineer, s.target AS target, \
            s.grant_id AS grant_id, s.started_at AS started_at, s.ended_at AS ended_at, \
            s.end_reason AS end_reason, s.recording AS recording, s.node AS node, \
            s.client_addr AS client_addr, r.id AS request_id, r.incident AS incident, \
            r.level AS level \
            FROM sessions s LEFT JOIN grants g ON g.id = s.grant_id \
            LEFT JOIN requests r ON r.id = g.request_id";
        let mut f = Filters::default();
        f.eq("s.engineer", &filter.engineer);
        f.eq("s.target", &filter.target);
        f.eq("s.grant_id", &filter.grant);
        f.eq("COALESCE(r.incident, '')", &filter.incident);
        f.eq("COALESCE(r.level, '')", &filter.level);
        if let Some(from) = filter.from {
            f.clause(
                &format!("COALESCE(s.ended_at, {OPEN_END}) >= ?"),
                vec![KeyValue::Int(from)],
            );
        }
        time_range(&mut f, "s.started_at", None, filter.to);
        match filter.live {
            Some(true) => f.clause("s.ended_at IS NULL", vec![]),
            Some(false) => f.clause("s.ended_at IS NOT NULL", vec![]),
            None => {}
        }
        let tie = text("id", "s.id");
        let page = self.page(select, f, spec, tie, "sessions").await?;
        let rows = page
            .rows
            .iter()
            .map(|r| {
                Ok(SessionListRow {
                    session: session_from_row(r)?,
                    request_id: get(r, "request_id")?,
                    incident: get::<Option<String>>(r, "incident")?.unwrap_or_default(),
                    level: get::<Option<String>>(r, "level")?.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(Page {
            rows,
            total: page.total,
            next: page.next,
        })
    }

    /// A page of requests, with their reviews.
    pub async fn requests_page(
        &self,
        filter: &RequestListFilter,
        spec: &PageSpec,
    ) -> Result<Page<RequestRow>, DbError> {
        let mut f = Filters::default();
        f.eq("state", &filter.state.map(|s| s.as_str().to_string()));
        f.eq("engineer", &filter.engineer);
        f.eq("level", &filter.level);
        f.eq("incident", &filter.incident);
        if let Some(target) = &filter.target {
            // `targets` holds a JSON array of names: look for the quoted name.
            let quoted = serde_json::to_string(target).unwrap_or_default();
            f.clause(
                "targets LIKE ? ESCAPE '\\'",
                vec![KeyValue::Text(contains_pattern(&quoted))],
            );
        }
        time_range(&mut f, "filed_at", filter.from, filter.to);
        let page = self.page(REQUEST_SELECT, f, spec, ID, "requests").await?;
        Ok(Page {
            rows: self.with_reviews(page.rows).await?,
            total: page.total,
            next: page.next,
        })
    }

    /// A page of grants.
    pub async fn grants_page(
        &self,
        filter: &GrantFilter,
        spec: &PageSpec,
    ) -> Result<Page<GrantRecord>, DbError> {
        let mut f = Filters::default();
        f.eq("engineer", &filter.engineer);
        f.eq("target", &filter.target);
        if let Some(now) = filter.live_at {
            // `policy::Grant::is_live`.
            f.clause(
                "starts_at <= ? AND ends_at > ? AND (revoked_at IS NULL OR revoked_at > ?)",
                vec![KeyValue::Int(now), KeyValue::Int(now), KeyValue::Int(now)],
            );
        }
        let page = self.page(GRANT_SELECT, f, spec, ID, "grants").await?;
        Ok(Page {
            rows: page
                .rows
                .iter()
                .map(grant_from_row)
                .collect::<Result<_, _>>()?,
            total: page.total,
            next: page.next,
        })
    }

    /// A page of the audit log.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        spec: &PageSpec,
    ) -> Result<Page<AuditRow>, DbError> {
        let mut f = Filters::default();
        time_range(&mut f, "at", filter.since, filter.until);
        f.eq("actor", &filter.actor);
        if let Some(action) = &filter.action {
            f.clause(
                "(action = ? OR action LIKE ? ESCAPE '\\')",
                vec![
                    KeyValue::Text(action.clone()),
                    KeyValue::Text(format!("{}.%", like_escaped(action))),
                ],
            );
        }
        f.eq("subject", &filter.session);
        if let Some(target) = &filter.target {
            let field = format!(
                "\"target\":{}",
                serde_json::to_string(target).unwrap_or_default()
            );
            f.clause(
                "detail LIKE ? ESCAPE '\\'",
                vec![KeyValue::Text(contains_pattern(&field))],
            );
        }
        let seq = int("seq", "seq");
        let page = self
            .page(AUDIT_SELECT, f, spec, seq, "the audit log")
            .await?;
        Ok(Page {
            rows: page
                .rows
                .iter()
                .map(audit_from_row)
                .collect::<Result<_, _>>()?,
            total: page.total,
            next: page.next,
        })
    }
}
