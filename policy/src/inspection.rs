//! Inspections (巡检): the pure rules of a runbook. When its slots fall (`"1,16 09:00"`: days
//! of the month and a time in the bureau's zone), how a check's figure is read from what its
//! command printed and judged against its threshold, and who may approve a runbook version
//! (an approver, not its author, once per version; enough distinct approvers make it
//! approved).
//!
//! Not running anything (the gateway's `inspections`), nor reading the configuration.

use std::collections::BTreeSet;

use crate::duties::same_account;
use crate::sla::{civil_from_days, days_from_civil};
use crate::{codes, Decision, Millis, Role};

const DAY_MS: Millis = 86_400_000;

/// `"1,16 09:00"`: on these days of the month at this minute of the day (local time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    /// Days of the month, 1..=31 (a day a month lacks is skipped that month).
    pub days: BTreeSet<u32>,
    /// Minutes after local midnight.
    pub minute_of_day: u32,
}

impl Slots {
    /// Parses `"1,16 09:00"`.
    pub fn parse(s: &str) -> Result<Slots, String> {
        let bad = || format!("{s:?}: expected days of the month and a time, e.g. \"1,16 09:00\"");
        let (days, time) = s.trim().split_once(' ').ok_or_else(bad)?;
        let mut set = BTreeSet::new();
        for d in days.split(',') {
            let d: u32 = d.trim().parse().map_err(|_| bad())?;
            if !(1..=31).contains(&d) {
                return Err(format!(
                    "{s:?}: day {d} is not a day of the month (1 to 31)"
                ));
            }
            set.insert(d);
        }
        let (h, m) = time.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 || set.is_empty() {
            return Err(bad());
        }
        Ok(Slots {
            days: set,
            minute_of_day: h * 60 + m,
        })
    }

    /// The first slot strictly after `now`, as UTC milliseconds, for a zone `utc_offset_ms`
    /// east of UTC.
    pub fn next_after(&self, now: Millis, utc_offset_ms: Millis) -> Millis {
        let local = now.saturating_add(utc_offset_ms);
        let mut day = local.div_euclid(DAY_MS);
        let at = Millis::from(self.minute_of_day) * 60_000;
        // A slot exists within any 62 days (day 1 is in every month at worst).
        for _ in 0..62 {
            let (_, _, dom) = civil_from_days(day);
            let slot = day * DAY_MS + at;
            if self.days.contains(&dom) && slot > local {
                return slot - utc_offset_ms;
            }
            day += 1;
        }
        // Only days like 31 alone reach here in a run of short months: try further.
        let (y, m, _) = civil_from_days(day);
        days_from_civil(y, m, 1) * DAY_MS + at - utc_offset_ms
    }
}

/// What a check's figure measures, and so how it is read and judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    /// Use of a file system in %: the largest `NN%` in the output (e.g. `df -P`).
    DiskPercent,
    /// Load average: the first number in the output (e.g. `cat /proc/loadavg`).
    Load,
    /// Memory in use, %: the first number in the output.
    MemoryPercent,
    /// Failed systemd units: the first number in the output (e.g. `systemctl --failed
    /// --no-legend | wc -l`).
    FailedUnits,
    /// Nothing is judged: the output is kept for the report only.
    Info,
}

impl Measure {
    /// `disk_percent`, `load`, `memory_percent`, `failed_units` or `info`.
    pub fn parse(s: &str) -> Option<Measure> {
        Some(match s {
            "disk_percent" => Measure::DiskPercent,
            "load" => Measure::Load,
            "memory_percent" => Measure::MemoryPercent,
            "failed_units" => Measure::FailedUnits,
            "info" => Measure::Info,
            _ => return None,
        })
    }

    /// The name it is configured by, also its threshold's key.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::DiskPercent => "disk_percent",
            Measure::Load => "load",
            Measure::MemoryPercent => "memory_percent",
            Measure::FailedUnits => "failed_units",
            Measure::Info => "info",
        }
    }

    /// Reads the figure from what the command printed; `None` if it holds none.
    pub fn read(self, output: &str) -> Option<f64> {
        match self {
            Measure::Info => None,
            Measure::DiskPercent => output
                .split(|c: char| c.is_whitespace())
                .filter_map(|w| w.strip_suffix('%'))
                .filter_map(|n| n.parse::<f64>().ok())
                .fold(None, |max: Option<f64>, n| {
                    Some(max.map_or(n, |m| m.max(n)))
                }),
            Measure::Load | Measure::MemoryPercent | Measure::FailedUnits => output
                .split(|c: char| c.is_whitespace() || c == ',')
                .map(|w| w.trim_end_matches('%'))
                .find_map(|w| w.parse::<f64>().ok().filter(|n| n.is_finite())),
        }
    }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within its threshold (or none set).
    Ok,
    /// Over its threshold: a finding.
    Exceeded,
    /// The command failed or printed no figure: a finding too (nothing was shown to be fine).
    Unreadable,
    /// Kept for the record, not judged.
    Info,
}

impl Verdict {
    /// `ok`, `exceeded`, `unreadable` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Exceeded => "exceeded",
            Verdict::Unreadable => "unreadable",
            Verdict::Info => "info",
        }
    }

    /// Whether the report lists it as a finding.
    pub fn is_finding(self) -> bool {
        matches!(self, Verdict::Exceeded | Verdict::Unreadable)
    }
}

