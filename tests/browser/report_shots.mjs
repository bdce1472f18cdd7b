// Screenshots of the report pages (the printable HTML the API serves) in headless Chromium,
// for tests/reports.rs: each page is loaded from the gateway with an auditor's API token,
// its heading must be the expected document title, and it is saved twice, as the screen
// shows it and as it prints (print media: A4 rules of the page's print CSS).
//
// Environment: MENWEI_URL (https://127.0.0.1:PORT), MENWEI_TOKEN, MENWEI_SHOTS (directory),
// MENWEI_PAGES (lines of `name<TAB>/api/v1/...<TAB>expected h1`); CHROMIUM (default
// /usr/bin/chromium). Prints one line per page and exits non-zero on any failure.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './harness.mjs';

const base = process.env.MENWEI_URL;
const shots = process.env.MENWEI_SHOTS;
const pages = (process.env.MENWEI_PAGES || '').split('\n').filter(Boolean).map((l) => l.split('\t'));
mkdirSync(shots, { recursive: true });

const timer = setTimeout(() => { console.error('report_shots: deadline passed'); process.exit(3); }, 90000);
const browser = await launch();
let failed = 0;
try {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1100, height: 900 },
    extraHTTPHeaders: { Authorization: `Bearer ${process.env.MENWEI_TOKEN}` },
  });
  const page = await context.newPage();
  for (const [name, path, title] of pages) {
    const answer = await page.goto(base + path, { waitUntil: 'load' });
    const h1 = await page.textContent('h1');
    if (answer.status() !== 200 || h1 !== title) {
      console.log(`FAIL ${name}: status ${answer.status()}, h1 ${JSON.stringify(h1)}, expected ${JSON.stringify(title)}`);
      failed += 1;
      continue;
    }
    await page.emulateMedia({ media: 'screen' });
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
    await page.emulateMedia({ media: 'print' });
    await page.screenshot({ path: join(shots, `${name}-print.png`), fullPage: true });
    console.log(`ok ${name}`);
  }
} finally {
  await browser.close();
  clearTimeout(timer);
}
process.exit(failed ? 1 : 0);
