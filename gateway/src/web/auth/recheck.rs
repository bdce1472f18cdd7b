//! Authority that holds: a long-lived stream (the browser terminal, a live watch, the
//! `/events` stream) is opened by a request whose login was checked once, then runs for
//! hours. [`login_ended`] looks at that login again every [`RECHECK`] and resolves, with one
//! line saying why, once it has ended: logged out, a password change or `menwei user
//! logout` (the web login revoked), idle past `[https] session_ttl` or past `[https]
//! max_login`, the API token revoked or expired, the account disabled or gone. The
//! streams then close saying so. Not the first check of a request (`caller.rs`, whose rules
//! this shares), nor what a stream does when told (`web::terminal`, `web::events`).

use std::time::Duration;

use super::caller::{account_ended, token_ended, web_login_ended};
use super::{Caller, Via};
use crate::db::{self, DbError};
use crate::web::AppState;

/// How often a stream's login is looked at again. Logout must end a watch "within a few
/// seconds"; 2 s is that with room, and costs two indexed reads per stream per check,
/// nothing next to the event stream's own reads once a second.
pub const RECHECK: Duration = Duration::from_secs(2);

/// How many checks in a row may go unanswered (the database down, hung or refusing, each
/// check bounded by [`db::ANSWER_WAIT`]) before the stream closes anyway. One blip does not
/// kill every stream; an outage does: a stream outlives an ended login by at most
/// `RECHECK + UNANSWERED_LIMIT × ANSWER_WAIT` (6 s; a missed check's successor starts at
/// once) because the database was away.
const UNANSWERED_LIMIT: u32 = 2;

/// Why a login no longer admits its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The web login was ended: logout, a password change, `menwei user logout`.
    LoggedOut,
    /// The web login was not used for `[https] session_ttl`.
    Idle,
    /// `[https] max_login` passed since the password was given.
    MaxLogin,
    /// The API token was revoked or is gone.
    TokenRevoked,
    /// The API token's end passed.
    TokenExpired,
    /// The account was disabled or removed.
    Account,
    /// The database did not answer `UNANSWERED_LIMIT` (2) checks in a row (fail closed).
    Unchecked,
}

impl Ended {
    /// The one line the person at the page reads (short: a WebSocket close reason holds at
    /// most 123 bytes).
    pub fn line(self) -> &'static str {
        match self {
            Ended::LoggedOut => "your web login ended (logged out); log in again",
            Ended::Idle => "your web login ended (not used for too long); log in again",
            Ended::MaxLogin => "your web login reached its longest life; log in again",
            Ended::TokenRevoked => "the API token was revoked",
            Ended::TokenExpired => "the API token expired",
            Ended::Account => "your account was disabled or removed",
            Ended::Unchecked => {
                "your login cannot be checked right now (database unavailable); log in again"
            }
        }
    }
}

/// Resolves once `caller`'s login has ended, saying why; until then it checks every
/// `RECHECK` (2 s). It only reads: a check is no use of the login and does not move its idle end.
pub async fn login_ended(state: AppState, caller: Caller) -> Ended {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unanswered = 0;
    loop {
        tick.tick().await;
        match db::within(db::ANSWER_WAIT, "checking a login", check(&state, &caller)).await {
            Ok(Some(ended)) => return ended,
            Ok(None) => unanswered = 0,
            Err(e) => {
                unanswered += 1;
                tracing::warn!(
                    "cannot check the login of {} behind a stream ({unanswered} in a row): {e}",
                    caller.name
                );
                if unanswered >= UNANSWERED_LIMIT {
                    return Ended::Unchecked;
                }
            }
        }
    }
}

/// One look: `Some` once the login has ended.
async fn check(state: &AppState, caller: &Caller) -> Result<Option<Ended>, DbError> {
    let now = crate::time::now_ms();
    let db = &state.ctx.db;
    let ended = match &caller.via {
        Via::Cookie { jti, .. } => match db.web_session(jti).await? {
            Some(s) if s.user_name == caller.name => web_login_ended(state, &s, now),
            _ => Some(Ended::LoggedOut),
        },
        Via::Token(id) => match db.token(id).await? {
            Some(t) if t.user_name == caller.name => token_ended(state, &t, now),
            _ => Some(Ended::TokenRevoked),
        },
    };
    if ended.is_some() {
        return Ok(ended);
    }
    Ok(account_ended(db.user(&caller.name).await?.as_ref()))
}
