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
//! - is this SSH login name well formed ([`parse_login`], [`validate_name`]);
//! - the approvals: the [`Policy`] model and its validation, filing a request
//!   ([`file_request`]), reviewing it ([`review()`]), withdrawing and lapsing it,
//!   break-glass ([`break_glass()`]), end-of-grant warnings ([`warning_due`]) and the longest
//!   session ([`session_limit`]);
//! - the tender's service levels for reports: response within the window, resolution by
//!   the level's limit on a holiday calendar ([`sla`]);
//! - inspections: when a runbook's slots fall, how a check's figure is read from its
//!   output and judged against its threshold, who may approve a runbook version
//!   ([`inspection`]);
//! - is a file transfer starting in a channel's bytes, whatever started it ([`Detector`]),
//!   and has a session's output passed its budget ([`output_budget`]).
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
mod break_glass;
mod channel;
pub mod codes;
mod decision;
mod duration;
mod duties;
mod exec;
mod grant;
pub mod inspection;
mod level;
mod login;
mod request;
mod review;
mod role;
mod rules;
mod shell;
mod shell_syntax;
pub mod sla;
mod text;
mod transfer;
mod warning;

pub use access::{connect, session_check, session_count_check, SessionCheck};
pub use break_glass::{break_glass, break_glass_open};
pub use channel::{channel_request, ChannelRequest, ChannelRules};
pub use decision::{Decision, Refusal};
pub use duration::format_duration;
pub use duties::{assign_role, create_grant, revoke_grant, Actor};
pub use exec::{classify_exec, shell_syntax, ExecKind};
pub use grant::{Grant, GrantState};
pub use level::{Level, UnknownLevel};
pub use login::{parse_login, validate_name, Login, MAX_NAME_LEN};
pub use request::{
    file_request, is_lapsed, withdraw, NewRequest, Request, RequestPlan, RequestState,
    UnknownRequestState,
};
pub use review::{review, Review, ReviewOutcome, UnknownVerdict, Verdict};
pub use role::{Role, UnknownRole};
pub use rules::{
    BreakGlass, Group, Policy, PolicyProblem, StreamRules, TargetRule, BREAK_GLASS_CEILING_MS,
    MAX_APPROVALS,
};
pub use shell_syntax::ShellSyntax;
pub use text::{is_invisible, visible_text};
pub use transfer::{
    output_budget, Detection, Detector, Direction, OutputBudget, Protocol, Stream, TransferGuard,
};
pub use warning::{session_limit, warning_due, Warning};

/// The shell reader behind [`classify_exec`], opened for the fuzz targets (`fuzz/`) only:
/// with the `fuzzing` feature, which the gateway never enables.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// `line` split into simple commands with quoting removed; then whether the line is
    /// compound and whether nesting went deeper than the reader follows.
    pub fn split_shell(line: &str) -> (Vec<Vec<String>>, bool, bool) {
        let script = crate::shell::split(line);
        (script.commands, script.compound, script.truncated)
    }
}

/// A point in time or a span of time: milliseconds (since the unix epoch for points).
pub type Millis = i64;
