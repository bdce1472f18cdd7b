//! `[reports]`: what the tender's documents need besides the database: the bureau's time
//! zone and holiday calendar (working days for C and D resolution limits), and the CJK font
//! the PDFs embed. The holiday file is read and checked here, at load, its errors placed at
//! its own line.

use std::path::{Path, PathBuf};

use policy::sla::{parse_day, Calendar};
use serde::Deserialize;
use toml::Spanned;

use super::source::syntax_error;
use super::{ConfigError, Source};

/// `[reports]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportsConfig {
    /// The working-day calendar: time zone, holidays, moved weekend days.
    pub calendar: Calendar,
    /// The holiday file, if one is named.
    pub holidays_file: Option<PathBuf>,
    /// The font (`.ttc`, `.otf` or `.ttf` with CJK glyphs) PDFs embed; `None`: Debian's
    /// `fonts-noto-cjk` paths.
    pub font: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReports {
    holidays: Option<Spanned<String>>,
    utc_offset: Option<Spanned<String>>,
    font: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHolidays {
    holidays: Option<Vec<Spanned<String>>>,
    workdays: Option<Vec<Spanned<String>>>,
}

/// `+08:00` as milliseconds.
fn parse_offset(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m) * 60_000)
}

/// Reads the holiday file: `holidays = ["2026-10-01", …]` and `workdays = ["2026-10-10"]`.
pub fn read_holidays(path: &Path, calendar: &mut Calendar) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let raw: RawHolidays = toml::from_str(&text).map_err(|e| {
        syntax_error(
            path,
            &text,
            e.span().map(|s| s.start),
            e.message().to_string(),
        )
    })?;
    for (key, list, set) in [
        ("holidays", raw.holidays, &mut calendar.holidays),
        ("workdays", raw.workdays, &mut calendar.workdays),
    ] {
        for day in list.into_iter().flatten() {
            let parsed = parse_day(day.get_ref()).map_err(|e| {
                syntax_error(
                    path,
                    &text,
                    Some(day.span().start),
                    format!("invalid value in {key}: {e}"),
                )
            })?;
            set.insert(parsed);
        }
    }
    Ok(())
}

/// Checks the raw table and reads the holiday file; absent means UTC+8, weekends only and
/// the Debian font paths.
pub(super) fn build(raw: Option<RawReports>, src: &Source) -> Result<ReportsConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let utc_offset_ms = match &raw.utc_offset {
        None => 8 * 3_600_000,
        Some(v) => parse_offset(v.get_ref()).ok_or_else(|| {
            src.invalid(
                "reports.utc_offset",
                v,
                format!("{:?}: expected +HH:MM such as +08:00", v.get_ref()),
            )
        })?,
    };
    let mut calendar = Calendar {
        utc_offset_ms,
        ..Calendar::default()
    };
    let holidays_file = match &raw.holidays {
        None => None,
        Some(v) => {
            let path = src.path("reports.holidays", v)?;
            read_holidays(&path, &mut calendar).map_err(|e| match e {
                ConfigError::Read { source, .. } => src.invalid(
                    "reports.holidays",
                    v,
                    format!("cannot read {}: {source}", path.display()),
                ),
                other => other,
            })?;
            Some(path)
        }
    };
    let font = raw
        .font
        .as_ref()
        .map(|v| src.path("reports.font", v))
        .transpose()?;
    Ok(ReportsConfig {
        calendar,
        holidays_file,
        font,
    })
}

/// The `[reports]` table `menwei init` writes.
pub const TEMPLATE: &str = r#"[reports]
# The bureau's time zone: working days, report days and the times printed in reports.
utc_offset = "+08:00"
# Public holidays and moved weekend days, for the C (one working day) and D (five working
# days) resolution limits; without it only Saturdays and Sundays are days off. The file:
#   holidays = ["2026-10-01", "2026-10-02"]
#   workdays = ["2026-09-27"]   # weekend days that are working days
# holidays = "holidays.toml"
# The CJK font the PDF reports embed (a subset of it); by default Debian's fonts-noto-cjk
# (/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc).
# font = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn defaults_offsets_and_holiday_errors() {
        let c = parse("").unwrap();
        assert_eq!(c.reports.calendar.utc_offset_ms, 8 * 3_600_000);
        assert_eq!(parse(TEMPLATE).unwrap().reports, c.reports);
        let c = parse("[reports]\nutc_offset = \"-05:30\"\n").unwrap();
        assert_eq!(c.reports.calendar.utc_offset_ms, -(5 * 60 + 30) * 60_000);
        let e = parse("[reports]\nutc_offset = \"8\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:14: invalid value for key reports.utc_offset"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("holidays.toml");
        std::fs::write(
            &file,
            "holidays = [\n  \"2026-10-01\",\n  \"2026-02-30\",\n]\n",
        )
        .unwrap();
        let mut cal = Calendar::default();
        let e = read_holidays(&file, &mut cal).unwrap_err().to_string();
        assert!(
            e.contains("holidays.toml:3:3: invalid value in holidays"),
            "{e}"
        );
        std::fs::write(
            &file,
            "holidays = [\"2026-10-01\"]\nworkdays = [\"2026-10-10\"]\n",
        )
        .unwrap();
        read_holidays(&file, &mut cal).unwrap();
        assert!(cal.holidays.contains(&parse_day("2026-10-01").unwrap()));
        assert!(cal.workdays.contains(&parse_day("2026-10-10").unwrap()));
        let e = parse("[reports]\nholidays = \"/nonexistent/holidays.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:12: invalid value for key reports.holidays: cannot read"),
            "{e}"
        );
    }
}
