// The auditor's sessions table over 500 sessions in headless Chromium (tests/console.rs):
// the table shows the server's total, pages through with "下一页" fifty rows at a time to the
// last page without a row twice or one missing, and a click on a column's header sorts
// the first page by it on the server (every row of page one precedes every other row).
//
// Environment: MENWEI_URL, MENWEI_PASSWORD, MENWEI_USER and MENWEI_TOTP_HEX (an auditor),
// MENWEI_SESSIONS (the 500 ids, comma separated), MENWEI_SHOTS; CHROMIUM (default
// /usr/bin/chromium). Prints "N passed, N failed".

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { totp } from './totp.mjs';
import { launch, assert, steps } from './harness.mjs';

const base = process.env.MENWEI_URL;
const expected = (process.env.MENWEI_SESSIONS || '').split(',').filter(Boolean).sort();
const shots = process.env.MENWEI_SHOTS;
mkdirSync(shots, { recursive: true });
setTimeout(() => { console.log('FAIL the paging walk did not finish in time'); process.exit(3); }, 110000).unref();

const { step, finish } = steps();
const browser = await launch();
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 900 }, locale: 'zh-CN' });
context.setDefaultTimeout(15000);
const page = await context.newPage();
const table = '#aud-sessions-table';

// The ids of the rows shown (the first column) and the status line.
const shown = () => page.$$eval(`${table} tbody tr`, (rows) => rows.map((r) => r.cells[0].textContent));
const status = () => page.$eval(`${table} .status`, (s) => s.textContent);

await step('the_auditor_logs_in_and_opens_the_sessions_page', async () => {
  await page.goto(`${base}/`);
  await page.waitForSelector('#login form');
  await page.fill('#login input[name=user]', process.env.MENWEI_USER);
  await page.fill('#login input[name=password]', process.env.MENWEI_PASSWORD);
  while (Math.floor(Date.now() / 1000) % 30 > 26) await new Promise((r) => setTimeout(r, 250));
  await page.fill('#login input[name=totp]', totp(process.env.MENWEI_TOTP_HEX, Date.now() / 1000));
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#nav a[data-page=sessions]');
  await page.click('#nav a[data-page=sessions]');
  await page.waitForFunction((t) => document.querySelector(`${t} .status`)?.dataset.total === '500', table);
});

await step('next_walks_all_500_sessions_fifty_at_a_time_none_twice_none_missing', async () => {
  const seen = [];
  for (let p = 1; ; p += 1) {
    const ids = await shown();
    const text = await status();
    assert(ids.length === 50, `page ${p}: ${ids.length} rows`);
    assert(text.includes(`${(p - 1) * 50 + 1}–${p * 50}`) && text.includes('共 500 条'), `page ${p}: ${text}`);
    seen.push(...ids);
    if (p === 1 || p === 10) await page.screenshot({ path: join(shots, `sessions-page-${p}.png`), fullPage: true });
    const next = await page.$(`${table} button.next`);
    if (await next.isDisabled()) { assert(p === 10, `the last page is ${p}`); break; }
    const first = ids[0];
    await next.click();
    await page.waitForFunction(([t, f]) => document.querySelector(`${t} tbody tr`)?.cells[0].textContent !== f, [table, first]);
  }
  assert(new Set(seen).size === 500, `${new Set(seen).size} distinct of ${seen.length} rows`);
  assert(JSON.stringify([...seen].sort()) === JSON.stringify(expected), 'the rows are not the 500 sessions');
  // And back: the previous page is page nine again.
  await page.click(`${table} button.prev`);
  await page.waitForFunction((t) => document.querySelector(`${t} .status`)?.textContent.includes('401–450'), table);
  const back = await shown();
  assert(JSON.stringify(back) === JSON.stringify(seen.slice(400, 450)), 'page nine differs on the way back');
});

await step('a_header_click_sorts_on_the_server', async () => {
  await page.click(`${table} button.sort[data-sort=engineer]`);
  await page.waitForFunction((t) => document.querySelector(`${t} th[aria-sort=descending] button[data-sort=engineer]`) && document.querySelector(`${t} .status`)?.textContent.includes('1–50'), table);
  const engineers = await page.$$eval(`${table} tbody tr`, (rows) => rows.map((r) => r.cells[1].textContent));
  // Five engineers, a hundred sessions each: descending, page one is all the last one's.
  assert(engineers.length === 50 && engineers.every((e) => e === 'eng-e'), `page one: ${[...new Set(engineers)]}`);
  await page.screenshot({ path: join(shots, 'sessions-by-engineer.png'), fullPage: true });
});

await browser.close();
process.exit(finish() ? 1 : 0);
