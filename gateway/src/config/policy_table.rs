//! `[policy]` of `menwei.toml`, or the file its `file` key names: parsed into a
//! [`policy::Policy`] with every key's position kept, so that a problem found while parsing
//! or by [`policy::Policy::validate`] reads `FILE:LINE:COL: policy.groups.db.approvals: …`.
//!
//! It reads and places; it does not decide. What a valid policy is and what it allows is
//! the `policy` crate's business (docs/approvals.md describes the keys).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use policy::{Level, Millis, Policy, PolicyProblem, Role};
use serde::Deserialize;
use toml::Spanned;

use super::{key_path_at, line_col, ConfigError};

/// Where the policy was read from, with the position of each key, so later checks (e.g.
/// against the targets in the database) can point at the line too.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// The file holding the policy table: `menwei.toml` or the file `[policy] file` names.
    pub path: PathBuf,
    text: String,
    /// Dotted key (`policy.groups.db.approvals`) → byte offset of its value.
    spans: BTreeMap<String, usize>,
    /// Whether `path` is a file of its own (keys written without `policy.`).
    separate: bool,
}

impl PolicySource {
    /// Places `problem` at the line of its key (or of the nearest enclosing key that has
    /// one; the top of the file if none does).
    pub fn place(&self, problem: &PolicyProblem) -> PolicyIssue {
        let key = dotted(&problem.key);
        let offset = self.offset_of(&key);
        let (line, column) = offset.map_or((1, 1), |o| line_col(&self.text, o));
        PolicyIssue {
            path: self.path.clone(),
            line,
            column,
            key,
            message: problem.message.clone(),
        }
    }

    /// Places every problem.
    pub fn place_all(&self, problems: &[PolicyProblem]) -> Vec<PolicyIssue> {
        problems.iter().map(|p| self.place(p)).collect()
    }

    fn offset_of(&self, key: &str) -> Option<usize> {
        let mut k = key;
        loop {
            if let Some(o) = self.spans.get(k) {
                return Some(*o);
            }
            // `policy.groups.db.targets[1]` → `policy.groups.db.targets` → … → `policy`.
            let cut = k.rfind(['.', '['])?;
            k = k.get(..cut)?;
        }
    }

    fn record(&mut self, key: impl Into<String>, span: Range<usize>) {
        self.spans.insert(key.into(), span.start);
    }

    /// Records where the table `key` (`policy.groups.web`) starts: its `[header]` line
    /// (written without `policy.` in a policy file of its own). A table written inline or
    /// with dotted keys has no header; problems in it fall back to the enclosing key.
    fn record_header(&mut self, key: &str) {
        let in_file = if self.separate {
            key.strip_prefix("policy.").unwrap_or(key).to_string()
        } else {
            key.to_string()
        };
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim_start();
            let header = t
                .strip_prefix('[')
                .and_then(|h| h.split(']').next())
                .map(|h| {
                    h.split('.')
                        .map(|p| p.trim().trim_matches('"'))
                        .collect::<Vec<_>>()
                        .join(".")
                });
            if header.as_deref() == Some(in_file.as_str()) {
                let indent = line.len().saturating_sub(t.len());
                self.spans.insert(key.to_string(), offset + indent);
                return;
            }
            offset += line.len();
        }
    }
}

/// `policy.KEY` for a key given with or without the `policy.` prefix.
fn dotted(key: &str) -> String {
    if key == "policy" || key.starts_with("policy.") {
        key.to_string()
    } else {
        format!("policy.{key}")
    }
}

/// One problem in the policy, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyIssue {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key, `policy.` first.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.key,
            self.message
        )
    }
}

