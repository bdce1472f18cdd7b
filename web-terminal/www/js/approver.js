// The approver's pages: the queue (what waits: requests against the 30-minute response
// window, break-glass grants to sign off, and what runs now), live sessions with the live
// watch and terminate, live grants with revoke, and the break-glass review. Not here: the
// watch's protocol (wasm Watch), the charts (charts.js).

import { Watch } from '../pkg/web_terminal.js';
import { t, stateText, endText } from './i18n.js';
import { h, message, pick, when, table, section, requestTargets, fmtSpec, fmtTime, minutesSince, minutesUntil } from './dom.js';
import { api, attempt, list, wsUrl } from './api.js';
import { refreshers, refreshSoon, loginEnded } from './live.js';
import { deskChart } from './charts.js';
import { pagedTable } from './table.js';
import { inspectionsSection } from './inspections.js';

let watch = null;

export function approverView() {
  const queue = h('div');
  const desk = h('div', { class: 'desk' });
  const sessions = h('div');
  // Live grants: a paged, sortable table (the server pages when it can).
  const grantsTable = pagedTable({
    path: '/grants?live=true', id: 'appr-grants-table', sort: 'ends_at', order: 'asc',
    columns: [
      { label: 'ID', cell: (g) => pick(g, 'id') },
      { label: t('engineer'), cell: (g) => pick(g, 'engineer'), sort: 'engineer' },
      { label: t('target'), cell: (g) => pick(g, 'target'), sort: 'target' },
      { label: t('ends'), cell: (g) => when(pick(g, 'ends_at')), sort: 'ends_at' },
      { label: '', cell: (g) => h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(t('confirm_revoke'))) return;
        const ok = await attempt(() => api('POST', `/grants/${encodeURIComponent(g.id)}/revoke`, {}));
        if (ok !== undefined) loadSessions();
      } }, t('revoke')) },
    ],
  });
  const breakglass = h('div');
  const watchBox = h('div', { class: 'terminal-box', hidden: true });
  const figures = { pending: [], breakglass: [], sessions: [], grants: [] };
  const drawDesk = () => deskChart(desk, figures);
  const decide = async (r, verdict, input) => {
    const comment = input.value.trim();
    if (verdict === 'deny' && !comment) { message(t('deny_needs_comment')); return; }
    const ok = await attempt(() => api('POST', `/requests/${encodeURIComponent(r.id)}/${verdict}`, comment ? { comment } : {}));
    if (ok !== undefined) { message(`${t('done')}: ${r.id}`, 'ok'); loadQueue(); }
  };
  const loadQueue = async () => {
    const reqs = await attempt(() => api('GET', '/requests?state=pending'));
    if (!reqs) return;
    figures.pending = list(reqs);
    drawDesk();
    queue.replaceChildren(table(list(reqs), [
      { label: 'ID', cell: (r) => pick(r, 'id') },
      { label: t('engineer'), cell: (r) => pick(r, 'engineer') },
      { label: t('targets'), cell: (r) => requestTargets(r) },
      { label: t('level'), cell: (r) => h('span', { class: `level level-${pick(r, 'level')}` }, pick(r, 'level')) },
      { label: t('incident'), cell: (r) => pick(r, 'incident') },
      { label: t('reason'), cell: (r) => pick(r, 'reason') },
      { label: t('window'), cell: (r) => `${when(pick(r, 'starts_at')) || '—'} · ${fmtSpec(pick(r, 'duration'))}` },
      { label: t('waiting'), cell: (r) => {
        // The server's count (waiting_ms, against the policy's response window) when given.
        const m = typeof r.waiting_ms === 'number' ? Math.floor(r.waiting_ms / 60000) : minutesSince(pick(r, 'filed_at'));
        const windowMin = typeof r.response_window_ms === 'number' ? Math.round(r.response_window_ms / 60000) : 30;
        const late = r.overdue === true || m >= windowMin;
        return h('span', { class: late ? 'late' : m >= windowMin * 2 / 3 ? 'warn' : '' }, `${m} / ${windowMin} ${t('minutes')}`);
      } },
      { label: '', cell: (r) => {
        const input = h('input', { placeholder: t('comment'), class: 'comment', 'aria-label': t('comment') });
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
    figures.sessions = list(ss); figures.grants = list(gs);
    // A session's time left is its grant's: sessions carry grant_id, grants ends_at.
    const grantEnds = new Map(list(gs).map((g) => [g.id, g.ends_at]));
    if (ss) sessions.replaceChildren(table(list(ss), [
      { label: 'ID', cell: (s) => pick(s, 'id') },
      { label: t('engineer'), cell: (s) => pick(s, 'engineer') },
      { label: t('target'), cell: (s) => pick(s, 'target') },
      { label: t('started'), cell: (s) => when(pick(s, 'started_at')) },
      { label: t('remaining'), cell: (s) => { const e = grantEnds.get(s.grant_id); return e ? `${minutesUntil(e)} ${t('minutes')}` : ''; } },
      { label: '', cell: (s) => h('span', { class: 'buttons' },
        h('button', { type: 'button', class: 'watch', onclick: () => openWatch(watchBox, s) }, t('watch')),
        h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!confirm(t('confirm_terminate'))) return;
          const ok = await attempt(() => api('POST', `/sessions/${encodeURIComponent(s.id)}/terminate`, {}));
          if (ok !== undefined) loadSessions();
        } }, t('terminate'))) },
    ]));
    grantsTable.reload();
    const bg = await attempt(() => api('GET', '/breakglass'));
    figures.breakglass = list(bg);
    drawDesk();
    if (bg) breakglass.replaceChildren(table(list(bg), [
      { label: 'ID', cell: (b) => pick(b, 'id') },
      { label: t('engineer'), cell: (b) => pick(b, 'engineer') },
      { label: t('incident'), cell: (b) => pick(b, 'incident') },
      { label: t('targets'), cell: (b) => requestTargets(b) },
      { label: t('created'), cell: (b) => when(pick(b, 'filed_at')) },
      { label: t('state'), cell: (b) => stateText(pick(b, 'state')) },
      { label: '', cell: (b) => {
        // A sign-off is a review: the API requires its comment.
        const input = h('input', { placeholder: t('comment'), class: 'comment', 'aria-label': t('comment') });
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
  grantsTable.load({});
  loadQueue(); loadSessions();
  // Time waiting moves on without events.
  const timer = setInterval(() => { if (document.visibilityState === 'visible') loadQueue(); }, 60000);
  const inspections = inspectionsSection('appr-inspections');
  return {
    sections: [
      section('appr-desk', 'appr.desk', desk),
      section('appr-queue', 'appr.queue', queue),
      section('appr-sessions', 'appr.sessions', sessions, watchBox),
      section('appr-grants', 'appr.grants', grantsTable.el),
      section('appr-breakglass', 'appr.breakglass', breakglass),
      inspections.el,
    ],
    pages: {
      queue: ['appr-desk', 'appr-queue'],
      live: ['appr-sessions'],
      grants: ['appr-grants'],
      breakglass: ['appr-breakglass'],
      inspections: ['appr-inspections'],
    },
    home: 'queue',
    stop: () => clearInterval(timer),
    // The desk's tiles lead to the pages behind them.
    shown(page) {
      if (page === 'queue') drawDesk();
      if (page === 'inspections') inspections.load();
    },
  };
}

function openWatch(box, s) {
  if (watch) { watch.free(); watch = null; }
  const screen = h('div', { class: 'term' });
  const status = h('span', { class: 'status' }, t('following'));
  // The watched terminal's size, which the watcher's view follows.
  const size = h('span', { class: 'size', title: t('watch.size') });
  const bar = h('input', { type: 'range', min: 0, max: 0, value: 0, step: 100, class: 'seek', 'aria-label': t('watch.title') });
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
        status.textContent = `${t('ended')}: ${text ? endText(text) : t('closed')}`;
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
