//! Menwei, the remote-support bastion gateway.
//!
//! Three front doors side by side, each translating its protocol into calls on the core:
//! [`ssh`] (engineers' plain `ssh`: public key, optional TOTP, the target named at login or
//! chosen from a menu), [`web`] (HTTPS: the REST API under `/api/v1`, the page, the browser
//! terminal and live watch over WebSockets) and [`cli`] (the `menwei` binary's subcommands).
//! Below them the core: [`session`] opens a live session only under a grant live now
//! ([`policy::connect`]), logs in to the target with a vaulted credential and a pinned host
//! key ([`session::upstream`]), records every byte into the tamper-evident recording (crate
//! `recordings`, [`session::recorder`]), feeds watchers ([`session::tap`]) and ends sessions
//! when their grant does or their account is cut off ([`session::enforcer`]); [`approvals`]
//! files and decides requests; [`accounts`] disables, enables, removes and logs out accounts;
//! the store is [`db`] (SQLite by default, PostgreSQL for several nodes) with the
//! hash-chained [`audit`] log, and the [`outbox`] keeps in order what a database outage
//! kept from it until it lands; [`credentials`] are the password hashes and API token
//! secrets the web and the CLI both use. Configuration is one TOML file ([`config`]);
//! everything that changes at run time lives in the database. [`views`] holds the JSON
//! shapes the CLI and the API share. Under attack: [`accept`] keeps both front doors'
//! accept loops alive and their connections capped, [`throttle`] slows failed logins per
//! address, [`login_alert`] raises an alert on one account failing from many, and
//! [`refusals`] counts what the limits turn away for one audit entry per interval. What
//! an operator watches: [`log`] (stderr, text or JSON lines) and [`metrics`] (Prometheus).
// Denied, not forbidden, for one exception: `memory` asks glibc's allocator to give freed
// pages back (`malloc_trim`, an FFI call with no Rust wrapper), under an `allow` of its own.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accept;
pub mod accounts;
pub mod approvals;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod db;
pub mod health;
pub mod init;
pub mod inspections;
pub mod log;
pub mod login_alert;
pub mod memory;
pub mod metrics;
pub mod nodes;
pub mod notify;
pub mod outbox;
pub mod proxy_header;
pub mod recording_store;
pub mod refusals;
pub mod reports;
pub mod retention;
pub mod s3;
pub mod serve;
pub mod session;
pub mod size;
pub mod ssh;
pub mod throttle;
pub mod time;
pub mod totp;
pub mod vault;
pub mod views;
pub mod web;
