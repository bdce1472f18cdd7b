//! [`Player`] (replay of a recording) and [`Watch`] (the same player fed live from the
//! watch WebSocket), driving an xterm.js terminal.
//!
//! One shared core: the timeline, the clock, the keyframes and the visible terminal. A timer
//! (every [`TICK_MS`]) advances the clock and writes the output between what is on screen
//! and the new position. A background task feeds a hidden terminal the whole output and
//! keeps a serialize-addon snapshot every `seek::KEYFRAME_EVERY` bytes; a seek writes RIS
//! (full reset), the nearest snapshot and the bytes after it, all through xterm's ordered
//! write queue, so it never races the timer. The decisions are in the pure modules
//! (`clock.rs`, `seek.rs`, `timeline.rs`); this file only does the browser part.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Function, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};
use web_sys::{BinaryType, HtmlElement, MessageEvent, WebSocket};

use crate::clock::Clock;
use crate::protocol::{to_terminal, GatewayMessage};
use crate::search::TextIndex;
use crate::seek::{self, KeyframeAt};
use crate::timeline::{Mark, MarkKind, Timeline};
use crate::xterm::{self, SerializeAddon, Terminal};
use recordings::commands::{commands, Command};

/// Timer period.
const TICK_MS: i32 = 40;
/// Output bytes handed to xterm and not yet processed above which the clock waits.
const BACKLOG: usize = 1024 * 1024;
/// Scrollback lines of the visible terminal and of the snapshots.
const SCROLLBACK: u32 = 1000;

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

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

struct Keyframe {
    at: KeyframeAt,
    size: (u32, u32),
    snapshot: String,
}

struct Core {
    term: Terminal,
    timeline: Timeline,
    clock: Clock,
    keyframes: Vec<Keyframe>,
    index: Vec<KeyframeAt>,
    keyframes_done: bool,
    /// Output bytes and resizes handed to the visible terminal.
    written: usize,
    applied: usize,
    /// Bytes handed to xterm and not yet processed.
    backlog: Rc<std::cell::Cell<usize>>,
    last_tick: f64,
    last_report: (u64, u64, bool),
    progress: Option<Function>,
    /// Told `(cols, rows)` whenever the visible terminal takes a new size.
    sized: Sized,
    text: Option<TextIndex>,
    commands: Vec<Command>,
    meta: JsValue,
    /// A live watch following the newest output.
    follow: bool,
    live: bool,
    closed: bool,
}

type Shared = Rc<RefCell<Core>>;
type Sized = Rc<RefCell<Option<Function>>>;

/// Gives the visible terminal its size and tells the page.
fn resize_visible(term: &Terminal, sized: &Sized, cols: u32, rows: u32) {
    term.resize(cols, rows);
    if let Some(f) = sized.borrow().as_ref() {
        let _ = f.call2(&JsValue::NULL, &cols.into(), &rows.into());
    }
}

