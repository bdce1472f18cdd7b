//! The operator's configuration: one TOML file (`menwei.toml`) read once at start.
//!
//! This module parses and checks the file, resolves every relative path against the file's
//! own directory, and loads the key files it names. Errors name the file, line, column and
//! key. It holds only what an operator writes and reviews; users, targets, grants and
//! sessions live in the database ([`crate::db`]), never here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

mod audit;
mod backup;
mod cluster;
mod https;
mod inspections;
mod key_files;
mod log;
mod metrics;
mod policy_table;
mod recordings;
mod reports;
mod retention;
mod source;
mod ssh;
mod targets;
mod template;
mod webhooks;

pub use audit::AuditConfig;
pub use backup::{is_object_store, parse_schedule, BackupConfig, Destination, Schedule};
pub use cluster::ClusterConfig;
pub use https::{
    HttpsConfig, DEFAULT_HTTPS_LISTEN, DEFAULT_MAX_LOGIN, DEFAULT_MAX_TOKEN_TTL, DEFAULT_TOKEN_TTL,
};
pub use inspections::{Check, Runbook};
use key_files::load_openssh_key;
pub use key_files::{read_recording_public_key, recording_public_key_text};
pub use log::{LogConfig, LogFormat};
pub use metrics::MetricsConfig;
pub use policy_table::{PolicyIssue, PolicySource};
pub use recordings::{
    parse_store_url, MinFree, RecordingsConfig, StoreConfig, DEFAULT_MAX_SESSION_BYTES,
    DEFAULT_MIN_FREE, DEFAULT_REGION, MIN_SESSION_BYTES,
};
pub use reports::{read_holidays, ReportsConfig};
pub use retention::{RetentionConfig, MIN_RETENTION};
use source::{key_path_at, last_segment, line_col, syntax_error, table_header, Source};
pub use ssh::SshConfig;
pub use targets::TargetsConfig;
pub use template::template;
pub use webhooks::{NotifyConfig, WebhookConfig, WEBHOOK_EVENTS};

/// Why the configuration could not be used. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A key file named by the configuration could not be loaded.
    #[error("cannot load {what} from {path}: {message}")]
    Key {
        /// Which key (e.g. "SSH host key").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// The policy is invalid: each problem with its file, line, key and message. Shown as
    /// the first problem and how many more there are; `menwei policy check` lists them all.
    #[error("{}", policy_summary(.0))]
    Policy(Vec<PolicyIssue>),
}

fn policy_summary(issues: &[PolicyIssue]) -> String {
    match issues {
        [] => "the policy is invalid".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!(
            "{first} (and {} more; see: menwei policy check)",
            rest.len()
        ),
    }
}

/// The whole configuration, with absolute paths.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file itself (absolute).
    pub path: PathBuf,
    /// The directory holding it; relative paths in the file are relative to it.
    pub dir: PathBuf,
    /// This gateway node's name, written into sessions and audit entries.
    pub node_name: String,
    /// The SSH server engineers connect to.
    pub ssh: SshConfig,
    /// Where runtime state lives.
    pub database: DatabaseConfig,
    /// Where recordings are written.
    pub recordings: RecordingsConfig,
    /// The gateway's own key files.
    pub keys: KeysConfig,
    /// `[[webhooks]]`: where notifications are sent.
    pub webhooks: Vec<WebhookConfig>,
    /// `[notify]`: how webhooks are retried.
    pub notify: NotifyConfig,
    /// `[https]`: the web side; `None` (no table) turns it off.
    pub https: Option<HttpsConfig>,
    /// `[audit]`: the refusal summary and the failed-login alert.
    pub audit: AuditConfig,
    /// `[reports]`: the working-day calendar and the PDF font.
    pub reports: ReportsConfig,
    /// `[targets]`: keepalives to targets.
    pub targets: TargetsConfig,
    /// `[log]`: how much `serve` logs, as text or JSON lines.
    pub log: LogConfig,
    /// `[metrics]`: where Prometheus scrapes, if anywhere.
    pub metrics: MetricsConfig,
    /// `[cluster]`: heartbeats and when a silent node is lost.
    pub cluster: ClusterConfig,
    /// `[backup]`: scheduled backups of the gateway itself; `None` when absent.
    pub backup: Option<BackupConfig>,
    /// `[retention]`: how long recordings are kept.
    pub retention: RetentionConfig,
    /// `[inspections.NAME]`: the inspection runbooks, by name.
    pub inspections: std::collections::BTreeMap<String, Runbook>,
    /// `[policy]`: who may request what, for how long, who must approve.
    pub policy: policy::Policy,
    /// Where the policy was read from, to place problems found later (e.g. against the
    /// database's targets).
    pub policy_source: PolicySource,
}

