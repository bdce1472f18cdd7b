//! The tender's paperwork from recorded facts: 《故障处理报告》 (fault handling report, per
//! incident number), 《服务报告》 (service report, per month, quarter or year) and 《监控日志》
//! (monitoring log, per day) and 《服务器巡检报告》 (server inspection report, per
//! inspection run, [`inspection`]), in Chinese or English, as JSON, CSV, HTML or PDF.
//!
//! One place computes the figures ([`facts`], with the service-level arithmetic in
//! [`policy::sla`]); [`document`] lays them out as a [`Document`] of headed sections of
//! fields and tables in the chosen language; [`html`] and [`pdf`] only draw that document.
//! The CLI (`menwei report …`) and the API (`/api/v1/reports/…`) share all of it.

pub mod document;
pub mod facts;
pub mod html;
pub mod inspection;
pub mod output;
pub mod pdf;

use policy::sla::Calendar;
use policy::Millis;

/// The language of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文, the default.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// `zh` (or absent) or `en`.
    pub fn parse(s: Option<&str>) -> Result<Lang, String> {
        match s.unwrap_or("zh") {
            "zh" | "zh-CN" | "" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            other => Err(format!("lang {other:?}: expected zh or en")),
        }
    }

    /// The Chinese or the English text.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// `zh-CN` or `en`, for HTML.
    pub fn code(self) -> &'static str {
        self.t("zh-CN", "en")
    }
}

/// The output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The facts as JSON.
    Json,
    /// The service report's figures as CSV lines.
    Csv,
    /// A printable HTML page.
    Html,
    /// A PDF with an embedded CJK font subset.
    Pdf,
}

impl Format {
    /// `json`, `csv`, `html` or `pdf`.
    pub fn parse(s: Option<&str>) -> Result<Format, String> {
        match s.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "html" => Ok(Format::Html),
            "pdf" => Ok(Format::Pdf),
            other => Err(format!("format {other:?}: expected json, csv, html or pdf")),
        }
    }
}

/// A report laid out for reading: a title, a line under it, headed sections.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// E.g. 故障处理报告.
    pub title: String,
    /// What it covers and when it was made.
    pub subtitle: String,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// A headed part of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Its heading.
    pub heading: String,
    /// Its contents.
    pub blocks: Vec<Block>,
}

/// What a section holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Label and value pairs.
    Fields(Vec<(String, String)>),
    /// A table: its head and rows.
    Table {
        /// Column names.
        head: Vec<String>,
        /// Rows, as many cells as columns.
        rows: Vec<Vec<String>>,
    },
    /// A paragraph.
    Text(String),
}

/// `2026-11-29 10:05` in the calendar's zone.
pub fn local_time(cal: &Calendar, at: Millis) -> String {
    let local = at.saturating_add(cal.utc_offset_ms);
    let day = local.div_euclid(86_400_000);
    let secs = local.rem_euclid(86_400_000) / 1000;
    format!(
        "{} {:02}:{:02}",
        policy::sla::format_day(day),
        secs / 3600,
        secs / 60 % 60
    )
}

/// The calendar's zone as `UTC+08:00`.
pub fn zone(cal: &Calendar) -> String {
    let m = cal.utc_offset_ms / 60_000;
    let sign = if m < 0 { '-' } else { '+' };
    format!("UTC{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_follow_the_zone() {
        let cal = Calendar {
            utc_offset_ms: 8 * 3_600_000,
            ..Calendar::default()
        };
        let at = crate::time::parse_rfc3339("2026-11-29T02:05:00Z").unwrap();
        assert_eq!(local_time(&cal, at), "2026-11-29 10:05");
        assert_eq!(zone(&cal), "UTC+08:00");
        assert_eq!(local_time(&Calendar::default(), at), "2026-11-29 02:05");
        assert_eq!(Lang::parse(None), Ok(Lang::Zh));
        assert!(Format::parse(Some("docx")).is_err());
    }
}
