//! `[inspections.NAME]`: the inspection runbooks (巡检) `serve` runs on a schedule. Each names
//! its targets (or a `[policy]` group), its read-only commands (each a named check whose
//! figure is read as a [`Measure`]), the thresholds the figures are judged against, its
//! slots (`"1,16 09:00"` in `[reports] utc_offset`) and how many approvers must approve each
//! version. The version is a hash of targets, commands and thresholds: a changed runbook is
//! a new version and needs approval again (`crate::inspections`). Errors are placed at their
//! line like the rest of the file.

use std::collections::BTreeMap;

use policy::inspection::{Measure, Slots};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::{ConfigError, Source};

/// One check of a runbook: a command run on each target and how its figure is read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Its name in the report, e.g. `disk`.
    pub name: String,
    /// The command line, run as an exec channel on the target.
    pub command: String,
    /// What its figure measures (`disk_percent`, `load`, `memory_percent`, `failed_units`,
    /// `info`).
    #[serde(serialize_with = "measure_name")]
    pub measure: Measure,
}

fn measure_name<S: serde::Serializer>(m: &Measure, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// One `[inspections.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    /// Its name.
    pub name: String,
    /// The targets it inspects (a group's, resolved at load).
    pub targets: Vec<String>,
    /// The group it was given by, if any.
    pub group: Option<String>,
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// Threshold per measure name (`disk_percent = 90`).
    pub thresholds: BTreeMap<String, f64>,
    /// When it runs; `None`: only when asked (`menwei inspection run`).
    pub schedule: Option<Slots>,
    /// The schedule as written, for display.
    pub schedule_text: Option<String>,
    /// Distinct approvers each version needs.
    pub approvers: u32,
    /// Who wrote it (an account that then cannot approve it), if named.
    pub author: Option<String>,
    /// SHA-256 of targets, checks and thresholds (hex): the version approvals are for.
    pub version: String,
}

