//! The policy model: the `[policy]` table of `menwei.toml` once parsed, its validation,
//! and the plain questions asked of it (who may request what, how many approvers, which
//! channels, who needs TOTP).
//!
//! Not a parser: the gateway reads the TOML and its durations and builds a [`Policy`].
//! Not where requests are filed or reviewed (`request.rs`, `review.rs`).

use std::collections::BTreeMap;

use crate::transfer::TransferGuard;
use crate::{format_duration, login::quoted, validate_name, ChannelRules, Level, Millis, Role};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;

/// The longest break-glass grant any policy may allow.
pub const BREAK_GLASS_CEILING_MS: Millis = 2 * HOUR;
/// Live sessions one engineer may hold at once unless the policy says otherwise.
pub const DEFAULT_MAX_SESSIONS_PER_ENGINEER: u32 = 10;
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
    /// The longest grant an approver may create directly (`max_grant`), without a request.
    pub max_grant_ms: Millis,
    /// Rules for single targets (`[policy.targets.NAME]`), whatever groups hold them.
    pub targets: BTreeMap<String, TargetRule>,
    /// Live sessions (SSH and browser terminal, on every node) one engineer may hold at
    /// once (`max_sessions_per_engineer`); see [`crate::session_count_check`].
    pub max_sessions_per_engineer: u32,
}

/// `[policy.targets.NAME]`: what one target allows, whatever groups hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetRule {
    /// Non-interactive `ssh … command` (`allow_exec`, default true).
    pub allow_exec: bool,
}

impl Default for TargetRule {
    fn default() -> Self {
        TargetRule { allow_exec: true }
    }
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
    /// Exec lines whose shell syntax hides what they run (`$S`, `eval`, `sh -s`, …).
    pub allow_shell_syntax: bool,
    /// What a transfer recognised in a channel's bytes does (`transfer_guard`).
    #[serde(default)]
    pub transfer_guard: TransferGuard,
    /// Target → engineer bytes one session may carry (`max_output_bytes`); none: no limit.
    #[serde(default)]
    pub max_output_bytes: Option<u64>,
}

