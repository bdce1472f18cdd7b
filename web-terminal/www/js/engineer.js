// The engineer's pages: my access (live grants, each opening the browser terminal),
// requests (the request form over what the policy lets them request, and their requests),
// and the terminal itself, which stays open (and keeps its size and focus) while the
// engineer looks at other pages. Not here: the terminal's protocol (wasm LiveTerminal).

import { LiveTerminal } from '../pkg/web_terminal.js';
import { t, currentLang, stateText, endText } from './i18n.js';
import { h, message, pick, when, table, section, field, selectField, dateField, formData, isoFields, requestTargets, fmtSpec } from './dom.js';
import { api, attempt, list, wsUrl } from './api.js';
import { refreshers, loginEnded } from './live.js';
import { pagedTable } from './table.js';
import { go } from './nav.js';

let liveTerminal = null;

export function engineerView() {
  const grants = h('div');
  const termBox = h('div', { class: 'terminal-box' }, h('p', { class: 'empty' }, t('no_terminal')));
  const mine = pagedTable({
    path: '/requests', id: 'eng-mine-table', sort: 'created_at',
    columns: [
      { label: 'ID', cell: (r) => pick(r, 'id') },
      { label: t('targets'), cell: (r) => requestTargets(r) },
      { label: t('level'), cell: (r) => pick(r, 'level'), sort: 'level' },
      { label: t('incident'), cell: (r) => pick(r, 'incident') },
      { label: t('duration'), cell: (r) => fmtSpec(pick(r, 'duration')) },
      { label: t('state'), cell: (r) => h('span', { class: `state ${pick(r, 'state')}`, 'data-state': pick(r, 'state') }, stateText(pick(r, 'state'))), sort: 'state' },
      { label: t('created'), cell: (r) => when(pick(r, 'filed_at')), sort: 'created_at' },
      { label: '', cell: (r) => (pick(r, 'state') === 'pending'
        ? h('button', { type: 'button', onclick: async () => { await attempt(() => api('POST', `/requests/${encodeURIComponent(r.id)}/withdraw`, {})); load(); } }, t('withdraw'))
        : '') },
    ],
  });
  const load = async () => {
    mine.reload();
    const gs = await attempt(() => api('GET', '/grants?live=true'));
    if (gs) grants.replaceChildren(table(list(gs), [
      { label: 'ID', cell: (g) => pick(g, 'id') },
      { label: t('target'), cell: (g) => pick(g, 'target') },
      { label: t('ends'), cell: (g) => when(pick(g, 'ends_at')) },
      { label: '', cell: (g) => h('button', { type: 'button', class: 'open', onclick: () => { go('terminal'); openTerminal(termBox, g.target); } }, `${t('open_terminal')} ${g.target}`) },
    ]));
  };
  refreshers['request:eng'] = load;
  mine.load();
  load();
  const form = requestForm(load);
  return {
    sections: [
      section('eng-grants', 'eng.grants', grants),
      section('eng-request', 'eng.request', form),
      section('eng-mine', 'eng.mine', mine.el),
      section('eng-terminal', 'eng.terminal', termBox),
    ],
    pages: {
      access: ['eng-grants'],
      requests: ['eng-request', 'eng-mine'],
      terminal: ['eng-terminal'],
    },
    home: 'access',
    shown(page) {
      // Back on the terminal: fit it to its box (it may have changed while hidden) and give
      // it the keyboard again.
      if (page === 'terminal' && liveTerminal) { liveTerminal.fit(); liveTerminal.focus(); }
    },
  };
}

// The request form: targets and groups from GET /requestable (what the policy lets this
// engineer request: names and descriptions only).
function requestForm(reload) {
  const picks = h('fieldset', { class: 'picks' }, h('legend', {}, t('pick_targets')), h('p', { class: 'note' }, t('loading')));
  const group = h('select', { name: 'group' }, h('option', { value: '' }, '—'));
  (async () => {
    const r = await attempt(() => api('GET', '/requestable'));
    if (!r) return;
    const targets = list(r.targets); const groups = list(r.groups);
    picks.replaceChildren(h('legend', {}, t('pick_targets')),
      ...(targets.length ? targets.map((x) => h('label', { class: 'pick' },
        h('input', { type: 'checkbox', name: 'targets', value: x.name }),
        h('span', {}, h('strong', {}, x.name), x.description ? ` ${x.description}` : '')))
        : [h('p', { class: 'empty' }, t('no_requestable'))]));
    group.replaceChildren(h('option', { value: '' }, '—'),
      ...groups.map((g) => h('option', { value: g.name }, g.description ? `${g.name} · ${g.description}` : g.name)));
  })();
  return h('form', {
    class: 'grid', onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target;
      let d;
      try { d = isoFields(formData(f), ['start']); } catch (err) { message(err.message); return; }
      const targets = [...f.querySelectorAll('input[name=targets]:checked')].map((x) => x.value);
      const body = { reason: d.reason, incident: d.incident, level: d.level, duration: d.duration };
      if (targets.length) body.targets = targets;
      else if (d.group) body.group = d.group;
      else { message(t('need_target')); return; }
      if (d.start) body.start = d.start;
      const res = await attempt(() => api('POST', '/requests', body));
      if (res) { message(`${t('done')}: ${pick(res, 'id')}`, 'ok'); f.reset(); reload(); }
    },
  },
  picks,
  h('label', {}, h('span', {}, t('pick_group')), group),
  field('reason', 'reason', { required: true }), field('incident', 'incident', { required: true }),
  selectField('level', 'level', ['A', 'B', 'C', 'D'].map((l) => [l, l])),
  field('duration', 'duration', { required: true, value: '2h' }), dateField('start', 'start'),
  h('button', { type: 'submit' }, t('submit')));
}

function openTerminal(box, target) {
  if (liveTerminal) { liveTerminal.free(); liveTerminal = null; }
  const status = h('span', { class: 'status' });
  const screen = h('div', { class: 'term' });
  // No file transfer: refuse drops onto the terminal (xterm.js has no zmodem).
  for (const ev of ['dragover', 'drop']) screen.addEventListener(ev, (e) => { e.preventDefault(); e.stopPropagation(); }, true);
  box.replaceChildren(
    h('div', { class: 'toolbar' }, h('strong', {}, `${t('terminal')}: ${target}`), status,
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', onclick: () => { if (liveTerminal) { liveTerminal.free(); liveTerminal = null; } box.replaceChildren(h('p', { class: 'empty' }, t('no_terminal'))); } }, t('close'))),
    screen, h('p', { class: 'note' }, t('no_transfer')));
  try {
    // The page's language picks the shell's locale on the target (UTF-8 either way).
    liveTerminal = new LiveTerminal(wsUrl(`/terminal?target=${encodeURIComponent(target)}&lang=${currentLang()}`), screen);
    liveTerminal.on_status((kind, text) => {
      if (kind === 'notice') message(text, 'warn');
      if (kind === 'end') { status.textContent = `${t('ended')}: ${endText(text)}`; message(`${t('ended')}: ${endText(text)}`, 'warn'); }
      if (kind === 'closed' || kind === 'login_ended') status.textContent = status.textContent || t('closed');
      if (kind === 'login_ended') loginEnded();
      if (kind === 'open') status.textContent = '';
    });
    liveTerminal.focus();
  } catch (err) {
    message(`${t('err.wasm')}: ${err.message || err}`);
  }
}
