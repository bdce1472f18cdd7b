//! `[backup]`: when `menwei serve` backs the gateway up, where to, how many to keep and the
//! passphrase file that seals them. Only parsing and checking; the backup itself is
//! [`crate::backup`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source, StoreConfig};

/// When a scheduled backup runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Every day at this minute of the day, UTC (`"daily 02:00"`).
    Daily {
        /// Minutes after 00:00 UTC.
        minute_of_day: u32,
    },
    /// Every so often from the start of `serve` (`"every 6h"`).
    Every(Duration),
}

/// `[backup]`, present only when the table has a `schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    /// When.
    pub schedule: Schedule,
    /// The directory each backup is written to.
    pub local: PathBuf,
    /// Where each verified backup is copied: another disk, a mounted share or a bucket.
    pub offsite: Option<Destination>,
    /// Backups kept in each directory; older ones are removed.
    pub keep: usize,
    /// The file holding the passphrase that seals the configuration and keys.
    pub passphrase_file: PathBuf,
}

/// Where a backup is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A directory.
    Dir(PathBuf),
    /// An S3-compatible bucket (`s3://BUCKET/PREFIX`), each backup under `PREFIX/<name>/`.
    Store(StoreConfig),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Dir(d) => write!(f, "{}", d.display()),
            Destination::Store(s) => f.write_str(&s.url),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackup {
    schedule: Option<Spanned<String>>,
    local: Option<Spanned<String>>,
    offsite: Option<Spanned<String>>,
    keep: Option<Spanned<i64>>,
    passphrase_file: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    credentials_file: Option<Spanned<String>>,
}

/// Parses `"daily HH:MM"` (UTC) or `"every DURATION"`.
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let text = text.trim();
    let expected = "expected \"daily HH:MM\" (UTC) or \"every DURATION\" (e.g. \"every 6h\")";
    if let Some(at) = text.strip_prefix("daily ") {
        let (h, m) = at
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("{text:?}: {expected}"))?;
        let h: u32 = h.parse().map_err(|_| format!("{text:?}: {expected}"))?;
        let m: u32 = m.parse().map_err(|_| format!("{text:?}: {expected}"))?;
        if h > 23 || m > 59 {
            return Err(format!("{text:?}: hour 0-23 and minute 0-59"));
        }
        return Ok(Schedule::Daily {
            minute_of_day: h * 60 + m,
        });
    }
    if let Some(d) = text.strip_prefix("every ") {
        let d = crate::time::parse_duration(d.trim())?;
        if d < Duration::from_secs(1) {
            return Err(format!("{text:?}: at least 1s apart"));
        }
        return Ok(Schedule::Every(d));
    }
    Err(format!("{text:?}: {expected}"))
}

/// Whether `dest` names object storage.
pub fn is_object_store(dest: &str) -> bool {
    dest.starts_with("s3://")
}

/// Checks the raw table; `None` when it is absent.
pub(super) fn build(
    raw: Option<RawBackup>,
    src: &Source,
) -> Result<Option<BackupConfig>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let Some(schedule) = &raw.schedule else {
        return Err(super::syntax_error(
            src.path,
            src.text,
            super::table_header(src.text, "backup"),
            "[backup] needs schedule = \"daily 02:00\" (or remove the table)".to_string(),
        ));
    };
    let schedule = parse_schedule(schedule.get_ref())
        .map_err(|why| src.invalid("backup.schedule", schedule, why))?;
    let store = |v: &Spanned<String>| {
        super::recordings::s3_store(
            src,
            "backup",
            ("offsite", v),
            raw.endpoint.as_ref(),
            raw.region.as_ref(),
            raw.credentials_file.as_ref(),
        )
    };
    let Some(local) = &raw.local else {
        return Err(super::syntax_error(
            src.path,
            src.text,
            super::table_header(src.text, "backup"),
            "[backup] needs local = \"DIR\", where backups are written".to_string(),
        ));
    };
    if is_object_store(local.get_ref()) {
        return Err(src.invalid(
            "backup.local",
            local,
            "local is a directory (each backup is made and verified there first); put the bucket in offsite = \"s3://BUCKET/PREFIX\"".into(),
        ));
    }
    let local = src.path("backup.local", local)?;
    let offsite = match &raw.offsite {
        Some(v) if is_object_store(v.get_ref()) => Some(Destination::Store(store(v)?)),
        Some(v) => Some(Destination::Dir(src.path("backup.offsite", v)?)),
        None => None,
    };
    if !matches!(offsite, Some(Destination::Store(_))) {
        for (name, v) in [
            ("endpoint", &raw.endpoint),
            ("region", &raw.region),
            ("credentials_file", &raw.credentials_file),
        ] {
            if let Some(v) = v {
                return Err(src.invalid(
                    &format!("backup.{name}"),
                    v,
                    "it only applies with [backup] offsite = \"s3://BUCKET/PREFIX\"".into(),
                ));
            }
        }
    }
    let keep = src.count_or("backup.keep", raw.keep.as_ref(), 30)?;
    let passphrase_file = src.path_or(
        "backup.passphrase_file",
        raw.passphrase_file.as_ref(),
        "backup.passphrase",
    )?;
    Ok(Some(BackupConfig {
        schedule,
        local,
        offsite,
        keep,
        passphrase_file,
    }))
}

