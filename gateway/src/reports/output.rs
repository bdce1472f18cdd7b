//! One report in one format and language, as bytes with a content type and a file name: what
//! `menwei report …` writes and `/api/v1/reports/…` answers.

use policy::Millis;

use super::facts::{self, FactsError};
use super::{document, html, pdf, Document, Format, Lang};
use crate::config::Config;
use crate::db::Db;

/// Which report.
#[derive(Debug, Clone)]
pub enum Kind {
    /// 《故障处理报告》 of an incident number.
    Fault(String),
    /// 《服务报告》 of `2026-11`, `2026-Q4` or `2026`.
    Service(String),
    /// 《监控日志》 of a day, `YYYY-MM-DD`.
    Daily(String),
    /// 《服务器巡检报告》 of an inspection run, by its id.
    Inspection(String),
}

/// A rendered report.
pub struct Output {
    /// MIME type.
    pub content_type: &'static str,
    /// A file name for downloads.
    pub file_name: String,
    /// The bytes.
    pub body: Vec<u8>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Facts could not be gathered (unknown incident, bad period, database).
    #[error(transparent)]
    Facts(#[from] FactsError),
    /// The PDF could not be made (font).
    #[error(transparent)]
    Pdf(#[from] pdf::PdfError),
    /// CSV asked of a report that has none.
    #[error("{0}")]
    Format(String),
}

fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Gathers the facts once and renders them.
pub async fn produce(
    config: &Config,
    db: &Db,
    window_ms: Millis,
    kind: &Kind,
    format: Format,
    lang: Lang,
    actor: &str,
) -> Result<Output, ReportError> {
    let cal = &config.reports.calendar;
    let (json, doc, base): (serde_json::Value, Document, String) = match kind {
        Kind::Fault(incident) => {
            let f = facts::fault(config, db, window_ms, incident, actor).await?;
            let doc = document::fault(&f, lang, cal);
            (
                serde_json::to_value(&f).unwrap_or_default(),
                doc,
                format!("fault-{}", file_part(incident)),
            )
        }
        Kind::Service(period) => {
            let f = facts::service(config, db, window_ms, period).await?;
            let doc = document::service(&f, lang, cal);
            (
                serde_json::to_value(&f).unwrap_or_default(),
                doc,
                format!("service-{}", file_part(period)),
            )
        }
        Kind::Daily(date) => {
            let f = facts::daily(config, db, date).await?;
            let doc = document::daily(&f, lang, cal);
            (
                serde_json::to_value(&f).unwrap_or_default(),
                doc,
                format!("daily-{}", file_part(date)),
            )
        }
        Kind::Inspection(run) => {
            let f = super::inspection::facts(db, run).await?;
            let doc = super::inspection::document(&f, lang, cal);
            (f, doc, format!("inspection-{}", file_part(run)))
        }
    };
    let file_name = |ext: &str| format!("menwei-{base}.{ext}");
    Ok(match format {
        Format::Json => Output {
            content_type: "application/json",
            file_name: file_name("json"),
            body: serde_json::to_vec_pretty(&json).unwrap_or_default(),
        },
        Format::Csv => Output {
            content_type: "text/csv; charset=utf-8",
            file_name: file_name("csv"),
            body: document::csv(&doc).into_bytes(),
        },
        Format::Html => Output {
            content_type: "text/html; charset=utf-8",
            file_name: file_name("html"),
            body: html::render(&doc, lang).into_bytes(),
        },
        Format::Pdf => {
            let font = pdf::find_font(config.reports.font.as_deref())?;
            let doc2 = doc.clone();
            let body = tokio::task::spawn_blocking(move || pdf::render(&doc2, &font))
                .await
                .map_err(|e| ReportError::Format(e.to_string()))??;
            Output {
                content_type: "application/pdf",
                file_name: file_name("pdf"),
                body,
            }
        }
    })
}
