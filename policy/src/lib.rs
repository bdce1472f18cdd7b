//! Menwei's access rules, as pure functions.
//!
//! `policy` answers the gateway's questions from facts passed in — who, what, when, the
//! grants:
//!
//! - may this engineer open a session to this target now ([`connect`]), and is a live
//!   session still allowed ([`session_check`]);
//! - may this account grant or revoke access ([`create_grant`], [`revoke_grant`]) and take
//!   this role ([`assign_role`], separation of duties);
//! - may this channel request pass ([`channel_request`], [`classify_exec`]): by default no
//!   file transfer and no forwarding of any kind;
//! - is this SSH login name well formed ([`parse_login`], [`validate_name`]).
//!
//! Every answer is a [`Decision`]; a refusal carries a stable machine code (see [`codes`])
//! for the audit log and one line that is safe to show the engineer: it never contains a
//! target's address, a credential or an unprintable byte.
//!
//! It is not the gateway: no I/O, no clock, no database, no async. It stores nothing, reads
//! no configuration and writes no audit events. Time comes in as [`Millis`] so every rule
//! can be tested by the thousand.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod channel;
pub mod codes;
mod decision;
mod duration;
mod duties;
mod exec;
mod grant;
mod login;
mod role;
mod shell;

pub use access::{connect, session_check, SessionCheck};
pub use channel::{channel_request, ChannelRequest, ChannelRules};
pub use decision::{Decision, Refusal};
pub use duration::format_duration;
pub use duties::{assign_role, create_grant, revoke_grant, Actor};
pub use exec::{classify_exec, ExecKind};
pub use grant::{Grant, GrantState};
pub use login::{parse_login, validate_name, Login, MAX_NAME_LEN};
pub use role::{Role, UnknownRole};

/// A point in time or a span of time: milliseconds (since the unix epoch for points).
pub type Millis = i64;
