//! The policy model: the `[policy]` table of `menwei.toml` once parsed, its validation,
//! and the plain questions asked of it (who may request what, how many approvers, which
//! channels, who needs TOTP).
//!
//! Not a parser: the gateway reads the TOML and its durations and builds a [`Policy`].
//! Not where requests are filed or reviewed (`request.rs`, `review.rs`).

use std::collections::BTreeMap;

use crate::{format_duration, login::quoted, validate_name, ChannelRules, Level, Millis, Role};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;

/// The longest break-glass grant any policy may allow.
pub const BREAK_GLASS_CEILING_MS: Millis = 2 * HOUR;
/// The most distinct approvers a group may require.
pub const MAX_APPROVALS: u32 = 10;

/// The access policy: time limits, fault levels, break-glass and target groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// A session without traffic for this long is closed (`idle_timeout`).
    pub idle_timeout_ms: Millis,
    /// No session lasts longer, whatever its grant (`max_session`).
    pub max_session_ms: Millis,
    /// A pending request lapses this long after it was filed (`request_ttl`).
    pub request_ttl_ms: Millis,
    /// The bureau's answer time: reports, and when break-glass opens (`response_window`).
    pub response_window_ms: Millis,
    /// Roles that log in with TOTP; approvers and admins always do.
    pub totp_roles: Vec<Role>,
    /// The longest grant a request of each fault level may ask for.
    pub levels: BTreeMap<Level, Millis>,
    /// Emergency grants.
    pub break_glass: BreakGlass,
    /// Target groups, by name.
    pub groups: BTreeMap<String, Group>,
}

/// Emergency grants for A-level faults nobody answered in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BreakGlass {
    /// Off unless the policy turns it on.
    pub enabled: bool,
    /// The longest emergency grant (`max_duration`), at most 2 h.
    pub max_ms: Millis,
}

/// A target group: which targets, who may request them, under which rules.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// Target names.
    pub targets: Vec<String>,
    /// Engineers who may request this group; `"*"` is every engineer.
    pub engineers: Vec<String>,
    /// Distinct approvers a request for these targets needs.
    pub approvals: u32,
    /// Non-interactive `ssh … command`.
    pub allow_exec: bool,
    /// `scp -t` uploads, recorded with their digest.
    pub allow_uploads: bool,
}

impl Default for Policy {
    /// The tender's numbers: idle 15 min, sessions 8 h, requests lapse after 4 h, the
    /// 30-minute response window, A and B 2 h, C one working day, D five; no groups and
    /// break-glass off.
    fn default() -> Self {
        Self {
            idle_timeout_ms: 15 * MINUTE,
            max_session_ms: 8 * HOUR,
            request_ttl_ms: 4 * HOUR,
            response_window_ms: 30 * MINUTE,
            totp_roles: vec![Role::Approver, Role::Admin],
            levels: BTreeMap::from([
                (Level::A, 2 * HOUR),
                (Level::B, 2 * HOUR),
                (Level::C, 24 * HOUR),
                (Level::D, 120 * HOUR),
            ]),
            break_glass: BreakGlass {
                enabled: false,
                max_ms: 2 * HOUR,
            },
            groups: BTreeMap::new(),
        }
    }
}

