// The console, role by role, in headless Chromium against a gateway with a scripted history
// (tests/console.rs): each role logs in, its navigation lists its pages, every page is
// shown and screenshot, and in zh-CN no Latin word is on it outside code, ids and names.
// The approver's desk counts the waiting request; the auditor's overview draws today's
// figures (3 level-A requests, 1 late response, 2 sessions) and a click on the level-A
// bar and on today's sessions bar lists exactly the scripted sessions. English is one
// click away, and remembered across a reload.
//
// Environment: MENWEI_URL, MENWEI_PASSWORD, MENWEI_USERS (lines "role name totp-hex"),
// MENWEI_SESSIONS (ids, comma separated), MENWEI_PENDING (the waiting request's id),
// MENWEI_DATA (lines of text people typed or named: allowed in any language),
// MENWEI_SHOTS; CHROMIUM (default /usr/bin/chromium). Prints "N passed, N failed".

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { totp } from './totp.mjs';
import { launch, assert, steps } from './harness.mjs';

const base = process.env.MENWEI_URL;
const password = process.env.MENWEI_PASSWORD;
const users = Object.fromEntries((process.env.MENWEI_USERS || '').split('\n').filter(Boolean)
  .map((l) => l.split(' ')).map(([role, name, hex]) => [role, { name, hex }]));
const sessions = (process.env.MENWEI_SESSIONS || '').split(',').filter(Boolean).sort();
const pending = process.env.MENWEI_PENDING || '';
const data = (process.env.MENWEI_DATA || '').split('\n').filter(Boolean).sort((a, b) => b.length - a.length);
const shots = process.env.MENWEI_SHOTS;
mkdirSync(shots, { recursive: true });
setTimeout(() => { console.log('FAIL the walk did not finish in time'); process.exit(3); }, 140000).unref();

// The pages of each role, as the nav bar must list them.
const NAV = {
  engineer: ['access', 'requests', 'terminal'],
  approver: ['queue', 'live', 'grants', 'breakglass', 'inspections'],
  auditor: ['overview', 'sessions', 'replay', 'audit', 'reports', 'inspections'],
  admin: ['users', 'keys', 'targets', 'policy', 'nodes'],
};
// Words that are names in every language: formats, protocols and the product's codes.
const NAMES = new Set(['CSV', 'JSON', 'Lines', 'TOTP', 'SSH', 'ID', 'URL', 'API', 'PDF', 'HTML', 'English', 'Menwei']);


const { step, finish } = steps();
const browser = await launch();
const pageErrors = [];
let engineerPage = null;

