//! `[recordings]`: where recordings live (a local directory, or S3-compatible object storage
//! with the directory as the spool), how often they reach the disk, how large one may grow
//! and how much free space the disk keeps. Only parsing and checking; the writing is
//! [`crate::session::recorder`], the free space [`crate::session::room`], the store
//! [`crate::recording_store`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// `[recordings]`.
#[derive(Debug, Clone)]
pub struct RecordingsConfig {
    /// Directory holding `<session id>.mwrec` files: where they stay, or with a `store`
    /// the spool live sessions write to until their sealed recording is uploaded.
    pub dir: PathBuf,
    /// `store = "s3://bucket/prefix"` and its keys; `None` keeps recordings in `dir`.
    pub store: Option<StoreConfig>,
    /// How often recordings are flushed to disk at the latest.
    pub flush_interval: Duration,
    /// The largest one session's recording may grow; the session ends when it is reached.
    pub max_session_bytes: u64,
    /// Free space the recordings filesystem keeps: below it no session starts, and live
    /// sessions are warned once.
    pub min_free: MinFree,
}

/// `[recordings] store`, `endpoint`, `region`, `credentials_file`: an S3-compatible bucket.
/// The keys themselves are never in the configuration file: they come from
/// `credentials_file` or the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `s3://bucket/prefix` as written, for messages.
    pub url: String,
    /// The bucket.
    pub bucket: String,
    /// The key prefix (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// The S3 endpoint (`https://minio.example:9000`); AWS's own when absent.
    pub endpoint: Option<String>,
    /// The region requests are signed for.
    pub region: String,
    /// A file holding `aws_access_key_id = …` and `aws_secret_access_key = …` (the AWS
    /// credentials file's lines); the environment's keys when absent.
    pub credentials_file: Option<PathBuf>,
}

/// Default `[recordings] region`.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Parses `s3://bucket/prefix` into the bucket and the prefix.
pub fn parse_store_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{url:?}: expected s3://BUCKET or s3://BUCKET/PREFIX"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.contains('@') || bucket.contains(':') {
        return Err(
            "no credentials in the store's address: put them in credentials_file or the environment"
                .into(),
        );
    }
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid_bucket {
        return Err(format!(
            "{bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, '-' and '.')"
        ));
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty()
        && prefix
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(format!(
            "{prefix:?} is not a key prefix (empty, . or .. parts)"
        ));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// Default `[recordings] max_session_bytes`: far more than an interactive session types or
/// prints, small enough that one session cannot take a disk.
pub const DEFAULT_MAX_SESSION_BYTES: u64 = 10 << 30;
/// Default `[recordings] min_free`.
pub const DEFAULT_MIN_FREE: MinFree = MinFree::Bytes(1 << 30);
/// The smallest `max_session_bytes` accepted: below it a session could not hold its setup.
pub const MIN_SESSION_BYTES: u64 = 1 << 20;

/// `[recordings] min_free`: a size (`1GiB`) or a share of the filesystem (`5%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinFree {
    /// This many bytes.
    Bytes(u64),
    /// This percentage (0 to 99) of the filesystem's size.
    Percent(u8),
}

impl MinFree {
    /// The bytes to keep free on a filesystem of `total` bytes.
    pub fn bytes_of(self, total: u64) -> u64 {
        match self {
            MinFree::Bytes(b) => b,
            MinFree::Percent(p) => total / 100 * u64::from(p),
        }
    }

    /// Parses `1GiB` or `5%`.
    pub fn parse(s: &str) -> Result<MinFree, String> {
        match s.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p < 100)
                .map(MinFree::Percent)
                .ok_or_else(|| {
                    format!("invalid share {s:?}; expected a whole percentage from 0% to 99%, or a size such as 1GiB")
                }),
            None => crate::size::parse_size(s).map(MinFree::Bytes),
        }
    }
}

