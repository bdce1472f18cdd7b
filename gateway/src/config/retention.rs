//! `[retention]`: how long recordings are kept. Only parsing and checking; the removal is
//! [`crate::retention`]. Audit entries have no retention: the log is a hash chain and
//! nothing in Menwei deletes from it.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// The shortest retention accepted: 等保 2.0 (GB/T 22239-2019) and the Cybersecurity Law
/// (art. 21) keep logs at least six months.
pub const MIN_RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Recordings of sessions that ended longer ago than this are removed (from the
    /// recordings directory and the store); `None` keeps them for good.
    pub recordings: Option<Duration>,
    /// How often `serve` looks for recordings past their retention.
    pub check_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            recordings: None,
            check_interval: Duration::from_secs(3600),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    recordings: Option<Spanned<String>>,
    check_interval: Option<Spanned<String>>,
}

/// Checks the raw table; defaults for what is absent.
pub(super) fn build(
    raw: Option<RawRetention>,
    src: &Source,
) -> Result<RetentionConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let d = RetentionConfig::default();
    let recordings = match &raw.recordings {
        Some(v) => {
            let keep = crate::time::parse_duration(v.get_ref())
                .map_err(|why| src.invalid("retention.recordings", v, why))?;
            if keep < MIN_RETENTION {
                return Err(src.invalid(
                    "retention.recordings",
                    v,
                    format!(
                        "{:?} is less than 180d: 等保 2.0 and the Cybersecurity Law (art. 21) keep logs at least six months; leave the key out to keep recordings for good",
                        v.get_ref()
                    ),
                ));
            }
            Some(keep)
        }
        None => None,
    };
    Ok(RetentionConfig {
        recordings,
        check_interval: src.positive_duration_or(
            "retention.check_interval",
            raw.check_interval.as_ref(),
            d.check_interval,
        )?,
    })
}

/// The `[retention]` table `menwei init` writes, commented out.
pub const TEMPLATE: &str = r#"# How long recordings are kept. Unset: for good. At least 180d (等保 2.0 and the
# Cybersecurity Law keep logs six months). Recordings of sessions that ended longer ago are
# removed from the recordings directory and the store, each audited as recording.expired;
# the session stays listed and its replay answers that the recording expired. Audit
# entries are never removed. With a store, any node removes; without, each node its own.
# [retention]
# recordings = "365d"
# check_interval = "1h"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn under_six_months_is_refused_with_its_line() {
        assert_eq!(parse("").unwrap().retention, RetentionConfig::default());
        assert_eq!(parse(TEMPLATE).unwrap().retention.recordings, None);
        let c = parse("[retention]\nrecordings = \"365d\"\n").unwrap();
        assert_eq!(
            c.retention.recordings,
            Some(Duration::from_secs(365 * 24 * 3600))
        );
        let e = parse("[retention]\nrecordings = \"90d\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:14:") && e.contains("less than 180d"), "{e}");
    }
}
