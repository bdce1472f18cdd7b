// The REST API under /api/v1: the session cookie, the CSRF header, errors as ApiError with
// the gateway's stable code; `attempt` shows any error as a message and never throws.
// Not here: what the page does with the answers (the role modules).

import { t, known } from './i18n.js';
import { message } from './dom.js';

export class ApiError extends Error {
  constructor(status, code, msg) { super(msg); this.status = status; this.code = code; }
}

// Who is logged in ({name, role, csrf}); null on the login form.
export const session = { me: null, csrf: null };

export async function api(method, path, body, { raw = false } = {}) {
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

// A list endpoint's page: the rows, and the paging headers when the server pages
// (X-Total-Count, X-Next-Cursor absent on the last page); without them the rows are all.
export async function apiPage(path) {
  const res = await api('GET', path, undefined, { raw: true });
  const rows = await res.json();
  const total = res.headers.get('x-total-count');
  return {
    rows: list(rows),
    total: total === null ? null : Number(total),
    next: res.headers.get('x-next-cursor'),
    paged: total !== null || res.headers.has('x-next-cursor'),
  };
}

export function explain(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  const k = known(`err.${err.code}`);
  if (err.code === 'bad_input') return `${t('err.bad_input')}: ${err.message}`;
  return k ? `${k} (${err.message})` : err.message;
}

// What the page does when a call says the login is gone (app.js: show the login form).
export const hooks = { unauthenticated: () => {} };

// Runs an action, showing any error as a message. Returns its result or undefined.
export async function attempt(fn) {
  try {
    return await fn();
  } catch (err) {
    message(explain(err));
    if (err instanceof ApiError && err.status === 401) hooks.unauthenticated();
    return undefined;
  }
}

// The API answers lists as arrays (or wrapped as {items}); either way an array.
export const list = (x) => (Array.isArray(x) ? x : (x && (x.items || x.data || x.results)) || []);

export function wsUrl(path) {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/v1${path}`;
}