impl std::fmt::Display for MinFree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MinFree::Bytes(b) => f.write_str(&crate::size::format_size(*b)),
            MinFree::Percent(p) => write!(f, "{p}% of the disk"),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecordings {
    dir: Option<Spanned<String>>,
    flush_interval: Option<Spanned<String>>,
    max_session_bytes: Option<Spanned<String>>,
    min_free: Option<Spanned<String>>,
    store: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    credentials_file: Option<Spanned<String>>,
    // Named so that a key pasted here is refused with its line, not as an unknown key.
    access_key_id: Option<Spanned<toml::Value>>,
    secret_access_key: Option<Spanned<toml::Value>>,
    aws_access_key_id: Option<Spanned<toml::Value>>,
    aws_secret_access_key: Option<Spanned<toml::Value>>,
}

/// Refuses a key written into the configuration file itself.
fn no_secret(
    src: &Source,
    name: &str,
    v: Option<&Spanned<toml::Value>>,
) -> Result<(), ConfigError> {
    match v {
        Some(v) => Err(src.invalid(
            &format!("recordings.{name}"),
            v,
            "the store's keys never go in the configuration file; name a file holding them with [recordings] credentials_file, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the gateway's environment".into(),
        )),
        None => Ok(()),
    }
}

/// `[recordings] store` and the keys that go with it.
fn store(rec: &RawRecordings, src: &Source) -> Result<Option<StoreConfig>, ConfigError> {
    no_secret(src, "access_key_id", rec.access_key_id.as_ref())?;
    no_secret(src, "secret_access_key", rec.secret_access_key.as_ref())?;
    no_secret(src, "aws_access_key_id", rec.aws_access_key_id.as_ref())?;
    no_secret(
        src,
        "aws_secret_access_key",
        rec.aws_secret_access_key.as_ref(),
    )?;
    let Some(url) = &rec.store else {
        for (name, v) in [
            ("endpoint", &rec.endpoint),
            ("region", &rec.region),
            ("credentials_file", &rec.credentials_file),
        ] {
            if let Some(v) = v {
                return Err(src.invalid(
                    &format!("recordings.{name}"),
                    v,
                    "it only applies with [recordings] store = \"s3://BUCKET/PREFIX\"".into(),
                ));
            }
        }
        return Ok(None);
    };
    s3_store(
        src,
        "recordings",
        ("store", url),
        rec.endpoint.as_ref(),
        rec.region.as_ref(),
        rec.credentials_file.as_ref(),
    )
    .map(Some)
}

/// An S3 bucket named by `url` (`(key, value)`: `s3://BUCKET/PREFIX`) with the `endpoint`,
/// `region` and `credentials_file` keys of the same `table`.
pub(super) fn s3_store(
    src: &Source,
    table: &str,
    url: (&str, &Spanned<String>),
    endpoint: Option<&Spanned<String>>,
    region: Option<&Spanned<String>>,
    credentials_file: Option<&Spanned<String>>,
) -> Result<StoreConfig, ConfigError> {
    let (url_key, url) = url;
    let (bucket, prefix) = parse_store_url(url.get_ref())
        .map_err(|e| src.invalid(&format!("{table}.{url_key}"), url, e))?;
    let endpoint = match endpoint {
        Some(v) => {
            let e = v.get_ref().trim().trim_end_matches('/');
            let scheme_ok = e.starts_with("https://") || e.starts_with("http://");
            if !scheme_ok || e.contains('@') {
                return Err(src.invalid(
                    &format!("{table}.endpoint"),
                    v,
                    format!("{e:?}: expected http(s)://HOST[:PORT], without credentials"),
                ));
            }
            Some(e.to_string())
        }
        None => None,
    };
    let region = match region {
        Some(v) if v.get_ref().trim().is_empty() => {
            return Err(src.invalid(&format!("{table}.region"), v, "empty region".into()))
        }
        Some(v) => v.get_ref().trim().to_string(),
        None => DEFAULT_REGION.to_string(),
    };
    let credentials_file = match credentials_file {
        Some(v) => Some(src.path(&format!("{table}.credentials_file"), v)?),
        None => None,
    };
    Ok(StoreConfig {
        url: url.get_ref().clone(),
        bucket,
        prefix,
        endpoint,
        region,
        credentials_file,
    })
}

