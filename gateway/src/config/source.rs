//! Placing a value of `menwei.toml` in its file: the line and column of a key or table, the
//! one-line `FILE:LINE:COL: …` error, and the value checks every table shares (durations,
//! paths relative to the file, listen addresses).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::ConfigError;

/// The file being parsed: to place an error about one of its values at that value's line
/// and column, and to resolve its relative paths. The checks every table shares.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    pub(super) dir: &'a Path,
}

impl Source<'_> {
    /// `invalid value for key KEY: WHY`, placed where `v` stands.
    pub(super) fn invalid<T>(&self, key: &str, v: &Spanned<T>, why: String) -> ConfigError {
        syntax_error(
            self.path,
            self.text,
            Some(v.span().start),
            format!("invalid value for key {key}: {why}"),
        )
    }

    /// A list of IP addresses (`["10.0.0.5", "fd00::5"]`); empty when absent. Errors name
    /// the element: `key[i]`.
    pub(super) fn ip_list(
        &self,
        key: &str,
        v: Option<&Vec<Spanned<String>>>,
    ) -> Result<Vec<std::net::IpAddr>, ConfigError> {
        let mut out = Vec::new();
        for (i, v) in v.into_iter().flatten().enumerate() {
            let ip = v.get_ref().parse().map_err(|_| {
                self.invalid(
                    &format!("{key}[{i}]"),
                    v,
                    format!("{:?}: expected an IP address", v.get_ref()),
                )
            })?;
            out.push(ip);
        }
        Ok(out)
    }

    /// A duration such as `15m`.
    pub(super) fn duration(&self, key: &str, v: &Spanned<String>) -> Result<Duration, ConfigError> {
        crate::time::parse_duration(v.get_ref()).map_err(|e| self.invalid(key, v, e))
    }

    /// A path that is not empty, resolved against the file's folder.
    pub(super) fn path(&self, key: &str, v: &Spanned<String>) -> Result<PathBuf, ConfigError> {
        if v.get_ref().trim().is_empty() {
            Err(self.invalid(key, v, "empty path".to_string()))
        } else {
            Ok(self.dir.join(v.get_ref()))
        }
    }

    /// [`Source::path`], or `default` in the file's folder when absent.
    pub(super) fn path_or(
        &self,
        key: &str,
        v: Option<&Spanned<String>>,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        v.map_or_else(|| Ok(self.dir.join(default)), |v| self.path(key, v))
    }

    /// [`Source::duration`], or `default` when absent.
    pub(super) fn duration_or(
        &self,
        key: &str,
        v: Option<&Spanned<String>>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        v.map_or(Ok(default), |v| self.duration(key, v))
    }

    /// [`Source::duration`] longer than zero, or `default` when absent.
    pub(super) fn positive_duration_or(
        &self,
        key: &str,
        v: Option<&Spanned<String>>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match v {
            Some(v) => {
                let d = self.duration(key, v)?;
                if d.is_zero() {
                    return Err(self.invalid(key, v, "must be longer than zero".to_string()));
                }
                Ok(d)
            }
            None => Ok(default),
        }
    }

    /// A count of things (connections, channels, streams, sessions) from 1 to 1,000,000, or
    /// `default` when absent.
    pub(super) fn count_or(
        &self,
        key: &str,
        v: Option<&Spanned<i64>>,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match v {
            Some(v) => {
                let n = *v.get_ref();
                usize::try_from(n)
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or_else(|| {
                        self.invalid(
                            key,
                            v,
                            format!("{n}: expected a whole number from 1 to 1000000"),
                        )
                    })
            }
            None => Ok(default),
        }
    }

    /// A `HOST:PORT` to listen on; `default` when absent.
    pub(super) fn listen(
        &self,
        key: &str,
        v: Option<&Spanned<String>>,
        default: &str,
    ) -> Result<SocketAddr, ConfigError> {
        match v {
            Some(v) => v.get_ref().parse::<SocketAddr>().map_err(|e| {
                self.invalid(
                    key,
                    v,
                    format!(
                        "{:?}: {e}; expected HOST:PORT such as {default}",
                        v.get_ref()
                    ),
                )
            }),
            None => default
                .parse()
                .map_err(|_| syntax_error(self.path, self.text, None, "bad default".into())),
        }
    }
}

pub(super) fn syntax_error(
    path: &Path,
    text: &str,
    offset: Option<usize>,
    message: String,
) -> ConfigError {
    let (line, column) = offset.map(|o| line_col(text, o)).unwrap_or((1, 1));
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The dotted key whose line holds byte `offset`: the nearest `[table]` header above it and
/// the `key =` on that line. A best effort for error messages.
pub(super) fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let rest = text.get(line_start..)?;
    let line = rest.split('\n').next().unwrap_or(rest);
    let trimmed = line.trim();
    let header = |l: &str| -> Option<String> {
        let l = l.trim();
        let inner = l.strip_prefix('[')?.split(']').next()?;
        Some(inner.trim_matches(['[', ' ']).trim().to_string())
    };
    if trimmed.starts_with('[') {
        return header(trimmed);
    }
    let key = trimmed
        .split('=')
        .next()?
        .trim()
        .trim_matches('"')
        .to_string();
    if key.is_empty() || key.starts_with('#') {
        return None;
    }
    let table = text
        .get(..line_start)?
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .and_then(header);
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key,
    })
}

pub(super) fn last_segment(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// Where the table `[name]` (or its first `[name.…]`) starts in `text`, if written with a
/// header.
pub(super) fn table_header(text: &str, name: &str) -> Option<usize> {
    header_where(text, |h| h == name || h.starts_with(&format!("{name}.")))
}

/// Where the first table header (`[name]`, written with its brackets) whose name `wanted`
/// takes starts in `text`.
pub(super) fn header_where(text: &str, wanted: impl Fn(&str) -> bool) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        let header = t
            .strip_prefix('[')
            .and_then(|h| h.split(']').next())
            .map(str::trim);
        if header.is_some_and(&wanted) {
            return Some(offset + line.len() - t.len());
        }
        offset += line.len();
    }
    None
}