impl Core {
    fn new(
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

    fn tick(&mut self) {
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

    fn report(&mut self) {
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
    fn seek(&mut self, at: u64) -> js_sys::Promise {
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

/// The background pass that takes keyframes. Stops when the core is gone or closed.
async fn keyframer(core: Weak<RefCell<Core>>) {
    let Some(size) = core.upgrade().map(|c| c.borrow().timeline.size_after(0)) else {
        return;
    };
    let hidden = Terminal::new(&xterm::options(size.0, size.1, SCROLLBACK, false));
    let serializer = SerializeAddon::new();
    hidden.load_addon(&serializer);
    let (mut at, mut applied) = (0usize, 0usize);
    loop {
        let work = {
            let Some(rc) = core.upgrade() else { break };
            let c = rc.borrow();
            if c.closed {
                break;
            }
            let target = seek::next_keyframe(at);
            if target > c.timeline.output().len() {
                if c.live {
                    None
                } else {
                    drop(c);
                    rc.borrow_mut().keyframes_done = true;
                    break;
                }
            } else {
                let to_resizes = c.timeline.resizes_before_offset(target);
                let writes: Vec<(Uint8Array, Option<(u32, u32)>)> = c
                    .timeline
                    .segments(at, applied, target, to_resizes)
                    .into_iter()
                    .map(|s| {
                        (
                            Uint8Array::from(c.timeline.bytes(s.from, s.to)),
                            s.resize_after,
                        )
                    })
                    .collect();
                Some((target, to_resizes, writes))
            }
        };
        let Some((target, to_resizes, writes)) = work else {
            sleep(500).await;
            continue;
        };
        for (bytes, resize) in writes {
            let promise =
                js_sys::Promise::new(&mut |resolve, _| hidden.write_bytes(&bytes, &resolve));
            let _ = JsFuture::from(promise).await;
            if let Some((cols, rows)) = resize {
                hidden.resize(cols, rows);
            }
        }
        let snapshot = serializer.serialize(&xterm::object(&[("scrollback", SCROLLBACK.into())]));
        let Some(rc) = core.upgrade() else { break };
        {
            let mut c = rc.borrow_mut();
            let at_kf = KeyframeAt {
                offset: target,
                resizes: to_resizes,
            };
            c.index.push(at_kf);
            c.keyframes.push(Keyframe {
                at: at_kf,
                size: (hidden.cols(), hidden.rows()),
                snapshot,
            });
        }
        drop(rc);
        at = target;
        applied = to_resizes;
        xterm::yield_now().await;
    }
    hidden.dispose();
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// The timer that drives a core; cleared on drop.
struct Ticker {
    id: i32,
    _closure: Closure<dyn FnMut()>,
}

impl Ticker {
    fn start(core: &Shared) -> Result<Ticker, JsError> {
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

/// The methods Player and Watch share.
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

/// Replay of one recording in an xterm.js terminal.
#[wasm_bindgen]
pub struct Player {
    core: Shared,
    _ticker: Ticker,
}

#[wasm_bindgen]
impl Player {
    /// Parses the `.mwrec` bytes and shows the interactive channel's terminal in `element`.
    /// Throws when the bytes are not an intact recording (the message says where).
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], element: HtmlElement) -> Result<Player, JsError> {
        let rec = recordings::Recording::parse(bytes)
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

/// Live watch of a session: a player fed from the read-only watch WebSocket, following the
/// newest output until paused or sought back.
#[wasm_bindgen]
pub struct Watch {
    core: Shared,
    ws: WebSocket,
    status: Rc<RefCell<Option<Function>>>,
    _ticker: Ticker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(web_sys::CloseEvent)>,
}

fn call_status(status: &Rc<RefCell<Option<Function>>>, kind: &str, text: &str) {
    if let Some(f) = status.borrow().as_ref() {
        let _ = f.call2(&JsValue::NULL, &kind.into(), &text.into());
    }
}

#[wasm_bindgen]
impl Watch {
    /// Opens `url` (a `wss://…/api/v1/sessions/{id}/watch` address) and shows the session
    /// in `element`.
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, element: HtmlElement) -> Result<Watch, JsError> {
        let core = Rc::new(RefCell::new(Core::new(
            &element,
            Timeline::new(),
            Vec::new(),
            JsValue::NULL,
            true,
        )));
        let ws = WebSocket::new(url).map_err(|_| JsError::new("cannot open the watch socket"))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let started = now_ms();
        let status: Rc<RefCell<Option<Function>>> = Rc::new(RefCell::new(None));
        let weak = Rc::downgrade(&core);
        let st = status.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(rc) = weak.upgrade() else { return };
            let at = to_micros(now_ms() - started);
            let data = e.data();
            if let Some(text) = data.as_string() {
                // A newer gateway's message: ignored, not shown as garbage.
                let Some(msg) = GatewayMessage::parse(&text) else {
                    return;
                };
                let (kind, text) = match &msg {
                    // The watched terminal changed size: so does the watcher's, in order
                    // with the output around it (and when the watch is sought back).
                    GatewayMessage::Resize { cols, rows } => {
                        rc.borrow_mut().timeline.push_resize(at, *cols, *rows);
                        return;
                    }
                    GatewayMessage::Notice { text } => ("notice", text),
                    GatewayMessage::End { text } => ("end", text),
                };
                if let Some(line) = to_terminal(&msg) {
                    rc.borrow_mut().timeline.push_output(at, &line);
                }
                call_status(&st, kind, text);
            } else {
                let bytes = Uint8Array::new(&data).to_vec();
                rc.borrow_mut().timeline.push_output(at, &bytes);
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let st = status.clone();
        let on_close =
            Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |e: web_sys::CloseEvent| {
                call_status(&st, "closed", &e.reason())
            });
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let ticker = Ticker::start(&core)?;
        spawn_local(keyframer(Rc::downgrade(&core)));
        Ok(Watch {
            core,
            ws,
            status,
            _ticker: ticker,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Follows the newest output again.
    pub fn live(&self) {
        let mut c = self.core.borrow_mut();
        c.follow = true;
        c.clock.set_playing(false);
    }

    /// Stops following; the screen stays where it is.
    pub fn pause(&self) {
        let mut c = self.core.borrow_mut();
        c.follow = false;
        c.clock.set_playing(false);
        c.report();
    }

    /// Plays from the current position at the set speed (stops at the newest output).
    pub fn play(&self) {
        let mut c = self.core.borrow_mut();
        c.follow = false;
        c.last_tick = now_ms();
        c.clock.set_playing(true);
    }

    /// Sets the speed, 0.5 to 8.
    pub fn set_speed(&self, speed: f64) {
        self.core.borrow_mut().clock.set_speed(speed);
    }

    /// Goes back to `ms` since the watch began (stops following).
    pub fn seek(&self, ms: f64) -> js_sys::Promise {
        self.core.borrow_mut().follow = false;
        seek_core(&self.core, ms)
    }

    /// Calls `f(position_ms, duration_ms, following)` on changes.
    pub fn on_progress(&self, f: Function) {
        self.core.borrow_mut().progress = Some(f);
    }

    /// Calls `f(kind, text)`: `notice`, `end` (from the gateway) or `closed`.
    pub fn on_status(&self, f: Function) {
        *self.status.borrow_mut() = Some(f);
    }

    /// Calls `f(cols, rows)` whenever the watcher's terminal takes the watched terminal's
    /// size (the engineer resized their window).
    pub fn on_size(&self, f: Function) {
        let c = self.core.borrow();
        let _ = f.call2(&JsValue::NULL, &c.term.cols().into(), &c.term.rows().into());
        *c.sized.borrow_mut() = Some(f);
    }

    /// Whether it follows the newest output.
    pub fn following(&self) -> bool {
        self.core.borrow().follow
    }

    /// Closes the socket.
    pub fn close(&self) {
        let _ = self.ws.close();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
        let mut c = self.core.borrow_mut();
        c.closed = true;
        c.term.dispose();
    }
}