/// The `[policy]` table as written; every value keeps its span.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    file: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    max_session: Option<Spanned<String>>,
    request_ttl: Option<Spanned<String>>,
    response_window: Option<Spanned<String>>,
    totp_roles: Option<Spanned<Vec<Spanned<String>>>>,
    // Tables cannot be `Spanned` in toml 0.8; their headers are found in the text instead.
    levels: Option<BTreeMap<String, Spanned<String>>>,
    break_glass: Option<RawBreakGlass>,
    groups: Option<BTreeMap<String, RawGroup>>,
    max_grant: Option<Spanned<String>>,
    targets: Option<BTreeMap<String, RawTargetRule>>,
    max_sessions_per_engineer: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargetRule {
    allow_exec: Option<Spanned<bool>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBreakGlass {
    enabled: Option<Spanned<bool>>,
    max_duration: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    targets: Spanned<Vec<Spanned<String>>>,
    engineers: Spanned<Vec<Spanned<String>>>,
    approvals: Option<Spanned<i64>>,
    allow_exec: Option<Spanned<bool>>,
    allow_uploads: Option<Spanned<bool>>,
    allow_shell_syntax: Option<Spanned<bool>>,
    transfer_guard: Option<Spanned<String>>,
    max_output_bytes: Option<Spanned<String>>,
}

/// The policy table of the configuration file at `path` (text `text`, directory `dir`):
/// read (following `file`), turned into a [`Policy`], validated on its own.
pub(super) fn build(
    raw: Option<RawPolicy>,
    path: &Path,
    text: &str,
    dir: &Path,
) -> Result<(Policy, PolicySource), ConfigError> {
    let Some(raw) = raw else {
        let source = PolicySource {
            path: path.to_path_buf(),
            text: text.to_string(),
            spans: BTreeMap::new(),
            separate: false,
        };
        return Ok((Policy::default(), source));
    };
    let (raw, mut source) = match raw.file {
        None => {
            let mut source = PolicySource {
                path: path.to_path_buf(),
                text: text.to_string(),
                spans: BTreeMap::new(),
                separate: false,
            };
            source.record_header("policy");
            (raw, source)
        }
        Some(ref file) => {
            let here = |msg: String| issue_at(path, text, file.span().start, "policy.file", msg);
            if raw.idle_timeout.is_some()
                || raw.max_session.is_some()
                || raw.request_ttl.is_some()
                || raw.response_window.is_some()
                || raw.totp_roles.is_some()
                || raw.levels.is_some()
                || raw.break_glass.is_some()
                || raw.groups.is_some()
                || raw.max_grant.is_some()
                || raw.targets.is_some()
                || raw.max_sessions_per_engineer.is_some()
            {
                return Err(here(
                    "names a policy file, so [policy] here may hold no other key; \
                     move them to that file"
                        .to_string(),
                ));
            }
            if file.get_ref().trim().is_empty() {
                return Err(here("empty path".to_string()));
            }
            let policy_path = dir.join(file.get_ref());
            let policy_text = std::fs::read_to_string(&policy_path)
                .map_err(|e| here(format!("cannot read {}: {e}", policy_path.display())))?;
            let raw = parse_file(&policy_path, &policy_text)?;
            if let Some(inner) = &raw.file {
                return Err(issue_at(
                    &policy_path,
                    &policy_text,
                    inner.span().start,
                    "policy.file",
                    "a policy file cannot name another policy file".to_string(),
                ));
            }
            let source = PolicySource {
                path: policy_path,
                text: policy_text,
                spans: BTreeMap::new(),
                separate: true,
            };
            (raw, source)
        }
    };
    let policy = convert(raw, &mut source)?;
    let problems = policy.validate(None);
    if !problems.is_empty() {
        return Err(ConfigError::Policy(source.place_all(&problems)));
    }
    Ok((policy, source))
}

/// Parses a policy file (its top level is the policy table).
fn parse_file(path: &Path, text: &str) -> Result<RawPolicy, ConfigError> {
    toml::from_str::<RawPolicy>(text).map_err(|e| {
        let message = e.message().trim().replace('\n', "; ");
        let offset = e.span().map(|s| s.start);
        let key = offset
            .and_then(|o| key_path_at(text, o))
            .map_or_else(|| "policy".to_string(), |k| dotted(&k));
        let (line, column) = offset.map_or((1, 1), |o| line_col(text, o));
        ConfigError::Policy(vec![PolicyIssue {
            path: path.to_path_buf(),
            line,
            column,
            key,
            message,
        }])
    })
}

fn issue_at(path: &Path, text: &str, offset: usize, key: &str, message: String) -> ConfigError {
    let (line, column) = line_col(text, offset);
    ConfigError::Policy(vec![PolicyIssue {
        path: path.to_path_buf(),
        line,
        column,
        key: key.to_string(),
        message,
    }])
}

/// Turns the raw table into a [`Policy`] over the defaults, recording spans in `source`.
fn convert(raw: RawPolicy, source: &mut PolicySource) -> Result<Policy, ConfigError> {
    let mut p = Policy::default();
    let err = |source: &PolicySource, key: &str, span: Range<usize>, message: String| {
        issue_at(&source.path, &source.text, span.start, key, message)
    };
    let duration = |source: &mut PolicySource, key: &str, v: &Spanned<String>| {
        source.record(key, v.span());
        crate::time::parse_duration(v.get_ref())
            .map(crate::time::duration_ms)
            .map_err(|e| err(source, key, v.span(), e))
    };
    if let Some(v) = &raw.idle_timeout {
        p.idle_timeout_ms = duration(source, "policy.idle_timeout", v)?;
    }
    if let Some(v) = &raw.max_session {
        p.max_session_ms = duration(source, "policy.max_session", v)?;
    }
    if let Some(v) = &raw.request_ttl {
        p.request_ttl_ms = duration(source, "policy.request_ttl", v)?;
    }
    if let Some(v) = &raw.response_window {
        p.response_window_ms = duration(source, "policy.response_window", v)?;
    }
    if let Some(v) = &raw.max_grant {
        p.max_grant_ms = duration(source, "policy.max_grant", v)?;
    }
    if let Some(v) = &raw.max_sessions_per_engineer {
        let key = "policy.max_sessions_per_engineer";
        source.record(key, v.span());
        p.max_sessions_per_engineer = u32::try_from(*v.get_ref())
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                err(
                    source,
                    key,
                    v.span(),
                    format!(
                        "{}: expected a whole number of sessions, at least 1",
                        v.get_ref()
                    ),
                )
            })?;
    }
    if let Some(targets) = &raw.targets {
        source.record_header("policy.targets");
        for (name, t) in targets {
            let key = format!("policy.targets.{name}");
            source.record_header(&key);
            let mut rule = policy::TargetRule::default();
            if let Some(v) = &t.allow_exec {
                source.record(format!("{key}.allow_exec"), v.span());
                rule.allow_exec = *v.get_ref();
            }
            p.targets.insert(name.clone(), rule);
        }
    }
    if let Some(roles) = &raw.totp_roles {
        source.record("policy.totp_roles", roles.span());
        let mut parsed: Vec<Role> = Vec::new();
        for (i, r) in roles.get_ref().iter().enumerate() {
            let key = format!("policy.totp_roles[{i}]");
            source.record(key.clone(), r.span());
            let role = r
                .get_ref()
                .parse::<Role>()
                .map_err(|e| err(source, &key, r.span(), e.to_string()))?;
            if !parsed.contains(&role) {
                parsed.push(role);
            }
        }
        p.totp_roles = parsed;
    }
    if let Some(levels) = &raw.levels {
        source.record_header("policy.levels");
        for (name, v) in levels {
            let key = format!("policy.levels.{name}");
            let level = name.parse::<Level>().map_err(|_| {
                err(
                    source,
                    &key,
                    v.span(),
                    format!("unknown fault level {name:?}; expected A, B, C or D"),
                )
            })?;
            let ms: Millis = duration(source, &key, v)?;
            p.levels.insert(level, ms);
        }
    }
    if let Some(bg) = &raw.break_glass {
        source.record_header("policy.break_glass");
        if let Some(v) = &bg.enabled {
            source.record("policy.break_glass.enabled", v.span());
            p.break_glass.enabled = *v.get_ref();
        }
        if let Some(v) = &bg.max_duration {
            p.break_glass.max_ms = duration(source, "policy.break_glass.max_duration", v)?;
        }
    }
    if let Some(groups) = &raw.groups {
        source.record_header("policy.groups");
        for (name, g) in groups {
            let key = format!("policy.groups.{}", name.escape_debug());
            source.record_header(&key);
            let names =
                |source: &mut PolicySource, field: &str, v: &Spanned<Vec<Spanned<String>>>| {
                    source.record(format!("{key}.{field}"), v.span());
                    v.get_ref()
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            source.record(format!("{key}.{field}[{i}]"), s.span());
                            s.get_ref().clone()
                        })
                        .collect::<Vec<_>>()
                };
            let targets = names(source, "targets", &g.targets);
            let engineers = names(source, "engineers", &g.engineers);
            let approvals = match &g.approvals {
                Some(v) => {
                    let k = format!("{key}.approvals");
                    source.record(k.clone(), v.span());
                    u32::try_from(*v.get_ref()).map_err(|_| {
                        err(
                            source,
                            &k,
                            v.span(),
                            format!(
                                "{}: expected a whole number of approvers, at least 1",
                                v.get_ref()
                            ),
                        )
                    })?
                }
                None => 1,
            };
            let flag = |source: &mut PolicySource,
                        field: &str,
                        v: &Option<Spanned<bool>>,
                        default: bool| {
                match v {
                    Some(v) => {
                        source.record(format!("{key}.{field}"), v.span());
                        *v.get_ref()
                    }
                    None => default,
                }
            };
            let allow_exec = flag(source, "allow_exec", &g.allow_exec, true);
            let allow_uploads = flag(source, "allow_uploads", &g.allow_uploads, false);
            let allow_shell_syntax =
                flag(source, "allow_shell_syntax", &g.allow_shell_syntax, false);
            let transfer_guard = match &g.transfer_guard {
                Some(v) => {
                    let k = format!("{key}.transfer_guard");
                    source.record(k.clone(), v.span());
                    match v.get_ref().as_str() {
                        "end" => policy::TransferGuard::End,
                        "alert" => policy::TransferGuard::Alert,
                        other => {
                            return Err(err(
                                source,
                                &k,
                                v.span(),
                                format!("{other:?}: expected \"end\" or \"alert\""),
                            ))
                        }
                    }
                }
                None => policy::TransferGuard::End,
            };
            let max_output_bytes = match &g.max_output_bytes {
                Some(v) => {
                    let k = format!("{key}.max_output_bytes");
                    source.record(k.clone(), v.span());
                    match crate::size::parse_size(v.get_ref()) {
                        Ok(0) => {
                            return Err(err(
                                source,
                                &k,
                                v.span(),
                                "expected a size above zero, e.g. \"512MiB\"; leave it out for no limit".into(),
                            ))
                        }
                        Ok(n) => Some(n),
                        Err(e) => return Err(err(source, &k, v.span(), e)),
                    }
                }
                None => None,
            };
            p.groups.insert(
                name.clone(),
                policy::Group {
                    targets,
                    engineers,
                    approvals,
                    allow_exec,
                    allow_uploads,
                    allow_shell_syntax,
                    transfer_guard,
                    max_output_bytes,
                },
            );
        }
    }
    Ok(p)
}

