//! `[[webhooks]]` and `[notify]`: where notifications go and how hard the gateway tries.
//! Only parsing and checking; the secret files are read when the gateway starts
//! (`notify::Webhooks::load`), and sending is the notifier's.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// The event kinds a webhook can receive (`events = [...]`).
pub const WEBHOOK_EVENTS: &[&str] = &[
    "request",
    "decision",
    "break_glass",
    "revocation",
    "expiry",
    "login_alert",
    "transfer",
    "backup_failed",
    "recordings_store",
];

/// One `[[webhooks]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where to POST: `https://…`, or `http://` to a loopback address.
    pub url: String,
    /// The file holding the HMAC-SHA256 key (absolute). Never logged.
    pub secret_file: PathBuf,
    /// The event kinds it receives ([`WEBHOOK_EVENTS`]).
    pub events: Vec<String>,
}

/// `[notify]`: delivery of webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Attempts before a notification is kept as failed.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubles after each further one.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            max_attempts: 10,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    url: Spanned<String>,
    secret_file: Spanned<String>,
    events: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    max_attempts: Option<Spanned<i64>>,
    initial_backoff: Option<Spanned<String>>,
    max_backoff: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

/// Checks the raw tables; paths resolve against `dir`.
pub(super) fn build(
    webhooks: Option<Vec<RawWebhook>>,
    notify: Option<RawNotify>,
    src: &Source,
) -> Result<(Vec<WebhookConfig>, NotifyConfig), ConfigError> {
    let mut out = Vec::new();
    for (i, w) in webhooks.unwrap_or_default().into_iter().enumerate() {
        let key = |k: &str| format!("webhooks[{i}].{k}");
        check_url(w.url.get_ref()).map_err(|why| src.invalid(&key("url"), &w.url, why))?;
        let secret_file = src.path(&key("secret_file"), &w.secret_file)?;
        let events = match w.events {
            None => WEBHOOK_EVENTS.iter().map(|k| k.to_string()).collect(),
            Some(list) => {
                let mut events: Vec<String> = Vec::new();
                for e in list {
                    if !WEBHOOK_EVENTS.contains(&e.get_ref().as_str()) {
                        return Err(src.invalid(
                            &key("events"),
                            &e,
                            format!(
                                "unknown event {:?}; expected some of {}",
                                e.get_ref(),
                                WEBHOOK_EVENTS.join(", ")
                            ),
                        ));
                    }
                    if !events.contains(e.get_ref()) {
                        events.push(e.into_inner());
                    }
                }
                events
            }
        };
        out.push(WebhookConfig {
            url: w.url.into_inner(),
            secret_file,
            events,
        });
    }

    let raw = notify.unwrap_or_default();
    let mut n = NotifyConfig::default();
    if let Some(v) = raw.max_attempts {
        n.max_attempts = u32::try_from(*v.get_ref())
            .ok()
            .filter(|m| (1..=100).contains(m))
            .ok_or_else(|| {
                src.invalid(
                    "notify.max_attempts",
                    &v,
                    format!("{}: expected a whole number from 1 to 100", v.get_ref()),
                )
            })?;
    }
    let duration = |key: &str, v: &Spanned<String>| {
        src.duration(key, v).and_then(|d| {
            if d.is_zero() {
                Err(src.invalid(key, v, "must be longer than zero".into()))
            } else {
                Ok(d)
            }
        })
    };
    if let Some(v) = &raw.initial_backoff {
        n.initial_backoff = duration("notify.initial_backoff", v)?;
    }
    if let Some(v) = &raw.max_backoff {
        n.max_backoff = duration("notify.max_backoff", v)?;
    }
    if let Some(v) = &raw.timeout {
        n.timeout = duration("notify.timeout", v)?;
    }
    Ok((out, n))
}

/// `https://HOST…`, or `http://` to a loopback host (nothing leaves the machine in clear).
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "{url:?}: plain http only to a loopback address; use https://"
        )),
        _ => Err(format!("{url:?}: expected an https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse;

    #[test]
    fn webhooks_default_to_every_event_and_resolve_the_secret_path() {
        let c = parse(
            "[[webhooks]]\nurl = \"https://h.example/a\"\nsecret_file = \"w.secret\"\n\
             [[webhooks]]\nurl = \"http://127.0.0.1:8080/b\"\nsecret_file = \"/abs/s\"\n\
             events = [\"revocation\", \"revocation\"]\n\
             [notify]\nmax_attempts = 3\ninitial_backoff = \"200ms\"\n",
        )
        .unwrap();
        assert_eq!(c.webhooks.len(), 2);
        assert_eq!(c.webhooks[0].events, WEBHOOK_EVENTS);
        assert_eq!(c.webhooks[0].secret_file, Path::new("/etc/menwei/w.secret"));
        assert_eq!(c.webhooks[1].events, ["revocation"]);
        assert_eq!(c.webhooks[1].secret_file, Path::new("/abs/s"));
        assert_eq!(c.notify.max_attempts, 3);
        assert_eq!(c.notify.initial_backoff, Duration::from_millis(200));
        assert_eq!(c.notify.max_backoff, Duration::from_secs(300));
        assert_eq!(c.notify.timeout, Duration::from_secs(10));
        assert!(parse("").unwrap().webhooks.is_empty());
    }

    #[test]
    fn bad_webhooks_name_file_line_and_key() {
        let e = parse(
            "[[webhooks]]\nurl = \"https://h.example/a\"\nsecret_file = \"s\"\nevents = [\"request\", \"lunch\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:4:22: invalid value for key webhooks[0].events"),
            "{e}"
        );
        assert!(e.contains("\"lunch\""), "{e}");
        let e = parse("[[webhooks]]\nurl = \"http://10.1.1.1/h\"\nsecret_file = \"s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:7: invalid value for key webhooks[0].url"),
            "{e}"
        );
        let e = parse("[[webhooks]]\nurl = \"https://h.example/a\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("secret_file"), "{e}");
        let e = parse("[notify]\nmax_attempts = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:16: invalid value for key notify.max_attempts"),
            "{e}"
        );
        let e = parse("[notify]\ninitial_backoff = \"0s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("notify.initial_backoff"), "{e}");
    }

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert!(check_url("https://hooks.example/menwei").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("http://[::1]:8080/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://10.0.0.5/hook").is_err());
        assert!(check_url("ftp://x/hook").is_err());
        assert!(check_url("not a url").is_err());
    }
}