async function logIn(role) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 900 }, locale: 'zh-CN' });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${role}: ${e}`));
  const { name, hex } = users[role];
  await page.goto(`${base}/`);
  await page.waitForSelector('#login form');
  await page.fill('#login input[name=user]', name);
  await page.fill('#login input[name=password]', password);
  while (Math.floor(Date.now() / 1000) % 30 > 26) await new Promise((r) => setTimeout(r, 250));
  await page.fill('#login input[name=totp]', totp(hex, Date.now() / 1000));
  await page.click('#login button[type=submit]');
  await page.waitForFunction((u) => document.querySelector('#who')?.textContent.includes(u), name);
  return page;
}

// The Latin words a person reads on the page: its visible text without code, terminals,
// ids (r-…, s-…, g-…, INC-…), dates, and the names and text people typed.
async function latinWords(page) {
  const text = await page.evaluate(() => {
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest('code, pre, .term, .xterm, script, style, noscript, select')) continue;
      if (!el.checkVisibility()) continue;
      out.push(n.textContent);
    }
    // Each text node apart: cells and options do not run into one word.
    return out.join(' ');
  });
  let rest = text;
  for (const d of data) rest = rest.split(d).join(' ');
  rest = rest.replace(/\b(?:INC|[rsgb])-[0-9A-Za-z-]+/g, ' ');
  return [...new Set((rest.match(/[A-Za-z]{2,}/g) || []).filter((w) => !NAMES.has(w)))];
}

// Text whose colour against its background is under WCAG AA (4.5:1; 3:1 for large text),
// disabled controls excepted: "selector: ratio" for each.
async function lowContrast(page) {
  return page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => { const x = v / 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const bad = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent.trim() || !el.checkVisibility() || el.closest('.term, .xterm, [disabled], option, select')) continue;
      const st = getComputedStyle(el);
      const fg = rgb(st.color).slice(0, 3);
      const [a, b] = [lum(fg), lum(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const size = parseFloat(st.fontSize); const bold = Number(st.fontWeight) >= 700;
      const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
      if (ratio < need) bad.add(`${el.tagName.toLowerCase()}.${el.className}: ${ratio.toFixed(2)}`);
    }
    return [...bad];
  });
}

let shotNo = 0;
async function snap(page, name) {
  shotNo += 1;
  await page.screenshot({ path: join(shots, `${String(shotNo).padStart(2, '0')}-${name}.png`), fullPage: true });
}

// Walks a role's navigation: the links are its pages, each shows, has no Latin words.
async function walk(role, page, settle = {}) {
  const links = await page.$$eval('#nav a', (as) => as.map((a) => a.dataset.page));
  assert(JSON.stringify(links) === JSON.stringify(NAV[role]), `${role} nav: ${links}`);
  for (const p of NAV[role]) {
    await page.click(`#nav a[data-page=${p}]`);
    await page.waitForFunction((x) => location.hash.startsWith(`#/${x}`) && document.querySelector(`#nav a[data-page=${x}]`)?.getAttribute('aria-current') === 'page', p);
    if (settle[p]) await settle[p]();
    await page.waitForTimeout(300);
    const visible = await page.$$eval('#main > section:not([hidden])', (ss) => ss.map((s) => s.id));
    assert(visible.length >= 1, `${role}/${p} shows no section`);
    const words = await latinWords(page);
    await snap(page, `${role}-${p}`);
    assert(words.length === 0, `${role}/${p} in zh-CN shows Latin words: ${words.join(', ')}`);
    const faint = await lowContrast(page);
    assert(faint.length === 0, `${role}/${p} has text under 4.5:1 contrast: ${faint.join('; ')}`);
  }
}

