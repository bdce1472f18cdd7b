//! The browser side of Menwei: live terminal, live watch and replay, compiled to
//! wasm32 and binding xterm.js. A placeholder until the web issue lands; it holds
//! no code yet so that the workspace shape is the one the README describes.
#![forbid(unsafe_code)]
