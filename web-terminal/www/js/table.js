// A table over one of the API's list endpoints (sessions, requests, grants, audit), with
// paging, sorting and filters sent to the server as `limit`, `cursor`, `sort`, `order` and
// the filter names. When the server pages (X-Total-Count, X-Next-Cursor) the table pages
// through cursors; when it answers everything at once (no headers) the rows are one page,
// sorted here by the same column. Not here: what the columns show (the role modules).

import { t } from './i18n.js';
import { h, table } from './dom.js';
import { apiPage, attempt } from './api.js';

// columns: [{ label, cell(row), sort?: 'api_field' }]; sort: the initial field; id: the
// element id of the table's box (tests find rows under it).
export function pagedTable({ path, columns, sort = null, order = 'desc', pageSize = 50, id, empty }) {
  const box = h('div', { class: 'paged', id });
  const state = { filters: {}, sort, order, cursors: [null], page: 0, rows: [] };
  const compare = (a, b) => {
    const x = a[state.sort]; const y = b[state.sort];
    const r = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x ?? '').localeCompare(String(y ?? ''), undefined, { numeric: true });
    return state.order === 'asc' ? r : -r;
  };
  const header = (c) => {
    if (!c.sort) return c.label;
    const active = state.sort === c.sort;
    const arrow = active ? (state.order === 'asc' ? ' ▲' : ' ▼') : '';
    return h('button', {
      type: 'button', class: 'sort', 'data-sort': c.sort,
      'aria-label': `${c.label} ${active && state.order === 'asc' ? t('sort_desc') : t('sort_asc')}`,
      onclick: () => {
        state.order = active && state.order === 'desc' ? 'asc' : 'desc';
        state.sort = c.sort;
        load(state.filters);
      },
    }, c.label, arrow);
  };
  async function fetchPage() {
    const q = new URLSearchParams(state.filters);
    q.set('limit', String(pageSize));
    if (state.sort) { q.set('sort', state.sort); q.set('order', state.order); }
    const cursor = state.cursors[state.page];
    if (cursor) q.set('cursor', cursor);
    const page = await attempt(() => apiPage(`${path}${path.includes('?') ? '&' : '?'}${q}`));
    if (!page) return;
    let rows = page.rows;
    if (!page.paged && state.sort) rows = [...rows].sort(compare);
    state.rows = rows;
    state.cursors[state.page + 1] = page.next || undefined;
    render(page);
  }
  function render(page) {
    const tbl = table(state.rows, columns.map((c) => ({ ...c, label: header(c) })), empty);
    const th = tbl.querySelectorAll?.('th') ?? [];
    columns.forEach((c, i) => {
      if (c.sort && th[i]) th[i].setAttribute('aria-sort', state.sort === c.sort ? (state.order === 'asc' ? 'ascending' : 'descending') : 'none');
    });
    const first = state.page * pageSize;
    const info = page.paged
      ? `${t('rows_shown', { a: state.rows.length ? first + 1 : 0, b: first + state.rows.length })} · ${t('rows_total', { n: page.total ?? '?' })}`
      : t('rows_total', { n: state.rows.length });
    const pager = h('div', { class: 'pager' },
      h('span', { class: 'status', 'data-total': page.total ?? state.rows.length }, info),
      page.paged ? [
        h('button', { type: 'button', class: 'prev', disabled: state.page === 0, onclick: () => { state.page -= 1; fetchPage(); } }, t('page_prev')),
        h('button', { type: 'button', class: 'next', disabled: !page.next, onclick: () => { state.page += 1; fetchPage(); } }, t('page_next')),
      ] : null);
    box.replaceChildren(tbl, pager);
  }
  // Loads the first page under these filters (empty values are left out).
  function load(filters = state.filters) {
    state.filters = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== '' && v !== undefined && v !== null));
    state.cursors = [null];
    state.page = 0;
    return fetchPage();
  }
  return { el: box, load, reload: fetchPage, state };
}
