//! The facts laid out as documents in Chinese or English: headings, labels and verdicts
//! here, figures from [`super::facts`] unchanged. Also the service report's CSV lines.

use policy::sla::{Calendar, Compliance};
use policy::Millis;

use super::facts::{DailyLog, Entry, FaultReport, Limit, ServiceReport, SessionFact, Usage};
use super::{local_time, zone, Block, Document, Lang, Section};

fn verdict(l: Lang, c: Compliance) -> &'static str {
    match c {
        Compliance::Met => l.t("按时", "met"),
        Compliance::Missed => l.t("超时", "missed"),
        Compliance::Overdue => l.t("已逾期", "overdue"),
        Compliance::Open => l.t("进行中", "open"),
    }
}

fn when(cal: &Calendar, at: Option<Millis>) -> String {
    at.map_or_else(|| "—".to_string(), |t| local_time(cal, t))
}

fn limit_line(l: Lang, cal: &Calendar, x: &Limit) -> String {
    format!(
        "{} {}, {} {}, {} {} {}",
        l.t("期限", "due"),
        local_time(cal, x.deadline),
        l.t("完成", "done"),
        when(cal, x.done_at),
        l.t("用时", "took"),
        x.minutes,
        l.t("分钟", "min"),
    ) + &format!(" — {}", verdict(l, x.compliance))
}

fn pair(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

fn yes(l: Lang, b: bool) -> String {
    if b {
        l.t("是", "yes")
    } else {
        l.t("否", "no")
    }
    .to_string()
}

fn section(heading: &str, blocks: Vec<Block>) -> Section {
    Section {
        heading: heading.to_string(),
        blocks,
    }
}

fn sessions_table(l: Lang, cal: &Calendar, sessions: &[SessionFact]) -> Block {
    Block::Table {
        head: [
            l.t("会话", "Session"),
            l.t("工程师", "Engineer"),
            l.t("目标", "Target"),
            l.t("开始", "Start"),
            l.t("结束", "End"),
            l.t("结束原因", "End reason"),
            l.t("录像", "Recording"),
        ]
        .map(str::to_string)
        .to_vec(),
        rows: sessions
            .iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    s.engineer.clone(),
                    s.target.clone(),
                    local_time(cal, s.started_at),
                    when(cal, s.ended_at),
                    s.end_reason.clone().unwrap_or_else(|| "—".into()),
                    // The file's name: the gateway's directories are no reader's business.
                    s.recording
                        .as_deref()
                        .and_then(|r| std::path::Path::new(r).file_name())
                        .map_or_else(
                            || format!("{}.mwrec", s.id),
                            |n| n.to_string_lossy().into_owned(),
                        ),
                ]
            })
            .collect(),
    }
}