/// `[database]`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `sqlite:///abs/path.db` (relative paths already resolved) or `postgres://…`.
    pub url: String,
}

/// `[keys]`.
#[derive(Debug, Clone)]
pub struct KeysConfig {
    /// The gateway's client key for logging in to targets (OpenSSH private key file).
    pub client_key: PathBuf,
    /// 32 random bytes sealing target passwords.
    pub vault_key: PathBuf,
    /// Ed25519 seed (32 bytes) sealing recordings; read only by `serve`.
    pub recording_signing_key: PathBuf,
    /// The signing key's public half (64 hex digits), which checks recordings: written by
    /// `menwei init`, and by `serve` when missing.
    pub recording_public_key: PathBuf,
}

/// Default SSH listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2222";

impl Config {
    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let path = std::path::absolute(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&path, &text)
    }

    /// Parses configuration text as if it were read from `path` (absolute).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        // Before serde, which would call the table's name an unknown key of `[targets]`.
        if let Some(at) = targets::moved_table(text) {
            return Err(syntax_error(
                path,
                text,
                Some(at),
                "[targets.NAME] moved to [policy.targets.NAME]; rename the table".to_string(),
            ));
        }
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().replace('\n', "; ");
            let message = match e.span() {
                Some(span) => match key_path_at(text, span.start) {
                    Some(key) if !message.contains(&format!("`{}`", last_segment(&key))) => {
                        format!("key {key}: {message}")
                    }
                    Some(key) => format!("{message} (key {key})"),
                    None => message,
                },
                None => message,
            };
            syntax_error(path, text, e.span().map(|s| s.start), message)
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let src = Source {
            path,
            text,
            dir: &dir,
        };

        let node_name = match raw.node_name {
            Some(n) => {
                if n.get_ref().is_empty()
                    || n.get_ref().len() > 64
                    || n.get_ref()
                        .chars()
                        .any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(src.invalid(
                        "node_name",
                        &n,
                        "expected 1 to 64 characters without spaces or control characters"
                            .to_string(),
                    ));
                }
                n.into_inner()
            }
            None => default_node_name(),
        };

        let ssh = ssh::build(raw.ssh, &src)?;

        let database = raw.database.unwrap_or_default();
        let url = match &database.url {
            Some(v) => resolve_database_url(v.get_ref(), &dir)
                .map_err(|why| src.invalid("database.url", v, why))?,
            None => resolve_database_url("sqlite://menwei.db", &dir)
                .map_err(|why| syntax_error(path, text, None, why))?,
        };

        let recordings = recordings::build(raw.recordings, &src)?;

        let keys = raw.keys.unwrap_or_default();
        let keys = KeysConfig {
            client_key: src.path_or(
                "keys.client_key",
                keys.client_key.as_ref(),
                "client_ed25519_key",
            )?,
            vault_key: src.path_or("keys.vault_key", keys.vault_key.as_ref(), "vault.key")?,
            recording_signing_key: src.path_or(
                "keys.recording_signing_key",
                keys.recording_signing_key.as_ref(),
                "recording_signing_key",
            )?,
            recording_public_key: src.path_or(
                "keys.recording_public_key",
                keys.recording_public_key.as_ref(),
                "recording_signing_key.pub",
            )?,
        };

        // Grant limits are policy now: reloaded with it on SIGHUP (per-target rules too,
        // checked above).
        if raw.grants.is_some() {
            return Err(syntax_error(
                path,
                text,
                table_header(text, "grants"),
                "[grants] max_duration moved to [policy] max_grant; move the line there"
                    .to_string(),
            ));
        }

        let (policy, policy_source) = policy_table::build(raw.policy, path, text, &dir)?;
        let mut ssh = ssh;
        ssh.idle_timeout = u64::try_from(policy.idle_timeout_ms)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);

        let (webhooks, notify) = webhooks::build(raw.webhooks, raw.notify, &src)?;
        let https = https::build(raw.https, &src)?;
        let audit = audit::build(raw.audit, &src)?;
        let reports = reports::build(raw.reports, &src)?;
        let targets = targets::build(raw.targets, &src)?;
        let log = log::build(raw.log, &src)?;
        let metrics = metrics::build(raw.metrics, &src)?;
        let cluster = cluster::build(raw.cluster, &src)?;
        let backup = backup::build(raw.backup, &src)?;
        let retention = retention::build(raw.retention, &src)?;
        let inspections = inspections::build(raw.inspections, &policy, &src)?;

        Ok(Config {
            path: path.to_path_buf(),
            dir,
            node_name,
            ssh,
            database: DatabaseConfig { url },
            recordings,
            keys,
            webhooks,
            notify,
            https,
            audit,
            reports,
            targets,
            log,
            metrics,
            cluster,
            backup,
            retention,
            inspections,
            policy,
            policy_source,
        })
    }

    /// The policy's problems once the database's target names are known (e.g. a group
    /// naming a target that does not exist), placed in the file.
    pub fn policy_problems_with_targets(&self, known_targets: &[String]) -> Vec<PolicyIssue> {
        self.policy_source
            .place_all(&self.policy.validate(Some(known_targets)))
    }

    /// The gateway's SSH host key.
    pub fn load_host_key(&self) -> Result<russh::keys::PrivateKey, ConfigError> {
        load_openssh_key("SSH host key", &self.ssh.host_key)
    }

    /// The gateway's client key for logging in to targets.
    pub fn load_client_key(&self) -> Result<russh::keys::PrivateKey, ConfigError> {
        load_openssh_key("client key", &self.keys.client_key)
    }

    /// The Ed25519 key that seals recordings.
    ///
    /// Only `serve` reads it: checking a recording needs the public half alone
    /// ([`Config::load_recording_public_key`]), so whoever may verify cannot re-sign.
    pub fn load_signing_key(&self) -> Result<ed25519_dalek::SigningKey, ConfigError> {
        let path = &self.keys.recording_signing_key;
        let error = |message| ConfigError::Key {
            what: "recording signing key",
            path: path.clone(),
            message,
        };
        crate::vault::check_private(path).map_err(error)?;
        let seed = crate::vault::read_key_file(path).map_err(error)?;
        Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The public key recordings are checked against.
    pub fn load_recording_public_key(&self) -> Result<ed25519_dalek::VerifyingKey, ConfigError> {
        read_recording_public_key(&self.keys.recording_public_key)
    }

    /// Writes the signing key's public half where `[keys] recording_public_key` says when
    /// it is missing (installations older than the file), or refuses a file that is not
    /// that key's: recordings would be checked against the wrong key.
    pub fn ensure_recording_public_key(
        &self,
        signing: &ed25519_dalek::SigningKey,
    ) -> Result<(), ConfigError> {
        let path = &self.keys.recording_public_key;
        let public = signing.verifying_key();
        if !path.exists() {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(path)
                .and_then(|mut f| {
                    f.write_all(recording_public_key_text(&public).as_bytes())?;
                    f.sync_all()
                });
            return written.map_err(|e| ConfigError::Key {
                what: "recording public key",
                path: path.clone(),
                message: format!("cannot write it: {e}"),
            });
        }
        if read_recording_public_key(path)? != public {
            return Err(ConfigError::Key {
                what: "recording public key",
                path: path.clone(),
                message: "it is not the public half of [keys] recording_signing_key".into(),
            });
        }
        Ok(())
    }

    /// The vault sealing target passwords.
    pub fn load_vault(&self) -> Result<crate::vault::Vault, ConfigError> {
        let error = |message| ConfigError::Key {
            what: "vault key",
            path: self.keys.vault_key.clone(),
            message,
        };
        crate::vault::check_private(&self.keys.vault_key).map_err(error)?;
        crate::vault::Vault::load(&self.keys.vault_key).map_err(|e| error(e.to_string()))
    }
}

