//! `[cluster]`: how nodes sharing one database see each other. Each node writes a heartbeat
//! every `heartbeat`; a node silent for `dead_after` is lost, and another node ends the
//! sessions it held (`node_lost`). `https_address` is where the other nodes reach this
//! node's HTTPS to relay a live watch (default `[https] listen`). Only parsing and checking; the heartbeat and the sweep
//! are [`crate::nodes`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// How often this node writes its heartbeat.
    pub heartbeat: Duration,
    /// How long a node may be silent before another node ends its sessions as `node_lost`.
    pub dead_after: Duration,
    /// Where the other nodes reach this node's HTTPS (live watch relays), when `[https]
    /// listen` is not that address (0.0.0.0, a NAT); `None`: `[https] listen`.
    pub https_address: Option<SocketAddr>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            heartbeat: Duration::from_secs(5),
            dead_after: Duration::from_secs(30),
            https_address: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    heartbeat: Option<Spanned<String>>,
    dead_after: Option<Spanned<String>>,
    https_address: Option<Spanned<String>>,
}

/// Checks the raw table; the defaults when absent. `dead_after` must leave room for at
/// least two missed heartbeats.
pub(super) fn build(raw: Option<RawCluster>, src: &Source) -> Result<ClusterConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let d = ClusterConfig::default();
    let heartbeat =
        src.positive_duration_or("cluster.heartbeat", raw.heartbeat.as_ref(), d.heartbeat)?;
    let dead_after =
        src.positive_duration_or("cluster.dead_after", raw.dead_after.as_ref(), d.dead_after)?;
    if let Some(v) = &raw.dead_after {
        if dead_after < heartbeat * 2 {
            return Err(src.invalid(
                "cluster.dead_after",
                v,
                format!(
                    "{:?}: must be at least twice cluster.heartbeat ({}s), or one late heartbeat would end a live node's sessions",
                    v.get_ref(),
                    heartbeat.as_secs_f64()
                ),
            ));
        }
    }
    let https_address = match &raw.https_address {
        Some(v) => Some(src.listen("cluster.https_address", Some(v), "10.0.0.11:8443")?),
        None => None,
    };
    if let (Some(a), Some(v)) = (https_address, &raw.https_address) {
        if a.ip().is_unspecified() {
            return Err(src.invalid(
                "cluster.https_address",
                v,
                format!(
                    "{:?}: other nodes cannot reach an unspecified address; name this node's own",
                    v.get_ref()
                ),
            ));
        }
    }
    Ok(ClusterConfig {
        heartbeat,
        dead_after,
        https_address,
    })
}

/// The `[cluster]` table `menwei init` writes.
pub const TEMPLATE: &str = r#"[cluster]
# Nodes sharing one PostgreSQL database see each other through a heartbeat each writes
# every `heartbeat` (menwei node list). A node silent for `dead_after` is lost: another
# node ends the sessions it held (end reason node_lost, audited once) and raises
# node.lost. A single node needs nothing here.
heartbeat = "5s"
dead_after = "30s"
# Where the other nodes reach this node's HTTPS, to relay a live watch of a session held
# here to an approver on another node; needed when [https] listen is 0.0.0.0 or not the
# address the other nodes see. Default: [https] listen.
# https_address = "10.0.0.11:8443"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn absent_table_is_the_defaults_and_the_template_says_them() {
        assert_eq!(parse("").unwrap().cluster, ClusterConfig::default());
        assert_eq!(parse(TEMPLATE).unwrap().cluster, ClusterConfig::default());
        let c = parse("[cluster]\nheartbeat = \"1s\"\ndead_after = \"3s\"\nhttps_address = \"10.0.0.11:8443\"\n").unwrap();
        assert_eq!(c.cluster.https_address, "10.0.0.11:8443".parse().ok());
        assert_eq!(
            (c.cluster.heartbeat, c.cluster.dead_after),
            (Duration::from_secs(1), Duration::from_secs(3))
        );
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = parse("[cluster]\nheartbeat = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:13: invalid value for key cluster.heartbeat"),
            "{e}"
        );
        let e = parse("[cluster]\nheartbeat = \"10s\"\ndead_after = \"15s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3:14: invalid value for key cluster.dead_after"),
            "{e}"
        );
        let e = parse("[cluster]\nhttps_address = \"0.0.0.0:8443\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:17: invalid value for key cluster.https_address"),
            "{e}"
        );
    }
}