/// 《故障处理报告》.
pub fn fault(r: &FaultReport, l: Lang, cal: &Calendar) -> Document {
    let limit = match r.resolution_limit.as_str() {
        "2h" => l.t("2 小时", "2 hours").to_string(),
        "1 working day" => l.t("1 个工作日", "1 working day").to_string(),
        "5 working days" => l.t("5 个工作日", "5 working days").to_string(),
        other => other.to_string(),
    };
    let summary = vec![
        pair(l.t("事件编号", "Incident"), r.incident.clone()),
        pair(l.t("故障等级", "Fault level"), format!("{}", r.level)),
        pair(
            l.t("报告时间", "Reported"),
            local_time(cal, r.response.from),
        ),
        pair(
            l.t("响应时限", "Response window"),
            format!("{} {}", r.response_window_minutes, l.t("分钟", "min")),
        ),
        pair(l.t("响应", "Response"), limit_line(l, cal, &r.response)),
        pair(l.t("解决时限", "Resolution limit"), limit),
        pair(l.t("解决", "Resolution"), limit_line(l, cal, &r.resolution)),
        pair(l.t("紧急访问", "Break-glass"), yes(l, r.break_glass)),
    ];
    let requests = Block::Table {
        head: [
            l.t("申请", "Request"),
            l.t("工程师", "Engineer"),
            l.t("目标", "Targets"),
            l.t("等级", "Level"),
            l.t("原因", "Reason"),
            l.t("状态", "State"),
            l.t("提交", "Filed"),
            l.t("审批", "Decided"),
            l.t("响应（分钟）", "Response (min)"),
        ]
        .map(str::to_string)
        .to_vec(),
        rows: r
            .requests
            .iter()
            .map(|q| {
                vec![
                    q.id.clone(),
                    q.engineer.clone(),
                    q.targets.join(", "),
                    q.level.to_string(),
                    q.reason.clone(),
                    q.state.clone(),
                    local_time(cal, q.filed_at),
                    when(cal, q.decided_at),
                    q.response_minutes.map_or_else(
                        || verdict(l, q.response).to_string(),
                        |m| format!("{m} {}", verdict(l, q.response)),
                    ),
                ]
            })
            .collect(),
    };
    let approvals = Block::Table {
        head: [
            l.t("申请", "Request"),
            l.t("审批人", "Approver"),
            l.t("决定", "Verdict"),
            l.t("时间", "Time"),
        ]
        .map(str::to_string)
        .to_vec(),
        rows: r
            .requests
            .iter()
            .flat_map(|q| {
                q.approvals.iter().map(|a| {
                    vec![
                        q.id.clone(),
                        a.approver.clone(),
                        a.verdict.clone(),
                        local_time(cal, a.at),
                    ]
                })
            })
            .collect(),
    };
    let mut commands = Vec::new();
    for s in &r.sessions {
        if let Some(e) = &s.commands_error {
            commands.push(Block::Text(format!(
                "{} {}: {e}",
                l.t("会话", "Session"),
                s.id
            )));
            continue;
        }
        commands.push(Block::Table {
            head: [
                l.t("会话", "Session"),
                l.t("时间", "Time"),
                l.t("命令", "Command"),
            ]
            .map(str::to_string)
            .to_vec(),
            rows: s
                .commands
                .iter()
                .map(|c| vec![s.id.clone(), local_time(cal, c.at), c.text.clone()])
                .collect(),
        });
    }
    let signoffs: Vec<(String, String)> = r
        .requests
        .iter()
        .filter(|q| q.break_glass)
        .map(|q| {
            let v = match (&q.signed_off_by, q.signed_off_at) {
                (Some(by), Some(at)) => format!(
                    "{} {by}, {}{}",
                    l.t("签署人", "signed off by"),
                    local_time(cal, at),
                    q.signoff_comment
                        .as_deref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                ),
                _ => l.t("尚未签署", "not signed off yet").to_string(),
            };
            (q.id.clone(), v)
        })
        .collect();
    let mut sections = vec![
        section(l.t("概要", "Summary"), vec![Block::Fields(summary)]),
        section(l.t("申请", "Requests"), vec![requests]),
        section(l.t("审批记录", "Approvals"), vec![approvals]),
        section(
            l.t("会话", "Sessions"),
            vec![sessions_table(l, cal, &r.sessions)],
        ),
        section(l.t("操作命令", "Commands"), commands),
    ];
    if !signoffs.is_empty() {
        sections.push(section(
            l.t("紧急访问与签署", "Break-glass and sign-off"),
            vec![Block::Fields(signoffs)],
        ));
    }
    Document {
        title: l.t("故障处理报告", "Fault handling report").to_string(),
        subtitle: format!(
            "{} {} — {} {} ({})",
            l.t("事件编号", "Incident"),
            r.incident,
            l.t("生成于", "made"),
            local_time(cal, r.generated_at),
            zone(cal)
        ),
        sections,
    }
}

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "—".to_string(), |p| format!("{p}%"))
}

fn usage_table(l: Lang, first: &str, rows: &[Usage]) -> Block {
    Block::Table {
        head: vec![
            first.to_string(),
            l.t("会话数", "Sessions").to_string(),
            l.t("小时", "Hours").to_string(),
        ],
        rows: rows
            .iter()
            .map(|u| vec![u.name.clone(), u.sessions.to_string(), u.hours.to_string()])
            .collect(),
    }
}

fn chain(l: Lang, intact: bool, entries: u64) -> String {
    if intact {
        format!(
            "{} ({entries} {})",
            l.t("完整", "intact"),
            l.t("条", "entries")
        )
    } else {
        l.t("已损坏", "BROKEN").to_string()
    }
}

/// 《服务报告》.
pub fn service(r: &ServiceReport, l: Lang, cal: &Calendar) -> Document {
    let summary = vec![
        pair(l.t("报告期", "Period"), r.period.clone()),
        pair(l.t("申请数", "Requests"), r.requests.to_string()),
        pair(l.t("故障数", "Incidents"), r.incidents.to_string()),
        pair(
            l.t("响应达标率", "Response compliance"),
            percent(r.response_percent),
        ),
        pair(
            l.t("解决达标率", "Resolution compliance"),
            percent(r.resolution_percent),
        ),
        pair(
            l.t("紧急访问次数", "Break-glass uses"),
            r.break_glass.to_string(),
        ),
        pair(l.t("会话数", "Sessions"), r.sessions.to_string()),
        pair(l.t("会话小时", "Session hours"), r.hours.to_string()),
        pair(
            l.t("文件传输检测", "Transfer detections"),
            r.transfer_detections.to_string(),
        ),
        pair(
            l.t("审计链", "Audit chain"),
            chain(l, r.audit_chain.intact, r.audit_chain.entries),
        ),
    ];
    let levels = Block::Table {
        head: [
            l.t("等级", "Level"),
            l.t("申请", "Requests"),
            l.t("故障", "Incidents"),
            l.t("按时响应", "Responded in time"),
            l.t("按时解决", "Resolved in time"),
        ]
        .map(str::to_string)
        .to_vec(),
        rows: r
            .levels
            .iter()
            .map(|x| {
                vec![
                    x.level.clone(),
                    x.requests.to_string(),
                    x.incidents.to_string(),
                    format!("{}/{}", x.responded_in_time, x.responses_counted),
                    format!("{}/{}", x.resolved_in_time, x.resolutions_counted),
                ]
            })
            .collect(),
    };
    let refusals = Block::Table {
        head: vec![
            l.t("类型", "Kind").to_string(),
            l.t("次数", "Count").to_string(),
        ],
        rows: r
            .refusals
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect(),
    };
    Document {
        title: l.t("服务报告", "Service report").to_string(),
        subtitle: format!(
            "{} {} – {} — {} {} ({})",
            l.t("报告期", "Period"),
            local_time(cal, r.from),
            local_time(cal, r.to),
            l.t("生成于", "made"),
            local_time(cal, r.generated_at),
            zone(cal)
        ),
        sections: vec![
            section(l.t("概要", "Summary"), vec![Block::Fields(summary)]),
            section(l.t("按故障等级", "By fault level"), vec![levels]),
            section(
                l.t("按工程师", "By engineer"),
                vec![usage_table(l, l.t("工程师", "Engineer"), &r.by_engineer)],
            ),
            section(
                l.t("按目标", "By target"),
                vec![usage_table(l, l.t("目标", "Target"), &r.by_target)],
            ),
            section(l.t("拒绝记录", "Refusals"), vec![refusals]),
        ],
    }
}

