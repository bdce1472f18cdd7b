//! SSH on both sides: the server engineers connect to ([`server`], [`connection`]), the
//! per-channel relay ([`channel`]), live sessions ([`session`]), the target menu
//! ([`menu`]), login throttling ([`throttle`]), and the client side to targets ([`upstream`]).

pub mod channel;
pub mod commands;
pub mod connection;
pub mod menu;
pub mod relay;
pub mod request_prompt;
pub mod server;
pub mod session;
pub mod terminal;
pub mod throttle;
pub mod upload;
pub mod upstream;
