//! `[https]`: where the web side listens, its certificate, the page's files and origin, how
//! long a web login lasts, which proxies may name the client in `X-Forwarded-For`, and the
//! limits that keep it open under a flood.
//! Only parsing and checking; the files are read when the gateway starts ([`crate::web`]).
//! Without an `[https]` table the web side is off.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// Default HTTPS listen address.
pub const DEFAULT_HTTPS_LISTEN: &str = "127.0.0.1:8443";

/// `[https]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsConfig {
    /// Address the HTTPS server listens on.
    pub listen: SocketAddr,
    /// PEM certificate chain (absolute).
    pub cert: PathBuf,
    /// PEM private key (absolute).
    pub key: PathBuf,
    /// The built page (`web-terminal/dist`), if served.
    pub assets: Option<PathBuf>,
    /// The page's origin (`https://host:port`): CSRF and WebSocket `Origin` checks.
    pub origin: String,
    /// A web login's lifetime (JWT `exp`), renewed while used.
    pub session_ttl: Duration,
    /// The longest a web login lives however much it is used: it ends this long after
    /// the password (and code) were given.
    pub max_login: Duration,
    /// The longest an API token may be issued for (`menwei token add --ttl`); tokens
    /// stored without an end end this long after they were issued.
    pub max_token_ttl: Duration,
    /// Roles whose web login asks for a TOTP code after the password (a password alone is
    /// one factor): every role unless set; approvers and admins whatever it says.
    pub totp_roles: Vec<policy::Role>,
    /// Peers whose `X-Forwarded-For` is believed; nobody's by default.
    pub trusted_proxies: Vec<IpAddr>,
    /// Load balancers in TCP mode whose connections start with a PROXY protocol header
    /// naming the client ([`crate::proxy_header`]); required from them, never read from
    /// anyone else.
    pub proxy_protocol_from: Vec<IpAddr>,
    /// HTTPS connections held at once; one more is closed at accept.
    pub max_connections: usize,
    /// The time a connection has for its TLS handshake, and each request for its headers
    /// (the first from the handshake on): slower clients are closed.
    pub header_read_timeout: Duration,
    /// WebSockets (terminal, watch) and event streams one web login or API token holds at
    /// once; one more is answered `too_many_streams`.
    pub max_streams_per_login: usize,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttps {
    listen: Option<Spanned<String>>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    assets: Option<Spanned<String>>,
    origin: Option<Spanned<String>>,
    session_ttl: Option<Spanned<String>>,
    max_login: Option<Spanned<String>>,
    max_token_ttl: Option<Spanned<String>>,
    totp_roles: Option<Vec<Spanned<String>>>,
    trusted_proxies: Option<Vec<Spanned<String>>>,
    proxy_protocol_from: Option<Vec<Spanned<String>>>,
    max_connections: Option<Spanned<i64>>,
    header_read_timeout: Option<Spanned<String>>,
    max_streams_per_login: Option<Spanned<i64>>,
}

/// Checks the raw table; paths resolve against `dir`.
pub(super) fn build(
    raw: Option<RawHttps>,
    src: &Source,
) -> Result<Option<HttpsConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let invalid = |key: &str, v: &Spanned<String>, why: String| src.invalid(key, v, why);
    let listen = src.listen("https.listen", raw.listen.as_ref(), DEFAULT_HTTPS_LISTEN)?;
    let cert = src.path_or("https.cert", raw.cert.as_ref(), "https_cert.pem")?;
    let key = src.path_or("https.key", raw.key.as_ref(), "https_key.pem")?;
    let assets = raw
        .assets
        .as_ref()
        .map(|v| src.path("https.assets", v))
        .transpose()?;
    let origin = match &raw.origin {
        Some(v) => {
            let o = v.get_ref().trim_end_matches('/');
            let ok = o
                .strip_prefix("https://")
                .is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', ' ']));
            if !ok {
                return Err(invalid(
                    "https.origin",
                    v,
                    format!(
                        "{:?}: expected https://HOST[:PORT] such as https://{DEFAULT_HTTPS_LISTEN}",
                        v.get_ref()
                    ),
                ));
            }
            o.to_string()
        }
        None => format!("https://{listen}"),
    };
    let session_ttl = match &raw.session_ttl {
        Some(v) => src.duration("https.session_ttl", v).and_then(|d| {
            if d < Duration::from_secs(60) || d > Duration::from_secs(24 * 3600) {
                Err(invalid(
                    "https.session_ttl",
                    v,
                    "expected from 1m to 24h".to_string(),
                ))
            } else {
                Ok(d)
            }
        })?,
        None => Duration::from_secs(15 * 60),
    };
    let mut totp_roles = Vec::new();
    match &raw.totp_roles {
        None => totp_roles = policy::Role::ALL.to_vec(),
        Some(roles) => {
            for (i, v) in roles.iter().enumerate() {
                let role = v
                    .get_ref()
                    .parse::<policy::Role>()
                    .map_err(|e| invalid(&format!("https.totp_roles[{i}]"), v, e.to_string()))?;
                if !totp_roles.contains(&role) {
                    totp_roles.push(role);
                }
            }
        }
    }
    let trusted_proxies = src.ip_list("https.trusted_proxies", raw.trusted_proxies.as_ref())?;
    let proxy_protocol_from = src.ip_list(
        "https.proxy_protocol_from",
        raw.proxy_protocol_from.as_ref(),
    )?;
    Ok(Some(HttpsConfig {
        listen,
        cert,
        key,
        assets,
        origin,
        session_ttl,
        max_login: src.positive_duration_or(
            "https.max_login",
            raw.max_login.as_ref(),
            DEFAULT_MAX_LOGIN,
        )?,
        max_token_ttl: src.positive_duration_or(
            "https.max_token_ttl",
            raw.max_token_ttl.as_ref(),
            DEFAULT_MAX_TOKEN_TTL,
        )?,
        totp_roles,
        trusted_proxies,
        proxy_protocol_from,
        max_connections: src.count_or(
            "https.max_connections",
            raw.max_connections.as_ref(),
            1000,
        )?,
        header_read_timeout: src.positive_duration_or(
            "https.header_read_timeout",
            raw.header_read_timeout.as_ref(),
            Duration::from_secs(10),
        )?,
        max_streams_per_login: src.count_or(
            "https.max_streams_per_login",
            raw.max_streams_per_login.as_ref(),
            8,
        )?,
    }))
}