impl Runbook {
    /// The threshold of a measure, if set.
    pub fn threshold(&self, m: Measure) -> Option<f64> {
        self.thresholds.get(m.as_str()).copied()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRunbook {
    targets: Option<Spanned<Vec<String>>>,
    group: Option<Spanned<String>>,
    commands: Spanned<Vec<RawCheck>>,
    #[serde(default)]
    thresholds: BTreeMap<String, Spanned<f64>>,
    schedule: Option<Spanned<String>>,
    approvers: Option<Spanned<u32>>,
    author: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: Spanned<String>,
    command: Spanned<String>,
    measure: Spanned<String>,
}

/// The version of a runbook: what approvers approve.
fn version(targets: &[String], checks: &[Check], thresholds: &BTreeMap<String, f64>) -> String {
    let canonical = serde_json::json!({
        "targets": targets,
        "checks": checks,
        "thresholds": thresholds,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Checks each runbook; groups resolve against `policy`, the default approvals are the
/// strictest of the groups holding its targets (as a request for them would need).
pub(super) fn build(
    raw: Option<BTreeMap<String, RawRunbook>>,
    policy: &policy::Policy,
    src: &Source,
) -> Result<BTreeMap<String, Runbook>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, r) in raw.unwrap_or_default() {
        let key = |k: &str| format!("inspections.{name}.{k}");
        if policy::validate_name("target", &name).is_err() {
            return Err(src.invalid(
                &key("commands"),
                &r.commands,
                format!(
                    "the runbook name {name:?} must be a plain name (letters, digits, - and _)"
                ),
            ));
        }
        let (targets, group) = match (&r.targets, &r.group) {
            (Some(t), None) if !t.get_ref().is_empty() => (t.get_ref().clone(), None),
            (None, Some(g)) => match policy.groups.get(g.get_ref()) {
                Some(grp) => (grp.targets.clone(), Some(g.get_ref().clone())),
                None => {
                    return Err(src.invalid(
                        &key("group"),
                        g,
                        format!("no [policy.groups.{}]", g.get_ref()),
                    ))
                }
            },
            (Some(t), _) => {
                return Err(src.invalid(
                    &key("targets"),
                    t,
                    "give a non-empty targets list or a group, not both".into(),
                ))
            }
            (None, None) => {
                return Err(src.invalid(
                    &key("commands"),
                    &r.commands,
                    "the runbook names no targets; add targets = [...] or group = \"...\"".into(),
                ))
            }
        };
        let mut checks = Vec::new();
        for (i, c) in r.commands.get_ref().iter().enumerate() {
            let measure = Measure::parse(c.measure.get_ref()).ok_or_else(|| {
                src.invalid(
                    &format!("{}[{i}].measure", key("commands")),
                    &c.measure,
                    format!(
                        "{:?}: expected disk_percent, load, memory_percent, failed_units or info",
                        c.measure.get_ref()
                    ),
                )
            })?;
            let command = c.command.get_ref().trim();
            if command.is_empty() || command.chars().any(char::is_control) {
                return Err(src.invalid(
                    &format!("{}[{i}].command", key("commands")),
                    &c.command,
                    "expected one command line".into(),
                ));
            }
            checks.push(Check {
                name: c.name.get_ref().clone(),
                command: command.to_string(),
                measure,
            });
        }
        if checks.is_empty() {
            return Err(src.invalid(&key("commands"), &r.commands, "no commands".into()));
        }
        let mut thresholds = BTreeMap::new();
        for (k, v) in &r.thresholds {
            if Measure::parse(k).is_none_or(|m| m == Measure::Info) || !v.get_ref().is_finite() {
                return Err(src.invalid(
                    &format!("{}.{k}", key("thresholds")),
                    v,
                    "expected disk_percent, load, memory_percent or failed_units with a number"
                        .into(),
                ));
            }
            thresholds.insert(k.clone(), *v.get_ref());
        }
        let schedule = match &r.schedule {
            None => None,
            Some(s) => Some(
                Slots::parse(s.get_ref()).map_err(|why| src.invalid(&key("schedule"), s, why))?,
            ),
        };
        let default_approvers = policy
            .groups
            .values()
            .filter(|g| g.targets.iter().any(|t| targets.contains(t)))
            .map(|g| g.approvals)
            .max()
            .unwrap_or(1)
            .max(1);
        let approvers = match &r.approvers {
            Some(n) if *n.get_ref() == 0 || *n.get_ref() > policy::MAX_APPROVALS => {
                return Err(src.invalid(
                    &key("approvers"),
                    n,
                    format!("expected 1 to {}", policy::MAX_APPROVALS),
                ))
            }
            Some(n) => *n.get_ref(),
            None => default_approvers,
        };
        let version = version(&targets, &checks, &thresholds);
        out.insert(
            name.clone(),
            Runbook {
                name,
                targets,
                group,
                checks,
                thresholds,
                schedule,
                schedule_text: r.schedule.map(Spanned::into_inner),
                approvers,
                author: r.author.map(Spanned::into_inner),
                version,
            },
        );
    }
    Ok(out)
}

/// The `[inspections]` example `menwei init` writes (commented out).
pub const TEMPLATE: &str = r#"# Inspection runbooks (巡检): read-only commands run on targets on a schedule, through the
# gateway like any session (recorded, audited as inspection:NAME), judged against thresholds
# into the 服务器巡检报告. Each version (targets + commands + thresholds) runs only once
# approved: menwei inspection approve NAME --by APPROVER. The targets' groups must allow exec.
# [inspections.monthly]
# targets = ["web01"]                   # or group = "databases"
# schedule = "1,16 09:00"               # days of the month and a time, in [reports] utc_offset
# approvers = 1                         # default: what a request for these targets needs
# thresholds = { disk_percent = 90, load = 4.0, memory_percent = 90, failed_units = 0 }
# commands = [
#   { name = "disk", command = "df -P", measure = "disk_percent" },
#   { name = "load", command = "cat /proc/loadavg", measure = "load" },
#   { name = "memory", command = "free | awk '/Mem:/ {print int($3*100/$2)}'", measure = "memory_percent" },
#   { name = "failed units", command = "systemctl --failed --no-legend | wc -l", measure = "failed_units" },
# ]
"#;

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const RUNBOOK: &str = "[inspections.fortnightly]\ntargets = [\"web01\"]\nschedule = \"1,16 09:00\"\nthresholds = { disk_percent = 90 }\ncommands = [{ name = \"disk\", command = \"df -P\", measure = \"disk_percent\" }]\n";

    #[test]
    fn runbooks_parse_with_a_version_that_follows_their_content() {
        let c = parse(RUNBOOK).unwrap();
        let r = &c.inspections["fortnightly"];
        assert_eq!(r.targets, ["web01"]);
        assert_eq!(r.approvers, 1);
        assert_eq!(
            r.threshold(policy::inspection::Measure::DiskPercent),
            Some(90.0)
        );
        let changed = parse(&RUNBOOK.replace("= 90", "= 80")).unwrap();
        assert_ne!(changed.inspections["fortnightly"].version, r.version);
        let same = parse(&RUNBOOK.replace("1,16 09:00", "2 10:00")).unwrap();
        assert_eq!(same.inspections["fortnightly"].version, r.version);
    }

    #[test]
    fn runbook_errors_name_the_line() {
        let e = parse(&RUNBOOK.replace("1,16 09:00", "1,40 09:00"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3:12: invalid value for key inspections.fortnightly.schedule"),
            "{e}"
        );
        let e = parse(&RUNBOOK.replace("\"disk_percent\" }", "\"disk\" }"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":5:") && e.contains("measure"), "{e}");
        let e = parse(&RUNBOOK.replace("targets = [\"web01\"]", "group = \"nope\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:9:") && e.contains("no [policy.groups.nope]"),
            "{e}"
        );
    }
}
