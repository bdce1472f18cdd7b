// The replay panel: a recording played in the page (wasm Player) with play/pause, seek,
// speed, idle skip, search of the output, marks and the rebuilt command list. Typed
// secrets come as •••• unless an auditor unmasks with a reason (audited by the gateway).
// Not here: finding the session (auditor.js).

import { Player } from '../pkg/web_terminal.js';
import { t, endingText, known, markText } from './i18n.js';
import { h, fmtTime, when } from './dom.js';
import { api, attempt, session } from './api.js';

let player = null;

// Loads a session's recording into `box`; `reason` unmasks typed secrets.
export async function replaySession(box, id, reason) {
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
export function recordingKey(res) {
  const b64 = res.headers.get('x-menwei-recording-key');
  if (!b64) return undefined;
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// The replay panel: terminal, controls, seek bar, search, marks and commands; `unmask(reason)`
// reopens it with typed secrets shown (auditors, masked recordings only).
export function openReplay(box, bytes, key, unmask) {
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
  const bar = h('input', { type: 'range', class: 'seek', id: 'seek', min: 0, max: String(p.duration_ms()), step: 100, value: 0, 'aria-label': t('aud.replay') });
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
  const hitCount = h('span', { class: 'status' });
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
  }, h('input', { name: 'q', id: 'find', placeholder: t('find'), 'aria-label': t('find') }), h('button', { type: 'submit' }, t('search')));
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
      meta.started_at_ms ? h('span', { class: 'status' }, when(meta.started_at_ms)) : null,
      h('span', { class: 'status', id: 'ending' }, endingText(meta)),
      h('span', { class: 'spacer' }), unmaskBtn),
    h('div', { class: 'toolbar' }, playBtn, bar, clock,
      h('label', {}, t('speed'), ' ', speed), h('label', {}, skip, ' ', t('skip_idle'))),
    h('div', { class: 'replay-body' },
      screen,
      h('aside', {},
        h('h3', {}, t('find')), find, hitCount, hits,
        h('h3', {}, t('marks')),
        h('ul', { class: 'marks', id: 'marks' }, marks.map((m) => h('li', { class: m.kind },
          h('a', { href: '#', onclick: (e) => { e.preventDefault(); jump(m.at_ms); } }, fmtTime(m.at_ms)), ` [${known(`kind.${m.kind}`) ?? m.kind}] `, markText(m) ?? h('code', {}, m.text)))),
        h('h3', {}, t('commands')),
        h('p', { class: 'note' }, t('commands_note')),
        h('ul', { class: 'commands', id: 'commands' }, commands.map((c) => h('li', { class: c.hidden ? 'hidden-input' : '' },
          h('a', { href: '#', onclick: (e) => { e.preventDefault(); jump(c.at_ms); } }, fmtTime(c.at_ms)), ' ',
          c.hidden ? [h('code', {}, c.text), ` ${t('hidden_input')}`] : h('code', {}, c.text)))))));
  return p;
}
