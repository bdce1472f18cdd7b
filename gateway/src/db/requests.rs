//! Requests for access and their reviews in the database (`requests`, `reviews`, and the
//! `grants` rows an approved request makes), read back as [`policy::Request`].
//!
//! Stores and fetches, and keeps each change atomic: a review, the request's new state and
//! its grants are written in one transaction that first locks the request row, so two
//! approvers answering at once never make grants twice or lose an approval. What a review
//! leads to is not decided here: the caller passes in the decision (from `policy`), which
//! runs against the request as read inside the transaction. Auditing is the caller's job
//! ([`crate::approvals`]).

use policy::{
    Decision, Grant, Level, Millis, Refusal, Request, RequestState, Review, ReviewOutcome, Verdict,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::{get, grant_from_row, one_line, Db, DbError, GrantRecord, GRANT_SELECT};

/// A request with the columns [`policy::Request`] does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    /// The request, with its reviews.
    pub request: Request,
    /// The group it was filed for, if it named one (already expanded into `targets`).
    pub group: Option<String>,
    /// Why, as the engineer wrote it.
    pub reason: String,
    /// Incident reference.
    pub incident: String,
    /// When it left `pending` (approved, denied, withdrawn, lapsed, or break-glass).
    pub decided_at: Option<Millis>,
    /// Approver who signed off its emergency grant.
    pub signed_off_by: Option<String>,
    /// When.
    pub signed_off_at: Option<Millis>,
    /// Their comment.
    pub signoff_comment: Option<String>,
    /// Each review's comment, in the order of `request.reviews`.
    pub review_comments: Vec<String>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only in this state.
    pub state: Option<RequestState>,
    /// Only this engineer's.
    pub engineer: Option<String>,
}

/// A review to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    /// The review.
    pub review: Review,
    /// The approver's comment (may be empty for an approval).
    pub comment: String,
}

/// What became of a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewWrite {
    /// No request with that id.
    Unknown,
    /// The decision refused it; nothing was written. The request as it was.
    Refused(Box<Request>, Refusal),
    /// Written. The request before the review, what it led to, and the grants made (for
    /// [`ReviewOutcome::Approved`]).
    Recorded {
        /// The request as it was before this review.
        before: Box<Request>,
        /// What the review led to.
        outcome: ReviewOutcome,
        /// Grants made, one per target.
        grants: Vec<Grant>,
    },
}

/// What became of a break-glass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakGlassWrite {
    /// No request with that id.
    Unknown,
    /// The decision refused it; nothing was written.
    Refused(Box<Request>, Refusal),
    /// Emergency grants made, one per target; the request is approved with `break_glass`.
    Opened {
        /// The request as it was.
        before: Box<Request>,
        /// The emergency grants.
        grants: Vec<Grant>,
    },
}

/// A new id: `prefix-` and 8 random hex digits.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", hex::encode(rand::random::<[u8; 4]>()))
}

pub(super) const REQUEST_SELECT: &str =
    "SELECT id, engineer, targets, grp, reason, incident, level, \
    duration_ms, starts_at, state, approvals_needed, filed_at, decided_at, lapses_at, \
    break_glass, extends_grant, signed_off_by, signed_off_at, signoff_comment FROM requests";

