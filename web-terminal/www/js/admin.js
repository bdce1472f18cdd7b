// The admin's pages: users, their SSH keys, targets with pinned host keys (addresses are
// for admins only), the policy in force and the nodes. Read-only here; changes go through
// the CLI or the account endpoints. Not here: anything an engineer may see.

import { t } from './i18n.js';
import { h, pick, when, table, section } from './dom.js';
import { api, attempt, list } from './api.js';

export function adminView() {
  const users = h('div'); const keys = h('div'); const targets = h('div');
  const policy = h('pre', { class: 'policy' }); const nodes = h('div');
  (async () => {
    const us = await attempt(() => api('GET', '/users'));
    if (us) {
      users.replaceChildren(table(list(us), [
        { label: t('user'), cell: (u) => pick(u, 'name') },
        { label: t('role'), cell: (u) => t(`role.${pick(u, 'role')}`) },
        { label: t('keys'), cell: (u) => String((u.keys || []).length) },
        { label: 'TOTP', cell: (u) => (u.totp ? '✓' : '') },
        { label: t('password'), cell: (u) => (u.password ? '✓' : '') },
        { label: t('state'), cell: (u) => (u.disabled ? t('disabled') : t('enabled')) },
      ]));
      const rows = list(us).flatMap((u) => (u.keys || []).map((k) => ({ user: u.name, ...k })));
      keys.replaceChildren(table(rows, [
        { label: t('user'), cell: (k) => k.user },
        { label: t('fingerprint'), cell: (k) => h('code', {}, pick(k, 'fingerprint')) },
        { label: t('description'), cell: (k) => h('code', {}, pick(k, 'comment')) },
        { label: t('added'), cell: (k) => when(pick(k, 'added_at')) },
      ]));
    }
    const ts = await attempt(() => api('GET', '/targets'));
    if (ts) targets.replaceChildren(table(list(ts), [
      { label: t('target'), cell: (x) => pick(x, 'name') },
      { label: t('address'), cell: (x) => h('code', {}, `${pick(x, 'login')}@${pick(x, 'address')}`) },
      { label: t('description'), cell: (x) => pick(x, 'description') },
      { label: t('host_key'), cell: (x) => h('code', {}, (x.pinned && x.host_key_fingerprint) || '—') },
    ]));
    const pol = await attempt(() => api('GET', '/policy'));
    if (pol) policy.textContent = typeof pol === 'string' ? pol : JSON.stringify(pol, null, 2);
    const ns = await attempt(() => api('GET', '/nodes'));
    if (ns) nodes.replaceChildren(table(list(ns), [
      { label: t('node'), cell: (n) => h('code', {}, pick(n, 'name', 'id')) },
      { label: t('node_state'), cell: (n) => t(`node.${pick(n, 'state')}`) },
      { label: t('address'), cell: (n) => h('code', {}, pick(n, 'address')) },
      { label: t('version'), cell: (n) => h('code', {}, pick(n, 'version')) },
      { label: t('heartbeat'), cell: (n) => when(pick(n, 'last_heartbeat', 'heartbeat_at')) },
      { label: t('sessions_live'), cell: (n) => pick(n, 'live_sessions', 'sessions') },
    ]));
  })();
  return {
    sections: [
      section('adm-users', 'adm.users', users), section('adm-keys', 'adm.keys', keys),
      section('adm-targets', 'adm.targets', targets), section('adm-policy', 'adm.policy', policy),
      section('adm-nodes', 'adm.nodes', nodes),
    ],
    pages: { users: ['adm-users'], keys: ['adm-keys'], targets: ['adm-targets'], policy: ['adm-policy'], nodes: ['adm-nodes'] },
    home: 'users',
  };
}
