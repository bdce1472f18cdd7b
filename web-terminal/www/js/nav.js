// Navigation: each role's pages as hash routes (#/queue, #/sessions?engineer=alice,
// #/replay/s-123), a nav bar of links, and showing the sections of the current page. Every
// section of a role is built once at login and only hidden when another page shows, so a
// terminal, a watch or a replay keeps running (and its size) across pages. Reload lands on
// the same route. Not here: what the sections hold (the role modules).

import { t } from './i18n.js';
import { h, $ } from './dom.js';

// The pages of each role, in the nav bar's order: [route, text key].
export const NAV = {
  engineer: [['access', 'nav.access'], ['requests', 'nav.requests'], ['terminal', 'nav.terminal']],
  approver: [['queue', 'nav.queue'], ['live', 'nav.live'], ['grants', 'nav.grants'], ['breakglass', 'nav.breakglass'], ['inspections', 'nav.inspections']],
  auditor: [['overview', 'nav.overview'], ['sessions', 'nav.sessions'], ['replay', 'nav.replay'], ['audit', 'nav.audit'], ['reports', 'nav.reports'], ['inspections', 'nav.inspections']],
  admin: [['users', 'nav.users'], ['keys', 'nav.keys'], ['targets', 'nav.targets'], ['policy', 'nav.policy'], ['nodes', 'nav.nodes']],
};

// The current route: page, the rest of the path (a session id) and the query.
export function route() {
  const m = location.hash.match(/^#\/([a-z]+)(?:\/([^?]*))?(?:\?(.*))?$/);
  if (!m) return { page: null, arg: null, query: new URLSearchParams() };
  return { page: m[1], arg: m[2] ? decodeURIComponent(m[2]) : null, query: new URLSearchParams(m[3] || '') };
}

let current = null; // { role, view }

// Goes to a page (with an optional argument and query); shows it at once.
export function go(page, arg, query) {
  const q = query && Object.keys(query).length ? `?${new URLSearchParams(query)}` : '';
  const hash = `#/${page}${arg ? `/${encodeURIComponent(arg)}` : ''}${q}`;
  if (location.hash !== hash) history.pushState(null, '', hash);
  show();
}

// Mounts a role's view: the nav bar, its sections, and the page the URL names.
export function mount(role, view) {
  current = { role, view };
  const links = NAV[role] || [];
  const nav = $('#nav');
  nav.hidden = false;
  nav.replaceChildren(h('ul', {}, links.map(([page, key]) => h('li', {},
    h('a', { href: `#/${page}`, 'data-page': page }, t(key))))));
  $('#main').replaceChildren(...view.sections);
  show(true);
}

export function unmount() {
  current = null;
  $('#nav').hidden = true;
  $('#nav').replaceChildren();
}

// Shows the sections of the route's page (the role's home when the route is not one of
// its pages) and tells the view.
let lastHash = null;
export function show(force = false) {
  if (!current) return;
  // A link click fires both popstate and hashchange: act once.
  if (!force && location.hash === lastHash) return;
  const { view } = current;
  let { page, arg, query } = route();
  if (!page || !view.pages[page]) { page = view.home; arg = null; history.replaceState(null, '', `#/${page}`); }
  lastHash = location.hash;
  const visible = new Set(view.pages[page]);
  for (const s of view.sections) s.hidden = !visible.has(s.id);
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const title = (NAV[current.role].find(([p]) => p === page) || [])[1];
  document.title = `${title ? `${t(title)} · ` : ''}${t('title')}`;
  if (view.shown) view.shown(page, arg, query);
}

window.addEventListener('hashchange', show);
window.addEventListener('popstate', show);
