// Menwei's page: one page, sections by role (docs/web.md "Pages"). Plain JS modules, no
// framework. Talks to the REST API under /api/v1 with the session cookie and the CSRF
// header; the terminal, live watch and replay are the wasm module (pkg/web_terminal.js).
// Every API error is shown as a message; nothing here may leave the page blank.

import init, { LiveTerminal, Player, Watch } from './pkg/web_terminal.js';

// ---------------------------------------------------------------------------------------
// Text: Chinese by default, English on request. One dictionary.
const TEXT = {
  zh: {
    title: '门卫', loading: '正在加载…', live: '● 实时', logout: '退出登录', lang: 'English',
    login: '登录', user: '用户名', password: '密码', totp: '动态口令（如需要）',
    'role.engineer': '工程师', 'role.approver': '审批员', 'role.auditor': '审计员', 'role.admin': '管理员',
    // engineer
    'eng.request': '申请访问', targets: '目标（逗号分隔）', group: '或目标组', reason: '原因',
    incident: '事件单号', level: '故障级别', duration: '时长（如 2h、30m）', start: '开始时间（可选）',
    submit: '提交申请', 'eng.mine': '我的申请', 'eng.grants': '当前授权', open_terminal: '打开终端',
    withdraw: '撤回', state: '状态', created: '提交时间', window: '时间窗', target: '目标',
    ends: '结束时间', remaining: '剩余', terminal: '浏览器终端', close: '关闭',
    no_transfer: '浏览器终端不支持任何文件传输。',
    // approver
    'appr.queue': '待审批', engineer: '工程师', waiting: '已等待', approve: '批准', deny: '拒绝',
    comment: '意见', 'appr.sessions': '进行中的会话', watch: '旁观', terminate: '终止',
    revoke: '撤销授权', 'appr.grants': '有效授权', 'appr.breakglass': '紧急授权复核', signoff: '复核签字',
    minutes: '分钟', of30: '/ 30 分钟', started: '开始', confirm_terminate: '确定终止该会话？',
    confirm_revoke: '确定撤销该授权？在线会话将立即断开。', deny_needs_comment: '拒绝时必须填写意见。', signoff_needs_comment: '复核签字须填写意见。',
    // auditor
    'aud.sessions': '会话检索', from: '起', to: '止', grant: '授权', search: '查询', replay: '回放',
    'aud.replay': '录像回放', play: '播放', pause: '暂停', speed: '速度', skip_idle: '跳过空闲',
    find: '搜索输出', marks: '标记与命令', commands: '命令列表',
    commands_note: '命令列表由键盘输入与回显重建，仅为审计辅助，不是安全边界；以录像原始内容为准。',
    hidden_input: '（输入未回显，已隐藏）', unmask: '显示隐藏的输入', unmask_reason: '显示未回显的输入（如密码）的理由（记入审计日志）：', no_hits: '没有找到', hits: '处匹配',
    'aud.log': '审计日志', since: '起', until: '止', actor: '操作人', action: '操作',
    export_csv: '导出 CSV', export_jsonl: '导出 JSON Lines', verify: '校验', verified: '校验结果',
    'aud.report': '周期报告', period: '周期', week: '周', month: '月', quarter: '季度', year: '年',
    at: '所在日期', show: '查看', csv: 'CSV', print: '打印',
    // admin
    'adm.users': '用户与密钥', 'adm.targets': '目标与主机密钥', 'adm.policy': '当前策略',
    // watch
    'watch.title': '旁观会话', 'watch.size': '被旁观终端的大小（列×行）', go_live: '回到实时', following: '实时跟随中',
    // messages
    'err.network': '无法连接服务器，请检查网络后重试。', 'err.unauthenticated': '登录已失效，请重新登录。',
    'err.forbidden': '当前角色无权执行此操作。', 'err.csrf': '页面令牌已失效，请刷新页面。',
    'err.not_found': '未找到该对象。', 'err.conflict': '状态已变化，请刷新后重试。',
    'err.too_large': '提交内容过大。', 'err.throttled': '尝试次数过多，请稍后再试。',
    'err.unavailable': '服务暂不可用（数据库不可达）。', 'err.bad_json': '请求格式错误。',
    'err.bad_input': '输入有误', 'err.wasm': '终端组件加载失败', 'err.recording': '录像无法读取',
    done: '已完成', none: '（无）', ended: '会话已结束', closed: '连接已关闭',
    login_ended: '您的网页登录已结束（已退出、已过期或账号已停用），请重新登录。',
  },
  en: {
    title: 'Menwei', loading: 'Loading…', live: '● live', logout: 'Log out', lang: '中文',
    login: 'Log in', user: 'User', password: 'Password', totp: 'One-time code (if required)',
    'role.engineer': 'Engineer', 'role.approver': 'Approver', 'role.auditor': 'Auditor', 'role.admin': 'Admin',
    'eng.request': 'Request access', targets: 'Targets (comma separated)', group: 'or target group',
    reason: 'Reason', incident: 'Incident', level: 'Fault level', duration: 'Duration (e.g. 2h, 30m)',
    start: 'Start (optional)', submit: 'Submit request', 'eng.mine': 'My requests',
    'eng.grants': 'Live grants', open_terminal: 'Open terminal', withdraw: 'Withdraw', state: 'State',
    created: 'Filed', window: 'Window', target: 'Target', ends: 'Ends', remaining: 'Left',
    terminal: 'Browser terminal', close: 'Close', no_transfer: 'The browser terminal has no file transfer of any kind.',
    'appr.queue': 'Queue', engineer: 'Engineer', waiting: 'Waiting', approve: 'Approve', deny: 'Deny',
    comment: 'Comment', 'appr.sessions': 'Active sessions', watch: 'Watch', terminate: 'Terminate',
    revoke: 'Revoke', 'appr.grants': 'Live grants', 'appr.breakglass': 'Break-glass review', signoff: 'Sign off',
    minutes: 'min', of30: '/ 30 min', started: 'Started', confirm_terminate: 'Terminate this session?',
    confirm_revoke: 'Revoke this grant? Its live sessions end at once.', deny_needs_comment: 'A denial needs a comment.', signoff_needs_comment: 'A sign-off needs a comment.',
    'aud.sessions': 'Sessions', from: 'From', to: 'To', grant: 'Grant', search: 'Search', replay: 'Replay',
    'aud.replay': 'Replay', play: 'Play', pause: 'Pause', speed: 'Speed', skip_idle: 'Skip idle',
    find: 'Search output', marks: 'Marks and commands', commands: 'Commands',
    commands_note: 'The command list is rebuilt from keystrokes and echo: an audit aid, not a security boundary. The recording itself is the evidence.',
    hidden_input: '(input not echoed, hidden)', unmask: 'Unmask typed secrets', unmask_reason: 'Why show input that was not echoed (passwords)? The reason goes into the audit log:', no_hits: 'Not found', hits: 'hits',
    'aud.log': 'Audit log', since: 'Since', until: 'Until', actor: 'Actor', action: 'Action',
    export_csv: 'Export CSV', export_jsonl: 'Export JSON lines', verify: 'Verify', verified: 'Verification',
    'aud.report': 'Period report', period: 'Period', week: 'Week', month: 'Month', quarter: 'Quarter', year: 'Year',
    at: 'Date in period', show: 'Show', csv: 'CSV', print: 'Print',
    'adm.users': 'Users and keys', 'adm.targets': 'Targets and host keys', 'adm.policy': 'Policy as loaded',
    'watch.title': 'Watching session', 'watch.size': 'Size of the watched terminal (columns×rows)', go_live: 'Back to live', following: 'Following live',
    'err.network': 'Cannot reach the server; check the network and retry.',
    'err.unauthenticated': 'Your login has expired; please log in again.',
    'err.forbidden': 'Your role may not do this.', 'err.csrf': 'The page token is stale; reload the page.',
    'err.not_found': 'Not found.', 'err.conflict': 'It changed meanwhile; refresh and retry.',
    'err.too_large': 'Too large.', 'err.throttled': 'Too many attempts; wait a little.',
    'err.unavailable': 'Service unavailable (database unreachable).', 'err.bad_json': 'Malformed request.',
    'err.bad_input': 'Invalid input', 'err.wasm': 'The terminal module failed to load',
    'err.recording': 'The recording cannot be read',
    done: 'Done', none: '(none)', ended: 'Session ended', closed: 'Connection closed',
    login_ended: 'Your web login has ended (logged out, expired or the account disabled); please log in again.',
  },
};
let lang = localStorage.getItem('menwei.lang') === 'en' ? 'en' : 'zh';
const t = (key) => TEXT[lang][key] ?? TEXT.zh[key] ?? key;

