//! The SSH front door: the server engineers connect to ([`server`], [`connection`]), the
//! per-channel setup and relay ([`channel`], [`relay`]), the target menu ([`menu`]), the
//! in-session commands and request prompt. It translates SSH into calls on the session core
//! ([`crate::session`]); the client side to targets is the core's ([`crate::session::upstream`]).

pub mod channel;
pub mod commands;
pub mod conn_state;
pub mod connection;
pub mod limits;
pub mod menu;
pub mod relay;
pub mod request_prompt;
pub mod review_commands;
pub mod server;
pub mod terminal;
pub mod upload;
