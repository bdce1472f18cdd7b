// DOM and formatting helpers shared by every view: element builder, messages, tables,
// form fields, and the page's one way to write dates (yyyy-MM-dd HH:mm, 24-hour, local
// time) and durations (1小时5分 / 1 h 5 min). Not here: API calls, text (i18n.js).

import { t, currentLang } from './i18n.js';

export function h(tag, attrs = {}, ...children) {
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
export const $ = (sel) => document.querySelector(sel);

export function message(text, kind = 'error') {
  const box = $('#messages');
  const item = h('div', { class: `msg ${kind}` }, text,
    h('button', { type: 'button', class: 'dismiss', 'aria-label': t('close'), onclick: () => item.remove() }, '×'));
  box.append(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 5000);
}

export const pick = (o, ...keys) => { for (const k of keys) if (o && o[k] !== undefined && o[k] !== null) return o[k]; return ''; };

const pad = (n) => String(n).padStart(2, '0');
// A time as yyyy-MM-dd HH:mm in the browser's zone, whatever the page's language.
export const when = (v) => {
  if (!v) return '';
  const d = new Date(typeof v === 'number' && v < 1e12 ? v * 1000 : v);
  if (Number.isNaN(d.getTime())) return String(v);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
export const day = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
// A date-time field's text (yyyy-MM-dd, or yyyy-MM-dd HH:mm, local) as RFC 3339; null
// when it is not one.
export function parseLocal(text) {
  const m = String(text).trim().match(/^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?$/);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] || 0), Number(m[5] || 0));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
// Form values named in `keys` from yyyy-MM-dd HH:mm to RFC 3339; a bad one throws a message.
export function isoFields(d, keys) {
  for (const k of keys) {
    if (!d[k]) continue;
    // An instant already in RFC 3339 (a chart's link) passes as it is.
    const iso = parseLocal(d[k]) ?? (/^\d{4}-\d{2}-\d{2}T/.test(d[k]) && !Number.isNaN(Date.parse(d[k])) ? d[k] : null);
    if (!iso) throw new Error(`${t('err.bad_date')}: ${d[k]}`);
    d[k] = iso;
  }
  return d;
}
// A duration in milliseconds as 1小时5分 (zh) or 1 h 5 min (en); under a minute in seconds.
export function fmtDuration(ms) {
  const zh = currentLang() === 'zh';
  const total = Math.max(0, Math.round(Number(ms) / 1000));
  const d = Math.floor(total / 86400); const hh = Math.floor(total / 3600) % 24;
  const mm = Math.floor(total / 60) % 60; const ss = total % 60;
  if (total < 60) return zh ? `${ss}秒` : `${ss} s`;
  const parts = [];
  if (d) parts.push(zh ? `${d}天` : `${d} d`);
  if (hh) parts.push(zh ? `${hh}小时` : `${hh} h`);
  if (mm) parts.push(zh ? `${mm}分` : `${mm} min`);
  return parts.join(zh ? '' : ' ');
}
// The API's durations as written in requests (2h, 30m, 1h30m) in the page's words.
export function fmtSpec(spec) {
  const m = String(spec || '').match(/^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/);
  if (!m || !spec) return String(spec || '');
  const [, d, hh, mm, ss] = m.map((x) => Number(x || 0));
  return fmtDuration((((d * 24 + hh) * 60 + mm) * 60 + ss) * 1000);
}
export const minutesSince = (v) => Math.max(0, Math.floor((Date.now() - new Date(v).getTime()) / 60000));
export const minutesUntil = (v) => Math.floor((new Date(v).getTime() - Date.now()) / 60000);
// A position in a recording: mm:ss or h:mm:ss.
export const fmtTime = (ms) => {
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600); const mm = Math.floor(s / 60) % 60; const ss = s % 60;
  return `${hh ? `${hh}:` : ''}${pad(mm)}:${pad(ss)}`;
};
// A request's targets (the API always gives the list; a group request also names its group).
export const requestTargets = (r) => {
  const names = Array.isArray(r.targets) ? r.targets.join(', ') : String(r.targets || '');
  return r.group ? `${r.group}${names ? `: ${names}` : ''}` : names;
};

export function table(rows, columns, empty = t('none')) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', {}, c.cell(r)))))));
}

export function section(id, titleKey, ...body) {
  return h('section', { id, class: 'card', 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, t(titleKey)), ...body);
}

export function field(name, labelKey, attrs = {}) {
  return h('label', {}, h('span', {}, t(labelKey)), h('input', { name, ...attrs }));
}
// A date-time field as text in the page's one format (no native picker: those show the
// browser's locale, mm/dd/yyyy and a 12-hour clock).
export function dateField(name, labelKey, attrs = {}) {
  return field(name, labelKey, {
    placeholder: '2026-01-31 09:30', pattern: '\\d{4}-\\d{2}-\\d{2}( \\d{2}:\\d{2})?',
    inputmode: 'numeric', autocomplete: 'off', class: 'date', ...attrs,
  });
}
export function selectField(name, labelKey, options, attrs = {}) {
  return h('label', {}, h('span', {}, t(labelKey)), h('select', { name, ...attrs },
    options.map(([value, text]) => h('option', { value }, text))));
}

export function formData(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) if (String(v).trim() !== '') out[k] = String(v).trim();
  return out;
}
