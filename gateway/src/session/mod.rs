//! The session core both front doors drive (SSH in [`crate::ssh`], the browser terminal in
//! [`crate::web`]) and inspections run through ([`crate::inspections`]): opening a live
//! session under a grant and supervising it to its end ([`live`], the checks it refuses on
//! in `open_checks`), the pipe of each channel that records every event before forwarding it
//! ([`pipe`], with its bounded [`queue`]s, and the [`guard`] over its bytes), the connection to the target ([`upstream`]), the
//! recording ([`recorder`], written on its own threads: [`writers`]),
//! the live feed for watchers ([`tap`]), the enforcer and registry of live sessions
//! ([`enforcer`]), the policy in force ([`live_policy`]), and the node's shared state they
//! all hang off ([`Context`]). A rule that applies to every
//! session lives here once; the front doors only translate their protocol into calls on it.

pub mod context;
pub mod enforcer;
pub mod guard;
pub mod live;
pub mod live_policy;
mod open_checks;
pub mod pipe;
pub mod queue;
pub mod recorder;
pub mod room;
pub mod tap;
pub mod upstream;
pub mod writers;

pub use context::Context;
pub use live::{open, open_under, LiveSession};
