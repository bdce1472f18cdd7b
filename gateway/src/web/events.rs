//! `GET /api/v1/events`: server-sent events for the live page (`request`, `decision`,
//! `session`, `grant`), fed by reading the database once a second for what changed — so a
//! change made on any node reaches every node's pages, with nothing shared but the
//! database. An engineer hears only about their own rows. When the login the stream was
//! opened with ends (logout, expiry, a revoked token, a disabled account:
//! [`super::auth::login_ended`]), a last `end` event says why and the stream ends. Not a
//! WebSocket (that is the terminal's).

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;

use super::auth::{login_ended, Caller, Ended};
use super::error::ApiResult;
use super::AppState;

/// How often the database is read.
const POLL: Duration = Duration::from_secs(1);
/// How far back each read looks again, for rows written late by a slow or skewed node.
const OVERLAP_MS: i64 = 5_000;

struct Feed {
    state: AppState,
    /// Held while the stream lives (`[https] max_streams_per_login`).
    _slot: super::streams::StreamSlot,
    only: Option<String>,
    since: i64,
    seen: HashSet<(String, String, String)>,
    queue: std::collections::VecDeque<Event>,
    tick: tokio::time::Interval,
    /// Resolves when the caller's login has ended.
    login: Pin<Box<dyn Future<Output = Ended> + Send>>,
    /// The `end` event is queued: nothing follows it.
    done: bool,
}

/// `GET /events`.
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let slot = super::streams::slot(&state, &caller)?;
    let only = super::api::own_only(&caller).map(str::to_string);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        login: Box::pin(login_ended(state.clone(), caller)),
        done: false,
        _slot: slot,
        since: crate::time::now_ms(),
        state,
        only,
        seen: HashSet::new(),
        queue: Default::default(),
        tick,
    };
    let s = futures::stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(ev) = f.queue.pop_front() {
                return Some((Ok(ev), f));
            }
            if f.done {
                return None;
            }
            let mut shutdown = f.state.shutdown.clone();
            let from = f.since.saturating_sub(OVERLAP_MS);
            let (tick, db, login) = (&mut f.tick, &f.state.ctx.db, &mut f.login);
            // The wait and the read race the login's check: a read the database does not
            // answer cannot hold the stream open past its login.
            let read = async move {
                tick.tick().await;
                db.changes_since(from).await
            };
            let changes = tokio::select! {
                read = read => read,
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return None,
                ended = login => {
                    let data = json!({"code": "login_ended", "message": ended.line()});
                    f.queue.push_back(Event::default().event("end").data(data.to_string()));
                    f.done = true;
                    continue;
                }
            };
            let changes = match changes {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("event stream cannot read the database: {e}");
                    continue;
                }
            };
            for c in changes {
                if f.only.as_deref().is_some_and(|me| me != c.engineer) {
                    continue;
                }
                f.since = f.since.max(c.at);
                let key = (c.kind.to_string(), c.id.clone(), c.state.clone());
                if !f.seen.insert(key) {
                    continue;
                }
                let data = json!({
                    "id": c.id,
                    "engineer": c.engineer,
                    "state": c.state,
                    "at": crate::time::rfc3339(c.at),
                });
                f.queue
                    .push_back(Event::default().event(c.kind).data(data.to_string()));
            }
            if f.seen.len() > 100_000 {
                f.seen.clear();
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