/// The `[policy]` part of the commented configuration `menwei init` writes.
pub const TEMPLATE: &str = r#"[policy]
# Who may ask for what, for how long, and who must say yes. `menwei policy check`
# validates it; `menwei serve` reloads it on SIGHUP (keeping the last good one if the
# new one is invalid). It may instead live in its own file: file = "policy.toml".
# Close sessions without traffic for this long.
idle_timeout = "15m"
# No session lasts longer, whatever its grant.
max_session = "8h"
# A request nobody decided lapses after this.
request_ttl = "4h"
# The bureau's answer time: reports measure against it; break-glass opens after it.
response_window = "30m"
# Roles that log in with a TOTP code after their key (approver and admin always do).
totp_roles = ["approver", "admin"]
# The longest grant an approver may create directly (menwei grant add), without a request.
max_grant = "24h"
# Live sessions (SSH and browser terminal, counted on every node) one engineer may hold at
# once; the next is refused with one line naming this limit, and audited.
max_sessions_per_engineer = 10

[policy.levels]
# The longest grant a request of each fault level may ask for.
A = "2h"
B = "2h"
C = "24h"
D = "120h"

[policy.break_glass]
# For an A-level request no approver answered within response_window, the engineer may
# open a short emergency grant; every approver is alerted and must sign it off.
enabled = false
max_duration = "2h"

