//! `[audit]`: how refusals at the limits are summarized in the audit log, and when failed
//! logins of one account raise an alert. Only parsing and checking; the summary is
//! [`crate::refusals`], the alert [`crate::login_alert`].

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// How often refusals at the limits are written as one `limits.refused` entry per kind.
    pub summary_interval: Duration,
    /// Failed logins of one account, from any addresses, that raise a `login.alert`.
    pub login_alert_failures: u32,
    /// The window for `login_alert_failures`; at most one alert per account per window.
    pub login_alert_window: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            summary_interval: Duration::from_secs(60),
            login_alert_failures: 20,
            login_alert_window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    summary_interval: Option<Spanned<String>>,
    login_alert_failures: Option<Spanned<i64>>,
    login_alert_window: Option<Spanned<String>>,
}

/// Checks the raw table; defaults for what is absent.
pub(super) fn build(raw: Option<RawAudit>, src: &Source) -> Result<AuditConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let d = AuditConfig::default();
    let failures = src.count_or(
        "audit.login_alert_failures",
        raw.login_alert_failures.as_ref(),
        usize::try_from(d.login_alert_failures).unwrap_or(20),
    )?;
    Ok(AuditConfig {
        summary_interval: src.positive_duration_or(
            "audit.summary_interval",
            raw.summary_interval.as_ref(),
            d.summary_interval,
        )?,
        login_alert_failures: u32::try_from(failures).unwrap_or(u32::MAX),
        login_alert_window: src.positive_duration_or(
            "audit.login_alert_window",
            raw.login_alert_window.as_ref(),
            d.login_alert_window,
        )?,
    })
}

/// The `[audit]` table `menwei init` writes.
pub const TEMPLATE: &str = r#"[audit]
# Refusals at the limits (connections over a cap, login grace run out, channels and web
# streams over their cap, slow HTTPS clients) are counted, and written as one
# `limits.refused` entry per kind and interval with the count; nothing when none.
summary_interval = "1m"
# This many failed logins of one account (SSH or web, from any addresses) within the
# window raise an alert: a `login.alert` audit entry and a `login_alert` webhook, once per
# window. The account is not locked.
login_alert_failures = 20
login_alert_window = "15m"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn absent_table_is_the_defaults_and_the_template_says_them() {
        assert_eq!(parse("").unwrap().audit, AuditConfig::default());
        assert_eq!(parse(TEMPLATE).unwrap().audit, AuditConfig::default());
        let c = parse("[audit]\nsummary_interval = \"2s\"\nlogin_alert_failures = 3\n").unwrap();
        assert_eq!(c.audit.summary_interval, Duration::from_secs(2));
        assert_eq!(c.audit.login_alert_failures, 3);
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = parse("[audit]\nsummary_interval = \"0s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:20: invalid value for key audit.summary_interval"),
            "{e}"
        );
        let e = parse("[audit]\nlogin_alert_failures = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:24: invalid value for key audit.login_alert_failures"),
            "{e}"
        );
    }
}