/// What the bytes of a session to one target are held to: the strictest of its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRules {
    /// What a recognised transfer does.
    pub transfer_guard: TransferGuard,
    /// Target → engineer bytes per session, if limited.
    pub max_output_bytes: Option<u64>,
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
            max_grant_ms: 24 * HOUR,
            targets: BTreeMap::new(),
            max_sessions_per_engineer: DEFAULT_MAX_SESSIONS_PER_ENGINEER,
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
            ("max_grant", self.max_grant_ms),
        ] {
            if ms <= 0 {
                problem(
                    format!("policy.{key}"),
                    "must be longer than zero".to_owned(),
                );
            }
        }
        if self.max_sessions_per_engineer == 0 {
            problem(
                "policy.max_sessions_per_engineer".to_owned(),
                "must be at least 1".to_owned(),
            );
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
        for target in self.targets.keys() {
            let key = format!("policy.targets.{}", target.escape_debug());
            if let Err(refusal) = validate_name("target", target) {
                problem(key, refusal.message);
            } else if known_targets.is_some_and(|known| !known.contains(target)) {
                problem(
                    key,
                    format!("unknown target \"{target}\"; add it with: menwei target add {target}"),
                );
            }
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

    /// Whether `[policy.targets.NAME]` leaves non-interactive exec on for `target`.
    pub fn target_allows_exec(&self, target: &str) -> bool {
        self.targets.get(target).is_none_or(|t| t.allow_exec)
    }

    /// What a session to `target` may do beyond an interactive shell: exec, uploads and
    /// exec lines with shell syntax only if every group holding it allows them (exec also
    /// only if the target's own rule does). A target in no group keeps its own exec rule
    /// and has neither uploads nor shell syntax.
    pub fn channel_rules(&self, target: &str) -> ChannelRules {
        let mut rules = ChannelRules {
            exec_allowed: self.target_allows_exec(target),
            uploads_allowed: false,
            shell_syntax_allowed: false,
        };
        let mut holding = self.groups_with(target).peekable();
        if holding.peek().is_some() {
            rules.uploads_allowed = true;
            rules.shell_syntax_allowed = true;
            for (_, group) in holding {
                rules.exec_allowed &= group.allow_exec;
                rules.uploads_allowed &= group.allow_uploads;
                rules.shell_syntax_allowed &= group.allow_shell_syntax;
            }
        }
        rules
    }

    /// What the bytes of a session to `target` are held to: `end` unless every group
    /// holding it says `alert` (a target in no group ends), and the smallest
    /// `max_output_bytes` among them.
    pub fn stream_rules(&self, target: &str) -> StreamRules {
        let mut guard = None;
        let mut max_output_bytes: Option<u64> = None;
        for (_, group) in self.groups_with(target) {
            guard = Some(match guard {
                None => group.transfer_guard,
                Some(g) => group.transfer_guard.strictest(g),
            });
            if let Some(limit) = group.max_output_bytes {
                max_output_bytes = Some(max_output_bytes.map_or(limit, |m| m.min(limit)));
            }
        }
        StreamRules {
            transfer_guard: guard.unwrap_or_default(),
            max_output_bytes,
        }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    pub(crate) fn group(targets: &[&str], engineers: &[&str], approvals: u32) -> Group {
        Group {
            targets: names(targets),
            engineers: names(engineers),
            approvals,
            allow_exec: true,
            allow_uploads: false,
            allow_shell_syntax: false,
            transfer_guard: TransferGuard::End,
            max_output_bytes: None,
        }
    }

    #[test]
    fn stream_rules_take_the_strictest_group() {
        let mut p = policy();
        assert_eq!(p.stream_rules("mail01").transfer_guard, TransferGuard::End);
        p.groups.get_mut("web").unwrap().transfer_guard = TransferGuard::Alert;
        p.groups.get_mut("web").unwrap().max_output_bytes = Some(1000);
        assert_eq!(p.stream_rules("web01").transfer_guard, TransferGuard::Alert);
        p.groups.insert(
            "small".to_owned(),
            Group {
                max_output_bytes: Some(10),
                ..group(&["web02"], &["*"], 1)
            },
        );
        let web02 = p.stream_rules("web02");
        assert_eq!(web02.transfer_guard, TransferGuard::End, "small says end");
        assert_eq!(web02.max_output_bytes, Some(10));
        assert_eq!(p.stream_rules("web01").max_output_bytes, Some(1000));
        assert_eq!(p.stream_rules("db01").max_output_bytes, None);
    }

    /// `web` (web01, web02; everyone; 1 approver; exec) and `databases` (db01; alice and
    /// carol; 2 approvers; no exec); break-glass on.
    pub(crate) fn policy() -> Policy {
        let mut p = Policy::default();
        p.break_glass.enabled = true;
        p.groups
            .insert("web".to_owned(), group(&["web01", "web02"], &["*"], 1));
        p.groups.insert(
            "databases".to_owned(),
            Group {
                allow_exec: false,
                ..group(&["db01"], &["alice", "carol"], 2)
            },
        );
        p
    }

    fn keys(problems: &[PolicyProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn defaults_follow_the_tender() {
        let p = Policy::default();
        assert_eq!(p.idle_timeout_ms, 15 * MINUTE);
        assert_eq!(p.max_session_ms, 8 * HOUR);
        assert_eq!(p.request_ttl_ms, 4 * HOUR);
        assert_eq!(p.response_window_ms, 30 * MINUTE);
        assert_eq!(p.max_for(Level::A), 2 * HOUR);
        assert_eq!(p.max_for(Level::B), 2 * HOUR);
        assert_eq!(p.max_for(Level::C), 24 * HOUR);
        assert_eq!(p.max_for(Level::D), 120 * HOUR);
        assert!(!p.break_glass.enabled);
        assert_eq!(p.break_glass.max_ms, 2 * HOUR);
        assert!(p.groups.is_empty());
        assert_eq!(p.max_sessions_per_engineer, 10);
        assert_eq!(p.validate(None), vec![]);
        let none = Policy {
            max_sessions_per_engineer: 0,
            ..Policy::default()
        };
        assert_eq!(
            keys(&none.validate(None)),
            ["policy.max_sessions_per_engineer"]
        );
        assert_eq!(policy().validate(None), vec![]);
    }

    #[test]
    fn durations_must_be_positive() {
        let p = Policy {
            idle_timeout_ms: 0,
            max_session_ms: -1,
            request_ttl_ms: 0,
            response_window_ms: 0,
            ..Policy::default()
        };
        let problems = p.validate(None);
        assert_eq!(
            keys(&problems),
            [
                "policy.idle_timeout",
                "policy.max_session",
                "policy.request_ttl",
                "policy.response_window"
            ]
        );
        assert_eq!(
            problems[0].to_string(),
            "policy.idle_timeout: must be longer than zero"
        );
    }

    #[test]
    fn every_level_needs_a_positive_cap() {
        let mut p = Policy::default();
        p.levels.remove(&Level::C);
        p.levels.insert(Level::D, 0);
        let problems = p.validate(None);
        assert_eq!(keys(&problems), ["policy.levels.C", "policy.levels.D"]);
        assert_eq!(
            problems[0].message,
            "missing; give the longest grant for level C, e.g. \"2h\""
        );
        assert_eq!(p.max_for(Level::C), 0);
    }

    #[test]
    fn break_glass_is_at_most_two_hours() {
        for max_ms in [0, 2 * HOUR + 1] {
            let mut p = Policy::default();
            p.break_glass.max_ms = max_ms;
            let problems = p.validate(None);
            assert_eq!(keys(&problems), ["policy.break_glass.max_duration"]);
            assert_eq!(
                problems[0].message,
                "must be longer than zero and at most 2 h"
            );
        }
    }

    #[test]
    fn approvals_are_between_one_and_ten() {
        for approvals in [0, 11] {
            let mut p = policy();
            p.groups
                .insert("db".to_owned(), group(&["db01"], &["*"], approvals));
            let problems = p.validate(None);
            assert_eq!(keys(&problems), ["policy.groups.db.approvals"]);
            assert_eq!(
                problems[0].message,
                "must be between 1 and 10 distinct approvers"
            );
        }
        let mut p = policy();
        p.groups
            .insert("db".to_owned(), group(&["db01"], &["*"], 10));
        assert_eq!(p.validate(None), vec![]);
    }

    #[test]
    fn group_names_targets_and_engineers_are_checked() {
        let mut p = Policy::default();
        p.groups
            .insert("-x".to_owned(), group(&["web01"], &["*"], 1));
        p.groups.insert("empty".to_owned(), group(&[], &["*"], 1));
        p.groups
            .insert("bad".to_owned(), group(&["web 01"], &["al ice", "*"], 1));
        let problems = p.validate(None);
        assert_eq!(
            keys(&problems),
            [
                "policy.groups.-x",
                "policy.groups.bad.targets",
                "policy.groups.bad.engineers",
                "policy.groups.empty.targets"
            ]
        );
        assert_eq!(
            problems[0].message,
            "group name must start with a letter, a digit or '_'"
        );
        assert_eq!(
            problems[1].message,
            "target name contains U+0020; use only letters, digits, '.', '_' and '-'"
        );
        assert_eq!(
            problems[2].message,
            "user name contains U+0020; use only letters, digits, '.', '_' and '-', or use \"*\" for every engineer"
        );
        assert_eq!(problems[3].message, "lists no targets; name at least one");
    }

    #[test]
    fn unprintable_group_names_are_escaped_in_the_key() {
        let mut p = Policy::default();
        p.groups
            .insert("a\x1bb".to_owned(), group(&["web01"], &["*"], 1));
        let problems = p.validate(None);
        assert_eq!(keys(&problems), ["policy.groups.a\\u{1b}b"]);
    }

    #[test]
    fn targets_must_exist_when_known() {
        let p = policy();
        let known = names(&["web01", "db01"]);
        let problems = p.validate(Some(&known));
        assert_eq!(keys(&problems), ["policy.groups.web.targets"]);
        assert_eq!(
            problems[0].message,
            "unknown target \"web02\"; add it with: menwei target add web02"
        );
        assert_eq!(
            p.validate(Some(&names(&["web01", "web02", "db01"]))),
            vec![]
        );
    }

    #[test]
    fn who_may_request_what() {
        let p = policy();
        assert!(p.may_request("bob", "web01"));
        assert!(p.may_request("alice", "db01"));
        assert!(!p.may_request("bob", "db01"));
        assert!(!p.may_request("Alice", "db01"), "names match exactly");
        assert!(!p.may_request("alice", "mail01"), "in no group");
        assert_eq!(
            p.groups_with("db01").map(|(n, _)| n).collect::<Vec<_>>(),
            ["databases"]
        );
    }

    #[test]
    fn approvals_needed_is_the_largest_among_the_groups() {
        let mut p = policy();
        assert_eq!(p.approvals_needed(&names(&["web01"])), 1);
        assert_eq!(p.approvals_needed(&names(&["web01", "db01"])), 2);
        assert_eq!(p.approvals_needed(&names(&["mail01"])), 1);
        assert_eq!(p.approvals_needed(&[]), 1);
        p.groups
            .insert("all".to_owned(), group(&["web01"], &["*"], 3));
        assert_eq!(p.approvals_needed(&names(&["web01"])), 3);
    }

    #[test]
    fn channel_rules_need_every_group_to_allow() {
        let mut p = policy();
        let web = p.channel_rules("web01");
        assert!(web.exec_allowed && !web.uploads_allowed);
        let mut no_exec = p.clone();
        no_exec
            .targets
            .insert("web01".to_owned(), TargetRule { allow_exec: false });
        assert!(
            !no_exec.channel_rules("web01").exec_allowed,
            "target says no"
        );
        assert!(!p.channel_rules("db01").exec_allowed);
        let loose = p.channel_rules("mail01");
        assert!(loose.exec_allowed && !loose.uploads_allowed);
        p.groups.insert(
            "uploads".to_owned(),
            Group {
                allow_uploads: true,
                ..group(&["web02"], &["*"], 1)
            },
        );
        assert!(!p.channel_rules("web02").uploads_allowed, "web says no");
        p.groups.get_mut("web").unwrap().allow_uploads = true;
        assert!(p.channel_rules("web02").uploads_allowed);
    }

    #[test]
    fn shell_syntax_needs_every_group_to_allow_it() {
        let mut p = policy();
        assert!(
            !p.channel_rules("web01").shell_syntax_allowed,
            "off by default"
        );
        assert!(
            !p.channel_rules("mail01").shell_syntax_allowed,
            "in no group"
        );
        p.groups.get_mut("web").unwrap().allow_shell_syntax = true;
        assert!(p.channel_rules("web01").shell_syntax_allowed);
        p.groups
            .insert("strict".to_owned(), group(&["web01"], &["*"], 1));
        assert!(
            !p.channel_rules("web01").shell_syntax_allowed,
            "strict says no"
        );
        assert!(p.channel_rules("web02").shell_syntax_allowed);
    }

    #[test]
    fn approvers_and_admins_always_need_totp() {
        let p = Policy {
            totp_roles: vec![],
            ..Policy::default()
        };
        assert!(p.totp_required(Role::Approver) && p.totp_required(Role::Admin));
        assert!(!p.totp_required(Role::Engineer) && !p.totp_required(Role::Auditor));
        let p = Policy {
            totp_roles: vec![Role::Engineer],
            ..Policy::default()
        };
        assert!(p.totp_required(Role::Engineer));
    }

    fn arb_group() -> impl Strategy<Value = Group> {
        (
            prop::sample::subsequence(vec!["web01", "web02", "db01"], 0..=3),
            prop::sample::subsequence(vec!["alice", "bob", "*"], 0..=3),
            0u32..12,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(targets, engineers, approvals, allow_exec, allow_uploads, allow_shell_syntax)| {
                    Group {
                        allow_exec,
                        allow_uploads,
                        allow_shell_syntax,
                        ..group(&targets, &engineers, approvals)
                    }
                },
            )
    }

    pub(crate) fn arb_policy() -> impl Strategy<Value = Policy> {
        (
            prop::collection::btree_map(
                prop::sample::select(vec!["web", "db", "all", "ops"]),
                arb_group(),
                0..4,
            ),
            any::<bool>(),
            prop::sample::select(vec![0, MINUTE, HOUR, 2 * HOUR, 3 * HOUR]),
        )
            .prop_map(|(groups, enabled, max_ms)| Policy {
                groups: groups
                    .into_iter()
                    .map(|(name, g)| (name.to_owned(), g))
                    .collect(),
                break_glass: BreakGlass { enabled, max_ms },
                ..Policy::default()
            })
    }

    proptest! {
        #[test]
        fn channel_rules_are_never_looser_than_a_holding_group(
            p in arb_policy(),
            target in prop::sample::select(vec!["web01", "web02", "db01", "mail01"]),
            target_allows_exec in any::<bool>(),
        ) {
            let mut p = p;
            p.targets.insert(target.to_owned(), TargetRule { allow_exec: target_allows_exec });
            let rules = p.channel_rules(target);
            prop_assert!(!rules.exec_allowed || target_allows_exec);
            for (_, g) in p.groups_with(target) {
                prop_assert!(!rules.exec_allowed || g.allow_exec);
                prop_assert!(!rules.uploads_allowed || g.allow_uploads);
                prop_assert!(!rules.shell_syntax_allowed || g.allow_shell_syntax);
            }
            if p.groups_with(target).next().is_none() {
                prop_assert!(!rules.uploads_allowed);
                prop_assert!(!rules.shell_syntax_allowed);
            }
        }

        #[test]
        fn approvals_needed_covers_every_group_involved(
            p in arb_policy(),
            targets in prop::sample::subsequence(vec!["web01", "web02", "db01", "mail01"], 0..=4),
        ) {
            let targets = names(&targets);
            let needed = p.approvals_needed(&targets);
            prop_assert!(needed >= 1);
            for t in &targets {
                for (_, g) in p.groups_with(t) {
                    prop_assert!(needed >= g.approvals);
                }
            }
        }
    }
}