# Target groups: who may request them, how many distinct approvers must approve, and
# whether non-interactive exec and uploads are allowed. Without a group holding a target,
# nobody can request it (an approver can still `menwei grant add`).
# allow_shell_syntax lets exec lines use shell syntax that hides what they run ($VAR,
# `...`, $(...), eval, source, sh -s, sh -c inside sh -c); off, such a line is refused
# and audited (shell_syntax_refused). Whatever the command line, a file transfer starting
# in a channel's bytes (SFTP, scp, rsync, ZMODEM sz/rz) is recognised: transfer_guard =
# "end" ends the session with one line naming the protocol, "alert" lets it go on; both
# audit transfer.detected (allowed scp -O uploads pass). max_output_bytes caps what one
# session may print (target to engineer): a warning at half, the end at the limit.
# [policy.groups.web]
# targets = ["web01", "web02"]
# engineers = ["*"]          # "*": every engineer
# approvals = 1
# allow_exec = true
# allow_uploads = false
# allow_shell_syntax = false
# transfer_guard = "end"     # or "alert"
# max_output_bytes = "512MiB" # unset: no limit
#
# [policy.groups.databases]
# targets = ["db01"]
# engineers = ["alice", "carol"]
# approvals = 2
# allow_exec = false

# Rules for one target whatever groups hold it, e.g. to refuse non-interactive exec:
# [policy.targets.db01]
# allow_exec = false
"#;