/// One thing wrong with a policy: the dotted key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyProblem {
    /// Dotted key as written in `menwei.toml`, e.g. `policy.groups.db.approvals`.
    pub key: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl std::fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl Policy {
    /// Everything wrong with this policy, in key order; empty when it is good.
    ///
    /// With `known_targets`, every group's targets must be among them.
    pub fn validate(&self, known_targets: Option<&[String]>) -> Vec<PolicyProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: String, message: String| {
            problems.push(PolicyProblem { key, message });
        };
        for (key, ms) in [
            ("idle_timeout", self.idle_timeout_ms),
            ("max_session", self.max_session_ms),
            ("request_ttl", self.request_ttl_ms),
            ("response_window", self.response_window_ms),
        ] {
            if ms <= 0 {
                problem(
                    format!("policy.{key}"),
                    "must be longer than zero".to_owned(),
                );
            }
        }
        for level in Level::ALL {
            let key = format!("policy.levels.{level}");
            match self.levels.get(&level) {
                None => problem(
                    key,
                    format!("missing; give the longest grant for level {level}, e.g. \"2h\""),
                ),
                Some(ms) if *ms <= 0 => problem(key, "must be longer than zero".to_owned()),
                Some(_) => {}
            }
        }
        let max = self.break_glass.max_ms;
        if max <= 0 || max > BREAK_GLASS_CEILING_MS {
            problem(
                "policy.break_glass.max_duration".to_owned(),
                format!(
                    "must be longer than zero and at most {}",
                    format_duration(BREAK_GLASS_CEILING_MS)
                ),
            );
        }
        for (name, group) in &self.groups {
            let key = format!("policy.groups.{}", name.escape_debug());
            if let Err(refusal) = validate_name("group", name) {
                problem(key.clone(), refusal.message);
            }
            if group.targets.is_empty() {
                problem(
                    format!("{key}.targets"),
                    "lists no targets; name at least one".to_owned(),
                );
            }
            for target in &group.targets {
                if let Err(refusal) = validate_name("target", target) {
                    problem(format!("{key}.targets"), refusal.message);
                } else if known_targets.is_some_and(|known| !known.contains(target)) {
                    problem(
                        format!("{key}.targets"),
                        format!(
                            "unknown target \"{target}\"; add it with: menwei target add {target}"
                        ),
                    );
                }
            }
            for engineer in group.engineers.iter().filter(|e| *e != "*") {
                if let Err(refusal) = validate_name("user", engineer) {
                    problem(
                        format!("{key}.engineers"),
                        format!("{}, or use \"*\" for every engineer", refusal.message),
                    );
                }
            }
            if !(1..=MAX_APPROVALS).contains(&group.approvals) {
                problem(
                    format!("{key}.approvals"),
                    format!("must be between 1 and {MAX_APPROVALS} distinct approvers"),
                );
            }
        }
        problems
    }

    /// The longest grant a request of `level` may ask for; zero (nothing) if the policy
    /// does not say, which [`Policy::validate`] reports.
    pub fn max_for(&self, level: Level) -> Millis {
        self.levels.get(&level).copied().unwrap_or(0)
    }

    /// The groups holding `target`, by name.
    pub fn groups_with<'a>(
        &'a self,
        target: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Group)> {
        self.groups
            .iter()
            .filter(move |(_, group)| group.holds(target))
            .map(|(name, group)| (name.as_str(), group))
    }

    /// May `engineer` request `target`: some group holds it and lists the engineer, or
    /// `"*"`. Names match exactly, so a spelling the policy does not list is refused.
    pub fn may_request(&self, engineer: &str, target: &str) -> bool {
        self.groups_with(target)
            .any(|(_, group)| group.admits(engineer))
    }

    /// Distinct approvers a request for `targets` needs: the largest `approvals` among the
    /// groups holding any of them, and at least 1.
    pub fn approvals_needed(&self, targets: &[String]) -> u32 {
        targets
            .iter()
            .flat_map(|target| self.groups_with(target))
            .map(|(_, group)| group.approvals)
            .fold(1, u32::max)
    }

    /// What a session to `target` may do beyond an interactive shell: exec and uploads
    /// only if every group holding it allows them (exec also only if the target itself
    /// does). A target in no group keeps its own exec setting and has no uploads.
    pub fn channel_rules(&self, target: &str, target_allows_exec: bool) -> ChannelRules {
        let mut rules = ChannelRules {
            exec_allowed: target_allows_exec,
            uploads_allowed: false,
        };
        let mut holding = self.groups_with(target).peekable();
        if holding.peek().is_some() {
            rules.uploads_allowed = true;
            for (_, group) in holding {
                rules.exec_allowed &= group.allow_exec;
                rules.uploads_allowed &= group.allow_uploads;
            }
        }
        rules
    }

    /// Whether an account of `role` logs in with TOTP. Approvers and admins always do.
    pub fn totp_required(&self, role: Role) -> bool {
        matches!(role, Role::Approver | Role::Admin) || self.totp_roles.contains(&role)
    }

    /// The group named `name`, if any.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }
}

impl Group {
    /// Whether this group holds `target`.
    pub fn holds(&self, target: &str) -> bool {
        self.targets.iter().any(|t| t == target)
    }

    /// Whether this group lists `engineer`, or `"*"`.
    pub fn admits(&self, engineer: &str) -> bool {
        self.engineers.iter().any(|e| e == "*" || e == engineer)
    }
}

/// A group's name for a message: `group "web"`, or `this group` if malformed.
pub(crate) fn group_phrase(name: &str) -> String {
    match validate_name("group", name) {
        Ok(()) => format!("group {}", quoted(name, "")),
        Err(_) => "this group".to_owned(),
    }
}
