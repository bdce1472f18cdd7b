// The page's words: Chinese (zh-CN) by default, English on request, the choice remembered
// in localStorage. One dictionary per language; `t(key)` falls back to Chinese, then to
// the key. Also the words for the gateway's codes (request states, end reasons) and its
// English end messages as recordings keep them. Not here: formatting of dates (dom.js).

const zh = {
  title: '门卫', skip: '跳到内容', loading: '正在加载…', live: '● 实时', logout: '退出登录', lang: 'English',
  login: '登录', user: '用户名', password: '密码', totp: '动态口令（如需要）',
  'role.engineer': '工程师', 'role.approver': '审批员', 'role.auditor': '审计员', 'role.admin': '管理员',
  // navigation
  nav: '导航', 'nav.access': '我的权限', 'nav.requests': '申请', 'nav.terminal': '终端',
  'nav.queue': '待审批', 'nav.sessions': '会话', 'nav.live': '在线会话', 'nav.grants': '授权', 'nav.breakglass': '紧急授权',
  'nav.overview': '总览', 'nav.replay': '回放', 'nav.audit': '审计日志', 'nav.reports': '报告',
  'nav.inspections': '巡检', 'insp.title': '巡检方案', 'insp.runbook': '巡检方案', 'insp.version_run': '版本 / 运行',
  'insp.when': '计划 / 时间', 'insp.state': '状态', 'insp.findings': '发现问题', 'insp.approved': '已批准', 'insp.not_approved': '未批准',
  'insp.approve': '批准此版本', 'insp.run': '立即运行', 'insp.approve_done': '已批准', 'insp.run_done': '已排队运行', 'insp.report': '巡检报告',
  'insp.state.queued': '排队中', 'insp.state.running': '运行中', 'insp.state.done': '已完成', 'insp.state.failed': '失败', 'insp.state.refused': '已拒绝',
  'nav.users': '用户', 'nav.keys': '密钥', 'nav.targets': '目标', 'nav.policy': '策略', 'nav.nodes': '节点',
  // engineer
  'eng.request': '申请访问', targets: '目标', group: '或目标组', reason: '原因',
  incident: '事件单号', level: '故障级别', duration: '时长（如 2h、30m）', start: '开始时间（可选）',
  submit: '提交申请', 'eng.mine': '我的申请', 'eng.grants': '当前授权', open_terminal: '打开终端',
  withdraw: '撤回', state: '状态', created: '提交时间', window: '时间窗', target: '目标',
  ends: '结束时间', remaining: '剩余', terminal: '浏览器终端', close: '关闭',
  no_transfer: '浏览器终端不支持任何文件传输。', 'eng.terminal': '浏览器终端',
  no_terminal: '尚未打开终端：请在“我的权限”中选择一个授权的目标。',
  pick_targets: '选择目标（可多选）', pick_group: '或选择目标组', no_requestable: '策略未允许您申请任何目标。',
  need_target: '请选择至少一个目标或一个目标组。',
  // approver
  'appr.queue': '待审批', engineer: '工程师', waiting: '已等待', approve: '批准', deny: '拒绝',
  comment: '意见', 'appr.sessions': '进行中的会话', watch: '旁观', terminate: '终止',
  revoke: '撤销授权', 'appr.grants': '有效授权', 'appr.breakglass': '紧急授权复核', signoff: '复核签字',
  minutes: '分钟', of30: '/ 30 分钟', started: '开始', confirm_terminate: '确定终止该会话？',
  confirm_revoke: '确定撤销该授权？在线会话将立即断开。', deny_needs_comment: '拒绝时必须填写意见。', signoff_needs_comment: '复核签字须填写意见。',
  'appr.desk': '当前概况', 'desk.pending': '待审批申请', 'desk.breakglass': '待复核紧急授权', 'desk.live': '在线会话', 'desk.grants': '有效授权',
  'desk.overdue': '已超 30 分钟响应时限',
  // auditor
  'aud.sessions': '会话检索', from: '起', to: '止', grant: '授权', search: '查询', replay: '回放',
  'aud.replay': '录像回放', play: '播放', pause: '暂停', speed: '速度', skip_idle: '跳过空闲',
  find: '搜索输出', marks: '标记与命令', commands: '命令列表', no_replay: '请在“会话”中选择一个会话回放。',
  commands_note: '命令列表由键盘输入与回显重建，仅为审计辅助，不是安全边界；以录像原始内容为准。',
  hidden_input: '（输入未回显，已隐藏）', unmask: '显示隐藏的输入', unmask_reason: '显示未回显的输入（如密码）的理由（记入审计日志）：', no_hits: '没有找到', hits: '处匹配',
  'aud.log': '审计日志', since: '起', until: '止', actor: '操作人', action: '操作', subject: '对象', detail: '详情',
  export_csv: '导出 CSV', export_jsonl: '导出 JSON Lines', verify: '校验', verified: '校验结果',
  'aud.report': '周期报告', period: '周期', week: '周', month: '月', quarter: '季度', year: '年',
  at: '所在日期', show: '查看', csv: '导出 CSV', print: '打印', 'aud.overview': '总览',
  live_now: '在线', any: '全部', result: '结果', 'kind.refused': '拒绝', 'kind.marker': '标记', 'kind.secret': '隐藏输入',
  'kind.exec': '执行', 'kind.exit': '结束', 'mark.exit': '退出码 {code}', 'mark.killed': '被信号 {signal} 终止', 'mark.ended': '会话结束：{reason}', 'mark.grant_ends': '授权将在 {n} 分钟后结束',
  'kind.transfer': '传输', 'kind.resize': '窗口大小', 'kind.notice': '通知', 'kind.input': '输入',
  // overview
  'ov.today': '今日', 'ov.period': '{from} 至 {to}', 'ov.sessions': '会话', 'ov.requests': '申请', 'ov.incidents': '事件',
  'ov.breaches': '超时响应', 'ov.break_glass': '紧急授权', 'ov.refusals': '拒绝', 'ov.transfers': '传输检测',
  'ov.response_percent': '响应达标率', 'ov.median': '响应中位数', 'ov.p90': '响应 90 分位', 'ov.resolution_percent': '解决达标率',
  'ov.level': '{l} 级', 'ov.in_time': '按时', 'ov.missed': '超时',
  'ov.chart.sessions': '每日会话', 'ov.chart.levels': '各故障级别的申请', 'ov.chart.response': '响应（{w} 分钟时限）',
  'ov.chart.resolution': '解决（各级别时限）', 'ov.chart.events': '紧急授权、拒绝、传输检测与超时（每日）',
  'ov.chart.targets': '会话最多的目标', 'ov.chart.engineers': '会话最多的工程师',
  // tables
  page_prev: '上一页', page_next: '下一页', page_first: '第一页', per_page: '每页', rows_total: '共 {n} 条',
  rows_shown: '显示 {a}–{b} 条', sort_asc: '升序', sort_desc: '降序', filter: '筛选', clear: '清除',
  // admin
  'adm.users': '用户', 'adm.keys': '用户的 SSH 密钥', 'adm.targets': '目标与主机密钥', 'adm.policy': '当前策略', 'adm.nodes': '节点',
  role: '角色', keys: '密钥', fingerprint: '指纹', added: '添加时间', address: '地址', description: '说明', host_key: '主机密钥',
  disabled: '已停用', enabled: '正常', node: '节点', node_state: '状态', version: '版本', heartbeat: '心跳', sessions_live: '在线会话',
  'node.alive': '运行中', 'node.up': '运行中', 'node.stopped': '已停止', 'node.lost': '失联', 'node.silent': '心跳超时',
  // watch
  'watch.title': '旁观会话', 'watch.size': '被旁观终端的大小（列×行）', go_live: '回到实时', following: '实时跟随中',
  // messages
  'err.network': '无法连接服务器，请检查网络后重试。', 'err.unauthenticated': '登录已失效，请重新登录。',
  'err.forbidden': '当前角色无权执行此操作。', 'err.csrf': '页面令牌已失效，请刷新页面。',
  'err.not_found': '未找到该对象。', 'err.conflict': '状态已变化，请刷新后重试。',
  'err.too_large': '提交内容过大。', 'err.throttled': '尝试次数过多，请稍后再试。',
  'err.unavailable': '服务暂不可用（数据库不可达）。', 'err.bad_json': '请求格式错误。',
  'err.bad_input': '输入有误', 'err.wasm': '终端组件加载失败', 'err.recording': '录像无法读取',
  'err.bad_date': '日期格式应为 yyyy-MM-dd HH:mm', 'err.unknown_role': '未知角色',
  done: '已完成', none: '（无）', ended: '会话已结束', closed: '连接已关闭',
  login_ended: '您的网页登录已结束（已退出、已过期或账号已停用），请重新登录。',
  // codes the gateway sends
  'state.pending': '待审批', 'state.approved': '已批准', 'state.denied': '已拒绝', 'state.withdrawn': '已撤回', 'state.lapsed': '已过期',
  'state.signed_off': '已复核', 'state.awaiting': '待复核',
  'ending.sealed': '已封存（会话结束：{reason}）', 'ending.cut_short': '未封存（录像在第 {byte} 字节处中断）',
  'end.client_closed': '工程师关闭了连接', 'end.session_closed': '会话已关闭', 'end.idle_timeout': '空闲超时',
  'end.terminated': '审批员终止了会话', 'end.gateway_shutdown': '网关停止', 'end.recording_failed': '录像无法写入，会话已关闭',
  'end.recording_size_limit': '录像达到大小上限，会话已关闭', 'end.recordings_disk_full': '录像磁盘已满，会话已关闭',
  'end.audit_failed': '审计日志无法写入，会话已关闭', 'end.node_restarted': '节点重启', 'end.node_lost': '节点失联',
  'end.account_disabled': '账号已停用', 'end.account_cut_off': '账号已被切断', 'end.target_closed': '目标关闭了连接',
  'end.target_unreachable': '目标无响应', 'end.login_ended': '网页登录已结束', 'end.transfer_detected': '检测到文件传输',
  'end.output_limit': '输出超过上限', 'end.grant_expired': '授权已到期', 'end.grant_revoked': '授权已被撤销',
  'end.max_session': '超过单次会话最长时间', 'end.approver_ended': '审批员（{who}）终止了会话',
};

