//! What has happened but could not be written yet: audit entries and session ends that met
//! an unreachable database, kept in memory in the order they happened and written by one
//! task, with back-off, once the database answers again ([`run`]).
//!
//! Order is the point. While anything waits here, every new entry for an event that has
//! already happened queues behind it ([`crate::session::Context::audit`]), and an action that
//! needs its entry first (a login, a session start) waits for the queue to drain or is
//! refused; so the hash chain holds the events in the order they happened, and a session's
//! end lands in the sessions table before its `session.end` entry, as when nothing failed.
//! Nothing lands twice: a session end only counts once in the table, and an entry whose write
//! may have landed without an answer is looked for before it is written again
//! ([`audit::landed`]).
//!
//! Bounded: at most [`CAPACITY`] items. Past that the newest are not kept here (the oldest
//! are the start of the story, and the order behind them must not break); each one not kept
//! goes in full to the node's log ([`audit::unwritten`]), counted, so an operator can re-enter
//! it. Memory only: a node that stops with items left writes them to its log the same way,
//! and a node that restarts ends its own sessions left open (`node_restarted`). Not the
//! webhooks' outbox ([`crate::notify`]), which lives in the database.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::audit::{self, AuditError, AuditEvent};
use crate::db::{self, Db, DbError};

/// Items kept at most: some hours of refusals during an outage on a busy node, a few MiB.
pub const CAPACITY: usize = 10_000;

/// The first wait after a failed write; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long one write may take before it counts as failed.
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// How far back from the newest seq an entry whose first write failed without an answer is
/// looked for.
const LANDED_WINDOW: i64 = 1000;

