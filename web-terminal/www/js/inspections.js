// Inspections (巡检), a page for approvers and auditors: each runbook with its version and
// approvals, approve this version (approvers), run now, and each run's 服务器巡检报告
// (printable page or PDF). Not here: the runs themselves (serve), the report (the gateway).

import { t, currentLang } from './i18n.js';
import { h, message, when, table, section } from './dom.js';
import { api, attempt, session } from './api.js';

export function inspectionsSection(id) {
  const box = h('div');
  const load = async () => {
    const books = await attempt(() => api('GET', '/inspections'));
    if (!books) return;
    const rows = [];
    for (const b of books) for (const r of [null, ...(b.runs || []).slice(0, 5)]) rows.push({ b, r });
    box.replaceChildren(table(rows, [
      { label: t('insp.runbook'), cell: ({ b, r }) => (r ? '' : b.name) },
      { label: t('insp.version_run'), cell: ({ b, r }) => h('code', {}, r ? r.id : String(b.version).slice(0, 12)) },
      { label: t('insp.when'), cell: ({ b, r }) => (r ? when(r.started_at || r.created_at) : h('code', {}, b.schedule || '—')) },
      { label: t('insp.state'), cell: ({ b, r }) => (r
        ? `${t(`insp.state.${r.state}`)}${r.findings != null ? ` · ${t('insp.findings')} ${r.findings}` : ''}`
        : `${b.approvals.length}/${b.approvers_needed} ${b.approved ? t('insp.approved') : t('insp.not_approved')}`) },
      { label: '', cell: ({ b, r }) => {
        if (r) {
          if (r.state !== 'done' && r.state !== 'refused') return '';
          const base = `/api/v1/inspections/${encodeURIComponent(b.name)}/runs/${encodeURIComponent(r.id)}/report?lang=${currentLang()}`;
          return h('span', {},
            h('a', { href: `${base}&format=html`, target: '_blank' }, t('insp.report')), ' ',
            h('a', { href: `${base}&format=pdf` }, 'PDF'));
        }
        const act = (what) => h('button', { type: 'button', onclick: async () => {
          const ok = await attempt(() => api('POST', `/inspections/${encodeURIComponent(b.name)}/${what}`, {}));
          if (ok !== undefined) { message(`${b.name}: ${t(`insp.${what}_done`)}`, 'ok'); setTimeout(load, 1500); }
        } }, t(`insp.${what}`));
        return h('span', {}, session.me?.role === 'approver' && !b.approved ? act('approve') : '', ' ', act('run'));
      } },
    ]));
  };
  return { el: section(id, 'insp.title', box), load };
}
