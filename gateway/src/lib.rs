//! Menwei, the remote-support bastion gateway.
//!
//! Engineers connect with plain `ssh` to the gateway's SSH server ([`ssh::server`]); the
//! gateway authenticates them by public key, checks that a grant for the requested target is
//! live now ([`policy::connect`]), opens its own SSH client connection to the target with a
//! credential from its vault and a pinned host key ([`ssh::upstream`]), and relays every
//! session channel through a recorder ([`recorder`]) that writes the tamper-evident recording
//! (crate `recordings`). The enforcer ([`enforcer`]) watches live sessions against their grants
//! and ends them when a grant expires or is revoked. Every decision lands in the hash-chained
//! audit log ([`audit`]) in the database ([`db`]: SQLite by default, PostgreSQL for several
//! nodes). Configuration comes from one TOML file ([`config`]); everything that changes at run
//! time lives in the database. The `menwei` binary's subcommands live in [`cli`]. Next to
//! SSH, [`web`] serves HTTPS: the REST API under `/api/v1` and the browser page.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod approvals;
pub mod audit;
pub mod cli;
pub mod config;
pub mod db;
pub mod enforcer;
pub mod init;
pub mod live_policy;
pub mod notify;
pub mod recorder;
pub mod serve;
pub mod ssh;
pub mod tap;
pub mod time;
pub mod totp;
pub mod vault;
pub mod web;