/// This machine's host name, or "gw1".
pub fn default_node_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && !s.chars().any(|c| c.is_control() || c.is_whitespace())
        })
        .unwrap_or_else(|| "gw1".to_string())
}

/// Reads the policy again from the configuration file at `path` (and the file its
/// `[policy] file` names), e.g. on SIGHUP. The rest of the file is checked too, but only
/// the policy takes effect; on error the caller keeps the policy it has.
pub fn reload_policy(path: &Path) -> Result<policy::Policy, ConfigError> {
    Config::load(path).map(|c| c.policy)
}

/// Resolves a relative SQLite path against `dir`; leaves other URLs alone.
pub fn resolve_database_url(url: &str, dir: &Path) -> Result<String, String> {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let (file, query) = match rest.split_once('?') {
            Some((f, q)) => (f, Some(q)),
            None => (rest, None),
        };
        if file.is_empty() {
            return Err(format!(
                "{url:?} names no database file; expected e.g. sqlite://menwei.db"
            ));
        }
        let file = if file == ":memory:" {
            file.to_string()
        } else {
            dir.join(file).to_string_lossy().into_owned()
        };
        Ok(match query {
            Some(q) => format!("sqlite://{file}?{q}"),
            None => format!("sqlite://{file}"),
        })
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_string())
    } else {
        Err("expected a sqlite://FILE or postgres://USER:PASSWORD@HOST/DB URL".to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node_name: Option<Spanned<String>>,
    ssh: Option<ssh::RawSsh>,
    database: Option<RawDatabase>,
    recordings: Option<recordings::RawRecordings>,
    keys: Option<RawKeys>,
    /// Moved to `[policy] max_grant`; kept only to say so.
    grants: Option<toml::Value>,
    /// `[targets]` (its old `[targets.NAME]` tables are refused before parsing).
    targets: Option<targets::RawTargets>,
    policy: Option<policy_table::RawPolicy>,
    webhooks: Option<Vec<webhooks::RawWebhook>>,
    notify: Option<webhooks::RawNotify>,
    https: Option<https::RawHttps>,
    audit: Option<audit::RawAudit>,
    reports: Option<reports::RawReports>,
    log: Option<log::RawLog>,
    metrics: Option<metrics::RawMetrics>,
    cluster: Option<cluster::RawCluster>,
    backup: Option<backup::RawBackup>,
    retention: Option<retention::RawRetention>,
    inspections: Option<std::collections::BTreeMap<String, inspections::RawRunbook>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    client_key: Option<Spanned<String>>,
    vault_key: Option<Spanned<String>>,
    recording_signing_key: Option<Spanned<String>>,
    recording_public_key: Option<Spanned<String>>,
}

/// `text` parsed as `/etc/menwei/menwei.toml`: what the configuration's unit tests (here and
/// in each section's module) read.
#[cfg(test)]
fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/menwei/menwei.toml"), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_with_defaults_and_absolute_paths() {
        let c = parse(&template(
            "gw1",
            "127.0.0.1:2222",
            "sqlite://menwei.db",
            "127.0.0.1:8443",
        ))
        .unwrap();
        assert_eq!(c.node_name, "gw1");
        assert_eq!(c.ssh.listen, "127.0.0.1:2222".parse().unwrap());
        assert_eq!(
            c.ssh.host_key,
            Path::new("/etc/menwei/ssh_host_ed25519_key")
        );
        assert_eq!(c.ssh.max_auth_failures, 5);
        assert_eq!(c.ssh.auth_failure_window, Duration::from_secs(300));
        assert_eq!(c.ssh.max_connections, 1000);
        assert_eq!(c.ssh.max_connections_per_address, 50);
        assert_eq!(c.ssh.login_grace, Duration::from_secs(30));
        assert_eq!(c.ssh.max_channels_per_connection, 10);
        assert_eq!(c.ssh.idle_timeout, Some(Duration::from_secs(900)));
        assert_eq!(c.database.url, "sqlite:///etc/menwei/menwei.db");
        assert_eq!(c.recordings.dir, Path::new("/etc/menwei/recordings"));
        assert_eq!(c.recordings.flush_interval, Duration::from_secs(1));
        assert_eq!(c.recordings.max_session_bytes, DEFAULT_MAX_SESSION_BYTES);
        assert_eq!(c.recordings.min_free, DEFAULT_MIN_FREE);
        assert_eq!(c.keys.vault_key, Path::new("/etc/menwei/vault.key"));
        assert_eq!(c.policy.max_grant_ms, 24 * 3600 * 1000);
        assert!(c.policy.target_allows_exec("web01"));
    }

    #[test]
    fn target_rules_apply() {
        let c = parse(
            "[policy.targets.web01]\nallow_exec = false\n[policy.targets.db01]\n\n[policy]\nmax_grant = \"3h\"\n",
        )
        .unwrap();
        assert!(!c.policy.target_allows_exec("web01"));
        assert!(c.policy.target_allows_exec("db01"));
        assert!(c.policy.target_allows_exec("other"));
        assert_eq!(c.policy.max_grant_ms, 3 * 3600 * 1000);
    }

    #[test]
    fn old_grant_and_target_keys_name_their_new_place() {
        let e = parse("node_name = \"gw1\"\n\n[grants]\nmax_duration = \"24h\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/menwei/menwei.toml:3:1: "), "{e}");
        assert!(e.contains("[policy] max_grant"), "{e}");
        let e = parse("node_name = \"gw1\"\n[targets.web01]\nallow_exec = false\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/menwei/menwei.toml:2:1: "), "{e}");
        assert!(e.contains("[policy.targets.NAME]"), "{e}");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "node_name = \"gw1\"\n\n[ssh]\nlisen = \"127.0.0.1:2222\"\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("/etc/menwei/menwei.toml:4:1: "), "{e}");
        assert!(e.contains("unknown field `lisen`"), "{e}");
        assert!(e.contains("ssh.lisen"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn invalid_listen_names_key_and_line() {
        let text = "[ssh]\nmax_auth_failures = 3\nlisten = \"nowhere\"\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:3:10: invalid value for key ssh.listen"),
            "{e}"
        );
    }

    #[test]
    fn bad_connection_limits_name_file_line_and_key() {
        let e = parse("[ssh]\nmax_connections = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/etc/menwei/menwei.toml:2:19: invalid value for key ssh.max_connections: 0"
            ),
            "{e}"
        );
        let e = parse("[ssh]\n\nlogin_grace = \"0s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:3:15: invalid value for key ssh.login_grace"),
            "{e}"
        );
        let e = parse("[ssh]\nmax_channels_per_connection = \"ten\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:") && e.contains("ssh.max_channels_per_connection"),
            "{e}"
        );
    }

    #[test]
    fn recording_limits_parse_and_bad_ones_name_file_line_and_key() {
        let c = parse("[recordings]\nmax_session_bytes = \"2 GiB\"\nmin_free = \"5%\"\n").unwrap();
        assert_eq!(c.recordings.max_session_bytes, 2 << 30);
        assert_eq!(c.recordings.min_free, MinFree::Percent(5));
        assert_eq!(c.recordings.min_free.bytes_of(1000), 50);
        let c = parse("[recordings]\nmin_free = \"0\"\n").unwrap();
        assert_eq!(c.recordings.min_free, MinFree::Bytes(0));
        for (text, at) in [
            ("[recordings]\nmax_session_bytes = \"10G\"\n", ":2:21: invalid value for key recordings.max_session_bytes: invalid size \"10G\"; expected"),
            ("[recordings]\nmax_session_bytes = \"512KiB\"\n", ":2:21: invalid value for key recordings.max_session_bytes: \"512KiB\" is below the smallest limit, 1MiB"),
            ("[recordings]\n\nmin_free = \"150%\"\n", ":3:12: invalid value for key recordings.min_free: invalid share \"150%\""),
            ("[recordings]\nmin_free = \"lots\"\n", ":2:12: invalid value for key recordings.min_free: invalid size"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("/etc/menwei/menwei.toml{at}")), "{e}");
        }
        let e = parse("[recordings]\nmax_session_bytes = 1024\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:") && e.contains("recordings.max_session_bytes"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_key() {
        let e = parse("[ssh]\nmax_auth_failures = \"five\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/menwei/menwei.toml:2:"), "{e}");
        assert!(e.contains("ssh.max_auth_failures"), "{e}");
    }

    #[test]
    fn bad_duration_and_url_are_named() {
        let e = parse("[policy]\nmax_grant = \"forever\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:13: policy.max_grant"), "{e}");
        let e = parse("[database]\nurl = \"mysql://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:7: invalid value for key database.url"),
            "{e}"
        );
    }

    #[test]
    fn broken_toml_names_line() {
        let e = parse("node_name = \"gw1\"\n[ssh\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/menwei/menwei.toml:2:"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn postgres_url_is_kept_and_sqlite_query_survives() {
        let c = parse("[database]\nurl = \"postgres://u:p@h/db\"\n").unwrap();
        assert_eq!(c.database.url, "postgres://u:p@h/db");
        assert_eq!(
            resolve_database_url("sqlite:x.db?mode=rwc", Path::new("/d")).unwrap(),
            "sqlite:///d/x.db?mode=rwc"
        );
        assert_eq!(
            resolve_database_url("sqlite:///abs/x.db", Path::new("/d")).unwrap(),
            "sqlite:///abs/x.db"
        );
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use policy::{Level, Role};

    const DESIGN: &str = r#"node_name = "gw1"

[policy]
idle_timeout = "10m"
max_session = "4h"
request_ttl = "2s"
response_window = "20m"
totp_roles = ["engineer"]

[policy.levels]
A = "1h"
C = "8h"

[policy.break_glass]
enabled = true
max_duration = "90m"

[policy.groups.web]
targets = ["web01", "web02"]
engineers = ["*"]
approvals = 1
allow_exec = true
allow_uploads = true

[policy.groups.databases]
targets = ["db01"]
engineers = ["alice", "carol"]
approvals = 2
allow_exec = false
allow_shell_syntax = true
"#;

    #[test]
    fn absent_policy_is_the_design_default() {
        let c = parse("").unwrap();
        assert_eq!(c.policy, policy::Policy::default());
        assert_eq!(c.ssh.idle_timeout, Some(Duration::from_secs(900)));
        let c = parse(&template(
            "gw1",
            "127.0.0.1:2222",
            "sqlite://x.db",
            "127.0.0.1:8443",
        ))
        .unwrap();
        assert_eq!(c.policy, policy::Policy::default());
    }

    #[test]
    fn policy_keys_build_the_policy() {
        let c = parse(DESIGN).unwrap();
        let p = &c.policy;
        assert_eq!(p.idle_timeout_ms, 600_000);
        assert_eq!(c.ssh.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(p.max_session_ms, 4 * 3_600_000);
        assert_eq!(p.request_ttl_ms, 2_000);
        assert_eq!(p.response_window_ms, 1_200_000);
        assert_eq!(p.totp_roles, vec![Role::Engineer]);
        assert_eq!(p.max_for(Level::A), 3_600_000);
        assert_eq!(
            p.max_for(Level::B),
            2 * 3_600_000,
            "unnamed levels keep defaults"
        );
        assert_eq!(p.max_for(Level::C), 8 * 3_600_000);
        assert!(p.break_glass.enabled);
        assert_eq!(p.break_glass.max_ms, 90 * 60_000);
        let db = p.group("databases").unwrap();
        assert_eq!(db.approvals, 2);
        assert!(!db.allow_exec && !db.allow_uploads && db.allow_shell_syntax);
        let web = p.group("web").unwrap();
        assert!(
            web.allow_exec && web.allow_uploads && !web.allow_shell_syntax,
            "off unless set"
        );
        assert!(p.may_request("carol", "db01") && !p.may_request("bob", "db01"));
        assert_eq!(p.approvals_needed(&["web01".into(), "db01".into()]), 2);
    }

    #[test]
    fn invalid_policy_names_file_line_and_key() {
        let text = DESIGN.replace("approvals = 2", "approvals = 0");
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:28:13: policy.groups.databases.approvals: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");

        let text = DESIGN.replace("max_duration = \"90m\"", "max_duration = \"3h\"");
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:16:16: policy.break_glass.max_duration: "),
            "{e}"
        );
        let text = DESIGN.replace("targets = [\"db01\"]", "targets = []");
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.contains(":26:11: policy.groups.databases.targets: "),
            "{e}"
        );
    }

    #[test]
    fn transfer_guard_and_max_output_bytes_are_read_and_checked() {
        let group = "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\n";
        let c = parse(&format!(
            "{group}transfer_guard = \"alert\"\nmax_output_bytes = \"64KiB\"\n"
        ))
        .unwrap();
        let rules = c.policy.stream_rules("web01");
        assert_eq!(rules.transfer_guard, policy::TransferGuard::Alert);
        assert_eq!(rules.max_output_bytes, Some(65_536));
        let c = parse(group).unwrap();
        let rules = c.policy.stream_rules("web01");
        assert_eq!(rules.transfer_guard, policy::TransferGuard::End, "default");
        assert_eq!(rules.max_output_bytes, None, "no limit unless set");
        let e = parse(&format!("{group}transfer_guard = \"warn\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:4:18: policy.groups.web.transfer_guard: "),
            "{e}"
        );
        let e = parse(&format!("{group}max_output_bytes = \"lots\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:4:20: policy.groups.web.max_output_bytes: "),
            "{e}"
        );
    }

    #[test]
    fn bad_values_in_policy_name_their_key() {
        let e = parse("[policy]\nidle_timeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:2:16: policy.idle_timeout: invalid duration"),
            "{e}"
        );
        let e = parse("[policy.levels]\nE = \"1h\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:5: policy.levels.E: unknown fault level"),
            "{e}"
        );
        let e = parse("[policy]\ntotp_roles = [\"root\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:15: policy.totp_roles[0]: unknown role"),
            "{e}"
        );
        let e = parse("[policy.groups.x]\ntargets = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("engineers"), "{e}");
        let e = parse("[policy]\nidle_timout = \"1m\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/menwei/menwei.toml:2:1: "), "{e}");
        assert!(e.contains("policy.idle_timout"), "{e}");
    }

    #[test]
    fn ssh_idle_timeout_says_where_it_moved() {
        let e = parse("[ssh]\nidle_timeout = \"15m\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                ":2:16: invalid value for key ssh.idle_timeout: moved to [policy] idle_timeout"
            ),
            "{e}"
        );
    }

    #[test]
    fn policy_file_moves_the_table_and_errors_name_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("menwei.toml");
        let pol = dir.path().join("policy.toml");
        std::fs::write(&main, "[policy]\nfile = \"policy.toml\"\n").unwrap();
        std::fs::write(
            &pol,
            "request_ttl = \"1h\"\n[groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\n",
        )
        .unwrap();
        let c = Config::load(&main).unwrap();
        assert_eq!(c.policy.request_ttl_ms, 3_600_000);
        assert!(c.policy.may_request("alice", "web01"));
        assert_eq!(reload_policy(&main).unwrap(), c.policy);

        std::fs::write(
            &pol,
            "request_ttl = \"1h\"\n[groups.web]\ntargets = [\"web01\"]\nengineers = [\"*\"]\napprovals = 99\n",
        )
        .unwrap();
        let e = Config::load(&main).unwrap_err().to_string();
        let want = format!("{}:5:13: policy.groups.web.approvals: ", pol.display());
        assert!(e.starts_with(&want), "{e}");
        std::fs::write(&pol, "[groups.web]\ntargets = 3\n").unwrap();
        let e = Config::load(&main).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2:", pol.display())), "{e}");
        assert!(e.contains("policy.groups.web.targets"), "{e}");

        std::fs::write(
            &main,
            "[policy]\nfile = \"policy.toml\"\nrequest_ttl = \"1h\"\n",
        )
        .unwrap();
        let e = Config::load(&main).unwrap_err().to_string();
        assert!(e.contains(":2:8: policy.file: "), "{e}");
        std::fs::write(&main, "[policy]\nfile = \"missing.toml\"\n").unwrap();
        let e = Config::load(&main).unwrap_err().to_string();
        assert!(e.contains("policy.file: cannot read"), "{e}");
    }

    #[test]
    fn unknown_targets_are_placed_once_the_database_is_known() {
        let c = parse(DESIGN).unwrap();
        let problems = c.policy_problems_with_targets(&["web01".into(), "db01".into()]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = problems.first().unwrap();
        assert_eq!(p.key, "policy.groups.web.targets");
        assert_eq!((p.line, p.column), (19, 11));
        assert!(p.message.contains("web02"), "{p}");
    }

    #[test]
    fn several_problems_say_how_many_more() {
        let text = DESIGN
            .replace("approvals = 2", "approvals = 0")
            .replace("approvals = 1", "approvals = 11");
        let e = parse(&text).unwrap_err();
        let ConfigError::Policy(issues) = &e else {
            panic!("{e}")
        };
        assert_eq!(issues.len(), 2);
        assert!(
            e.to_string()
                .contains("(and 1 more; see: menwei policy check)"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn deploy_example_parses() {
        let text = include_str!("../../deploy/menwei.example.toml");
        let c = Config::parse(Path::new("/etc/menwei/menwei.toml"), text).unwrap();
        assert_eq!(c.policy.groups.len(), 2);
        assert_eq!(c.ssh.idle_timeout, Some(Duration::from_secs(900)));
        // The limits it documents are the defaults.
        assert_eq!(c.policy.max_sessions_per_engineer, 10);
        assert_eq!(c.audit, AuditConfig::default());
        let https = c.https.unwrap();
        assert_eq!(https.max_connections, 1000);
        assert_eq!(https.header_read_timeout, Duration::from_secs(10));
        assert_eq!(https.max_streams_per_login, 8);
    }
}