/// Checks the raw table; defaults for what is absent.
pub(super) fn build(
    raw: Option<RawRecordings>,
    src: &Source,
) -> Result<RecordingsConfig, ConfigError> {
    let rec = raw.unwrap_or_default();
    Ok(RecordingsConfig {
        dir: src.path_or("recordings.dir", rec.dir.as_ref(), "recordings")?,
        store: store(&rec, src)?,
        flush_interval: src.duration_or(
            "recordings.flush_interval",
            rec.flush_interval.as_ref(),
            Duration::from_secs(1),
        )?,
        max_session_bytes: match &rec.max_session_bytes {
            Some(v) => crate::size::parse_size(v.get_ref())
                .and_then(|n| {
                    if n >= MIN_SESSION_BYTES {
                        Ok(n)
                    } else {
                        Err(format!(
                            "{:?} is below the smallest limit, 1MiB",
                            v.get_ref()
                        ))
                    }
                })
                .map_err(|e| src.invalid("recordings.max_session_bytes", v, e))?,
            None => DEFAULT_MAX_SESSION_BYTES,
        },
        min_free: match &rec.min_free {
            Some(v) => {
                MinFree::parse(v.get_ref()).map_err(|e| src.invalid("recordings.min_free", v, e))?
            }
            None => DEFAULT_MIN_FREE,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(recordings: &str) -> Result<Config, String> {
        Config::parse(
            Path::new("/etc/menwei/menwei.toml"),
            &format!("[recordings]\n{recordings}"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn store_keys_are_read_and_default_to_the_local_directory() {
        let c = parse("").unwrap();
        assert_eq!(c.recordings.store, None);
        let c = parse(
            "store = \"s3://menwei-rec/node-a/\"\nendpoint = \"http://127.0.0.1:9000/\"\n\
             credentials_file = \"s3.credentials\"\n",
        )
        .unwrap();
        let store = c.recordings.store.unwrap();
        assert_eq!(store.bucket, "menwei-rec");
        assert_eq!(store.prefix, "node-a");
        assert_eq!(store.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(store.region, DEFAULT_REGION);
        assert_eq!(
            store.credentials_file.as_deref(),
            Some(Path::new("/etc/menwei/s3.credentials"))
        );
        let c = parse("store = \"s3://menwei-rec\"\nregion = \"cn-north-1\"\n").unwrap();
        let store = c.recordings.store.unwrap();
        assert_eq!(
            (store.prefix.as_str(), store.region.as_str()),
            ("", "cn-north-1")
        );
    }

    #[test]
    fn a_key_in_the_file_is_refused_with_its_line() {
        let e = parse("store = \"s3://menwei-rec\"\nsecret_access_key = \"abc\"\n").unwrap_err();
        assert!(e.contains("menwei.toml:3:"), "{e}");
        assert!(e.contains("recordings.secret_access_key"), "{e}");
        assert!(e.contains("credentials_file"), "{e}");
        assert!(!e.contains("abc"), "the secret is not repeated: {e}");
        let e = parse("store = \"s3://KEY:SECRET@menwei-rec\"\n").unwrap_err();
        assert!(e.contains("menwei.toml:2:"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn bad_store_keys_name_file_line_and_key() {
        for (text, key) in [
            ("store = \"menwei-rec\"\n", "recordings.store"),
            ("store = \"s3://A_B\"\n", "recordings.store"),
            ("store = \"s3://menwei-rec/a//b\"\n", "recordings.store"),
            (
                "store = \"s3://menwei-rec\"\nendpoint = \"minio:9000\"\n",
                "recordings.endpoint",
            ),
            (
                "endpoint = \"http://127.0.0.1:9000\"\n",
                "recordings.endpoint",
            ),
            ("credentials_file = \"c\"\n", "recordings.credentials_file"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains("menwei.toml:") && e.contains(key), "{text}: {e}");
        }
    }
}