/// Judges one check: its command's exit status, the figure read from its output and the
/// threshold of its measure (a figure above it is a finding; equal is within).
pub fn judge(
    measure: Measure,
    exit_status: Option<u32>,
    figure: Option<f64>,
    threshold: Option<f64>,
) -> Verdict {
    if measure == Measure::Info {
        return if exit_status == Some(0) {
            Verdict::Info
        } else {
            Verdict::Unreadable
        };
    }
    match (exit_status, figure, threshold) {
        (Some(0), Some(f), Some(t)) if f > t => Verdict::Exceeded,
        (Some(0), Some(_), _) => Verdict::Ok,
        _ => Verdict::Unreadable,
    }
}

/// May `actor` approve a runbook version written by `author` (if the configuration names
/// one), which `approved_by` have approved already? Only approvers, never the author, each
/// once.
pub fn approve_runbook(
    actor_name: &str,
    actor_role: Role,
    author: Option<&str>,
    approved_by: &[String],
) -> Decision<()> {
    if actor_role != Role::Approver {
        return Decision::deny(
            codes::NOT_APPROVER,
            format!(
                "only approvers can approve inspection runbooks; this account is {}",
                actor_role.with_article()
            ),
        );
    }
    if author.is_some_and(|a| same_account(a, actor_name)) {
        return Decision::deny(
            codes::SELF_REVIEW,
            "you wrote this runbook, so you cannot approve it; ask another approver",
        );
    }
    if approved_by.iter().any(|a| same_account(a, actor_name)) {
        return Decision::deny(
            codes::ALREADY_REVIEWED,
            "you have already approved this version of the runbook",
        );
    }
    Decision::Allow(())
}

/// May a runbook version with these approvals run? `needed` distinct approvers.
pub fn runbook_runs(name: &str, approved_by: &[String], needed: u32) -> Decision<()> {
    let mut distinct: Vec<String> = approved_by.iter().map(|a| a.to_ascii_lowercase()).collect();
    distinct.sort();
    distinct.dedup();
    let have = u32::try_from(distinct.len()).unwrap_or(u32::MAX);
    if have >= needed.max(1) {
        Decision::Allow(())
    } else {
        Decision::deny(
            codes::RUNBOOK_NOT_APPROVED,
            format!(
                "inspection runbook \"{name}\" has {have} of {needed} approvals for this version, so it does not run; approvers: menwei inspection approve {name}"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Millis = 3_600_000;

    #[test]
    fn slots_fall_on_the_days_at_the_local_time() {
        let s = Slots::parse("1,16 09:00").unwrap();
        // 2026-11-29 00:00 UTC.
        let now = days_from_civil(2026, 11, 29) * DAY_MS;
        let next = s.next_after(now, 8 * H);
        // 2026-12-01 09:00 +08:00 = 01:00 UTC.
        assert_eq!(next, days_from_civil(2026, 12, 1) * DAY_MS + H);
        assert_eq!(
            s.next_after(next, 8 * H),
            days_from_civil(2026, 12, 16) * DAY_MS + H
        );
        assert!(Slots::parse("32 09:00").is_err());
        assert!(Slots::parse("1 25:00").is_err());
        assert!(Slots::parse("daily").is_err());
        let s31 = Slots::parse("31 00:00").unwrap();
        let feb = days_from_civil(2027, 2, 1) * DAY_MS;
        assert_eq!(
            s31.next_after(feb, 0),
            days_from_civil(2027, 3, 31) * DAY_MS
        );
    }

    #[test]
    fn figures_are_read_and_judged() {
        let df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 42 58 42% /\ntmpfs 10 9 1 93% /run\n";
        assert_eq!(Measure::DiskPercent.read(df), Some(93.0));
        assert_eq!(Measure::Load.read("0.52 0.40 0.30 1/200 42\n"), Some(0.52));
        assert_eq!(Measure::FailedUnits.read("0\n"), Some(0.0));
        assert_eq!(Measure::MemoryPercent.read("no figure"), None);
        let d = Measure::DiskPercent;
        assert_eq!(judge(d, Some(0), Some(93.0), Some(90.0)), Verdict::Exceeded);
        assert_eq!(judge(d, Some(0), Some(90.0), Some(90.0)), Verdict::Ok);
        assert_eq!(judge(d, Some(0), Some(93.0), None), Verdict::Ok);
        assert_eq!(
            judge(d, Some(1), Some(1.0), Some(90.0)),
            Verdict::Unreadable
        );
        assert_eq!(judge(d, Some(0), None, Some(90.0)), Verdict::Unreadable);
        assert!(Verdict::Exceeded.is_finding() && !Verdict::Ok.is_finding());
    }

    #[test]
    fn approvers_approve_once_never_their_own_runbook() {
        let none: Vec<String> = vec![];
        assert!(approve_runbook("bob", Role::Approver, None, &none).is_allow());
        assert!(!approve_runbook("alice", Role::Engineer, None, &none).is_allow());
        assert!(!approve_runbook("Bob", Role::Approver, Some("bob"), &none).is_allow());
        assert!(!approve_runbook("bob", Role::Approver, None, &["bob".into()]).is_allow());
        assert!(!runbook_runs("r", &["bob".into()], 2).is_allow());
        assert!(!runbook_runs("r", &["bob".into(), "BOB".into()], 2).is_allow());
        assert!(runbook_runs("r", &["bob".into(), "dave".into()], 2).is_allow());
        assert!(!runbook_runs("r", &[], 1).is_allow());
    }
}
