//! `[targets]`: how the gateway watches its connections to targets. Only parsing and
//! checking; the keepalives are sent by the SSH client ([`crate::session::upstream`]), and
//! a target that stops answering ends its sessions with `target_unreachable`.
//!
//! Not the per-target rules: those are policy (`[policy.targets.NAME]`), and the old
//! `[targets.NAME]` tables are refused with a line saying so ([`moved_table`]).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::source::header_where;
use super::{ConfigError, Source};

/// `[targets]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetsConfig {
    /// After this long without a byte from a target, the gateway asks it for a reply (an
    /// SSH keepalive); `None` turns keepalives off (`"off"` or `"0s"`).
    pub keepalive: Option<Duration>,
    /// Keepalives in a row without a reply after which the target counts as unreachable.
    pub keepalive_max_misses: u32,
}

impl Default for TargetsConfig {
    fn default() -> Self {
        TargetsConfig {
            keepalive: Some(Duration::from_secs(15)),
            keepalive_max_misses: 3,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTargets {
    keepalive: Option<Spanned<String>>,
    keepalive_max_misses: Option<Spanned<i64>>,
}

/// Checks the raw table; defaults for what is absent.
pub(super) fn build(raw: Option<RawTargets>, src: &Source) -> Result<TargetsConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let d = TargetsConfig::default();
    let keepalive = match &raw.keepalive {
        Some(v) if v.get_ref().trim() == "off" => None,
        Some(v) => Some(src.duration("targets.keepalive", v)?).filter(|d| !d.is_zero()),
        None => d.keepalive,
    };
    let misses = src.count_or(
        "targets.keepalive_max_misses",
        raw.keepalive_max_misses.as_ref(),
        usize::try_from(d.keepalive_max_misses).unwrap_or(3),
    )?;
    Ok(TargetsConfig {
        keepalive,
        keepalive_max_misses: u32::try_from(misses).unwrap_or(u32::MAX),
    })
}

/// Where an old `[targets.NAME]` table (now `[policy.targets.NAME]`) starts in `text`, if
/// there is one: looked for before the file is parsed, since `[targets]` itself is this
/// section and a table under it would otherwise read as an unknown key.
pub(super) fn moved_table(text: &str) -> Option<usize> {
    header_where(text, |h| h.starts_with("targets."))
}

/// The `[targets]` table `menwei init` writes.
pub const TEMPLATE: &str = r#"[targets]
# After this long without a byte from a target, the gateway asks it for a reply (an SSH
# keepalive). A target that leaves keepalive_max_misses of them in a row unanswered (frozen,
# or cut off without a reset) counts as unreachable: its sessions end with
# `target_unreachable` and a line to the engineer. "off" turns keepalives off.
keepalive = "15s"
keepalive_max_misses = 3
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn absent_table_is_the_defaults_and_the_template_says_them() {
        assert_eq!(parse("").unwrap().targets, TargetsConfig::default());
        assert_eq!(parse(TEMPLATE).unwrap().targets, TargetsConfig::default());
        let c = parse("[targets]\nkeepalive = \"1s\"\nkeepalive_max_misses = 5\n").unwrap();
        assert_eq!(c.targets.keepalive, Some(Duration::from_secs(1)));
        assert_eq!(c.targets.keepalive_max_misses, 5);
    }

    #[test]
    fn off_and_zero_turn_keepalives_off() {
        for v in ["off", "0s"] {
            let c = parse(&format!("[targets]\nkeepalive = \"{v}\"\n")).unwrap();
            assert_eq!(c.targets.keepalive, None, "{v}");
        }
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = parse("node_name = \"gw1\"\n[targets]\nkeepalive = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:3:13: invalid value for key targets.keepalive"),
            "{e}"
        );
        let e = parse("[targets]\nkeepalive_max_misses = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:24: invalid value for key targets.keepalive_max_misses"),
            "{e}"
        );
        let e = parse("[targets]\nkeepalive_misses = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/menwei/menwei.toml:2:1: "), "{e}");
    }
}