/// The `[backup]` table `menwei init` writes, commented out.
pub const TEMPLATE: &str = r#"# Backups of this gateway: a consistent database snapshot, the configuration and keys
# (sealed with the passphrase in passphrase_file: argon2id + ChaCha20-Poly1305) and every
# recording with its hash. `serve` writes one to `local` on schedule ("daily HH:MM" in UTC,
# or "every 6h"), verifies it, copies it to `offsite` (a directory on another disk or a
# mounted share, or an S3-compatible bucket "s3://BUCKET/PREFIX" with endpoint, region and
# credentials_file as in [recordings]; uploads are read back and compared), keeps the
# newest `keep` in each, and audits `backup.created` or
# `backup.failed` (also sent to webhooks as `backup_failed`). Files the configuration names
# must lie under this file's directory. Run on one node of a cluster only.
# By hand: menwei backup create --to DIR | verify BACKUP | restore BACKUP --data-dir DIR.
# [backup]
# schedule = "daily 02:00"
# local = "/var/backups/menwei"
# offsite = "/mnt/offsite/menwei"        # or "s3://menwei-backups/PREFIX"
# endpoint = "https://s3.example:9000"   # with an s3:// offsite; AWS's own when absent
# region = "us-east-1"
# credentials_file = "backup-s3.credentials"  # else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
# keep = 30
# passphrase_file = "backup.passphrase"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_schedule("daily 02:00"),
            Ok(Schedule::Daily { minute_of_day: 120 })
        );
        assert_eq!(
            parse_schedule("every 2s"),
            Ok(Schedule::Every(Duration::from_secs(2)))
        );
        assert!(parse_schedule("daily 24:00").is_err());
        assert!(parse_schedule("weekly").is_err());
        assert!(parse_schedule("every 0s").is_err());
    }

    #[test]
    fn the_table_is_checked_and_an_s3_offsite_takes_the_tables_keys() {
        assert_eq!(parse("").unwrap().backup, None);
        assert_eq!(parse(TEMPLATE).unwrap().backup, None);
        let c = parse("[backup]\nschedule = \"daily 02:00\"\nlocal = \"b\"\n").unwrap();
        let b = c.backup.unwrap();
        assert_eq!(b.keep, 30);
        assert_eq!(b.local, PathBuf::from("/etc/menwei/b"));
        assert_eq!(
            b.passphrase_file,
            PathBuf::from("/etc/menwei/backup.passphrase")
        );
        let b = parse(
            "[backup]\nschedule = \"daily 02:00\"\nlocal = \"b\"\noffsite = \"s3://menwei-bak/site\"\nendpoint = \"http://127.0.0.1:9000\"\ncredentials_file = \"k\"\n",
        )
        .unwrap()
        .backup
        .unwrap();
        let Some(Destination::Store(s)) = b.offsite else {
            panic!("{:?}", b.offsite)
        };
        assert_eq!(
            (s.bucket.as_str(), s.prefix.as_str()),
            ("menwei-bak", "site")
        );
        assert_eq!(s.credentials_file, Some(PathBuf::from("/etc/menwei/k")));
        let e = parse("[backup]\nschedule = \"daily 02:00\"\nlocal = \"s3://x/y\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3:9:") && e.contains("offsite"), "{e}");
        let e = parse("[backup]\nschedule = \"daily 02:00\"\nlocal = \"b\"\nregion = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":4:") && e.contains("only applies"), "{e}");
        let e = parse("[backup]\nschedule = \"hourly\"\nlocal = \"b\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("backup.schedule"), "{e}");
    }
}
