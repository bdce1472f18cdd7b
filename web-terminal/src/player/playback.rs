//! The playback core Player and Watch share, and the timer that drives it: every
//! [`TICK_MS`] the clock advances (unless xterm is behind by more than [`BACKLOG`]) and the
//! output between the screen and the new position is written; a seek resets the terminal
//! and redraws from the nearest keyframe, all through xterm's ordered write queue. Not
//! where keyframes come from (`keyframer.rs`) nor what the page calls (`replay.rs`,
//! `watch.rs`); the decisions themselves are in `clock.rs`, `seek.rs` and `timeline.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Uint8Array};
use recordings::commands::Command;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

use super::{now_ms, to_ms};
use crate::clock::Clock;
use crate::search::TextIndex;
use crate::seek::{self, KeyframeAt};
use crate::timeline::Timeline;
use crate::xterm::{self, Terminal};

/// Timer period.
const TICK_MS: i32 = 40;
/// Output bytes handed to xterm and not yet processed above which the clock waits.
const BACKLOG: usize = 1024 * 1024;
/// Scrollback lines of the visible terminal and of the snapshots.
pub(super) const SCROLLBACK: u32 = 1000;

/// A snapshot of the terminal at a point of the output, taken by the keyframer.
pub(super) struct Keyframe {
    pub(super) at: KeyframeAt,
    pub(super) size: (u32, u32),
    pub(super) snapshot: String,
}

/// The state Player and Watch share: the visible terminal, the timeline, the clock and
/// the keyframes taken so far.
pub(super) struct Core {
    pub(super) term: Terminal,
    pub(super) timeline: Timeline,
    pub(super) clock: Clock,
    pub(super) keyframes: Vec<Keyframe>,
    pub(super) index: Vec<KeyframeAt>,
    pub(super) keyframes_done: bool,
    /// Output bytes and resizes handed to the visible terminal.
    pub(super) written: usize,
    pub(super) applied: usize,
    /// Bytes handed to xterm and not yet processed.
    pub(super) backlog: Rc<std::cell::Cell<usize>>,
    pub(super) last_tick: f64,
    pub(super) last_report: (u64, u64, bool),
    pub(super) progress: Option<Function>,
    /// Told `(cols, rows)` whenever the visible terminal takes a new size.
    pub(super) sized: Sized,
    pub(super) text: Option<TextIndex>,
    pub(super) commands: Vec<Command>,
    pub(super) meta: JsValue,
    /// A live watch following the newest output.
    pub(super) follow: bool,
    pub(super) live: bool,
    pub(super) closed: bool,
}

/// A core as the exported objects, the timer and the keyframer hold it.
pub(super) type Shared = Rc<RefCell<Core>>;
/// The page's size callback.
pub(super) type Sized = Rc<RefCell<Option<Function>>>;

/// Gives the visible terminal its size and tells the page.
fn resize_visible(term: &Terminal, sized: &Sized, cols: u32, rows: u32) {
    term.resize(cols, rows);
    if let Some(f) = sized.borrow().as_ref() {
        let _ = f.call2(&JsValue::NULL, &cols.into(), &rows.into());
    }
}

impl Core {
    /// A core showing `timeline` in a new terminal in `element`.
    pub(super) fn new(
        element: &HtmlElement,
        timeline: Timeline,
        commands: Vec<Command>,
        meta: JsValue,
        live: bool,
    ) -> Core {
        let (cols, rows) = timeline.size_after(0);
        let term = Terminal::new(&xterm::options(cols, rows, SCROLLBACK, false));
        term.open(element);
        Core {
            term,
            timeline,
            clock: Clock::new(),
            keyframes: Vec::new(),
            index: Vec::new(),
            keyframes_done: false,
            written: 0,
            applied: 0,
            backlog: Rc::new(std::cell::Cell::new(0)),
            last_tick: now_ms(),
            last_report: (u64::MAX, 0, false),
            progress: None,
            sized: Rc::new(RefCell::new(None)),
            text: None,
            commands,
            meta,
            follow: live,
            live,
            closed: false,
        }
    }

    /// Hands bytes to xterm, counting them until processed; `resize` applies after them.
    fn write(&self, data: &[u8], resize: Option<(u32, u32)>) {
        if data.is_empty() && resize.is_none() {
            return;
        }
        let bytes = Uint8Array::from(data);
        let len = data.len();
        let backlog = self.backlog.clone();
        backlog.set(backlog.get() + len);
        let (term, sized) = (self.term.clone(), self.sized.clone());
        let done = Closure::once_into_js(move || {
            backlog.set(backlog.get().saturating_sub(len));
            if let Some((cols, rows)) = resize {
                resize_visible(&term, &sized, cols, rows);
            }
        });
        self.term.write_bytes(&bytes, done.unchecked_ref());
    }

