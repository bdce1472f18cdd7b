//! The background pass that takes keyframes: it feeds a hidden terminal the whole output
//! and keeps a serialize-addon snapshot every `seek::KEYFRAME_EVERY` bytes, yielding to the
//! page between them, so a seek redraws from a snapshot instead of from the start. For a
//! live watch it waits for more output. Not the seek itself (`playback.rs`).

use std::cell::RefCell;
use std::rc::Weak;

use js_sys::Uint8Array;
use wasm_bindgen_futures::JsFuture;

use super::playback::{Core, Keyframe, SCROLLBACK};
use crate::seek::{self, KeyframeAt};
use crate::xterm::{self, SerializeAddon, Terminal};

/// The background pass that takes keyframes. Stops when the core is gone or closed.
pub(super) async fn keyframer(core: Weak<RefCell<Core>>) {
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

/// Resolves after `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}