// The series an ECharts chart drew, read from the chart itself.
const drawn = (page, key) => page.evaluate((k) => {
  const el = document.querySelector(`[data-chart="${k}"]`);
  const c = window.menweiEcharts.getInstanceByDom(el);
  const o = c.getOption();
  return { categories: o.xAxis[0].data, series: o.series.map((s) => ({ name: s.name, data: s.data })) };
}, key);
// Clicks the bar of `category` in series `s` of a chart, where it is drawn.
async function clickBar(page, key, index, s = 0) {
  const at = await page.evaluate(([k, i, si]) => {
    const el = document.querySelector(`[data-chart="${k}"]`);
    const c = window.menweiEcharts.getInstanceByDom(el);
    // The bar's rectangle as ECharts laid it out (bars of two series sit side by side).
    const b = c.getModel().getSeriesByIndex(si).getData().getItemLayout(i);
    const r = el.getBoundingClientRect();
    return { x: r.left + b.x + b.width / 2, y: r.top + b.y + b.height / 2 };
  }, [key, index, s]);
  await page.mouse.click(at.x, at.y);
}
const listed = (page) => page.$$eval('#aud-sessions-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent).sort());

try {
  await step('engineer_walks_my_access_requests_and_terminal_in_chinese', async () => {
    const page = await logIn('engineer');
    engineerPage = page;
    await walk('engineer', page, {
      requests: () => page.waitForSelector('#eng-request input[name=targets][value=web01]'),
    });
  });

  await step('approver_desk_counts_what_waits_and_walks_queue_live_grants_breakglass', async () => {
    const page = await logIn('approver');
    await page.waitForFunction(() => document.querySelector('[data-figure=pending] .figure')?.textContent === '1');
    const row = await page.textContent(`#appr-queue tr:has-text("${pending}")`);
    assert(row.includes('B'), `the waiting request: ${row}`);
    await walk('approver', page);
    // The three approvals' live grants, in the grants table with its count.
    await page.click('#nav a[data-page=grants]');
    await page.waitForFunction(() => document.querySelectorAll('#appr-grants-table tbody tr').length === 3);
    const count = await page.textContent('#appr-grants-table .pager .status');
    assert(count.includes('共 3 条'), `the grants table's count: ${count}`);
    // The inspection runbook waits for its approval, with the approver's two actions.
    await page.click('#nav a[data-page=inspections]');
    const book = await page.waitForSelector('#appr-inspections tr:has-text("monthly")');
    const text = await book.textContent();
    assert(['0/1', '未批准', '批准此版本', '立即运行'].every((w) => text.includes(w)), `the runbook's row: ${text}`);
    assert((await latinWords(page)).length === 0, `inspections: ${await latinWords(page)}`);
  });

  await step('auditor_overview_draws_the_history_and_a_click_lists_its_sessions', async () => {
    const page = await logIn('auditor');
    await page.waitForFunction(() => window.menweiOverview && window.menweiEcharts);
    const tile = (sel, key) => page.textContent(`${sel} [data-figure=${key}] .figure`);
    assert(await tile('#ov-today', 'requests') === '4', `today's requests: ${await tile('#ov-today', 'requests')}`);
    // A3 answered late, B4 still waiting past the window.
    assert(await tile('#ov-today', 'breaches') === '2', `today's late responses: ${await tile('#ov-today', 'breaches')}`);
    assert(await tile('#ov-today', 'sessions') === '2', `today's sessions: ${await tile('#ov-today', 'sessions')}`);
    const levels = await drawn(page, 'requests-per-level');
    assert(JSON.stringify(levels.series[0].data) === '[3,1,0,0]', `requests per level drawn: ${JSON.stringify(levels)}`);
    const response = await drawn(page, 'response');
    // Level A: two in time, one missed; B: the waiting one, past the window.
    assert(JSON.stringify(response.series.map((s) => s.data)) === '[[2,0,0,0],[1,1,0,0]]', `response drawn: ${JSON.stringify(response)}`);
    const perDay = await drawn(page, 'sessions-per-day');
    const todayIndex = perDay.categories.length - 1;
    assert(perDay.series[0].data[todayIndex] === 2, `sessions per day drawn: ${JSON.stringify(perDay)}`);
    await snap(page, 'auditor-overview-charts');
    // How long the longest overview (92 days, a report per day) takes to answer.
    const ms = await page.evaluate(async () => {
      const to = new Date(); const from = new Date(to.getTime() - 91 * 86400000);
      const d = (x) => x.toISOString().slice(0, 10);
      const t0 = performance.now();
      const r = await fetch(`/api/v1/reports/overview?from=${d(from)}&to=${d(to)}`);
      await r.json();
      return r.ok ? Math.round(performance.now() - t0) : -r.status;
    });
    assert(ms >= 0, `the 92-day overview failed: ${-ms}`);
    console.log(`     the 92-day overview answered in ${ms} ms`);
    // The level-A bar opens the sessions under level-A requests: both.
    await clickBar(page, 'requests-per-level', 0);
    await page.waitForFunction(() => location.hash.startsWith('#/sessions?') && location.hash.includes('level=A'));
    await page.waitForFunction((n) => document.querySelectorAll('#aud-sessions-table tbody tr').length === n, sessions.length);
    assert(JSON.stringify(await listed(page)) === JSON.stringify(sessions), `level A lists ${await listed(page)}, want ${sessions}`);
    await snap(page, 'auditor-sessions-from-level-chart');
    // Today's bar of sessions per day: the same two.
    await page.click('#nav a[data-page=overview]');
    await page.waitForSelector('[data-chart=sessions-per-day]');
    await clickBar(page, 'sessions-per-day', todayIndex);
    await page.waitForFunction(() => location.hash.startsWith('#/sessions?') && location.hash.includes('from='));
    await page.waitForFunction((n) => document.querySelectorAll('#aud-sessions-table tbody tr').length === n, sessions.length);
    assert(JSON.stringify(await listed(page)) === JSON.stringify(sessions), `today lists ${await listed(page)}, want ${sessions}`);
    await snap(page, 'auditor-sessions-from-day-chart');
    // A session's replay, in Chinese too: the player's words and the way it ended.
    await page.locator('#aud-sessions-table tbody tr').first().locator('a.button').click();
    await page.waitForSelector('#aud-replay .xterm-rows');
    await page.waitForSelector('#ending');
    const ending = await page.textContent('#ending');
    assert(ending.startsWith('已封存'), `the replay says how the session ended, in Chinese: ${ending}`);
    const words = await latinWords(page);
    await snap(page, 'auditor-replay');
    assert(words.length === 0, `the replay in zh-CN shows Latin words: ${words.join(', ')}`);
    await walk('auditor', page, {
      overview: () => page.waitForSelector('[data-chart=top-targets]'),
      sessions: () => page.waitForSelector('#aud-sessions-table'),
    });
    // English on request, remembered across a reload.
    await page.click('#lang');
    await page.waitForFunction(() => document.querySelector('#nav a[data-page=overview]')?.textContent === 'Overview');
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#nav a[data-page=overview]')?.textContent === 'Overview');
    await snap(page, 'auditor-english');
  });

  await step('admin_walks_users_keys_targets_policy_nodes', async () => {
    const page = await logIn('admin');
    await walk('admin', page, { users: () => page.waitForSelector('#adm-users table') });
  });

  await step('keyboard_tab_reaches_the_navigation_and_enter_follows_it', async () => {
    // The engineer's page from the first step (a second login could reuse its TOTP code).
    const page = engineerPage;
    await page.goto(`${base}/#/access`);
    await page.waitForSelector('#nav a');
    await page.keyboard.press('Tab'); // skip link
    let found = false;
    for (let i = 0; i < 12 && !found; i += 1) {
      await page.keyboard.press('Tab');
      found = await page.evaluate(() => document.activeElement?.dataset?.page === 'requests');
    }
    assert(found, 'Tab never reached the requests link');
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert(ring !== 'none', `the focused link shows no focus ring: ${ring}`);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/requests');
  });

  await step('the_terminal_keeps_its_size_and_the_keyboard_across_pages', async () => {
    const page = engineerPage;
    await page.click('#nav a[data-page=access]');
    await page.locator('#eng-grants button.open').first().click();
    await page.waitForFunction(() => location.hash === '#/terminal');
    await page.waitForFunction(() => /[$#] *$/m.test(document.querySelector('#eng-terminal .xterm-rows')?.innerText ?? ''));
    const size = async (tag) => {
      // Typed without a click: the keys go wherever the page's focus is.
      await page.keyboard.type(`echo ${tag}=$(stty size | tr ' ' x)`);
      await page.keyboard.press('Enter');
      const re = new RegExp(`${tag}=(\\d+x\\d+)`);
      await page.waitForFunction((r) => new RegExp(r).test(document.querySelector('#eng-terminal .xterm-rows')?.textContent ?? ''), re.source);
      return (await page.textContent('#eng-terminal .xterm-rows')).match(re)[1];
    };
    const before = await size('BEFORE');
    await page.click('#nav a[data-page=requests]');
    await page.waitForSelector('#eng-request form');
    await page.click('#nav a[data-page=terminal]');
    await page.waitForFunction(() => document.activeElement?.closest('#eng-terminal') !== null);
    const after = await size('AFTER');
    await snap(page, 'engineer-terminal-after-pages');
    assert(before === after, `the terminal's size changed across pages: ${before} -> ${after}`);
  });

  await step('no_uncaught_errors_in_any_page', async () => {
    assert(pageErrors.length === 0, pageErrors.join('\n'));
  });
} finally {
  await browser.close().catch(() => {});
}
process.exit(finish() ? 1 : 0);
