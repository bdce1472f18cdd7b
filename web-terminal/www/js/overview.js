// The auditor's overview: today and a chosen run of days, drawn from GET
// /reports/overview — the service report's own figures (sessions per day, requests per
// fault level, response against the window with median, p90 and breaches, resolution
// against each level's limit, break-glass, refusals, transfer detections, top targets and
// engineers). Nothing is counted here. A click on a bar opens the sessions behind it in
// the sessions table (#/sessions?…). Not here: the chart drawing (charts.js).

import { t } from './i18n.js';
import { h, message, day, formData, parseLocal } from './dom.js';
import { api, attempt } from './api.js';
import { seriesChart } from './charts.js';
import { go } from './nav.js';

const LEVELS = ['A', 'B', 'C', 'D'];
const num = (v) => (v === null || v === undefined ? '—' : String(v));

// A labelled figure; data-figure names it for tests and screen readers.
const figure = (key, value, suffix = '') => h('div', { class: 'tile', 'data-figure': key },
  h('span', { class: 'figure' }, `${num(value)}${value === null || value === undefined ? '' : suffix}`),
  h('span', { class: 'label' }, t(`ov.${key}`)));

function chartBox(key, caption) {
  const canvas = h('div', { class: 'chart', role: 'img', 'data-chart': key });
  return { canvas, el: h('figure', {}, h('figcaption', {}, caption), canvas) };
}

