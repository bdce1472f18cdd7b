// The auditor's pages: overview (charts of today and a period: overview.js), sessions (a paged,
// sortable table with the API's filters; #/sessions?engineer=… deep links), replay
// (#/replay/<session id>, reload lands there), the audit log (paged, exports, chain
// check) and the period report. Not here: the replay panel itself (replay.js).

import { t } from './i18n.js';
import { h, message, pick, when, table, section, field, dateField, selectField, formData, isoFields } from './dom.js';
import { overviewPage } from './overview.js';
import { api, attempt } from './api.js';
import { pagedTable } from './table.js';
import { inspectionsSection } from './inspections.js';
import { replaySession } from './replay.js';
import { go } from './nav.js';

export function auditorView() {
  const replayBox = h('div', { class: 'replay' }, h('p', { class: 'empty' }, t('no_replay')));
  let replaying = null;
  const sessions = pagedTable({
    path: '/sessions', id: 'aud-sessions-table', sort: 'started_at',
    columns: [
      { label: 'ID', cell: (s) => pick(s, 'id') },
      { label: t('engineer'), cell: (s) => pick(s, 'engineer'), sort: 'engineer' },
      { label: t('target'), cell: (s) => pick(s, 'target'), sort: 'target' },
      { label: t('grant'), cell: (s) => pick(s, 'grant_id') },
      { label: t('incident'), cell: (s) => pick(s, 'incident') },
      { label: t('level'), cell: (s) => pick(s, 'level') },
      { label: t('started'), cell: (s) => when(pick(s, 'started_at')), sort: 'started_at' },
      { label: t('ends'), cell: (s) => (s.live ? t('live_now') : when(pick(s, 'ended_at'))), sort: 'ended_at' },
      { label: '', cell: (s) => h('a', { href: `#/replay/${encodeURIComponent(s.id)}`, class: 'button' }, t('replay')) },
    ],
  });
  const FILTERS = ['engineer', 'target', 'from', 'to', 'grant', 'incident', 'level'];
  const search = h('form', {
    class: 'grid', onsubmit: (e) => {
      e.preventDefault();
      let d;
      try { d = formData(e.target); isoFields({ ...d }, ['from', 'to']); } catch (err) { message(err.message); return; }
      // The filters go into the URL (as typed), so the result has a link and survives reload.
      go('sessions', null, d);
    },
  },
  field('engineer', 'engineer'), field('target', 'target'),
  dateField('from', 'from'), dateField('to', 'to'),
  field('grant', 'grant'), field('incident', 'incident'),
  selectField('level', 'level', [['', t('any')], ...['A', 'B', 'C', 'D'].map((l) => [l, l])]),
  h('button', { type: 'submit' }, t('search')));
  const runSearch = (query) => {
    const d = {};
    for (const k of FILTERS) { const v = query.get(k); if (v) d[k] = v; }
    // An instant from a chart's link shows as yyyy-MM-dd HH:mm like a typed one.
    for (const el of search.elements) if (el.name) el.value = (el.classList.contains('date') && d[el.name] && d[el.name].includes('T')) ? when(d[el.name]) : (d[el.name] ?? '');
    try { isoFields(d, ['from', 'to']); } catch (err) { message(err.message); return; }
    sessions.load(d);
  };

  const verifyOut = h('span', { class: 'status' });
  const audit = pagedTable({
    path: '/audit', id: 'aud-log-table', sort: 'at', pageSize: 100,
    columns: [
      { label: '#', cell: (r) => pick(r, 'seq') },
      { label: t('created'), cell: (r) => when(pick(r, 'at')), sort: 'at' },
      // Actors and subjects are names and ids (accounts, the CLI's root, nodes, requests).
      { label: t('actor'), cell: (r) => h('code', {}, pick(r, 'actor')), sort: 'actor' },
      { label: t('action'), cell: (r) => h('code', {}, pick(r, 'action')), sort: 'action' },
      { label: t('subject'), cell: (r) => h('code', {}, pick(r, 'subject')) },
      { label: t('detail'), cell: (r) => h('code', {}, JSON.stringify(pick(r, 'detail') || '')) },
    ],
  });
  const auditForm = h('form', {
    class: 'grid', onsubmit: (e) => {
      e.preventDefault();
      let d;
      try { d = isoFields(formData(e.target), ['since', 'until']); } catch (err) { message(err.message); return; }
      audit.load(d);
    },
  },
  dateField('since', 'since'), dateField('until', 'until'),
  field('actor', 'actor'), field('action', 'action'),
  h('button', { type: 'submit' }, t('search')),
  h('a', { href: '/api/v1/audit/export?format=csv', download: 'audit.csv' }, t('export_csv')),
  h('a', { href: '/api/v1/audit/export?format=jsonl', download: 'audit.jsonl' }, t('export_jsonl')),
  h('button', { type: 'button', onclick: async () => {
    const v = await attempt(() => api('GET', '/audit/verify'));
    if (v) {
      verifyOut.className = `status ${v.intact ? 'good' : 'bad'}`;
      verifyOut.textContent = `${t('verified')}: ${v.report || JSON.stringify(v)}`;
    }
  } }, t('verify')), verifyOut);

  const reportOut = h('div');
  const reportForm = h('form', {
    class: 'row', onsubmit: async (e) => {
      e.preventDefault();
      const d = formData(e.target);
      const q = new URLSearchParams({ period: d.period });
      if (d.at) {
        const at = isoOrNull(d.at);
        if (!at) { message(`${t('err.bad_date')}: ${d.at}`); return; }
        q.set('at', at);
      }
      const rep = await attempt(() => api('GET', `/reports?${q}`));
      if (rep) reportOut.replaceChildren(renderReport(rep),
        h('a', { href: `/api/v1/reports?${q}&format=csv`, download: `report-${d.period}.csv` }, t('csv')),
        h('button', { type: 'button', onclick: () => window.print() }, t('print')));
    },
  },
  selectField('period', 'period', ['week', 'month', 'quarter', 'year'].map((p) => [p, t(p)])),
  dateField('at', 'at', { placeholder: '2026-01-31' }), h('button', { type: 'submit' }, t('show')));

  const overview = overviewPage();
  let overviewLoaded = false;

  audit.load({});
  const inspections = inspectionsSection('aud-inspections');
  return {
    sections: [
      section('aud-overview', 'aud.overview', overview.el),
      section('aud-sessions', 'aud.sessions', search, sessions.el),
      section('aud-replay', 'aud.replay', replayBox),
      section('aud-log', 'aud.log', auditForm, audit.el),
      section('aud-report', 'aud.report', reportForm, reportOut),
      inspections.el,
    ],
    pages: {
      overview: ['aud-overview'],
      sessions: ['aud-sessions'],
      replay: ['aud-replay'],
      audit: ['aud-log'],
      reports: ['aud-report'],
      inspections: ['aud-inspections'],
    },
    home: 'overview',
    shown(page, arg, query) {
      if (page === 'overview' && !overviewLoaded) { overviewLoaded = true; overview.load(); }
      if (page === 'inspections') inspections.load();
      if (page === 'sessions') runSearch(query);
      if (page === 'replay' && arg && arg !== replaying) { replaying = arg; replaySession(replayBox, arg); }
    },
  };
}

const isoOrNull = (text) => { try { return isoFields({ x: text }, ['x']).x; } catch { return null; } };

// A period report, nested JSON: numbers as a definition list, arrays of objects as tables.
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
