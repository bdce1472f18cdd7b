//! `[metrics]`: where Prometheus scrapes `GET /metrics` (off when absent). Only parsing and
//! checking; the recorder and its listener are [`crate::metrics`].

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsConfig {
    /// Where plain HTTP `GET /metrics` is served, without login; `None` (the default): nowhere.
    pub listen: Option<SocketAddr>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    listen: Option<Spanned<String>>,
}

/// Checks the raw table; no listener when absent.
pub(super) fn build(raw: Option<RawMetrics>, src: &Source) -> Result<MetricsConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let listen = match &raw.listen {
        Some(v) => Some(src.listen("metrics.listen", Some(v), "127.0.0.1:9464")?),
        None => None,
    };
    Ok(MetricsConfig { listen })
}

/// The `[metrics]` table `menwei init` writes (commented out: off by default).
pub const TEMPLATE: &str = r#"[metrics]
# Prometheus text at http://LISTEN/metrics: plain HTTP without login, so bind it to
# localhost or a management network only. Off while listen is absent.
# listen = "127.0.0.1:9464"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn off_by_default_and_in_the_template() {
        assert_eq!(parse("").unwrap().metrics.listen, None);
        assert_eq!(parse(TEMPLATE).unwrap().metrics.listen, None);
        let c = parse("[metrics]\nlisten = \"127.0.0.1:9464\"\n").unwrap();
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
    }

    #[test]
    fn bad_listen_names_file_line_and_key() {
        let e = parse("[metrics]\nlisten = \"9464\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:10: invalid value for key metrics.listen"),
            "{e}"
        );
    }
}
