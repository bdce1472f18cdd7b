// Menwei's page: the entry module. Logs in, draws the header, mounts the logged-in role's
// pages (docs/web.md "Pages") and starts the live updates. Plain ES modules under js/, no
// framework: i18n (words), dom (helpers, dates), api (REST), live (events), nav (hash
// routes), table (paged tables), charts (ECharts), one module per role, replay (player).
// The terminal, live watch and replay are the wasm module (pkg/web_terminal.js).
// Every API error is shown as a message; nothing here may leave the page blank.

import init, { LiveTerminal, Player, Watch } from './pkg/web_terminal.js';
import { t, setLang, currentLang } from './js/i18n.js';
import { h, $, message, section, field, formData } from './js/dom.js';
import { api, attempt, explain, session, ApiError, hooks } from './js/api.js';
import { listen, stopListening, loginStarted } from './js/live.js';
import { mount, unmount } from './js/nav.js';
import { engineerView } from './js/engineer.js';
import { approverView } from './js/approver.js';
import { auditorView } from './js/auditor.js';
import { adminView } from './js/admin.js';
import { openReplay, recordingKey } from './js/replay.js';

const views = { engineer: engineerView, approver: approverView, auditor: auditorView, admin: adminView };
let view = null;

function showLogin() {
  session.me = null;
  if (view && view.stop) view.stop();
  view = null;
  stopListening();
  unmount();
  renderHeader();
  $('#main').replaceChildren(section('login', 'login',
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
  $('#main input')?.focus();
}
hooks.unauthenticated = showLogin;

function renderHeader() {
  document.documentElement.lang = currentLang() === 'zh' ? 'zh-CN' : 'en';
  document.title = t('title');
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  $('#nav').setAttribute('aria-label', t('nav'));
  $('#lang').textContent = t('lang');
  $('#logout').hidden = !session.me;
  $('#who').textContent = session.me ? `${session.me.name} · ${t(`role.${session.me.role}`)}` : '';
}

async function start() {
  let me;
  try {
    me = await api('GET', '/me');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) message(explain(err));
    showLogin();
    return;
  }
  session.me = me;
  loginStarted();
  session.csrf = me.csrf || session.csrf;
  renderHeader();
  const make = views[me.role];
  if (!make) { $('#main').replaceChildren(h('p', { class: 'msg error' }, `${t('err.unknown_role')}: ${me.role}`)); return; }
  if (view && view.stop) view.stop();
  view = make();
  mount(me.role, view);
  if (me.role === 'approver' || me.role === 'engineer') listen();
}

$('#lang').addEventListener('click', () => {
  setLang(currentLang() === 'zh' ? 'en' : 'zh');
  renderHeader();
  if (session.me) start(); else showLogin();
});
$('#logout').addEventListener('click', async () => {
  await attempt(() => api('POST', '/logout', {}));
  showLogin();
});

// Escape dismisses the messages, except inside a terminal, where it is the shell's key.
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape' || e.target.closest?.('.term')) return;
  for (const m of document.querySelectorAll('#messages .msg')) m.remove();
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
