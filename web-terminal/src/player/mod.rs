//! [`Player`] (replay of a recording) and [`Watch`] (the same player fed live from the
//! watch WebSocket), driving an xterm.js terminal.
//!
//! One shared core: the timeline, the clock, the keyframes and the visible terminal. A
//! timer (every [`playback::TICK_MS`]) advances the clock and writes the output between
//! what is on screen and the new position. A background task feeds a hidden terminal the whole output and
//! keeps a serialize-addon snapshot every `seek::KEYFRAME_EVERY` bytes; a seek writes RIS
//! (full reset), the nearest snapshot and the bytes after it, all through xterm's ordered
//! write queue, so it never races the timer. The decisions are in the pure modules
//! (`clock.rs`, `seek.rs`, `timeline.rs`); these files only do the browser part.
//!
//! By concept: `playback.rs` the shared core (screen, clock, timeline) and the timer that
//! advances it; `keyframer.rs` the background pass that takes snapshots for seeking;
//! `replay.rs` the [`Player`] of a recording with its marks, command list and search;
//! `watch.rs` the [`Watch`] fed from the WebSocket. This file holds what both front objects
//! share: time units, JSON for the page, and seeking.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::xterm;

mod keyframer;
mod playback;
mod replay;
mod watch;

pub use replay::Player;
pub use watch::Watch;

use playback::Shared;

/// The page's clock, in milliseconds.
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Microseconds (the recording's unit) as milliseconds (the page's).
fn to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The page's milliseconds as microseconds; negative or not a number is 0.
fn to_micros(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        // Saturating float-to-int cast: a huge value seeks to the end.
        (ms * 1000.0).round() as u64
    } else {
        0
    }
}

/// JSON-shaped value for the page.
fn to_js<T: Serialize>(value: &T) -> JsValue {
    serde_json::to_string(value)
        .ok()
        .and_then(|s| js_sys::JSON::parse(&s).ok())
        .unwrap_or(JsValue::NULL)
}

/// Seeks `core` to `ms`; resolves to `{exact, ms}` once drawn (see [`Player::seek`]).
fn seek_core(core: &Shared, ms: f64) -> js_sys::Promise {
    let promise = core.borrow_mut().seek(to_micros(ms));
    let started = now_ms();
    let core = core.clone();
    future_to_promise(async move {
        let exact = JsFuture::from(promise).await?;
        core.borrow_mut().last_tick = now_ms();
        let result = xterm::object(&[("exact", exact), ("ms", (now_ms() - started).into())]);
        Ok(result.into())
    })
}