/// Something that has happened and must reach the database.
#[derive(Debug, Clone)]
pub enum Pending {
    /// An audit entry (its time set: when it happened).
    Audit(AuditEvent),
    /// A session's end for the sessions table.
    SessionEnd {
        /// Session id.
        session: String,
        /// When it ended.
        ended_at: i64,
        /// The end reason's stable code.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Item {
    pending: Pending,
    /// Look for the entry after this seq before writing it: an earlier write of it may
    /// have landed without an answer.
    check_from: Option<i64>,
    /// The first write failed before it was queued, and may have landed just before.
    maybe_landed: bool,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    not_kept: u64,
}

/// The node's queue of unwritten entries. One per node, in its [`crate::session::Context`].
pub struct Outbox {
    node: String,
    queue: Mutex<Queue>,
    len: watch::Sender<usize>,
}

impl Outbox {
    /// An empty outbox for `node`.
    pub fn new(node: &str) -> Outbox {
        Outbox {
            node: node.to_string(),
            queue: Mutex::new(Queue::default()),
            len: watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `pending` behind everything already kept. `tried`: a write of it was attempted
    /// and failed, and may have landed anyway.
    pub fn push(&self, pending: Pending, tried: bool) {
        let mut q = self.lock();
        if q.items.len() >= CAPACITY {
            q.not_kept = q.not_kept.saturating_add(1);
            let not_kept = q.not_kept;
            drop(q);
            tracing::error!(
                "the outbox is full ({CAPACITY} entries waiting for the database); {not_kept} not kept, each on this log"
            );
            let e = AuditError::Db(DbError::Query {
                what: "keeping an entry until the database answers".into(),
                message: format!("the outbox is full ({CAPACITY} entries)"),
            });
            unwritten(&self.node, &pending, &e);
            return;
        }
        q.items.push_back(Item {
            pending,
            check_from: None,
            maybe_landed: tried,
        });
        let n = q.items.len();
        drop(q);
        self.len.send_replace(n);
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        *self.len.borrow()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits up to `wait` for everything kept to be written; whether it was.
    pub async fn drained(&self, wait: Duration) -> bool {
        let mut len = self.len.subscribe();
        tokio::time::timeout(wait, len.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn front(&self) -> Option<Item> {
        self.lock().items.front().cloned()
    }

    fn set_check_from(&self, seq: i64) {
        if let Some(front) = self.lock().items.front_mut() {
            front.check_from = Some(seq);
            front.maybe_landed = false;
        }
    }

    fn pop(&self) {
        let mut q = self.lock();
        q.items.pop_front();
        let n = q.items.len();
        drop(q);
        self.len.send_replace(n);
    }

    /// Everything still kept, for the node's log at shutdown.
    fn take_all(&self) -> Vec<Pending> {
        let mut q = self.lock();
        let items: Vec<Pending> = q.items.drain(..).map(|i| i.pending).collect();
        drop(q);
        self.len.send_replace(0);
        items
    }
}

/// Writes what the outbox keeps, oldest first, until `shutdown` turns true; then puts what is
/// left on the node's log.
pub async fn run(outbox: &Outbox, db: &Db, mut shutdown: watch::Receiver<bool>) {
    let mut len = outbox.len.subscribe();
    let mut backoff = FIRST_BACKOFF;
    let mut failing = false;
    loop {
        tokio::select! {
            _ = len.wait_for(|n| *n > 0) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        let Some(item) = outbox.front() else { continue };
        match write(outbox, db, &item).await {
            Ok(()) => {
                outbox.pop();
                backoff = FIRST_BACKOFF;
                if std::mem::take(&mut failing) {
                    tracing::info!("the database answers again; writing what waited");
                }
                if outbox.is_empty() {
                    tracing::info!("every entry kept during the database outage is written");
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(
                        waiting = outbox.len(),
                        "cannot write kept entries yet, retrying with back-off: {e}"
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    let left = outbox.take_all();
    if !left.is_empty() {
        tracing::error!(
            "stopping with {} entries the database never took; each follows",
            left.len()
        );
    }
    let e = AuditError::Db(DbError::Query {
        what: "writing entries kept during a database outage".into(),
        message: "the gateway stopped first".into(),
    });
    for p in left {
        unwritten(&outbox.node, &p, &e);
    }
}

/// Puts an item the database never took on the node's log, in full: an audit entry as
/// [`audit::unwritten`] does; a session end with its time and reason (the node's next start
/// ends the session as `node_restarted` if nothing else does).
fn unwritten(node: &str, pending: &Pending, e: &AuditError) {
    match pending {
        Pending::Audit(ev) => audit::unwritten(node, ev, e),
        Pending::SessionEnd {
            session,
            ended_at,
            reason,
        } => tracing::error!(
            session = %session,
            "session end not recorded (ended_at {ended_at}, reason {reason}): {e}"
        ),
    }
}

/// Writes one item; `Ok` once it is in the database (now or by an earlier write).
async fn write(outbox: &Outbox, db: &Db, item: &Item) -> Result<(), AuditError> {
    match &item.pending {
        Pending::SessionEnd {
            session,
            ended_at,
            reason,
        } => {
            // Only the first end counts: writing it again changes nothing.
            db::within(
                WRITE_WAIT,
                "recording a kept session end",
                db.session_end(session, *ended_at, reason),
            )
            .await?;
            Ok(())
        }
        Pending::Audit(ev) => {
            let head = db::within(WRITE_WAIT, "reading the newest audit entry", async {
                Ok(db.audit_last().await?.map_or(0, |(seq, _)| seq))
            })
            .await?;
            let from = item.check_from.or(item
                .maybe_landed
                .then(|| head.saturating_sub(LANDED_WINDOW)));
            if let Some(from) = from {
                let found =
                    tokio::time::timeout(WRITE_WAIT, audit::landed(db, &outbox.node, ev, from))
                        .await
                        .map_err(|_| no_answer("looking for a kept audit entry"))??;
                if found {
                    return Ok(());
                }
            }
            // From here a write may land without an answer: look for it after `head` next time.
            outbox.set_check_from(head);
            tokio::time::timeout(WRITE_WAIT, audit::append(db, &outbox.node, ev.clone()))
                .await
                .map_err(|_| no_answer("appending a kept audit entry"))??;
            Ok(())
        }
    }
}

fn no_answer(what: &str) -> AuditError {
    AuditError::Db(DbError::NoAnswer {
        what: what.into(),
        waited: WRITE_WAIT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tests::sqlite;

    fn event(i: usize) -> AuditEvent {
        AuditEvent::new("alice", "login.failure", "")
            .with_detail(serde_json::json!({"reason": "database_unavailable", "i": i}))
            .at(1_000 + i64::try_from(i).unwrap())
    }

    /// Runs the writer until everything kept is written.
    async fn drain(outbox: &Outbox, db: &Db) {
        let (stop, stopped) = watch::channel(false);
        let writer = run(outbox, db, stopped);
        let done = async {
            assert!(outbox.drained(Duration::from_secs(10)).await);
            stop.send(true).unwrap();
        };
        tokio::join!(writer, done);
    }

    #[tokio::test]
    async fn kept_entries_land_in_order_once_with_their_own_time() {
        let (_d, db) = sqlite().await;
        let outbox = Outbox::new("gw1");
        for i in 0..5 {
            outbox.push(Pending::Audit(event(i)), false);
        }
        assert_eq!(outbox.len(), 5);
        drain(&outbox, &db).await;
        let rows = db.audit_rows(0, 100).await.unwrap();
        let order: Vec<i64> = rows
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(&r.detail).unwrap()["i"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
        assert_eq!(rows[0].at, 1_000);
        assert!(audit::verify(&db).await.unwrap().intact());
    }

    #[tokio::test]
    async fn an_entry_that_landed_without_an_answer_is_not_written_again() {
        let (_d, db) = sqlite().await;
        // The first write landed, but its caller timed out and kept it.
        audit::append(&db, "gw1", event(7)).await.unwrap();
        let outbox = Outbox::new("gw1");
        outbox.push(Pending::Audit(event(7)), true);
        outbox.push(Pending::Audit(event(8)), false);
        drain(&outbox, &db).await;
        let rows = db.audit_rows(0, 100).await.unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
    }

    #[test]
    fn past_its_capacity_the_newest_are_not_kept() {
        let outbox = Outbox::new("gw1");
        for i in 0..CAPACITY + 3 {
            outbox.push(Pending::Audit(event(i)), false);
        }
        assert_eq!(outbox.len(), CAPACITY);
        assert_eq!(outbox.lock().not_kept, 3);
        // The oldest stay, in order.
        let front = outbox.front().unwrap();
        assert!(matches!(front.pending, Pending::Audit(ev) if ev.detail["i"] == 0));
    }
}
