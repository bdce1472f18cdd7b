//! [`Watch`]: live watch of a session, the playback core fed from the read-only watch
//! WebSocket (output, resizes, the gateway's notices and end), following the newest output
//! until paused or sought back. Not the replay of a finished recording (`replay.rs`).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{BinaryType, HtmlElement, MessageEvent, WebSocket};

use super::keyframer::keyframer;
use super::playback::{Core, Shared, Ticker};
use super::{now_ms, seek_core, to_micros};
use crate::protocol::{closed_kind, to_terminal, GatewayMessage};
use crate::timeline::Timeline;

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
/// Calls the page's status callback, if any, with `(kind, text)`.
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
                call_status(&st, closed_kind(e.code()), &e.reason())
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

    /// Calls `f(kind, text)`: `notice`, `end` (from the gateway), `closed`, or
    /// `login_ended` (closed because the watcher's login ended).
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
