//! [`LiveTerminal`]: the engineer's browser terminal. An xterm.js terminal in a page element,
//! a WebSocket to `/api/v1/terminal?target=NAME`, and the frames of `protocol.rs` between
//! them: keys go out as binary frames, the terminal's size as a `resize` text frame, the
//! target's bytes come back as binary frames, the gateway's notices as text frames.
//!
//! Nothing else crosses: no file transfer (xterm.js has no zmodem; the page refuses drops).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, HtmlElement, MessageEvent, WebSocket};

use crate::protocol::{closed_kind, to_terminal, GatewayMessage, PageMessage};
use crate::xterm::{self, FitAddon, Terminal};

type Status = Rc<RefCell<Option<Function>>>;

fn call_status(status: &Status, kind: &str, text: &str) {
    if let Some(f) = status.borrow().as_ref() {
        let _ = f.call2(&JsValue::NULL, &kind.into(), &text.into());
    }
}

fn send_resize(ws: &WebSocket, cols: u32, rows: u32) {
    if ws.ready_state() == WebSocket::OPEN {
        let _ = ws.send_with_str(&PageMessage::Resize { cols, rows }.to_text());
    }
}

/// Keys typed while the socket is still connecting, sent once it opens (bounded).
type Pending = Rc<RefCell<Vec<u8>>>;

/// The most typed-ahead bytes kept before the socket opens.
const MAX_PENDING: usize = 64 * 1024;

fn send_bytes(ws: &WebSocket, pending: &Pending, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if ws.ready_state() == WebSocket::OPEN {
        let _ = ws.send_with_u8_array(bytes);
    } else if ws.ready_state() == WebSocket::CONNECTING {
        let mut queue = pending.borrow_mut();
        if queue.len() + bytes.len() <= MAX_PENDING {
            queue.extend_from_slice(bytes);
        }
    }
}

/// A terminal connected to a target through the gateway.
#[wasm_bindgen]
pub struct LiveTerminal {
    term: Terminal,
    fit: FitAddon,
    ws: WebSocket,
    status: Status,
    ended: Rc<RefCell<bool>>,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(web_sys::CloseEvent)>,
    _on_data: Closure<dyn FnMut(String)>,
    _on_binary: Closure<dyn FnMut(String)>,
    _on_resize: Closure<dyn FnMut(JsValue)>,
    on_window_resize: Closure<dyn FnMut()>,
}

#[wasm_bindgen]
impl LiveTerminal {
    /// Opens `url` (`wss://…/api/v1/terminal?target=NAME`) and a terminal in `element`,
    /// sized to fit it.
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, element: HtmlElement) -> Result<LiveTerminal, JsError> {
        let term = Terminal::new(&xterm::options(80, 24, 5000, true));
        let fit = FitAddon::new();
        term.load_addon(&fit);
        term.open(&element);
        fit.fit();
        let ws =
            WebSocket::new(url).map_err(|_| JsError::new("cannot open the terminal socket"))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let status: Status = Rc::new(RefCell::new(None));
        let ended = Rc::new(RefCell::new(false));

        let pending: Pending = Rc::new(RefCell::new(Vec::new()));
        let (w, t, st, p) = (ws.clone(), term.clone(), status.clone(), pending.clone());
        let on_open = Closure::<dyn FnMut()>::new(move || {
            send_resize(&w, t.cols(), t.rows());
            let typed = std::mem::take(&mut *p.borrow_mut());
            if !typed.is_empty() {
                let _ = w.send_with_u8_array(&typed);
            }
            call_status(&st, "open", "");
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));

        let (t, st, end) = (term.clone(), status.clone(), ended.clone());
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let data = e.data();
            match data.as_string() {
                Some(text) => {
                    if let Some(msg) = GatewayMessage::parse(&text) {
                        if let Some(line) = to_terminal(&msg) {
                            xterm::write_then(&t, &line, None);
                        }
                        match msg {
                            GatewayMessage::Notice { text } => call_status(&st, "notice", &text),
                            GatewayMessage::End { text } => {
                                *end.borrow_mut() = true;
                                call_status(&st, "end", &text);
                            }
                            // The engineer's terminal has the size of its element; the
                            // gateway follows it, not the other way round.
                            GatewayMessage::Resize { .. } => {}
                        }
                    }
                }
                None => {
                    let bytes = Uint8Array::new(&data);
                    t.write_bytes_only(&bytes);
                }
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let (t, st, end) = (term.clone(), status.clone(), ended.clone());
        let on_close =
            Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |e: web_sys::CloseEvent| {
                let reason = e.reason();
                if !*end.borrow() {
                    let msg = GatewayMessage::End {
                        text: if reason.is_empty() {
                            format!("connection closed ({})", e.code())
                        } else {
                            reason.clone()
                        },
                    };
                    if let Some(line) = to_terminal(&msg) {
                        xterm::write_then(&t, &line, None);
                    }
                }
                call_status(&st, closed_kind(e.code()), &reason);
            });
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));

        let (w, p) = (ws.clone(), pending.clone());
        let on_data = Closure::<dyn FnMut(String)>::new(move |s: String| {
            send_bytes(&w, &p, s.as_bytes());
        });
        let _ = term.on_data(on_data.as_ref().unchecked_ref());
        // Mouse reports in the legacy encoding: one byte per character.
        let (w, p) = (ws.clone(), pending.clone());
        let on_binary = Closure::<dyn FnMut(String)>::new(move |s: String| {
            let bytes: Vec<u8> = s.chars().map(|c| (u32::from(c) & 0xff) as u8).collect();
            send_bytes(&w, &p, &bytes);
        });
        let _ = term.on_binary(on_binary.as_ref().unchecked_ref());
        let w = ws.clone();
        let on_resize = Closure::<dyn FnMut(JsValue)>::new(move |size: JsValue| {
            let get = |k: &str| {
                Reflect::get(&size, &k.into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .map_or(0, |v| v as u32)
            };
            send_resize(&w, get("cols"), get("rows"));
        });
        let _ = term.on_resize(on_resize.as_ref().unchecked_ref());

        let f = fit.clone();
        let on_window_resize = Closure::<dyn FnMut()>::new(move || f.fit());
        if let Some(window) = web_sys::window() {
            let _ = window.add_event_listener_with_callback(
                "resize",
                on_window_resize.as_ref().unchecked_ref(),
            );
        }
        term.focus();
        Ok(LiveTerminal {
            term,
            fit,
            ws,
            status,
            ended,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_data: on_data,
            _on_binary: on_binary,
            _on_resize: on_resize,
            on_window_resize,
        })
    }

    /// Calls `f(kind, text)`: `open`, `notice`, `end` (from the gateway), `closed`, or
    /// `login_ended` (closed because the login ended: logout, expiry, a disabled account).
    pub fn on_status(&self, f: Function) {
        *self.status.borrow_mut() = Some(f);
    }

    /// Fits the terminal to its element again (after the layout changed).
    pub fn fit(&self) {
        self.fit.fit();
    }

    /// Focuses the terminal.
    pub fn focus(&self) {
        self.term.focus();
    }

    /// Whether the gateway ended the session.
    pub fn ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// Closes the connection (the session ends as if the engineer logged out).
    pub fn close(&self) {
        let _ = self.ws.close();
    }
}

impl Drop for LiveTerminal {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            let _ = window.remove_event_listener_with_callback(
                "resize",
                self.on_window_resize.as_ref().unchecked_ref(),
            );
        }
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
        self.term.dispose();
    }
}
