//! [`Player`]: replay of one `.mwrec` recording, parsed with the `recordings` crate, as the
//! page drives it: play, pause, speed, skip idle, seek, and the marks, command list and
//! output search beside the terminal. Not the live watch (`watch.rs`) nor the playback
//! core itself (`playback.rs`).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use recordings::commands::commands;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlElement;

use super::keyframer::keyframer;
use super::playback::{Core, Shared, Ticker};
use super::{now_ms, seek_core, to_js, to_ms};
use crate::search::TextIndex;
use crate::timeline::{Mark, MarkKind, Timeline};

#[derive(Serialize)]
struct MarkView<'a> {
    at_ms: f64,
    kind: MarkKind,
    text: &'a str,
}

#[derive(Serialize)]
struct CommandView<'a> {
    at_ms: f64,
    text: &'a str,
    hidden: bool,
}

#[derive(Serialize)]
struct HitView<'a> {
    at_ms: f64,
    context: &'a str,
}

/// The recording's marks as the page gets them.
fn marks_of(core: &Shared) -> JsValue {
    let c = core.borrow();
    let marks: Vec<MarkView<'_>> = c
        .timeline
        .marks()
        .iter()
        .map(|m: &Mark| MarkView {
            at_ms: to_ms(m.at),
            kind: m.kind,
            text: &m.text,
        })
        .collect();
    to_js(&marks)
}

/// Replay of one recording in an xterm.js terminal.
#[wasm_bindgen]
pub struct Player {
    core: Shared,
    _ticker: Ticker,
}

#[wasm_bindgen]
impl Player {
    /// Parses the `.mwrec` bytes and shows the interactive channel's terminal in `element`.
    /// `key` is an encrypted recording's data key (the 32 bytes the API sends in its
    /// `X-Menwei-Recording-Key` header): the chunks are decrypted here, in the page. Throws
    /// when the bytes are not an intact recording (the message says where) or the key is
    /// missing or wrong.
    #[wasm_bindgen(constructor)]
    pub fn new(
        bytes: &[u8],
        element: HtmlElement,
        key: Option<Vec<u8>>,
    ) -> Result<Player, JsError> {
        let key = match key {
            Some(k) => Some(
                recordings::DataKey::from_slice(&k)
                    .ok_or_else(|| JsError::new("recording key is not 32 bytes"))?,
            ),
            None => None,
        };
        let rec = recordings::Recording::parse_for_replay(bytes, key.as_ref())
            .map_err(|e| JsError::new(&format!("recording cannot be read: {e}")))?;
        let channel = recordings::interactive_channel(rec.events());
        let duration = rec.duration_micros();
        let meta = to_js(&serde_json::json!({
            "session_id": rec.meta().session_id,
            "engineer": rec.meta().engineer,
            "target": rec.meta().target,
            "grant_id": rec.meta().grant_id,
            "started_at_ms": rec.meta().started_at_ms,
            "node": rec.meta().node,
            "sealed": rec.is_sealed(),
            "ending": rec.ending().to_string(),
        }));
        let commands = commands(rec.events(), channel);
        let timeline = Timeline::from_events(rec.events(), channel, duration);
        drop(rec);
        let core = Rc::new(RefCell::new(Core::new(
            &element, timeline, commands, meta, false,
        )));
        let ticker = Ticker::start(&core)?;
        spawn_local(keyframer(Rc::downgrade(&core)));
        Ok(Player {
            core,
            _ticker: ticker,
        })
    }

    /// Starts playing (from the start again when at the end).
    pub fn play(&self) {
        let mut c = self.core.borrow_mut();
        if c.clock.position() >= c.timeline.duration() {
            drop(c);
            let _ = self.seek(0.0);
            c = self.core.borrow_mut();
        }
        c.last_tick = now_ms();
        c.clock.set_playing(true);
        c.report();
    }

    /// Pauses.
    pub fn pause(&self) {
        let mut c = self.core.borrow_mut();
        c.clock.set_playing(false);
        c.report();
    }

    /// Whether it is playing.
    pub fn playing(&self) -> bool {
        self.core.borrow().clock.playing()
    }

    /// Sets the speed, 0.5 to 8.
    pub fn set_speed(&self, speed: f64) {
        self.core.borrow_mut().clock.set_speed(speed);
    }

    /// Turns cutting idle gaps to 2 s on or off.
    pub fn set_skip_idle(&self, on: bool) {
        self.core.borrow_mut().clock.set_skip_idle(on);
    }

    /// Length in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        to_ms(self.core.borrow().timeline.duration())
    }

    /// Position in milliseconds.
    pub fn position_ms(&self) -> f64 {
        to_ms(self.core.borrow().clock.position())
    }

    /// Shows the terminal as it was at `ms`. Resolves to `{exact, ms}` once drawn (`exact`
    /// false: the keyframes have not reached there yet and the screen was rebuilt from the
    /// last 512 KiB of output).
    pub fn seek(&self, ms: f64) -> js_sys::Promise {
        seek_core(&self.core, ms)
    }

    /// Calls `f(position_ms, duration_ms, playing)` whenever one of them changes.
    pub fn on_progress(&self, f: Function) {
        let mut c = self.core.borrow_mut();
        c.progress = Some(f);
        c.last_report = (u64::MAX, 0, false);
        c.report();
    }

    /// Markers, exec commands, refusals and exits: `[{at_ms, kind, text}]`.
    pub fn marks(&self) -> JsValue {
        marks_of(&self.core)
    }

    /// The command list rebuilt from input and echo: `[{at_ms, text, hidden}]`. An audit
    /// aid, not a security boundary.
    pub fn commands(&self) -> JsValue {
        let c = self.core.borrow();
        let list: Vec<CommandView<'_>> = c
            .commands
            .iter()
            .map(|x| CommandView {
                at_ms: to_ms(x.at),
                text: &x.text,
                hidden: x.hidden,
            })
            .collect();
        to_js(&list)
    }

    /// Searches the output text: `[{at_ms, context}]`, at most 1000 hits.
    pub fn search(&self, query: &str) -> JsValue {
        let mut c = self.core.borrow_mut();
        if c.text.is_none() {
            c.text = Some(TextIndex::build(&c.timeline));
        }
        let hits = c.text.as_ref().map(|t| t.search(query)).unwrap_or_default();
        let view: Vec<HitView<'_>> = hits
            .iter()
            .map(|h| HitView {
                at_ms: to_ms(h.at),
                context: &h.context,
            })
            .collect();
        to_js(&view)
    }

    /// Who, which target, which grant, how it ended.
    pub fn meta(&self) -> JsValue {
        self.core.borrow().meta.clone()
    }

    /// Keyframes taken so far, and whether the background pass is complete.
    pub fn keyframes(&self) -> JsValue {
        let c = self.core.borrow();
        to_js(&serde_json::json!({"count": c.keyframes.len(), "done": c.keyframes_done}))
    }

    /// Output bytes in the recording's interactive channel.
    pub fn output_bytes(&self) -> f64 {
        self.core.borrow().timeline.output().len() as f64
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let mut c = self.core.borrow_mut();
        c.closed = true;
        c.term.dispose();
    }
}