// ---------------------------------------------------------------------------------------
// DOM helpers.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
const $ = (sel) => document.querySelector(sel);

function message(text, kind = 'error') {
  const box = $('#messages');
  const item = h('div', { class: `msg ${kind}` }, text,
    h('button', { type: 'button', class: 'dismiss', 'aria-label': 'close', onclick: () => item.remove() }, '×'));
  box.append(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 5000);
}

// ---------------------------------------------------------------------------------------
// API.
class ApiError extends Error {
  constructor(status, code, msg) { super(msg); this.status = status; this.code = code; }
}

const session = { me: null, csrf: null };

async function api(method, path, body, { raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', t('err.network'));
  }
  if (!res.ok) {
    let code = `http_${res.status}`;
    let msg = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      if (j && j.error) { code = j.error.code || code; msg = j.error.message || msg; }
    } catch { /* not JSON: keep the status line */ }
    throw new ApiError(res.status, code, msg);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  return type.includes('json') ? res.json() : res.text();
}

function explain(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  const known = TEXT[lang][`err.${err.code}`];
  if (err.code === 'bad_input') return `${t('err.bad_input')}: ${err.message}`;
  return known ? `${known} (${err.message})` : err.message;
}

// Runs an action, showing any error as a message. Returns its result or undefined.
async function attempt(fn) {
  try {
    return await fn();
  } catch (err) {
    message(explain(err));
    if (err instanceof ApiError && err.status === 401) showLogin();
    return undefined;
  }
}

const list = (x) => (Array.isArray(x) ? x : (x && (x.items || x.data || x.results)) || []);
const pick = (o, ...keys) => { for (const k of keys) if (o && o[k] !== undefined && o[k] !== null) return o[k]; return ''; };
const when = (v) => {
  if (!v) return '';
  const d = new Date(typeof v === 'number' && v < 1e12 ? v * 1000 : v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB');
};
// A request's targets (the API always gives the list; a group request also names its group).
const requestTargets = (r) => {
  const names = Array.isArray(r.targets) ? r.targets.join(', ') : String(r.targets || '');
  return r.group ? `${r.group}${names ? `: ${names}` : ''}` : names;
};
// datetime-local inputs give local time without a zone; the API takes RFC 3339.
const isoFields = (d, keys) => {
  for (const k of keys) if (d[k]) { const x = new Date(d[k]); if (!Number.isNaN(x.getTime())) d[k] = x.toISOString(); }
  return d;
};
const minutesSince = (v) => Math.max(0, Math.floor((Date.now() - new Date(v).getTime()) / 60000));
const minutesUntil = (v) => Math.floor((new Date(v).getTime() - Date.now()) / 60000);
const fmtTime = (ms) => {
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600); const mm = Math.floor(s / 60) % 60; const ss = s % 60;
  return `${hh ? `${hh}:` : ''}${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}`;
};