const en = {
  title: 'Menwei', skip: 'Skip to content', loading: 'Loading…', live: '● live', logout: 'Log out', lang: '中文',
  login: 'Log in', user: 'User', password: 'Password', totp: 'One-time code (if required)',
  'role.engineer': 'Engineer', 'role.approver': 'Approver', 'role.auditor': 'Auditor', 'role.admin': 'Admin',
  nav: 'Navigation', 'nav.access': 'My access', 'nav.requests': 'Requests', 'nav.terminal': 'Terminal',
  'nav.queue': 'Queue', 'nav.sessions': 'Sessions', 'nav.live': 'Live sessions', 'nav.grants': 'Grants', 'nav.breakglass': 'Break-glass',
  'nav.overview': 'Overview', 'nav.replay': 'Replay', 'nav.audit': 'Audit log', 'nav.reports': 'Reports',
  'nav.inspections': 'Inspections', 'insp.title': 'Inspection runbooks', 'insp.runbook': 'Runbook', 'insp.version_run': 'Version / run',
  'insp.when': 'Schedule / time', 'insp.state': 'State', 'insp.findings': 'findings', 'insp.approved': 'approved', 'insp.not_approved': 'not approved',
  'insp.approve': 'Approve this version', 'insp.run': 'Run now', 'insp.approve_done': 'approved', 'insp.run_done': 'queued to run', 'insp.report': 'report',
  'insp.state.queued': 'queued', 'insp.state.running': 'running', 'insp.state.done': 'done', 'insp.state.failed': 'failed', 'insp.state.refused': 'refused',
  'nav.users': 'Users', 'nav.keys': 'Keys', 'nav.targets': 'Targets', 'nav.policy': 'Policy', 'nav.nodes': 'Nodes',
  'eng.request': 'Request access', targets: 'Targets', group: 'or target group',
  reason: 'Reason', incident: 'Incident', level: 'Fault level', duration: 'Duration (e.g. 2h, 30m)',
  start: 'Start (optional)', submit: 'Submit request', 'eng.mine': 'My requests',
  'eng.grants': 'Live grants', open_terminal: 'Open terminal', withdraw: 'Withdraw', state: 'State',
  created: 'Filed', window: 'Window', target: 'Target', ends: 'Ends', remaining: 'Left',
  terminal: 'Browser terminal', close: 'Close', no_transfer: 'The browser terminal has no file transfer of any kind.',
  'eng.terminal': 'Browser terminal', no_terminal: 'No terminal open: pick a granted target under "My access".',
  pick_targets: 'Targets (pick one or more)', pick_group: 'or a target group', no_requestable: 'The policy lets you request no target.',
  need_target: 'Pick at least one target or a group.',
  'appr.queue': 'Queue', engineer: 'Engineer', waiting: 'Waiting', approve: 'Approve', deny: 'Deny',
  comment: 'Comment', 'appr.sessions': 'Active sessions', watch: 'Watch', terminate: 'Terminate',
  revoke: 'Revoke', 'appr.grants': 'Live grants', 'appr.breakglass': 'Break-glass review', signoff: 'Sign off',
  minutes: 'min', of30: '/ 30 min', started: 'Started', confirm_terminate: 'Terminate this session?',
  confirm_revoke: 'Revoke this grant? Its live sessions end at once.', deny_needs_comment: 'A denial needs a comment.', signoff_needs_comment: 'A sign-off needs a comment.',
  'appr.desk': 'Now', 'desk.pending': 'Requests waiting', 'desk.breakglass': 'Break-glass to sign off', 'desk.live': 'Live sessions', 'desk.grants': 'Live grants',
  'desk.overdue': 'past the 30-minute response window',
  'aud.sessions': 'Sessions', from: 'From', to: 'To', grant: 'Grant', search: 'Search', replay: 'Replay',
  'aud.replay': 'Replay', play: 'Play', pause: 'Pause', speed: 'Speed', skip_idle: 'Skip idle',
  find: 'Search output', marks: 'Marks and commands', commands: 'Commands', no_replay: 'Pick a session to replay under "Sessions".',
  commands_note: 'The command list is rebuilt from keystrokes and echo: an audit aid, not a security boundary. The recording itself is the evidence.',
  hidden_input: '(input not echoed, hidden)', unmask: 'Unmask typed secrets', unmask_reason: 'Why show input that was not echoed (passwords)? The reason goes into the audit log:', no_hits: 'Not found', hits: 'hits',
  'aud.log': 'Audit log', since: 'Since', until: 'Until', actor: 'Actor', action: 'Action', subject: 'Subject', detail: 'Detail',
  export_csv: 'Export CSV', export_jsonl: 'Export JSON lines', verify: 'Verify', verified: 'Verification',
  'aud.report': 'Period report', period: 'Period', week: 'Week', month: 'Month', quarter: 'Quarter', year: 'Year',
  at: 'Date in period', show: 'Show', csv: 'CSV', print: 'Print', 'aud.overview': 'Overview',
  live_now: 'live', any: 'any', result: 'Result', 'kind.refused': 'refused', 'kind.marker': 'marker', 'kind.secret': 'hidden input',
  'kind.exec': 'exec', 'kind.exit': 'exit', 'mark.exit': 'exit {code}', 'mark.killed': 'killed by {signal}', 'mark.ended': 'session ended: {reason}', 'mark.grant_ends': 'grant ends in {n} minutes',
  'kind.transfer': 'transfer', 'kind.resize': 'resize', 'kind.notice': 'notice', 'kind.input': 'input',
  'ov.today': 'Today', 'ov.period': '{from} to {to}', 'ov.sessions': 'Sessions', 'ov.requests': 'Requests', 'ov.incidents': 'Incidents',
  'ov.breaches': 'Late responses', 'ov.break_glass': 'Break-glass', 'ov.refusals': 'Refusals', 'ov.transfers': 'Transfer detections',
  'ov.response_percent': 'Responses in time', 'ov.median': 'Median response', 'ov.p90': 'p90 response', 'ov.resolution_percent': 'Resolved in time',
  'ov.level': 'Level {l}', 'ov.in_time': 'in time', 'ov.missed': 'missed',
  'ov.chart.sessions': 'Sessions per day', 'ov.chart.levels': 'Requests per fault level', 'ov.chart.response': 'Response (window {w} min)',
  'ov.chart.resolution': "Resolution (each level's limit)", 'ov.chart.events': 'Break-glass, refusals, transfer detections and late responses per day',
  'ov.chart.targets': 'Top targets by sessions', 'ov.chart.engineers': 'Top engineers by sessions',
  page_prev: 'Previous', page_next: 'Next', page_first: 'First page', per_page: 'Per page', rows_total: '{n} rows',
  rows_shown: 'rows {a}–{b}', sort_asc: 'ascending', sort_desc: 'descending', filter: 'Filter', clear: 'Clear',
  'adm.users': 'Users', 'adm.keys': "Users' SSH keys", 'adm.targets': 'Targets and host keys', 'adm.policy': 'Policy as loaded', 'adm.nodes': 'Nodes',
  role: 'Role', keys: 'Keys', fingerprint: 'Fingerprint', added: 'Added', address: 'Address', description: 'Description', host_key: 'Host key',
  disabled: 'disabled', enabled: 'active', node: 'Node', node_state: 'State', version: 'Version', heartbeat: 'Heartbeat', sessions_live: 'Live sessions',
  'node.alive': 'alive', 'node.up': 'up', 'node.stopped': 'stopped', 'node.lost': 'lost', 'node.silent': 'silent',
  'watch.title': 'Watching session', 'watch.size': 'Size of the watched terminal (columns×rows)', go_live: 'Back to live', following: 'Following live',
  'err.network': 'Cannot reach the server; check the network and retry.',
  'err.unauthenticated': 'Your login has expired; please log in again.',
  'err.forbidden': 'Your role may not do this.', 'err.csrf': 'The page token is stale; reload the page.',
  'err.not_found': 'Not found.', 'err.conflict': 'It changed meanwhile; refresh and retry.',
  'err.too_large': 'Too large.', 'err.throttled': 'Too many attempts; wait a little.',
  'err.unavailable': 'Service unavailable (database unreachable).', 'err.bad_json': 'Malformed request.',
  'err.bad_input': 'Invalid input', 'err.wasm': 'The terminal module failed to load',
  'err.recording': 'The recording cannot be read', 'err.bad_date': 'A date is written yyyy-MM-dd HH:mm', 'err.unknown_role': 'Unknown role',
  done: 'Done', none: '(none)', ended: 'Session ended', closed: 'Connection closed',
  login_ended: 'Your web login has ended (logged out, expired or the account disabled); please log in again.',
  'state.pending': 'pending', 'state.approved': 'approved', 'state.denied': 'denied', 'state.withdrawn': 'withdrawn', 'state.lapsed': 'lapsed',
  'state.signed_off': 'signed off', 'state.awaiting': 'awaiting sign-off',
  'ending.sealed': 'sealed (session ended: {reason})', 'ending.cut_short': 'cut short (not sealed) at byte {byte}',
  'end.client_closed': 'the engineer closed the connection', 'end.session_closed': 'session closed', 'end.idle_timeout': 'idle timeout',
  'end.terminated': 'an approver terminated it', 'end.gateway_shutdown': 'the gateway stopped', 'end.recording_failed': 'the recording cannot be written',
  'end.recording_size_limit': 'the recording reached its size limit', 'end.recordings_disk_full': 'the recordings disk is full',
  'end.audit_failed': 'the audit log cannot be written', 'end.node_restarted': 'the node restarted', 'end.node_lost': 'the node was lost',
  'end.account_disabled': 'the account was disabled', 'end.account_cut_off': 'the account was cut off', 'end.target_closed': 'the target closed the connection',
  'end.target_unreachable': 'the target stopped answering', 'end.login_ended': 'the web login ended', 'end.transfer_detected': 'a file transfer was detected',
  'end.output_limit': 'output over the limit', 'end.grant_expired': 'the grant expired', 'end.grant_revoked': 'the grant was revoked',
  'end.max_session': 'the longest session passed', 'end.approver_ended': 'an approver ({who}) ended the session',
};