/// `[https] max_login` unless set: a working day.
pub const DEFAULT_MAX_LOGIN: Duration = Duration::from_secs(12 * 3600);
/// `[https] max_token_ttl` unless set.
pub const DEFAULT_MAX_TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// `menwei token add --ttl` unless given.
pub const DEFAULT_TOKEN_TTL: &str = "30d";

/// The `[https]` table `menwei init` writes.
pub fn template(listen: &str) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    format!(
        r#"[https]
# The web page and REST API (/api/v1): https://HOST:PORT
listen = {listen}
# PEM certificate and key; `menwei init` wrote a self-signed pair for 127.0.0.1 and localhost.
cert = "https_cert.pem"
key = "https_key.pem"
# The built page (web-terminal/dist); without it only the API is served.
# assets = "/usr/share/menwei/web"
# The page's origin as browsers send it: CSRF and WebSocket Origin checks.
origin = {origin}
# A web login lasts this long, renewed while used, and never longer than max_login after
# the password was given.
session_ttl = "15m"
max_login = "12h"
# API tokens (`menwei token add --ttl`, default 30d) are issued for at most this long.
max_token_ttl = "90d"
# Roles whose web login asks for a TOTP code after the password (menwei totp enroll NAME):
# a password alone is one factor. Approvers and admins always; SSH logins start with a key,
# and [policy] totp_roles adds the code there.
totp_roles = ["engineer", "approver", "auditor", "admin"]
# X-Forwarded-For is ignored unless the connecting peer is listed here.
trusted_proxies = []
# The same for a load balancer in TCP mode: connections from these addresses start with
# a PROXY protocol header (v1 or v2) naming the browser's address; required from them,
# never read from any other.
proxy_protocol_from = []
# Limits that keep the web side open under a flood: connections held at once (one more is
# closed at accept), the time a client has for its TLS handshake and for each request's
# headers (a slower one, e.g. slowloris, is closed), and WebSockets plus event streams one
# login or API token holds at once (one more is answered with the code too_many_streams).
max_connections = 1000
header_read_timeout = "10s"
max_streams_per_login = 8
"#,
        listen = q(listen),
        origin = q(&format!("https://{listen}")),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse;

    #[test]
    fn absent_table_turns_the_web_side_off_and_the_template_parses() {
        assert_eq!(parse("").unwrap().https, None);
        let c = parse(&template("127.0.0.1:9443")).unwrap();
        let h = c.https.unwrap();
        assert_eq!(h.listen, "127.0.0.1:9443".parse().unwrap());
        assert_eq!(h.cert, Path::new("/etc/menwei/https_cert.pem"));
        assert_eq!(h.key, Path::new("/etc/menwei/https_key.pem"));
        assert_eq!(h.origin, "https://127.0.0.1:9443");
        assert_eq!(h.session_ttl, Duration::from_secs(900));
        assert!(h.trusted_proxies.is_empty());
        assert_eq!(h.assets, None);
        assert_eq!(h.max_connections, 1000);
        assert_eq!(h.header_read_timeout, Duration::from_secs(10));
        assert_eq!(h.max_streams_per_login, 8);
        assert_eq!(h.totp_roles, policy::Role::ALL.to_vec());
        let h = parse("[https]\ntotp_roles = [\"approver\", \"admin\", \"admin\"]\n")
            .unwrap()
            .https
            .unwrap();
        assert_eq!(
            h.totp_roles,
            vec![policy::Role::Approver, policy::Role::Admin]
        );
        let h = parse("[https]\n").unwrap().https.unwrap();
        assert_eq!(
            (
                h.max_connections,
                h.header_read_timeout,
                h.max_streams_per_login,
                h.totp_roles.len()
            ),
            (1000, Duration::from_secs(10), 8, 4),
            "the template states the defaults"
        );
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = parse("[https]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/menwei/menwei.toml:2:10: invalid value for key https.listen"),
            "{e}"
        );
        let e = parse("[https]\norigin = \"http://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:10: invalid value for key https.origin"),
            "{e}"
        );
        let e = parse("[https]\nsession_ttl = \"1s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:15: invalid value for key https.session_ttl"),
            "{e}"
        );
        let e = parse("[https]\ntrusted_proxies = [\"10.0.0.1\", \"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:32: invalid value for key https.trusted_proxies[1]"),
            "{e}"
        );
        let e = parse("[https]\ntotp_roles = [\"auditor\", \"root\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:26: invalid value for key https.totp_roles[1]"),
            "{e}"
        );
        let e = parse("[https]\nheader_read_timeout = \"0s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:23: invalid value for key https.header_read_timeout"),
            "{e}"
        );
        let e = parse("[https]\nmax_streams_per_login = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:25: invalid value for key https.max_streams_per_login"),
            "{e}"
        );
        let e = parse("[https]\nlisen = \"x\"\n").unwrap_err().to_string();
        assert!(e.starts_with("/etc/menwei/menwei.toml:2:1: "), "{e}");
        assert!(e.contains("https.lisen"), "{e}");
    }
}