function table(rows, columns, empty = t('none')) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', {}, c.cell(r)))))));
}

function section(id, titleKey, ...body) {
  return h('section', { id, class: 'card' }, h('h2', {}, t(titleKey)), ...body);
}

function field(name, labelKey, attrs = {}) {
  return h('label', {}, h('span', {}, t(labelKey)), h('input', { name, ...attrs }));
}

function formData(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) if (String(v).trim() !== '') out[k] = String(v).trim();
  return out;
}

// ---------------------------------------------------------------------------------------
// Login.
function showLogin() {
  session.me = null;
  renderHeader();
  const main = $('#main');
  main.replaceChildren(section('login', 'login',
    h('form', {
      class: 'row', onsubmit: async (e) => {
        e.preventDefault();
        const body = formData(e.target);
        const res = await attempt(() => api('POST', '/login', body));
        if (res) { session.csrf = res.csrf; await start(); }
      },
    },
    field('user', 'user', { required: true, autocomplete: 'username' }),
    field('password', 'password', { type: 'password', required: true, autocomplete: 'current-password' }),
    field('totp', 'totp', { inputmode: 'numeric', autocomplete: 'one-time-code' }),
    h('button', { type: 'submit' }, t('login')))));
}

function renderHeader() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = `${t('title')} Menwei`;
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  $('#lang').textContent = t('lang');
  $('#logout').hidden = !session.me;
  $('#who').textContent = session.me ? `${session.me.name} · ${t(`role.${session.me.role}`)}` : '';
}

// ---------------------------------------------------------------------------------------
// Live updates (server-sent events): the approver queue, the engineer's requests.
let events = null;
const refreshers = {};
let refreshTimer = null;
function refreshSoon(kind) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    for (const [k, f] of Object.entries(refreshers)) if (!kind || k.startsWith(kind) || k === '*') f();
  }, 200);
}
function listen() {
  if (events || typeof EventSource === 'undefined') return;
  events = new EventSource('/api/v1/events', { withCredentials: true });
  const indicator = $('#live-indicator');
  events.onopen = () => { indicator.hidden = false; };
  events.onerror = () => { indicator.hidden = true; };
  for (const kind of ['request', 'decision', 'session', 'grant']) {
    events.addEventListener(kind, () => refreshSoon());
  }
  // The login ended: the gateway says so last and ends the stream; do not reconnect.
  events.addEventListener('end', () => {
    events.close();
    events = null;
    indicator.hidden = true;
    loginEnded();
  });
}

// A login ends after [https] session_ttl without use, and the gateway counts only calls to
// it as use, not a terminal's keys nor its own second looks at a stream's login: typing in a
// terminal for a quarter of an hour would end the login under it. So while the person types
// or clicks anywhere on the page, at most once a minute, the page asks who it is, which
// renews the login like any call. A page nobody touches still goes idle.
let lastKeep = 0;
function keepLogin() {
  if (!session.me || Date.now() - lastKeep < 60000) return;
  lastKeep = Date.now();
  api('GET', '/me').catch(() => {});
}
for (const ev of ['keydown', 'pointerdown']) document.addEventListener(ev, keepLogin, true);

// The login behind the page's streams ended (logout elsewhere, expiry, a disabled account):
// said once, in the page's language; the next action shows the login form.
let loginEndedSaid = false;
function loginEnded() {
  if (loginEndedSaid) return;
  loginEndedSaid = true;
  message(t('login_ended'));
}

// ---------------------------------------------------------------------------------------
// Engineer.
let liveTerminal = null;

function engineerView() {
  const requests = h('div');
  const grants = h('div');
  const termBox = h('div', { class: 'terminal-box', hidden: true });
  const load = async () => {
    const reqs = await attempt(() => api('GET', '/requests'));
    if (reqs) requests.replaceChildren(table(list(reqs), [
      { label: 'ID', cell: (r) => pick(r, 'id') },
      { label: t('targets'), cell: (r) => requestTargets(r) },
      { label: t('level'), cell: (r) => pick(r, 'level') },
      { label: t('incident'), cell: (r) => pick(r, 'incident') },
      { label: t('state'), cell: (r) => h('span', { class: `state ${pick(r, 'state')}` }, pick(r, 'state')) },
      { label: t('created'), cell: (r) => when(pick(r, 'filed_at')) },
      { label: '', cell: (r) => (pick(r, 'state') === 'pending'
        ? h('button', { type: 'button', onclick: async () => { await attempt(() => api('POST', `/requests/${encodeURIComponent(r.id)}/withdraw`, {})); load(); } }, t('withdraw'))
        : '') },
    ]));
    const gs = await attempt(() => api('GET', '/grants?live=true'));
    if (gs) grants.replaceChildren(table(list(gs), [
      { label: 'ID', cell: (g) => pick(g, 'id') },
      { label: t('target'), cell: (g) => pick(g, 'target') },
      { label: t('ends'), cell: (g) => when(pick(g, 'ends_at')) },
      { label: '', cell: (g) => h('button', { type: 'button', onclick: () => openTerminal(termBox, g.target) }, `${t('open_terminal')} ${g.target}`) },
    ]));
  };
  refreshers['request:eng'] = load;
  load();
  const form = h('form', {
    class: 'grid', onsubmit: async (e) => {
      e.preventDefault();
      const d = formData(e.target);
      const body = { reason: d.reason, incident: d.incident, level: d.level, duration: d.duration };
      if (d.targets) body.targets = d.targets.split(',').map((s) => s.trim()).filter(Boolean);
      else if (d.group) body.group = d.group;
      if (d.start) body.start = new Date(d.start).toISOString();
      const res = await attempt(() => api('POST', '/requests', body));
      if (res) { message(`${t('done')}: ${pick(res, 'id')}`, 'ok'); e.target.reset(); load(); }
    },
  },
  field('targets', 'targets'), field('group', 'group'),
  field('reason', 'reason', { required: true }), field('incident', 'incident', { required: true }),
  h('label', {}, h('span', {}, t('level')), h('select', { name: 'level' }, ['A', 'B', 'C', 'D'].map((l) => h('option', {}, l)))),
  field('duration', 'duration', { required: true, value: '2h' }), field('start', 'start', { type: 'datetime-local' }),
  h('button', { type: 'submit' }, t('submit')));
  return [
    section('eng-request', 'eng.request', form),
    section('eng-mine', 'eng.mine', requests),
    section('eng-grants', 'eng.grants', grants, termBox),
  ];
}

