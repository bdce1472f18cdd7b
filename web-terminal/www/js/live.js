// Live updates: the server-sent events stream (/api/v1/events: request, decision, session,
// grant, end) for engineers and approvers; each view registers a refresher that runs, at
// most every 200 ms, when something changed. Also keeps the login alive while the person
// works, and says once when the login behind the page ended. Not here: what is refreshed.

import { t } from './i18n.js';
import { $, message } from './dom.js';
import { api, session } from './api.js';

let events = null;
export const refreshers = {};
let refreshTimer = null;
export function refreshSoon(kind) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    for (const [k, f] of Object.entries(refreshers)) if (!kind || k.startsWith(kind) || k === '*') f();
  }, 200);
}
export function listen() {
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
    stopListening();
    loginEnded();
  });
}
export function stopListening() {
  if (events) { events.close(); events = null; }
  $('#live-indicator').hidden = true;
  for (const k of Object.keys(refreshers)) delete refreshers[k];
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
export function loginEnded() {
  if (loginEndedSaid) return;
  loginEndedSaid = true;
  message(t('login_ended'));
}
export function loginStarted() { loginEndedSaid = false; }
