//! `[log]`: how much `menwei serve` logs and in which shape (text or one JSON object per
//! line). Only parsing and checking; the subscriber itself is set up in [`crate::log`].

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// `[log] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// An env-filter (`info`, `warn,menwei=debug`); `RUST_LOG`, when set, wins.
    pub level: String,
    /// Text or JSON lines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    level: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
}

/// Checks the raw table; defaults for what is absent.
pub(super) fn build(raw: Option<RawLog>, src: &Source) -> Result<LogConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let d = LogConfig::default();
    let level = match &raw.level {
        Some(v) => {
            tracing_subscriber::EnvFilter::builder()
                .parse(v.get_ref())
                .map_err(|e| {
                    src.invalid(
                        "log.level",
                        v,
                        format!(
                            "{:?}: {e}; expected e.g. \"info\" or \"warn,menwei=debug\"",
                            v.get_ref()
                        ),
                    )
                })?;
            v.get_ref().clone()
        }
        None => d.level,
    };
    let format = match &raw.format {
        Some(v) => match v.get_ref().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(src.invalid(
                    "log.format",
                    v,
                    format!("{other:?}: expected \"text\" or \"json\""),
                ))
            }
        },
        None => d.format,
    };
    Ok(LogConfig { level, format })
}

/// The `[log]` table `menwei init` writes.
pub const TEMPLATE: &str = r#"[log]
# What `menwei serve` logs to stderr (the journal under systemd): an env-filter such as
# "info", "warn" or "info,menwei=debug". RUST_LOG, when set, overrides it.
level = "info"
# "text" (one line per event) or "json" (one JSON object per line, for log shippers).
format = "text"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn absent_table_is_the_defaults_and_the_template_says_them() {
        assert_eq!(parse("").unwrap().log, LogConfig::default());
        assert_eq!(parse(TEMPLATE).unwrap().log, LogConfig::default());
        let c = parse("[log]\nlevel = \"warn,menwei=debug\"\nformat = \"json\"\n").unwrap();
        assert_eq!(c.log.level, "warn,menwei=debug");
        assert_eq!(c.log.format, LogFormat::Json);
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = parse("[log]\nformat = \"xml\"\n").unwrap_err().to_string();
        assert!(
            e.contains("menwei.toml:2:10: invalid value for key log.format: \"xml\""),
            "{e}"
        );
        let e = parse("[log]\nlevel = \"menwei=loud\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:9: invalid value for key log.level"), "{e}");
        let e = parse("[log]\ncolour = true\n").unwrap_err().to_string();
        assert!(e.contains(":2:1:") && e.contains("colour"), "{e}");
    }
}
