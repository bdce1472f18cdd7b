//! `[https] max_streams_per_login`: the WebSockets (browser terminal, live watch) and event
//! streams one login holds at once, a web login by its JWT id and an API token by its id.
//! A stream takes a slot before it upgrades or starts and gives it back when it ends, however
//! it ends (RAII). One more is answered 429 `too_many_streams`, counted for the audit's
//! summary ([`crate::refusals`]) rather than audited one by one. Not the streams themselves
//! ([`super::terminal`], [`super::events`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::auth::{Caller, Via};
use super::error::{ApiCode, ApiError, ApiResult};
use super::AppState;
use crate::refusals::Limit;

/// Open streams per login.
pub struct StreamLimits {
    max: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl StreamLimits {
    /// At most `max` streams per login.
    pub fn new(max: usize) -> StreamLimits {
        StreamLimits {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for one more stream of `login`, or `None` at the cap (or on a poisoned lock:
    /// fail closed). Also counts the relays of a watcher's node ([`super::relay`]).
    pub(super) fn take(&self, login: String) -> Option<StreamSlot> {
        let mut open = self.open.lock().ok()?;
        let n = open.entry(login.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            login,
            open: self.open.clone(),
        })
    }
}

/// One open stream; dropping it gives the slot back.
pub struct StreamSlot {
    login: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        if let Some(n) = open.get_mut(&self.login) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.login);
            }
        }
    }
}

/// Which login a caller's streams count against.
fn login_of(caller: &Caller) -> String {
    match &caller.via {
        Via::Cookie { jti, .. } => format!("web:{jti}"),
        Via::Token(id) => format!("token:{id}"),
    }
}

/// A stream slot for `caller`, or the 429 `too_many_streams` answer (counted).
pub fn slot(state: &AppState, caller: &Caller) -> ApiResult<StreamSlot> {
    state.streams.take(login_of(caller)).ok_or_else(|| {
        state.ctx.refusals.count(Limit::HttpsStreams);
        ApiError::new(
            ApiCode::TooManyStreams,
            format!(
                "this login already has {} terminals, watches and event streams open, the most max_streams_per_login allows; close one",
                state.streams.max
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_gets_max_streams_and_others_are_not_affected() {
        let limits = StreamLimits::new(2);
        let a1 = limits.take("web:a".into()).unwrap();
        let _a2 = limits.take("web:a".into()).unwrap();
        assert!(limits.take("web:a".into()).is_none());
        let _b = limits.take("token:b".into()).unwrap();
        drop(a1);
        assert!(limits.take("web:a".into()).is_some());
        assert!(limits.open.lock().unwrap().len() <= 2);
    }
}