fn entries(l: Lang, cal: &Calendar, rows: &[Entry]) -> Block {
    if rows.is_empty() {
        return Block::Text(l.t("无", "none").to_string());
    }
    Block::Table {
        head: [
            l.t("时间", "Time"),
            l.t("执行者", "Actor"),
            l.t("事件", "Event"),
            l.t("对象", "Subject"),
        ]
        .map(str::to_string)
        .to_vec(),
        rows: rows
            .iter()
            .map(|e| {
                vec![
                    local_time(cal, e.at),
                    e.actor.clone(),
                    e.action.clone(),
                    e.subject.clone(),
                ]
            })
            .collect(),
    }
}

/// 《监控日志》.
pub fn daily(r: &DailyLog, l: Lang, cal: &Calendar) -> Document {
    let nodes = Block::Table {
        head: [
            l.t("节点", "Node"),
            l.t("版本", "Version"),
            l.t("状态", "State"),
            l.t("最近心跳", "Last heartbeat"),
            l.t("在线会话", "Live sessions"),
        ]
        .map(str::to_string)
        .to_vec(),
        rows: r
            .nodes
            .iter()
            .map(|n| {
                vec![
                    n.name.clone(),
                    n.version.clone(),
                    n.state.clone(),
                    local_time(cal, n.heartbeat_at),
                    n.live_sessions.to_string(),
                ]
            })
            .collect(),
    };
    let store = vec![
        pair(
            l.t("录像磁盘可用", "Recordings disk free"),
            r.recordings_free_bytes
                .map_or_else(|| "—".to_string(), |b| format!("{} MiB", b / (1024 * 1024))),
        ),
        pair(
            l.t("审计链", "Audit chain"),
            chain(l, r.audit_chain.intact, r.audit_chain.entries),
        ),
    ];
    Document {
        title: l.t("监控日志", "Monitoring log").to_string(),
        subtitle: format!(
            "{} {} — {} {} ({})",
            l.t("日期", "Date"),
            r.date,
            l.t("生成于", "made"),
            local_time(cal, r.generated_at),
            zone(cal)
        ),
        sections: vec![
            section(
                &format!("{} ({})", l.t("会话", "Sessions"), r.sessions.len()),
                vec![sessions_table(l, cal, &r.sessions)],
            ),
            section(
                &format!("{} ({})", l.t("拒绝", "Refusals"), r.refusals.len()),
                vec![entries(l, cal, &r.refusals)],
            ),
            section(
                &format!("{} ({})", l.t("告警", "Alerts"), r.alerts.len()),
                vec![entries(l, cal, &r.alerts)],
            ),
            section(
                &format!(
                    "{} ({})",
                    l.t("登录失败", "Failed logins"),
                    r.failed_logins.len()
                ),
                vec![entries(l, cal, &r.failed_logins)],
            ),
            section(l.t("节点", "Nodes"), vec![nodes]),
            section(
                l.t("存储与审计", "Storage and audit"),
                vec![Block::Fields(store)],
            ),
        ],
    }
}

/// Any document's tables and fields as `section,key,value…` CSV lines (the service report's
/// figures; the others export the same way).
pub fn csv(doc: &Document) -> String {
    use crate::audit::csv_field;
    let mut out = String::new();
    for s in &doc.sections {
        for b in &s.blocks {
            match b {
                Block::Fields(f) => {
                    for (k, v) in f {
                        out.push_str(&format!(
                            "{},{},{}\n",
                            csv_field(&s.heading),
                            csv_field(k),
                            csv_field(v)
                        ));
                    }
                }
                Block::Table { head, rows } => {
                    for row in std::iter::once(head).chain(rows) {
                        let cells: Vec<String> = row.iter().map(|c| csv_field(c)).collect();
                        out.push_str(&format!("{},{}\n", csv_field(&s.heading), cells.join(",")));
                    }
                }
                Block::Text(t) => {
                    out.push_str(&format!("{},{}\n", csv_field(&s.heading), csv_field(t)));
                }
            }
        }
    }
    out
}
