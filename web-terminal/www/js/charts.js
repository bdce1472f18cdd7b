// Charts drawn with Apache ECharts (copied into dist/echarts by web-terminal/build): the
// approver's desk (what waits, what runs now) and the auditor's overview. Every chart
// draws figures it is given (from the API, never recomputed here) and a click on a bar
// leads to the rows behind it. Each chart also writes its figures as text (tiles with
// data-figure) so they can be read without the canvas.

import * as echarts from '../echarts/echarts.mjs';
import { t } from './i18n.js';
import { h, minutesSince } from './dom.js';
import { go } from './nav.js';

// Tests and the console read what a chart drew through ECharts itself.
window.menweiEcharts = echarts;
const charts = new WeakMap();
// One ECharts instance per box, kept across redraws; resized with the window.
function chartIn(box) {
  let c = charts.get(box);
  if (!c || c.isDisposed()) {
    c = echarts.init(box, null, { renderer: 'canvas' });
    charts.set(box, c);
    new ResizeObserver(() => { if (box.clientWidth) c.resize(); }).observe(box);
  }
  return c;
}

// A figure tile: a number and its label, a link to the page behind it.
function tile(key, value, onclick, warn) {
  return h('button', { type: 'button', class: `tile${warn ? ' late' : ''}`, 'data-figure': key, onclick },
    h('span', { class: 'figure' }, String(value)), h('span', { class: 'label' }, t(`desk.${key}`)));
}

// The approver's desk: requests waiting (and how many passed the 30-minute window),
// break-glass grants awaiting sign-off, live sessions and grants.
export function deskChart(box, f) {
  const overdue = f.pending.filter((r) => r.overdue === true || minutesSince(r.filed_at) >= 30).length;
  const awaiting = f.breakglass.filter((b) => !b.signed_off && b.state !== 'signed_off').length;
  const rows = [
    ['pending', f.pending.length, 'queue'],
    ['breakglass', awaiting, 'breakglass'],
    ['live', f.sessions.length, 'live'],
    ['grants', f.grants.length, 'grants'],
  ];
  const tiles = h('div', { class: 'tiles' }, rows.map(([k, v, page]) => tile(k, v, () => go(page), false)),
    overdue ? h('p', { class: 'late', 'data-figure': 'overdue' }, `${overdue} ${t('desk.overdue')}`) : null);
  let canvas = box.querySelector('.chart');
  if (!canvas) { canvas = h('div', { class: 'chart small', role: 'img' }); }
  box.replaceChildren(tiles, canvas);
  canvas.setAttribute('aria-label', rows.map(([k, v]) => `${t(`desk.${k}`)} ${v}`).join('，'));
  const c = chartIn(canvas);
  c.setOption({
    grid: { left: 120, right: 24, top: 8, bottom: 24 },
    xAxis: { type: 'value', minInterval: 1 },
    yAxis: { type: 'category', data: rows.map(([k]) => t(`desk.${k}`)), inverse: true },
    series: [{ type: 'bar', data: rows.map(([, v]) => v), itemStyle: { color: '#1f5fbf' }, label: { show: true, position: 'right' } }],
    animation: false,
  });
  c.off('click');
  c.on('click', (p) => { const r = rows[p.dataIndex]; if (r) go(r[2]); });
}

// A bar or line chart of one series; `onclick(index)` opens what is behind a bar.
export function seriesChart(box, { categories, series, type = 'bar', onclick, stack = false, markLine }) {
  const c = chartIn(box);
  c.setOption({
    tooltip: { trigger: 'axis' },
    legend: series.length > 1 ? { top: 0 } : undefined,
    grid: { left: 48, right: 24, top: series.length > 1 ? 28 : 12, bottom: 28 },
    xAxis: { type: 'category', data: categories },
    yAxis: { type: 'value', minInterval: 1 },
    series: series.map((s, i) => ({
      type, name: s.name, data: s.data, stack: stack ? 'all' : undefined,
      label: { show: true, position: stack ? 'inside' : 'top', formatter: (p) => (p.value ? String(p.value) : '') },
      markLine: i === 0 && markLine ? { silent: true, symbol: 'none', data: [{ yAxis: markLine.value, name: markLine.name }], label: { formatter: markLine.name } } : undefined,
    })),
    animation: false,
  }, true);
  c.off('click');
  if (onclick) c.on('click', (p) => onclick(p.dataIndex, p.seriesIndex));
}