function wsUrl(path) {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/v1${path}`;
}

function openTerminal(box, target) {
  if (liveTerminal) { liveTerminal.free(); liveTerminal = null; }
  const status = h('span', { class: 'status' });
  const screen = h('div', { class: 'term' });
  // No file transfer: refuse drops onto the terminal (xterm.js has no zmodem).
  for (const ev of ['dragover', 'drop']) screen.addEventListener(ev, (e) => { e.preventDefault(); e.stopPropagation(); }, true);
  box.hidden = false;
  box.replaceChildren(
    h('div', { class: 'toolbar' }, h('strong', {}, `${t('terminal')}: ${target}`), status,
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', onclick: () => { if (liveTerminal) { liveTerminal.free(); liveTerminal = null; } box.hidden = true; } }, t('close'))),
    screen, h('p', { class: 'note' }, t('no_transfer')));
  try {
    // The page's language picks the shell's locale on the target (UTF-8 either way).
    liveTerminal = new LiveTerminal(wsUrl(`/terminal?target=${encodeURIComponent(target)}&lang=${lang}`), screen);
    liveTerminal.on_status((kind, text) => {
      if (kind === 'notice') message(text, 'warn');
      if (kind === 'end') { status.textContent = `${t('ended')}: ${text}`; message(`${t('ended')}: ${text}`, 'warn'); }
      if (kind === 'closed' || kind === 'login_ended') status.textContent = status.textContent || t('closed');
      if (kind === 'login_ended') loginEnded();
      if (kind === 'open') status.textContent = '';
    });
  } catch (err) {
    message(`${t('err.wasm')}: ${err.message || err}`);
  }
}

// ---------------------------------------------------------------------------------------
// Approver.
let watch = null;

function approverView() {
  const queue = h('div');
  const sessions = h('div');
  const grants = h('div');
  const breakglass = h('div');
  const watchBox = h('div', { class: 'terminal-box', hidden: true });
  const decide = async (r, verdict, input) => {
    const comment = input.value.trim();
    if (verdict === 'deny' && !comment) { message(t('deny_needs_comment')); return; }
    const ok = await attempt(() => api('POST', `/requests/${encodeURIComponent(r.id)}/${verdict}`, comment ? { comment } : {}));
    if (ok !== undefined) { message(`${t('done')}: ${r.id}`, 'ok'); loadQueue(); }
  };
  const loadQueue = async () => {
    const reqs = await attempt(() => api('GET', '/requests?state=pending'));
    if (!reqs) return;
    queue.replaceChildren(table(list(reqs), [
      { label: 'ID', cell: (r) => pick(r, 'id') },
      { label: t('engineer'), cell: (r) => pick(r, 'engineer') },
      { label: t('targets'), cell: (r) => requestTargets(r) },
      { label: t('level'), cell: (r) => h('span', { class: `level level-${pick(r, 'level')}` }, pick(r, 'level')) },
      { label: t('incident'), cell: (r) => pick(r, 'incident') },
      { label: t('reason'), cell: (r) => pick(r, 'reason') },
      { label: t('window'), cell: (r) => `${when(pick(r, 'starts_at')) || '—'} · ${pick(r, 'duration')}` },
      { label: t('waiting'), cell: (r) => {
        // The server's count (waiting_ms, against the policy's response window) when given.
        const m = typeof r.waiting_ms === 'number' ? Math.floor(r.waiting_ms / 60000) : minutesSince(pick(r, 'filed_at'));
        const windowMin = typeof r.response_window_ms === 'number' ? Math.round(r.response_window_ms / 60000) : 30;
        const late = r.overdue === true || m >= windowMin;
        return h('span', { class: late ? 'late' : m >= windowMin * 2 / 3 ? 'warn' : '' }, `${m} / ${windowMin} ${t('minutes')}`);
      } },
      { label: '', cell: (r) => {
        const input = h('input', { placeholder: t('comment'), class: 'comment' });
        return h('span', { class: 'buttons' }, input,
          h('button', { type: 'button', class: 'ok', onclick: () => decide(r, 'approve', input) }, t('approve')),
          h('button', { type: 'button', class: 'danger', onclick: () => decide(r, 'deny', input) }, t('deny')));
      } },
    ]));
  };
  const loadSessions = async () => {
    const [ss, gs] = await Promise.all([
      attempt(() => api('GET', '/sessions?live=true')),
      attempt(() => api('GET', '/grants?live=true')),
    ]);
    // A session's time left is its grant's: sessions carry grant_id, grants ends_at.
    const grantEnds = new Map(list(gs).map((g) => [g.id, g.ends_at]));
    if (ss) sessions.replaceChildren(table(list(ss), [
      { label: 'ID', cell: (s) => pick(s, 'id') },
      { label: t('engineer'), cell: (s) => pick(s, 'engineer') },
      { label: t('target'), cell: (s) => pick(s, 'target') },
      { label: t('started'), cell: (s) => when(pick(s, 'started_at')) },
      { label: t('remaining'), cell: (s) => { const e = grantEnds.get(s.grant_id); return e ? `${minutesUntil(e)} ${t('minutes')}` : ''; } },
      { label: '', cell: (s) => h('span', { class: 'buttons' },
        h('button', { type: 'button', onclick: () => openWatch(watchBox, s) }, t('watch')),
        h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!confirm(t('confirm_terminate'))) return;
          const ok = await attempt(() => api('POST', `/sessions/${encodeURIComponent(s.id)}/terminate`, {}));
          if (ok !== undefined) loadSessions();
        } }, t('terminate'))) },
    ]));
    if (gs) grants.replaceChildren(table(list(gs), [
      { label: 'ID', cell: (g) => pick(g, 'id') },
      { label: t('engineer'), cell: (g) => pick(g, 'engineer') },
      { label: t('target'), cell: (g) => pick(g, 'target') },
      { label: t('ends'), cell: (g) => when(pick(g, 'ends_at')) },
      { label: '', cell: (g) => h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(t('confirm_revoke'))) return;
        const ok = await attempt(() => api('POST', `/grants/${encodeURIComponent(g.id)}/revoke`, {}));
        if (ok !== undefined) loadSessions();
      } }, t('revoke')) },
    ]));
    const bg = await attempt(() => api('GET', '/breakglass'));
    if (bg) breakglass.replaceChildren(table(list(bg), [
      { label: 'ID', cell: (b) => pick(b, 'id') },
      { label: t('engineer'), cell: (b) => pick(b, 'engineer') },
      { label: t('incident'), cell: (b) => pick(b, 'incident') },
      { label: t('targets'), cell: (b) => requestTargets(b) },
      { label: t('created'), cell: (b) => when(pick(b, 'filed_at')) },
      { label: t('state'), cell: (b) => pick(b, 'state') },
      { label: '', cell: (b) => {
        // A sign-off is a review: the API requires its comment.
        const input = h('input', { placeholder: t('comment'), class: 'comment' });
        return h('span', { class: 'buttons' }, input, h('button', { type: 'button', onclick: async () => {
          const comment = input.value.trim();
          if (!comment) { message(t('signoff_needs_comment')); return; }
          const ok = await attempt(() => api('POST', `/breakglass/${encodeURIComponent(b.id)}/signoff`, { comment }));
          if (ok !== undefined) loadSessions();
        } }, t('signoff')));
      } },
    ]));
  };
  refreshers['request:appr'] = loadQueue;
  refreshers['session:appr'] = loadSessions;
  loadQueue(); loadSessions();
  // Time waiting moves on without events.
  setInterval(() => { if (document.visibilityState === 'visible') loadQueue(); }, 60000);
  return [
    section('appr-queue', 'appr.queue', queue),
    section('appr-sessions', 'appr.sessions', sessions, watchBox),
    section('appr-grants', 'appr.grants', grants),
    section('appr-breakglass', 'appr.breakglass', breakglass),
    inspectionsSection(),
  ];
}

function openWatch(box, s) {
  if (watch) { watch.free(); watch = null; }
  const screen = h('div', { class: 'term' });
  const status = h('span', { class: 'status' }, t('following'));
  // The watched terminal's size, which the watcher's view follows.
  const size = h('span', { class: 'size', title: t('watch.size') });
  const bar = h('input', { type: 'range', min: 0, max: 0, value: 0, step: 100, class: 'seek' });
  box.hidden = false;
  box.replaceChildren(
    h('div', { class: 'toolbar' }, h('strong', {}, `${t('watch.title')} ${s.id} · ${pick(s, 'engineer')} → ${pick(s, 'target')}`), size, status,
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', onclick: () => watch && watch.pause() }, t('pause')),
      h('button', { type: 'button', onclick: () => watch && watch.live() }, t('go_live')),
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(t('confirm_terminate'))) return;
        await attempt(() => api('POST', `/sessions/${encodeURIComponent(s.id)}/terminate`, {}));
      } }, t('terminate')),
      h('button', { type: 'button', onclick: () => { if (watch) { watch.free(); watch = null; } box.hidden = true; } }, t('close'))),
    bar, screen);
  try {
    watch = new Watch(wsUrl(`/sessions/${encodeURIComponent(s.id)}/watch`), screen);
    watch.on_size((cols, rows) => { size.textContent = `${cols}×${rows}`; });
    // Once the session ended, progress (the feed still settles) must not hide that.
    let ended = false;
    watch.on_progress((pos, dur, following) => {
      bar.max = String(dur); bar.value = String(pos);
      if (!ended) status.textContent = following ? t('following') : fmtTime(pos);
    });
    watch.on_status((kind, text) => {
      if (kind === 'end' || (kind === 'closed' && !ended)) {
        ended = true;
        status.textContent = `${t('ended')}: ${text || t('closed')}`;
        refreshSoon();
      }
      // The watcher's login ended, not the session: watching stopped.
      if (kind === 'login_ended' && !ended) {
        ended = true;
        status.textContent = `${t('closed')}: ${text}`;
        loginEnded();
      }
    });
    bar.addEventListener('input', () => watch && watch.seek(Number(bar.value)));
  } catch (err) {
    message(`${t('err.wasm')}: ${err.message || err}`);
  }
}

// ---------------------------------------------------------------------------------------
// Auditor.
let player = null;

// Inspections (巡检), for approvers and auditors: the runbooks with their version and
// approvals, approve (approvers), run now, and each run's 服务器巡检报告 (printable page or
// PDF). Self-contained: its own strings, one section both views append.
function inspectionsSection() {
  const L = (zh, en) => (lang === 'en' ? en : zh);
  const box = h('div');
  const load = async () => {
    const books = await attempt(() => api('GET', '/inspections'));
    if (!books) return;
    const rows = [];
    for (const b of books) for (const r of [null, ...(b.runs || []).slice(0, 5)]) rows.push({ b, r });
    box.replaceChildren(table(rows, [
      { label: L('巡检方案', 'Runbook'), cell: ({ b, r }) => (r ? '' : b.name) },
      { label: L('版本 / 运行', 'Version / run'), cell: ({ b, r }) => (r ? r.id : String(b.version).slice(0, 12)) },
      { label: L('计划', 'Schedule'), cell: ({ b, r }) => (r ? when(r.started_at || r.created_at) : (b.schedule || '—')) },
      { label: L('状态', 'State'), cell: ({ b, r }) => (r
        ? `${r.state}${r.findings != null ? ` · ${L('发现问题', 'findings')} ${r.findings}` : ''}`
        : `${b.approvals.length}/${b.approvers_needed} ${b.approved ? L('已批准', 'approved') : L('未批准', 'not approved')}`) },
      { label: '', cell: ({ b, r }) => {
        if (r) {
          if (r.state !== 'done' && r.state !== 'refused') return '';
          const base = `/api/v1/inspections/${encodeURIComponent(b.name)}/runs/${encodeURIComponent(r.id)}/report?lang=${lang}`;
          return h('span', {},
            h('a', { href: `${base}&format=html`, target: '_blank' }, L('报告', 'report')), ' ',
            h('a', { href: `${base}&format=pdf` }, 'PDF'));
        }
        const act = (what) => h('button', { type: 'button', onclick: async () => {
          const ok = await attempt(() => api('POST', `/inspections/${encodeURIComponent(b.name)}/${what}`, {}));
          if (ok !== undefined) { message(`${b.name}: ${what}`, 'ok'); setTimeout(load, 1500); }
        } }, what === 'approve' ? L('批准此版本', 'Approve this version') : L('立即运行', 'Run now'));
        return h('span', {}, session.me?.role === 'approver' && !b.approved ? act('approve') : '', ' ', act('run'));
      } },
    ]));
  };
  load();
  return h('section', { id: 'inspections', class: 'card' },
    h('h2', {}, L('巡检', 'Inspections')), box);
}

function auditorView() {
  const results = h('div');
  const replayBox = h('div', { class: 'replay', hidden: true });
  const search = h('form', {
    class: 'grid', onsubmit: async (e) => {
      e.preventDefault();
      const q = new URLSearchParams(isoFields(formData(e.target), ['from', 'to']));
      const ss = await attempt(() => api('GET', `/sessions?${q}`));
      if (ss) results.replaceChildren(table(list(ss), [
        { label: 'ID', cell: (s) => pick(s, 'id') },
        { label: t('engineer'), cell: (s) => pick(s, 'engineer') },
        { label: t('target'), cell: (s) => pick(s, 'target') },
        { label: t('grant'), cell: (s) => pick(s, 'grant_id') },
        { label: t('incident'), cell: (s) => pick(s, 'incident') },
        { label: t('level'), cell: (s) => pick(s, 'level') },
        { label: t('started'), cell: (s) => when(pick(s, 'started_at')) },
        { label: t('ends'), cell: (s) => (s.live ? t('live') : when(pick(s, 'ended_at'))) },
        { label: '', cell: (s) => h('button', { type: 'button', onclick: () => replaySession(replayBox, s.id) }, t('replay')) },
      ]));
    },
  },
  field('engineer', 'engineer'), field('target', 'target'),
  field('from', 'from', { type: 'datetime-local' }), field('to', 'to', { type: 'datetime-local' }),
  field('grant', 'grant'), field('incident', 'incident'),
  h('label', {}, h('span', {}, t('level')), h('select', { name: 'level' }, h('option', { value: '' }, '—'), ['A', 'B', 'C', 'D'].map((l) => h('option', {}, l)))),
  h('button', { type: 'submit' }, t('search')));

  const auditOut = h('div');
  const verifyOut = h('span', { class: 'status' });
  const auditForm = h('form', {
    class: 'grid', onsubmit: async (e) => {
      e.preventDefault();
      const q = new URLSearchParams(isoFields(formData(e.target), ['since', 'until']));
      const rows = await attempt(() => api('GET', `/audit?${q}`));
      if (rows) auditOut.replaceChildren(table(list(rows), [
        { label: '#', cell: (r) => pick(r, 'seq') },
        { label: t('created'), cell: (r) => when(pick(r, 'at')) },
        { label: t('actor'), cell: (r) => pick(r, 'actor') },
        { label: t('action'), cell: (r) => pick(r, 'action') },
        { label: '', cell: (r) => pick(r, 'subject') },
        { label: '', cell: (r) => h('code', {}, JSON.stringify(pick(r, 'detail') || '')) },
      ]));
    },
  },
  field('since', 'since', { type: 'datetime-local' }), field('until', 'until', { type: 'datetime-local' }),
  field('actor', 'actor'), field('action', 'action'),
  h('button', { type: 'submit' }, t('search')),
  h('a', { href: '/api/v1/audit/export?format=csv', download: 'audit.csv' }, t('export_csv')),
  h('a', { href: '/api/v1/audit/export?format=jsonl', download: 'audit.jsonl' }, t('export_jsonl')),
  h('button', { type: 'button', onclick: async () => {
    const v = await attempt(() => api('GET', '/audit/verify'));
    if (v) {
      // {intact, entries, first_bad_seq, report}
      verifyOut.className = `status ${v.intact ? 'good' : 'bad'}`;
      verifyOut.textContent = `${t('verified')}: ${v.report || JSON.stringify(v)}`;
    }
  } }, t('verify')), verifyOut);

  const reportOut = h('div');
  const reportForm = h('form', {
    class: 'row', onsubmit: async (e) => {
      e.preventDefault();
      const d = formData(e.target);
      const q = new URLSearchParams({ period: d.period, ...(d.at ? { at: new Date(d.at).toISOString() } : {}) });
      const rep = await attempt(() => api('GET', `/reports?${q}`));
      if (rep) reportOut.replaceChildren(renderReport(rep),
        h('a', { href: `/api/v1/reports?${q}&format=csv`, download: `report-${d.period}.csv` }, t('csv')),
        h('button', { type: 'button', onclick: () => window.print() }, t('print')));
    },
  },
  h('label', {}, h('span', {}, t('period')), h('select', { name: 'period' }, ['week', 'month', 'quarter', 'year'].map((p) => h('option', { value: p }, t(p))))),
  field('at', 'at', { type: 'date' }), h('button', { type: 'submit' }, t('show')));

  return [
    section('aud-sessions', 'aud.sessions', search, results),
    section('aud-replay', 'aud.replay', replayBox),
    section('aud-log', 'aud.log', auditForm, auditOut),
    section('aud-report', 'aud.report', reportForm, reportOut),
    inspectionsSection(),
  ];
}

// A report is nested JSON: numbers as a definition list, arrays of objects as tables.
function renderReport(rep) {
  const parts = [];
  const scalars = Object.entries(rep).filter(([, v]) => typeof v !== 'object' || v === null);
  if (scalars.length) parts.push(h('dl', { class: 'facts' }, scalars.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])));
  for (const [k, v] of Object.entries(rep)) {
    if (Array.isArray(v) && v.length && typeof v[0] === 'object') {
      const cols = Object.keys(v[0]).map((c) => ({ label: c, cell: (r) => (typeof r[c] === 'object' ? JSON.stringify(r[c]) : r[c]) }));
      parts.push(h('h3', {}, k), table(v, cols));
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      parts.push(h('h3', {}, k), renderReport(v));
    }
  }
  return h('div', { class: 'report' }, parts);
}

// Typed secrets come as •••• unless an auditor unmasks with a reason (audited by the
// gateway): only then does the recording with them reach this page.
async function replaySession(box, id, reason) {
  box.hidden = false;
  box.replaceChildren(h('p', {}, t('loading')));
  const query = reason ? `?unmask=1&reason=${encodeURIComponent(reason)}` : '';
  const res = await attempt(() => api('GET', `/sessions/${encodeURIComponent(id)}/recording${query}`, undefined, { raw: true }));
  if (!res) { box.replaceChildren(h('p', { class: 'empty' }, t('err.recording'))); return; }
  const unmask = !reason && session.me?.role === 'auditor' ? (why) => replaySession(box, id, why) : null;
  openReplay(box, new Uint8Array(await res.arrayBuffer()), recordingKey(res), unmask);
}

// An encrypted recording's data key, sent by the gateway (to the roles allowed to replay) in
// a response header, base64: the player decrypts in the page. Undefined when not encrypted
// (or when the gateway sent a copy with typed secrets replaced by ••••).
function recordingKey(res) {
  const b64 = res.headers.get('x-menwei-recording-key');
  if (!b64) return undefined;
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// The replay panel: terminal, controls, seek bar, search, marks and commands; `unmask(reason)`
// reopens it with typed secrets shown (auditors, masked recordings only).
function openReplay(box, bytes, key, unmask) {
  if (player) { player.free(); player = null; }
  const screen = h('div', { class: 'term' });
  box.hidden = false;
  try {
    player = new Player(bytes, screen, key);
  } catch (err) {
    box.replaceChildren(h('p', { class: 'msg error' }, `${t('err.recording')}: ${err.message || err}`));
    return null;
  }
  const p = player;
  const meta = p.meta();
  const playBtn = h('button', { type: 'button', id: 'play', onclick: () => (p.playing() ? p.pause() : p.play()) }, t('play'));
  const bar = h('input', { type: 'range', class: 'seek', id: 'seek', min: 0, max: String(p.duration_ms()), step: 100, value: 0 });
  const clock = h('span', { class: 'clock', id: 'clock' }, `00:00 / ${fmtTime(p.duration_ms())}`);
  let dragging = false;
  bar.addEventListener('input', () => { dragging = true; clock.textContent = `${fmtTime(Number(bar.value))} / ${fmtTime(p.duration_ms())}`; });
  bar.addEventListener('change', async () => { await p.seek(Number(bar.value)); dragging = false; });
  p.on_progress((pos, dur, playing) => {
    if (!dragging) bar.value = String(pos);
    bar.max = String(dur);
    clock.textContent = `${fmtTime(pos)} / ${fmtTime(dur)}`;
    playBtn.textContent = playing ? t('pause') : t('play');
  });
  const speed = h('select', { id: 'speed', onchange: (e) => p.set_speed(Number(e.target.value)) },
    [0.5, 1, 2, 4, 8].map((s) => h('option', { value: s, selected: s === 1 }, `${s}×`)));
  const skip = h('input', { type: 'checkbox', id: 'skip-idle', checked: true, onchange: (e) => p.set_skip_idle(e.target.checked) });
  const hits = h('ol', { class: 'hits', id: 'hits' });
  const jump = (ms) => p.seek(ms);
  const find = h('form', {
    class: 'row', onsubmit: (e) => {
      e.preventDefault();
      const q = e.target.q.value;
      const found = p.search(q);
      hits.replaceChildren(...(found.length
        ? found.map((x) => h('li', {}, h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); jump(x.at_ms); } }, fmtTime(x.at_ms)), ' ', x.context))
        : [h('li', { class: 'empty' }, t('no_hits'))]));
      hitCount.textContent = found.length ? `${found.length} ${t('hits')}` : '';
    },
  }, h('input', { name: 'q', id: 'find', placeholder: t('find') }), h('button', { type: 'submit' }, t('search')));
  const hitCount = h('span', { class: 'status' });
  const marks = p.marks();
  const commands = p.commands();
  const askUnmask = () => {
    const reason = (window.prompt(t('unmask_reason')) ?? '').trim();
    if (reason) unmask(reason);
  };
  const unmaskBtn = unmask && marks.some((m) => m.kind === 'secret')
    ? h('button', { type: 'button', id: 'unmask', onclick: askUnmask }, t('unmask')) : null;
  box.replaceChildren(
    h('div', { class: 'toolbar' },
      h('strong', {}, `${meta.session_id} · ${meta.engineer} → ${meta.target}`),
      h('span', { class: 'status' }, meta.ending),
      h('span', { class: 'spacer' }), unmaskBtn),
    h('div', { class: 'toolbar' }, playBtn, bar, clock,
      h('label', {}, t('speed'), ' ', speed), h('label', {}, skip, ' ', t('skip_idle'))),
    h('div', { class: 'replay-body' },
      screen,
      h('aside', {},
        h('h3', {}, t('find')), find, hitCount, hits,
        h('h3', {}, t('marks')),
        h('ul', { class: 'marks', id: 'marks' }, marks.map((m) => h('li', { class: m.kind },
          h('a', { href: '#', onclick: (e) => { e.preventDefault(); jump(m.at_ms); } }, fmtTime(m.at_ms)), ` [${m.kind}] ${m.text}`))),
        h('h3', {}, t('commands')),
        h('p', { class: 'note' }, t('commands_note')),
        h('ul', { class: 'commands', id: 'commands' }, commands.map((c) => h('li', { class: c.hidden ? 'hidden-input' : '' },
          h('a', { href: '#', onclick: (e) => { e.preventDefault(); jump(c.at_ms); } }, fmtTime(c.at_ms)), ' ',
          c.hidden ? `${c.text} ${t('hidden_input')}` : h('code', {}, c.text)))))));
  return p;
}

// ---------------------------------------------------------------------------------------
// Admin.
function adminView() {
  const users = h('div'); const targets = h('div'); const policy = h('pre', { class: 'policy' });
  (async () => {
    const us = await attempt(() => api('GET', '/users'));
    if (us) users.replaceChildren(table(list(us), [
      { label: t('user'), cell: (u) => pick(u, 'name') },
      { label: 'role', cell: (u) => t(`role.${pick(u, 'role')}`) },
      { label: 'keys', cell: (u) => h('ul', {}, (u.keys || []).map((k) => h('li', {}, h('code', {}, k.fingerprint)))) },
      { label: 'TOTP', cell: (u) => (u.totp ? '✓' : '') },
      { label: t('password'), cell: (u) => (u.password ? '✓' : '') },
      { label: '', cell: (u) => (u.disabled ? 'disabled' : '') },
    ]));
    const ts = await attempt(() => api('GET', '/targets'));
    if (ts) targets.replaceChildren(table(list(ts), [
      { label: t('target'), cell: (x) => pick(x, 'name') },
      { label: 'address', cell: (x) => `${pick(x, 'login')}@${pick(x, 'address')}` },
      { label: 'description', cell: (x) => pick(x, 'description') },
      { label: 'host key', cell: (x) => h('code', {}, (x.pinned && x.host_key_fingerprint) || '—') },
    ]));
    const pol = await attempt(() => api('GET', '/policy'));
    if (pol) policy.textContent = typeof pol === 'string' ? pol : JSON.stringify(pol, null, 2);
  })();
  return [section('adm-users', 'adm.users', users), section('adm-targets', 'adm.targets', targets), section('adm-policy', 'adm.policy', policy)];
}

// ---------------------------------------------------------------------------------------
// Start.
const views = { engineer: engineerView, approver: approverView, auditor: auditorView, admin: adminView };

async function start() {
  let me;
  try {
    me = await api('GET', '/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { showLogin(); return; }
    message(explain(err));
    showLogin();
    return;
  }
  session.me = me;
  loginEndedSaid = false;
  session.csrf = me.csrf || session.csrf;
  renderHeader();
  const view = views[me.role];
  $('#main').replaceChildren(...(view ? view() : [h('p', { class: 'msg error' }, `unknown role: ${me.role}`)]));
  if (me.role === 'approver' || me.role === 'engineer') listen();
}

$('#lang').addEventListener('click', () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('menwei.lang', lang);
  renderHeader();
  if (session.me) start(); else showLogin();
});
$('#logout').addEventListener('click', async () => {
  await attempt(() => api('POST', '/logout', {}));
  if (events) { events.close(); events = null; }
  showLogin();
});

// A replay of a recording file the browser already has (offline review, tests):
// index.html#replay=URL fetches it same-origin with the session cookie.
async function replayFromHash() {
  const m = location.hash.match(/^#replay=(.+)$/);
  if (!m) return false;
  const box = h('div', { class: 'replay' });
  $('#main').replaceChildren(section('aud-replay', 'aud.replay', box));
  const res = await fetch(decodeURIComponent(m[1]), { credentials: 'same-origin' }).catch(() => null);
  if (!res || !res.ok) { message(`${t('err.recording')}: ${res ? res.status : t('err.network')}`); return true; }
  window.menweiPlayer = openReplay(box, new Uint8Array(await res.arrayBuffer()), recordingKey(res));
  return true;
}

renderHeader();
try {
  await init();
} catch (err) {
  message(`${t('err.wasm')}: ${err.message || err}`);
}
window.menwei = { Player, Watch, LiveTerminal, openReplay };
if (!(await replayFromHash())) await start();