export function overviewPage() {
  const today = new Date();
  const start = new Date(today.getTime() - 13 * 86400000);
  const out = h('div', { class: 'overview-body' });
  const form = h('form', {
    class: 'row', id: 'ov-period', onsubmit: (e) => {
      e.preventDefault();
      const d = formData(e.target);
      if (!parseLocal(d.from || '') || !parseLocal(d.to || '')) { message(`${t('err.bad_date')}: ${d.from || ''} ${d.to || ''}`); return; }
      load(d.from, d.to);
    },
  },
  h('label', {}, h('span', {}, t('from')), h('input', { name: 'from', class: 'date', value: day(start), placeholder: '2026-01-01', 'aria-label': t('from') })),
  h('label', {}, h('span', {}, t('to')), h('input', { name: 'to', class: 'date', value: day(today), placeholder: '2026-01-31', 'aria-label': t('to') })),
  h('button', { type: 'submit' }, t('show')));

  // Without from and to (the first load), the gateway picks the two weeks to today in the
  // bureau's calendar, which is not the browser's in another zone; the form then shows them.
  let shown = false;
  async function load(from, to) {
    const q = from || to ? `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}` : '';
    const o = await attempt(() => api('GET', `/reports/overview${q}`));
    if (!o) return;
    shown = true;
    form.elements.from.value = o.from;
    form.elements.to.value = o.to;
    render(o);
  }

  function render(o) {
    const p = o.period; const td = o.today;
    const sessionsOf = (extra) => go('sessions', null, { from: p.from, to: p.to, ...extra });
    const sum = (xs) => xs.reduce((a, b) => a + b, 0);
    const todayTiles = h('div', { class: 'tiles', id: 'ov-today' },
      figure('sessions', td.sessions), figure('requests', td.requests), figure('breaches', td.response_breaches),
      figure('break_glass', td.break_glass), figure('refusals', sum(Object.values(td.refusals))),
      figure('transfers', td.transfer_detections));
    const periodTiles = h('div', { class: 'tiles', id: 'ov-period-figures' },
      figure('sessions', p.sessions), figure('requests', p.requests), figure('incidents', p.incidents),
      figure('response_percent', p.response_percent, '%'), figure('median', p.response_median_minutes, ` ${t('minutes')}`),
      figure('p90', p.response_p90_minutes, ` ${t('minutes')}`), figure('breaches', p.response_breaches),
      figure('resolution_percent', p.resolution_percent, '%'), figure('break_glass', p.break_glass),
      figure('refusals', sum(Object.values(p.refusals))), figure('transfers', p.transfer_detections));
    const perDay = chartBox('sessions-per-day', t('ov.chart.sessions'));
    const perLevel = chartBox('requests-per-level', t('ov.chart.levels'));
    const response = chartBox('response', t('ov.chart.response', { w: num(p.response_window_minutes) }));
    const resolution = chartBox('resolution', t('ov.chart.resolution'));
    const events = chartBox('events-per-day', t('ov.chart.events'));
    const targets = chartBox('top-targets', t('ov.chart.targets'));
    const engineers = chartBox('top-engineers', t('ov.chart.engineers'));
    out.replaceChildren(
      h('h3', {}, t('ov.today')), todayTiles,
      h('h3', {}, t('ov.period', { from: o.from, to: o.to })), periodTiles,
      h('div', { class: 'charts' }, perDay.el, perLevel.el, response.el, resolution.el, events.el, targets.el, engineers.el));
    const dates = o.days.map((d) => d.date.slice(5));
    const byDay = (i) => { const d = o.days[i]; if (d) go('sessions', null, { from: d.from, to: d.to }); };
    seriesChart(perDay.canvas, { categories: dates, series: [{ name: t('ov.sessions'), data: o.days.map((d) => d.sessions) }], onclick: byDay });
    const levelRows = LEVELS.map((l) => p.levels.find((r) => r.level === l) || {});
    seriesChart(perLevel.canvas, {
      categories: LEVELS.map((l) => t('ov.level', { l })),
      series: [{ name: t('ov.requests'), data: levelRows.map((r) => r.requests || 0) }, { name: t('ov.incidents'), data: levelRows.map((r) => r.incidents || 0) }],
      onclick: (i) => sessionsOf({ level: LEVELS[i] }),
    });
    seriesChart(response.canvas, {
      categories: LEVELS.map((l) => t('ov.level', { l })), stack: true,
      series: [
        { name: t('ov.in_time'), data: levelRows.map((r) => r.responded_in_time || 0) },
        { name: t('ov.missed'), data: levelRows.map((r) => (r.responses_counted || 0) - (r.responded_in_time || 0)) },
      ],
      onclick: (i) => sessionsOf({ level: LEVELS[i] }),
    });
    seriesChart(resolution.canvas, {
      categories: LEVELS.map((l) => t('ov.level', { l })), stack: true,
      series: [
        { name: t('ov.in_time'), data: levelRows.map((r) => r.resolved_in_time || 0) },
        { name: t('ov.missed'), data: levelRows.map((r) => (r.resolutions_counted || 0) - (r.resolved_in_time || 0)) },
      ],
      onclick: (i) => sessionsOf({ level: LEVELS[i] }),
    });
    seriesChart(events.canvas, {
      categories: dates, type: 'line',
      series: [
        { name: t('ov.break_glass'), data: o.days.map((d) => d.break_glass) },
        { name: t('ov.refusals'), data: o.days.map((d) => d.refusals) },
        { name: t('ov.transfers'), data: o.days.map((d) => d.transfer_detections) },
        { name: t('ov.breaches'), data: o.days.map((d) => d.response_breaches) },
      ],
      onclick: byDay,
    });
    const top = (rows) => [...rows].sort((a, b) => b.sessions - a.sessions).slice(0, 10);
    const tt = top(p.by_target); const te = top(p.by_engineer);
    seriesChart(targets.canvas, { categories: tt.map((r) => r.name), series: [{ name: t('ov.sessions'), data: tt.map((r) => r.sessions) }], onclick: (i) => tt[i] && sessionsOf({ target: tt[i].name }) });
    seriesChart(engineers.canvas, { categories: te.map((r) => r.name), series: [{ name: t('ov.sessions'), data: te.map((r) => r.sessions) }], onclick: (i) => te[i] && sessionsOf({ engineer: te[i].name }) });
    // The figures behind each chart, for screen readers.
    perLevel.canvas.setAttribute('aria-label', levelRows.map((r, i) => `${t('ov.level', { l: LEVELS[i] })} ${r.requests || 0}`).join('，'));
    perDay.canvas.setAttribute('aria-label', o.days.map((d) => `${d.date} ${d.sessions}`).join('，'));
    window.menweiOverview = o;
  }
  return { el: h('div', {}, form, out), load: () => { const d = formData(form); return shown ? load(d.from, d.to) : load(); } };
}
