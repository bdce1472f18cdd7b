//! `[recordings]`: where recordings live, how often they reach the disk, how large one may
//! grow and how much free space the disk keeps. Only parsing and checking; the writing is
//! [`crate::session::recorder`], the free space [`crate::session::room`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// `[recordings]`.
#[derive(Debug, Clone)]
pub struct RecordingsConfig {
    /// Directory holding `<session id>.mwrec` files.
    pub dir: PathBuf,
    /// How often recordings are flushed to disk at the latest.
    pub flush_interval: Duration,
    /// The largest one session's recording may grow; the session ends when it is reached.
    pub max_session_bytes: u64,
    /// Free space the recordings filesystem keeps: below it no session starts, and live
    /// sessions are warned once.
    pub min_free: MinFree,
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
}

/// Checks the raw table; defaults for what is absent.
pub(super) fn build(
    raw: Option<RawRecordings>,
    src: &Source,
) -> Result<RecordingsConfig, ConfigError> {
    let rec = raw.unwrap_or_default();
    Ok(RecordingsConfig {
        dir: src.path_or("recordings.dir", rec.dir.as_ref(), "recordings")?,
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