const TEXT = { zh, en };
let lang = localStorage.getItem('menwei.lang') === 'en' ? 'en' : 'zh';

export const currentLang = () => lang;
export function setLang(l) {
  lang = l === 'en' ? 'en' : 'zh';
  localStorage.setItem('menwei.lang', lang);
}
// The text of `key`, with {name} placeholders filled from `vars`.
export function t(key, vars) {
  let s = TEXT[lang][key] ?? TEXT.zh[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
  return s;
}
// The text of `key` in the page's language, or undefined when there is none.
export const known = (key) => TEXT[lang][key];

// A request's or break-glass grant's state code in words.
export const stateText = (code) => known(`state.${code}`) ?? String(code ?? '');

// Why a session ended, from its code (`terminated`, `grant_expired`, …) or from the English
// line the gateway wrote into the recording's seal; an unknown line is shown as it is.
const ENDINGS = [
  [/^an approver \((.+)\) ended the session$/, (m) => t('end.approver_ended', { who: m[1] })],
  [/^the engineer closed the connection$/, () => t('end.client_closed')],
  [/^the grant was revoked/, () => t('end.grant_revoked')],
  [/^the grant (has )?(expired|ended)/, () => t('end.grant_expired')],
  [/^the target closed the connection$/, () => t('end.target_closed')],
  [/^the target stopped answering/, () => t('end.target_unreachable')],
  [/^the session recording cannot be written/, () => t('end.recording_failed')],
  [/^the audit log cannot be written/, () => t('end.audit_failed')],
  [/size limit/, () => t('end.recording_size_limit')],
  [/idle/, () => t('end.idle_timeout')],
];
export function endText(reason) {
  const r = String(reason ?? '').trim();
  const byCode = known(`end.${r}`);
  if (byCode) return byCode;
  for (const [re, f] of ENDINGS) { const m = r.match(re); if (m) return f(m); }
  return r;
}
// The player's `meta.ending` (sealed with its reason, or cut short) in words.
export function endingText(meta) {
  const e = String(meta?.ending ?? '');
  const sealed = e.match(/^sealed \(session ended: (.*)\)$/);
  if (sealed) return t('ending.sealed', { reason: endText(sealed[1]) });
  const cut = e.match(/^cut short \(not sealed\) at byte (\d+)/);
  if (cut) return t('ending.cut_short', { byte: cut[1] });
  return e;
}

// A player mark's line in words: the exit of a command, the session's end; null when the
// line is the recording's own text (a command, a gateway note), shown as it is.
export function markText(m) {
  const text = String(m?.text ?? '');
  let x = text.match(/^exit (-?\d+)$/);
  if (m?.kind === 'exit' && x) return t('mark.exit', { code: x[1] });
  x = text.match(/^killed by (SIG\w+)$/);
  if (m?.kind === 'exit' && x) return t('mark.killed', { signal: x[1] });
  x = text.match(/^grant ends in (\d+) minutes?$/);
  if (x) return t('mark.grant_ends', { n: x[1] });
  x = text.match(/^session ended: (.*)$/);
  if (x) return t('mark.ended', { reason: endText(x[1]) });
  return null;
}
