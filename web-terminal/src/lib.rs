//! The browser side of Menwei, compiled to wasm32 and binding xterm.js (`@xterm/xterm` 6).
//!
//! Three things are exported to the page (`www/app.js`): `LiveTerminal` (the engineer's
//! browser terminal: WebSocket `/api/v1/terminal` ↔ xterm), `Player` (replay of a `.mwrec`
//! recording parsed with the `recordings` crate: play, pause, speed, seek through keyframes,
//! skip idle, marks, command list, search) and `Watch` (the same player fed live from
//! `/api/v1/sessions/{id}/watch`). The contract is docs/web.md.
//!
//! The logic is host-testable and builds everywhere: [`timeline`] (output over time),
//! [`clock`] (playback position), [`seek`] (keyframe index), [`search`] (output text),
//! [`protocol`] (the WebSocket frames, defined once for the gateway and the page in the
//! `menwei-protocol` crate, and how control messages show on a terminal). The command list
//! is the `recordings` crate's ([`recordings::commands()`]), the same code the gateway serves
//! it with. The browser glue
//! (`xterm.rs`, `player/`, `live.rs`) exists only for `target_arch = "wasm32"`.
//!
//! No file transfer of any kind: the terminal has no zmodem, and the page refuses drops.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod protocol;
pub mod search;
pub mod seek;
pub mod timeline;

#[cfg(target_arch = "wasm32")]
mod live;
#[cfg(target_arch = "wasm32")]
mod player;
#[cfg(target_arch = "wasm32")]
mod xterm;

#[cfg(target_arch = "wasm32")]
pub use live::LiveTerminal;
#[cfg(target_arch = "wasm32")]
pub use player::{Player, Watch};
