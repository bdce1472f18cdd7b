//! 《服务器巡检报告》 (server inspection report) of one inspection run: the runbook, its
//! version and approvers, each target's session and checks with their figures against the
//! thresholds, and the findings first. Made from the findings the run stored
//! (`crate::inspections::runner`), nothing else.

use policy::sla::Calendar;
use serde_json::Value;

use super::facts::FactsError;
use super::{local_time, zone, Block, Document, Lang, Section};
use crate::db::Db;

/// The run's stored findings, or why there are none.
pub async fn facts(db: &Db, run_id: &str) -> Result<Value, FactsError> {
    let run = db
        .inspection_run(run_id)
        .await?
        .ok_or_else(|| FactsError::BadInput(format!("no inspection run {run_id:?}")))?;
    let findings = run.findings.as_deref().ok_or_else(|| {
        FactsError::BadInput(format!(
            "inspection run {run_id:?} is {}; its report exists once it has run",
            run.state
        ))
    })?;
    let mut v: Value = serde_json::from_str(findings)
        .map_err(|e| FactsError::BadInput(format!("run {run_id:?}: unreadable findings: {e}")))?;
    if let Some(m) = v.as_object_mut() {
        m.insert("state".into(), Value::String(run.state));
    }
    Ok(v)
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "—".into(),
        Some(other) => other.to_string(),
    }
}

fn at(cal: &Calendar, v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_i64)
        .map_or_else(|| "—".into(), |t| local_time(cal, t))
}

fn verdict(l: Lang, v: &str) -> String {
    match v {
        "exceeded" => l.t("超出阈值", "over threshold"),
        "unreadable" => l.t("无法读取", "unreadable"),
        "ok" => l.t("正常", "ok"),
        "info" => l.t("记录", "recorded"),
        other => other,
    }
    .to_string()
}

fn figure(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_f64)
        .map_or_else(|| "—".into(), |f| format!("{f}"))
}

/// Lays the run's findings out as a document.
pub fn document(f: &Value, l: Lang, cal: &Calendar) -> Document {
    let targets: &[Value] = f
        .get("targets")
        .and_then(Value::as_array)
        .map_or(&[], |v| v);
    let mut summary = vec![
        (l.t("巡检方案", "Runbook").to_string(), text(f, "runbook")),
        (
            l.t("版本", "Version").to_string(),
            text(f, "version").chars().take(12).collect(),
        ),
        (l.t("运行编号", "Run").to_string(), text(f, "run")),
        (
            l.t("状态", "State").to_string(),
            match text(f, "state").as_str() {
                "done" => l.t("完成", "done").to_string(),
                "refused" => l.t("拒绝运行", "refused").to_string(),
                other => other.to_string(),
            },
        ),
        (
            l.t("触发", "Triggered").to_string(),
            match f.get("asked_by").and_then(Value::as_str) {
                Some(by) => format!("{} {by}", l.t("手动，由", "asked by")),
                None => format!("{} {}", l.t("计划", "schedule"), text(f, "schedule")),
            },
        ),
        (l.t("开始", "Started").to_string(), at(cal, f, "started_at")),
        (l.t("结束", "Ended").to_string(), at(cal, f, "ended_at")),
        (
            l.t("批准人", "Approved by").to_string(),
            f.get("approved_by")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        ),
        (l.t("发现问题", "Findings").to_string(), text(f, "findings")),
    ];
    if let Some(r) = f.get("refusal").filter(|r| !r.is_null()) {
        summary.push((l.t("拒绝运行", "Refused").to_string(), text(r, "message")));
    }
    let check_head = [
        l.t("目标", "Target"),
        l.t("检查项", "Check"),
        l.t("命令", "Command"),
        l.t("数值", "Figure"),
        l.t("阈值", "Threshold"),
        l.t("结论", "Verdict"),
    ]
    .map(str::to_string)
    .to_vec();
    let mut finding_rows = Vec::new();
    let mut all_rows = Vec::new();
    let mut session_rows = Vec::new();
    for t in targets {
        let name = text(t, "target");
        session_rows.push(vec![
            name.clone(),
            text(t, "session"),
            t.get("error")
                .and_then(Value::as_str)
                .map_or_else(|| l.t("完成", "completed").to_string(), str::to_string),
        ]);
        if let Some(e) = t.get("error").and_then(Value::as_str) {
            finding_rows.push(vec![
                name.clone(),
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                e.to_string(),
            ]);
        }
        for c in t
            .get("checks")
            .and_then(Value::as_array)
            .map_or(&[][..], |v| v)
        {
            let row = vec![
                name.clone(),
                format!("{} ({})", text(c, "name"), text(c, "measure")),
                text(c, "command"),
                figure(c, "figure"),
                figure(c, "threshold"),
                verdict(l, &text(c, "verdict")),
            ];
            if c.get("finding").and_then(Value::as_bool) == Some(true) {
                finding_rows.push(row.clone());
            }
            all_rows.push(row);
        }
    }
    let findings_block = if finding_rows.is_empty() {
        Block::Text(l.t("未发现问题。", "No findings.").to_string())
    } else {
        Block::Table {
            head: check_head.clone(),
            rows: finding_rows,
        }
    };
    Document {
        title: l
            .t("服务器巡检报告", "Server inspection report")
            .to_string(),
        subtitle: format!(
            "{} {} · {} {}",
            l.t("巡检方案", "Runbook"),
            text(f, "runbook"),
            at(cal, f, "started_at"),
            zone(cal)
        ),
        sections: vec![
            Section {
                heading: l.t("概要", "Summary").to_string(),
                blocks: vec![Block::Fields(summary)],
            },
            Section {
                heading: l.t("发现的问题", "Findings").to_string(),
                blocks: vec![findings_block],
            },
            Section {
                heading: l.t("全部检查项", "All checks").to_string(),
                blocks: vec![Block::Table {
                    head: check_head,
                    rows: all_rows,
                }],
            },
            Section {
                heading: l.t("会话与录像", "Sessions and recordings").to_string(),
                blocks: vec![Block::Table {
                    head: [
                        l.t("目标", "Target"),
                        l.t("会话", "Session"),
                        l.t("结果", "Result"),
                    ]
                    .map(str::to_string)
                    .to_vec(),
                    rows: session_rows,
                }],
            },
        ],
    }
}