impl Db {
    /// Stores a new request (its `state`, normally pending, and no reviews).
    pub async fn file_request(&self, row: &RequestRow) -> Result<(), DbError> {
        let r = &row.request;
        let targets = serde_json::to_string(&r.targets)
            .map_err(|e| DbError::Invalid(format!("request targets: {e}")))?;
        sqlx::query(
            "INSERT INTO requests (id, engineer, targets, grp, reason, incident, level,
                duration_ms, starts_at, state, approvals_needed, filed_at, decided_at,
                lapses_at, break_glass, extends_grant)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&r.id)
        .bind(&r.engineer)
        .bind(targets)
        .bind(row.group.clone())
        .bind(&row.reason)
        .bind(&row.incident)
        .bind(r.level.as_str())
        .bind(r.duration_ms)
        .bind(r.starts_at)
        .bind(r.state.as_str())
        .bind(i64::from(r.approvals_needed))
        .bind(r.filed_at)
        .bind(row.decided_at)
        .bind(r.lapses_at)
        .bind(i64::from(r.break_glass))
        .bind(r.extends_grant.clone())
        .execute(&self.pool)
        .await
        .map_err(DbError::insert(
            format!("request {:?} already exists", r.id),
            format!("filing request {:?}", r.id),
        ))?;
        Ok(())
    }

    /// The request with this id, with its reviews.
    pub async fn request(&self, id: &str) -> Result<Option<Request>, DbError> {
        Ok(self.request_row(id).await?.map(|r| r.request))
    }

    /// The request with this id, with every stored column.
    pub async fn request_row(&self, id: &str) -> Result<Option<RequestRow>, DbError> {
        let row = sqlx::query(&format!("{REQUEST_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(DbError::query(format!("reading request {id:?}")))?;
        match row {
            None => Ok(None),
            Some(r) => {
                let reviews = self.reviews_of(id).await?;
                Ok(Some(request_from_row(&r, reviews)?))
            }
        }
    }

    /// Requests matching `filter`, newest first.
    pub async fn requests(&self, filter: &RequestFilter) -> Result<Vec<RequestRow>, DbError> {
        let mut sql = format!("{REQUEST_SELECT} WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(state) = filter.state {
            binds.push(state.as_str().to_string());
            sql.push_str(&format!(" AND state = ${}", binds.len()));
        }
        if let Some(engineer) = &filter.engineer {
            binds.push(engineer.clone());
            sql.push_str(&format!(" AND engineer = ${}", binds.len()));
        }
        sql.push_str(" ORDER BY filed_at DESC, id");
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query("listing requests"))?;
        self.with_reviews(rows).await
    }

    /// Pending requests, oldest first: the approvers' queue. Includes requests past their
    /// lapse time that nobody has marked lapsed yet (see [`Db::lapse_requests`]).
    pub async fn pending_requests(&self) -> Result<Vec<RequestRow>, DbError> {
        let rows = sqlx::query(&format!(
            "{REQUEST_SELECT} WHERE state = 'pending' ORDER BY filed_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("listing pending requests"))?;
        self.with_reviews(rows).await
    }

    /// Requests whose emergency grant awaits an approver's sign-off, oldest first.
    pub async fn break_glass_unsigned(&self) -> Result<Vec<RequestRow>, DbError> {
        let rows = sqlx::query(&format!(
            "{REQUEST_SELECT} WHERE break_glass = 1 AND signed_off_at IS NULL
             ORDER BY filed_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query(
            "listing break-glass grants awaiting sign-off",
        ))?;
        self.with_reviews(rows).await
    }

    pub(super) async fn with_reviews(&self, rows: Vec<AnyRow>) -> Result<Vec<RequestRow>, DbError> {
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = get(r, "id")?;
            let reviews = self.reviews_of(&id).await?;
            out.push(request_from_row(r, reviews)?);
        }
        Ok(out)
    }

    async fn reviews_of(&self, id: &str) -> Result<Vec<(Review, String)>, DbError> {
        let rows = sqlx::query(REVIEW_SELECT)
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query(format!("reading reviews of request {id:?}")))?;
        rows.iter().map(review_from_row).collect()
    }

    /// Writes `review` of request `id` if `decide`, asked about the request as it stands
    /// inside the transaction, allows it; on [`ReviewOutcome::Approved`] also marks the
    /// request approved and creates one grant per target (ids `g-…`, granted by the
    /// reviewer, `request_id` set); on [`ReviewOutcome::Denied`] marks it denied. All in
    /// one transaction.
    pub async fn record_review(
        &self,
        id: &str,
        review: &NewReview,
        grant_reason: impl FnOnce(&Request) -> String,
        decide: impl FnOnce(&Request) -> Decision<ReviewOutcome>,
    ) -> Result<ReviewWrite, DbError> {
        let what = format!("recording a review of request {id:?}");
        let mut tx = self.pool.begin().await.map_err(DbError::query(&what))?;
        let Some(before) = lock_request(&mut tx, id, &what).await? else {
            return Ok(ReviewWrite::Unknown);
        };
        let outcome = match decide(&before) {
            Decision::Allow(o) => o,
            Decision::Deny(refusal) => {
                return Ok(ReviewWrite::Refused(Box::new(before), refusal));
            }
        };
        let r = &review.review;
        sqlx::query(
            "INSERT INTO reviews (request_id, approver, verdict, comment, duration_ms, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&r.approver)
        .bind(r.verdict.as_str())
        .bind(&review.comment)
        .bind(r.duration_ms)
        .bind(r.at)
        .execute(&mut *tx)
        .await
        .map_err(DbError::insert(
            format!("{} has already reviewed request {id:?}", r.approver),
            &what,
        ))?;
        let mut grants = Vec::new();
        match outcome {
            ReviewOutcome::Pending { .. } => {}
            ReviewOutcome::Denied => {
                set_state(&mut tx, id, RequestState::Denied, r.at, &what).await?;
            }
            ReviewOutcome::Approved { starts_at, ends_at } => {
                set_state(&mut tx, id, RequestState::Approved, r.at, &what).await?;
                let reason = grant_reason(&before);
                grants = insert_grants(
                    &mut tx,
                    &before,
                    &reason,
                    &r.approver,
                    (starts_at, ends_at),
                    false,
                    r.at,
                    &what,
                )
                .await?;
            }
        }
        tx.commit().await.map_err(DbError::query(&what))?;
        Ok(ReviewWrite::Recorded {
            before: Box::new(before),
            outcome,
            grants,
        })
    }

    /// Opens an emergency grant for request `id` if `decide` (break-glass, asked inside the
    /// transaction) allows it: one grant per target from `now` for the allowed duration,
    /// `emergency` set and `granted_by` the engineer (the schema allows a self-grant only
    /// for emergency grants). The request becomes approved with `break_glass = 1` and waits
    /// on [`Db::break_glass_unsigned`] until an approver signs it off.
    pub async fn open_break_glass(
        &self,
        id: &str,
        now: Millis,
        grant_reason: impl FnOnce(&Request) -> String,
        decide: impl FnOnce(&Request) -> Decision<Millis>,
    ) -> Result<BreakGlassWrite, DbError> {
        let what = format!("opening break-glass for request {id:?}");
        let mut tx = self.pool.begin().await.map_err(DbError::query(&what))?;
        let Some(before) = lock_request(&mut tx, id, &what).await? else {
            return Ok(BreakGlassWrite::Unknown);
        };
        let duration_ms = match decide(&before) {
            Decision::Allow(ms) => ms,
            Decision::Deny(refusal) => {
                return Ok(BreakGlassWrite::Refused(Box::new(before), refusal));
            }
        };
        sqlx::query(
            "UPDATE requests SET state = 'approved', decided_at = $1, break_glass = 1
             WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(DbError::query(&what))?;
        let reason = grant_reason(&before);
        let grants = insert_grants(
            &mut tx,
            &before,
            &reason,
            &before.engineer,
            (now, now.saturating_add(duration_ms)),
            true,
            now,
            &what,
        )
        .await?;
        tx.commit().await.map_err(DbError::query(&what))?;
        Ok(BreakGlassWrite::Opened {
            before: Box::new(before),
            grants,
        })
    }

    /// Marks a pending request withdrawn; false if it is not pending (or does not exist).
    pub async fn withdraw_request(&self, id: &str, now: Millis) -> Result<bool, DbError> {
        self.leave_pending(id, RequestState::Withdrawn, now).await
    }

    /// Marks every pending request whose lapse time is at or before `now` lapsed; returns
    /// the ids this call changed (each id once, even with several nodes doing the same).
    pub async fn lapse_requests(&self, now: Millis) -> Result<Vec<String>, DbError> {
        let ids: Vec<String> = sqlx::query(
            "SELECT id FROM requests WHERE state = 'pending' AND lapses_at <= $1
             ORDER BY lapses_at, id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query("finding lapsed requests"))?
        .iter()
        .map(|r| get(r, "id"))
        .collect::<Result<_, _>>()?;
        let mut lapsed = Vec::new();
        for id in ids {
            if self.leave_pending(&id, RequestState::Lapsed, now).await? {
                lapsed.push(id);
            }
        }
        Ok(lapsed)
    }

    async fn leave_pending(
        &self,
        id: &str,
        state: RequestState,
        now: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE requests SET state = $1, decided_at = $2 WHERE id = $3 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!(
            "marking request {id:?} {}",
            state.as_str()
        )))?;
        Ok(done.rows_affected() > 0)
    }

    /// Signs off the emergency grant of request `id`; false if it has none or is signed off.
    pub async fn sign_off_break_glass(
        &self,
        id: &str,
        by: &str,
        comment: &str,
        now: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE requests SET signed_off_by = $1, signed_off_at = $2, signoff_comment = $3
             WHERE id = $4 AND break_glass = 1 AND signed_off_at IS NULL",
        )
        .bind(by)
        .bind(now)
        .bind(comment)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(DbError::query(format!("signing off request {id:?}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// The grants made for request `id`, by target.
    pub async fn grants_for_request(&self, id: &str) -> Result<Vec<GrantRecord>, DbError> {
        let rows = sqlx::query(&format!(
            "{GRANT_SELECT} WHERE request_id = $1 ORDER BY target, id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(DbError::query(format!("reading grants of request {id:?}")))?;
        rows.iter().map(grant_from_row).collect()
    }
}

/// Takes the request's row lock (PostgreSQL: the row; SQLite: the database's write lock)
/// and reads it with its reviews. `None`: no such request.
async fn lock_request(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    what: &str,
) -> Result<Option<Request>, DbError> {
    // A no-op write: it blocks a concurrent reviewer of the same request until this
    // transaction ends, on both databases, without FOR UPDATE (which SQLite lacks).
    let locked = sqlx::query("UPDATE requests SET state = state WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(DbError::query(what))?;
    if locked.rows_affected() == 0 {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{REQUEST_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(DbError::query(what))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let reviews = sqlx::query(REVIEW_SELECT)
        .bind(id)
        .fetch_all(&mut **tx)
        .await
        .map_err(DbError::query(what))?
        .iter()
        .map(review_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(request_from_row(&row, reviews)?.request))
}

async fn set_state(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    state: RequestState,
    at: Millis,
    what: &str,
) -> Result<(), DbError> {
    sqlx::query("UPDATE requests SET state = $1, decided_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(at)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(DbError::query(what))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_grants(
    tx: &mut Transaction<'static, Any>,
    req: &Request,
    reason: &str,
    granted_by: &str,
    (starts_at, ends_at): (Millis, Millis),
    emergency: bool,
    now: Millis,
    what: &str,
) -> Result<Vec<Grant>, DbError> {
    let mut grants = Vec::with_capacity(req.targets.len());
    for target in &req.targets {
        let g = Grant {
            id: new_id("g"),
            engineer: req.engineer.clone(),
            target: target.clone(),
            starts_at,
            ends_at,
            revoked_at: None,
            reason: reason.to_string(),
            granted_by: granted_by.to_string(),
        };
        sqlx::query(
            "INSERT INTO grants (id, engineer, target, starts_at, ends_at, reason, granted_by,
                created_at, request_id, emergency)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&g.id)
        .bind(&g.engineer)
        .bind(&g.target)
        .bind(g.starts_at)
        .bind(g.ends_at)
        .bind(&g.reason)
        .bind(&g.granted_by)
        .bind(now)
        .bind(&req.id)
        .bind(i64::from(emergency))
        .execute(&mut **tx)
        .await
        .map_err(|e| DbError::Query {
            what: format!("{what}: adding grant for target {target:?}"),
            message: one_line(&e.to_string()),
        })?;
        grants.push(g);
    }
    Ok(grants)
}

const REVIEW_SELECT: &str = "SELECT approver, verdict, comment, duration_ms, at FROM reviews \
    WHERE request_id = $1 ORDER BY at, approver";

fn review_from_row(r: &AnyRow) -> Result<(Review, String), DbError> {
    let verdict: String = get(r, "verdict")?;
    Ok((
        Review {
            approver: get(r, "approver")?,
            verdict: verdict
                .parse::<Verdict>()
                .map_err(|_| DbError::Invalid(format!("unknown verdict {verdict:?}")))?,
            duration_ms: get(r, "duration_ms")?,
            at: get(r, "at")?,
        },
        get(r, "comment")?,
    ))
}

fn request_from_row(r: &AnyRow, reviews: Vec<(Review, String)>) -> Result<RequestRow, DbError> {
    let targets: String = get(r, "targets")?;
    let targets: Vec<String> = serde_json::from_str(&targets)
        .map_err(|e| DbError::Invalid(format!("request targets {targets:?}: {e}")))?;
    let level: String = get(r, "level")?;
    let state: String = get(r, "state")?;
    let approvals_needed: i64 = get(r, "approvals_needed")?;
    let break_glass: i64 = get(r, "break_glass")?;
    let (reviews, review_comments) = reviews.into_iter().unzip();
    Ok(RequestRow {
        request: Request {
            id: get(r, "id")?,
            engineer: get(r, "engineer")?,
            targets,
            level: level
                .parse::<Level>()
                .map_err(|_| DbError::Invalid(format!("unknown fault level {level:?}")))?,
            duration_ms: get(r, "duration_ms")?,
            starts_at: get(r, "starts_at")?,
            state: state
                .parse::<RequestState>()
                .map_err(|e| DbError::Invalid(e.to_string()))?,
            approvals_needed: u32::try_from(approvals_needed)
                .map_err(|_| DbError::Invalid(format!("approvals_needed {approvals_needed}")))?,
            filed_at: get(r, "filed_at")?,
            lapses_at: get(r, "lapses_at")?,
            reviews,
            break_glass: break_glass != 0,
            extends_grant: get(r, "extends_grant")?,
        },
        group: get(r, "grp")?,
        reason: get(r, "reason")?,
        incident: get(r, "incident")?,
        decided_at: get(r, "decided_at")?,
        signed_off_by: get(r, "signed_off_by")?,
        signed_off_at: get(r, "signed_off_at")?,
        signoff_comment: get(r, "signoff_comment")?,
        review_comments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::{postgres, sqlite};
    use crate::db::Target;
    use policy::Role;

    fn row(id: &str, targets: &[&str], needed: u32, now: Millis) -> RequestRow {
        RequestRow {
            request: Request {
                id: id.into(),
                engineer: "alice".into(),
                targets: targets.iter().map(|t| t.to_string()).collect(),
                level: Level::A,
                duration_ms: 3_600_000,
                starts_at: None,
                state: RequestState::Pending,
                approvals_needed: needed,
                filed_at: now,
                lapses_at: now + 1000,
                reviews: Vec::new(),
                break_glass: false,
                extends_grant: None,
            },
            group: None,
            reason: "disk full".into(),
            incident: "INC-1".into(),
            decided_at: None,
            signed_off_by: None,
            signed_off_at: None,
            signoff_comment: None,
            review_comments: Vec::new(),
        }
    }

    fn approve(by: &str, at: Millis) -> NewReview {
        NewReview {
            review: Review {
                approver: by.into(),
                verdict: Verdict::Approve,
                duration_ms: None,
                at,
            },
            comment: "ok".into(),
        }
    }

    async fn exercise(db: &Db) {
        let now = crate::time::now_ms();
        db.user_add("alice", Role::Engineer, 1).await.unwrap();
        db.user_add("bob", Role::Approver, 1).await.unwrap();
        db.user_add("dave", Role::Approver, 1).await.unwrap();
        for name in ["web01", "db01"] {
            db.target_add(&Target {
                name: name.into(),
                address: "10.0.0.5:22".into(),
                login: "ops".into(),
                description: String::new(),
                host_key: None,
                host_key_fingerprint: None,
                password_enc: None,
                created_at: 1,
            })
            .await
            .unwrap();
        }
        db.file_request(&row("r-1", &["web01", "db01"], 2, now))
            .await
            .unwrap();
        let got = db.request_row("r-1").await.unwrap().unwrap();
        assert_eq!(got, row("r-1", &["web01", "db01"], 2, now));
        assert_eq!(db.pending_requests().await.unwrap().len(), 1);

        let pending = ReviewOutcome::Pending {
            approvals: 1,
            needed: 2,
        };
        let w = db
            .record_review(
                "r-1",
                &approve("bob", now),
                |_| "why".into(),
                |_| Decision::Allow(pending),
            )
            .await
            .unwrap();
        assert!(matches!(w, ReviewWrite::Recorded { grants, .. } if grants.is_empty()));
        // The decision sees the review just written by the first approver.
        let approved = ReviewOutcome::Approved {
            starts_at: now,
            ends_at: now + 60_000,
        };
        let w = db
            .record_review(
                "r-1",
                &approve("dave", now + 1),
                |_| "why".into(),
                |req| {
                    assert_eq!(req.reviews.len(), 1);
                    Decision::Allow(approved)
                },
            )
            .await
            .unwrap();
        let ReviewWrite::Recorded { grants, .. } = w else {
            panic!("{w:?}")
        };
        assert_eq!(grants.len(), 2);
        let stored = db.grants_for_request("r-1").await.unwrap();
        assert_eq!(stored.len(), 2);
        assert!(stored
            .iter()
            .all(|g| g.request_id.as_deref() == Some("r-1") && !g.emergency));
        let r = db.request_row("r-1").await.unwrap().unwrap();
        assert_eq!(r.request.state, RequestState::Approved);
        assert_eq!(r.decided_at, Some(now + 1));
        assert_eq!(r.review_comments, vec!["ok", "ok"]);
        // The same approver twice is refused by the schema too.
        let w = db
            .record_review(
                "r-1",
                &approve("bob", now + 2),
                |_| "why".into(),
                |_| Decision::Allow(pending),
            )
            .await;
        assert!(matches!(w, Err(DbError::Conflict(_))), "{w:?}");
        let w = db
            .record_review(
                "r-9",
                &approve("bob", now),
                |_| "why".into(),
                |_| Decision::Allow(pending),
            )
            .await
            .unwrap();
        assert_eq!(w, ReviewWrite::Unknown);
        let w = db
            .record_review(
                "r-1",
                &approve("bob", now),
                |_| "why".into(),
                |_| Decision::deny(policy::codes::BAD_INPUT, "no"),
            )
            .await
            .unwrap();
        assert!(matches!(w, ReviewWrite::Refused(..)));

        // Lapse, once; withdraw only while pending.
        db.file_request(&row("r-2", &["web01"], 1, now))
            .await
            .unwrap();
        db.file_request(&row("r-3", &["web01"], 1, now + 5000))
            .await
            .unwrap();
        assert_eq!(db.lapse_requests(now + 1000).await.unwrap(), vec!["r-2"]);
        assert!(db.lapse_requests(now + 1000).await.unwrap().is_empty());
        assert!(!db.withdraw_request("r-2", now).await.unwrap());
        let lapsed = db
            .requests(&RequestFilter {
                state: Some(RequestState::Lapsed),
                engineer: Some("alice".into()),
            })
            .await
            .unwrap();
        assert_eq!(lapsed.len(), 1);
        assert_eq!(
            db.requests(&RequestFilter::default()).await.unwrap().len(),
            3
        );

        // Break-glass: an emergency self-grant, listed until signed off.
        let w = db
            .open_break_glass("r-3", now, |_| "bg".into(), |_| Decision::Allow(60_000))
            .await
            .unwrap();
        let BreakGlassWrite::Opened { grants, .. } = w else {
            panic!("{w:?}")
        };
        assert_eq!(grants.first().unwrap().granted_by, "alice");
        assert!(db.grants_for_request("r-3").await.unwrap()[0].emergency);
        assert_eq!(db.break_glass_unsigned().await.unwrap().len(), 1);
        assert!(db
            .sign_off_break_glass("r-3", "bob", "fine", now)
            .await
            .unwrap());
        assert!(!db
            .sign_off_break_glass("r-3", "bob", "fine", now)
            .await
            .unwrap());
        assert!(db.break_glass_unsigned().await.unwrap().is_empty());
        assert!(!db.withdraw_request("r-3", now).await.unwrap());
    }

    #[tokio::test]
    async fn sqlite_requests_reviews_and_grants() {
        let (_dir, db) = sqlite().await;
        exercise(&db).await;
    }

    #[tokio::test]
    async fn postgres_requests_reviews_and_grants() {
        let db = postgres().await;
        exercise(&db).await;
    }
}
