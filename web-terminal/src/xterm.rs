//! The small part of xterm.js (`@xterm/xterm` 6) and its fit and serialize addons that the
//! player and the live terminal use, bound by hand (no maintained binding crate exists).
//!
//! The module names are bare specifiers; `web-terminal/build` rewrites them in the glue to
//! the files in `dist/xterm/` (an inline import map would break the gateway's CSP), so no
//! bundler is needed.

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "@xterm/xterm")]
extern "C" {
    /// xterm's `Terminal`.
    #[derive(Clone)]
    pub type Terminal;

    #[wasm_bindgen(constructor)]
    pub fn new(options: &Object) -> Terminal;

    #[wasm_bindgen(method)]
    pub fn open(this: &Terminal, parent: &web_sys::HtmlElement);

    #[wasm_bindgen(method, js_name = write)]
    pub fn write_bytes(this: &Terminal, data: &Uint8Array, callback: &Function);

    #[wasm_bindgen(method, js_name = write)]
    pub fn write_str(this: &Terminal, data: &str, callback: &Function);

    /// `write` without a callback. (A no-op `Function::new_no_args("")` is `new Function`,
    /// i.e. eval, which the gateway's Content-Security-Policy forbids.)
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_bytes_only(this: &Terminal, data: &Uint8Array);

    /// `write` of text without a callback.
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_str_only(this: &Terminal, data: &str);

    #[wasm_bindgen(method)]
    pub fn resize(this: &Terminal, cols: u32, rows: u32);

    #[wasm_bindgen(method)]
    pub fn reset(this: &Terminal);

    #[wasm_bindgen(method)]
    pub fn focus(this: &Terminal);

    #[wasm_bindgen(method)]
    pub fn dispose(this: &Terminal);

    #[wasm_bindgen(method, js_name = loadAddon)]
    pub fn load_addon(this: &Terminal, addon: &JsValue);

    #[wasm_bindgen(method, js_name = scrollToBottom)]
    pub fn scroll_to_bottom(this: &Terminal);

    #[wasm_bindgen(method, getter)]
    pub fn cols(this: &Terminal) -> u32;

    #[wasm_bindgen(method, getter)]
    pub fn rows(this: &Terminal) -> u32;

    /// Registers `f(data: string)`; returns a disposable.
    #[wasm_bindgen(method, js_name = onData)]
    pub fn on_data(this: &Terminal, f: &Function) -> JsValue;

    /// Registers `f(data: string)` for binary-ish input (mouse reports), one char per byte.
    #[wasm_bindgen(method, js_name = onBinary)]
    pub fn on_binary(this: &Terminal, f: &Function) -> JsValue;

    /// Registers `f({cols, rows})`; returns a disposable.
    #[wasm_bindgen(method, js_name = onResize)]
    pub fn on_resize(this: &Terminal, f: &Function) -> JsValue;
}

#[wasm_bindgen(module = "@xterm/addon-serialize")]
extern "C" {
    /// The serialize addon: a terminal's state as a string that, written to a reset
    /// terminal of the same size, restores it.
    pub type SerializeAddon;

    #[wasm_bindgen(constructor)]
    pub fn new() -> SerializeAddon;

    #[wasm_bindgen(method)]
    pub fn serialize(this: &SerializeAddon, options: &Object) -> String;
}

#[wasm_bindgen(module = "@xterm/addon-fit")]
extern "C" {
    /// The fit addon: sizes the terminal to its element.
    #[derive(Clone)]
    pub type FitAddon;

    #[wasm_bindgen(constructor)]
    pub fn new() -> FitAddon;

    #[wasm_bindgen(method)]
    pub fn fit(this: &FitAddon);
}

/// A plain object from key/value pairs.
pub fn object(pairs: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

/// The options both terminals share.
pub fn options(cols: u32, rows: u32, scrollback: u32, stdin: bool) -> Object {
    object(&[
        ("cols", cols.into()),
        ("rows", rows.into()),
        ("scrollback", scrollback.into()),
        ("disableStdin", (!stdin).into()),
        ("cursorBlink", stdin.into()),
        ("convertEol", false.into()),
        (
            "fontFamily",
            "'DejaVu Sans Mono', 'Noto Sans Mono CJK SC', Menlo, Consolas, monospace".into(),
        ),
        ("fontSize", 14.into()),
        ("allowProposedApi", true.into()),
    ])
}

/// Writes without waiting; `resize` is applied in order, once the bytes are processed.
pub fn write_then(term: &Terminal, data: &[u8], resize: Option<(u32, u32)>) {
    let bytes = Uint8Array::from(data);
    match resize {
        None => term.write_bytes_only(&bytes),
        Some((cols, rows)) => {
            let t = term.clone();
            let f = Closure::once_into_js(move || t.resize(cols, rows));
            term.write_bytes(&bytes, f.unchecked_ref());
        }
    }
}

/// Resolves after the browser had a chance to run other tasks (input, rendering).
pub async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        } else {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}