    /// Writes what lies between the screen and the clock's position.
    fn catch_up(&mut self) {
        let at = self.clock.position();
        let to = self.timeline.offset_at(at);
        let to_resizes = self.timeline.resizes_until(at);
        if to <= self.written && to_resizes <= self.applied {
            return;
        }
        for seg in self
            .timeline
            .segments(self.written, self.applied, to, to_resizes)
        {
            self.write(self.timeline.bytes(seg.from, seg.to), seg.resize_after);
        }
        self.written = self.written.max(to);
        self.applied = self.applied.max(to_resizes);
    }

    /// Advances the clock by the time since the last tick and draws up to it.
    pub(super) fn tick(&mut self) {
        let now = now_ms();
        let elapsed = now - self.last_tick;
        self.last_tick = now;
        if self.follow {
            let end = self.timeline.duration();
            self.clock.set_position(end, end);
        } else if self.backlog.get() < BACKLOG {
            let (before, after) = self.timeline.around(self.clock.position());
            self.clock
                .advance(elapsed, before, after, self.timeline.duration());
        }
        self.catch_up();
        self.report();
    }

    /// Tells the page `(position, duration, playing)` when one of them changed.
    pub(super) fn report(&mut self) {
        let now = (
            self.clock.position(),
            self.timeline.duration(),
            self.clock.playing() || self.follow,
        );
        if now == self.last_report {
            return;
        }
        self.last_report = now;
        if let Some(f) = &self.progress {
            let _ = f.call3(
                &JsValue::NULL,
                &to_ms(now.0).into(),
                &to_ms(now.1).into(),
                &now.2.into(),
            );
        }
    }

    /// Queues the writes that show time `at` on a reset terminal; returns the promise of
    /// the last one being processed.
    pub(super) fn seek(&mut self, at: u64) -> js_sys::Promise {
        let duration = self.timeline.duration();
        self.clock.set_position(at, duration);
        let at = self.clock.position();
        let target = self.timeline.offset_at(at);
        let target_resizes = self.timeline.resizes_until(at);
        let plan = seek::plan(&self.index, target, self.timeline.output());
        let (size, from_resizes, snapshot) = match plan.keyframe.and_then(|i| self.keyframes.get(i))
        {
            Some(k) => (k.size, k.at.resizes, Some(k.snapshot.as_str())),
            None => {
                let applied = self
                    .timeline
                    .resizes_before_offset(plan.from)
                    .min(target_resizes);
                let applied = if plan.from == 0 { 0 } else { applied };
                (self.timeline.size_after(applied), applied, None)
            }
        };
        // RIS through the queue: everything before it is drawn and then wiped.
        let (term, sized) = (self.term.clone(), self.sized.clone());
        let reset = Closure::once_into_js(move || resize_visible(&term, &sized, size.0, size.1));
        self.term.write_str("\x1bc", reset.unchecked_ref());
        if let Some(snapshot) = snapshot {
            self.term.write_str_only(snapshot);
        }
        for seg in self
            .timeline
            .segments(plan.from, from_resizes, target, target_resizes)
        {
            self.write(self.timeline.bytes(seg.from, seg.to), seg.resize_after);
        }
        self.written = target;
        self.applied = target_resizes;
        self.report();
        let term = self.term.clone();
        js_sys::Promise::new(&mut |resolve, _| {
            let resolve = resolve.clone();
            let done = Closure::once_into_js(move || {
                let _ = resolve.call1(&JsValue::NULL, &JsValue::from_bool(plan.exact));
            });
            term.write_str("", done.unchecked_ref());
        })
    }
}

/// The timer that drives a core; cleared on drop.
pub(super) struct Ticker {
    id: i32,
    _closure: Closure<dyn FnMut()>,
}

impl Ticker {
    /// Starts ticking `core` every [`TICK_MS`].
    pub(super) fn start(core: &Shared) -> Result<Ticker, JsError> {
        let weak = Rc::downgrade(core);
        let closure = Closure::<dyn FnMut()>::new(move || {
            if let Some(rc) = weak.upgrade() {
                if let Ok(mut c) = rc.try_borrow_mut() {
                    c.tick();
                }
            }
        });
        let window = web_sys::window().ok_or_else(|| JsError::new("no window"))?;
        let id = window
            .set_interval_with_callback_and_timeout_and_arguments_0(
                closure.as_ref().unchecked_ref(),
                TICK_MS,
            )
            .map_err(|_| JsError::new("cannot start the player's timer"))?;
        Ok(Ticker {
            id,
            _closure: closure,
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(w) = web_sys::window() {
            w.clear_interval_with_handle(self.id);
        }
    }
}
