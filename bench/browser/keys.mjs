// Keystroke echo latency through the browser terminal, in headless Chromium: log in as the
// engineer, open the terminal on the target, start a raw-mode `cat` (as bench/run does for
// ssh), then press keys one at a time with page.keyboard.press and time, inside the page,
// from the key's keydown event to (1) the echo's WebSocket frame arriving and (2) the echoed
// character appearing in the xterm DOM (.xterm-rows). Prints one JSON line:
// {"frame": [ms...], "screen": [ms...]}. Run by bench/browser/run.
//
// Environment: MENWEI_URL, MENWEI_ENGINEER, MENWEI_PASSWORD, MENWEI_TARGET, KEYS (200).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { chromium } = createRequire(join(repo, 'web-terminal', 'package.json'))('playwright-core');
const base = process.env.MENWEI_URL;
const keys = Number(process.env.KEYS || 200);
setTimeout(() => { console.error('keys: no result within 300 s'); process.exit(3); }, 300000).unref();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 900 } });
  context.setDefaultTimeout(20000);
  // Before the page's scripts: remember the terminal's socket and when each frame arrives.
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...a) {
        super(...a);
        if (String(a[0]).includes('/terminal')) {
          this.addEventListener('message', () => {
            const p = window.__pending;
            if (p && p.frame === undefined) p.frame = performance.now() - p.t0;
          });
        }
      }
    };
  });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.fill('#login input[name=user]', process.env.MENWEI_ENGINEER);
  await page.fill('#login input[name=password]', process.env.MENWEI_PASSWORD);
  await page.click('#login button[type=submit]');
  const open = page.locator('#eng-grants button', { hasText: process.env.MENWEI_TARGET });
  await open.click();
  const rows = '#eng-grants .xterm-rows';
  await page.waitForFunction((s) => /[$#] *$/m.test(document.querySelector(s)?.innerText ?? ''), rows);
  await page.click('#eng-grants .term');
  await page.keyboard.type('stty raw -echo; echo RE""ADY; exec cat');
  await page.keyboard.press('Enter');
  await page.waitForFunction((s) => document.querySelector(s)?.textContent.includes('READY'), rows);
  await page.waitForTimeout(300);

  // Counts the characters on the screen at every DOM change; a pending key is echoed when
  // the count reaches what it expects.
  await page.evaluate((s) => {
    const el = document.querySelector(s);
    const count = () => el.textContent.replace(/\s/g, '').length;
    window.__count = count;
    window.__results = [];
    window.addEventListener('keydown', (e) => {
      if (e.key.length !== 1 || !window.__measure) return;
      window.__pending = { t0: performance.now(), want: count() + 1 };
    }, true);
    new MutationObserver(() => {
      const p = window.__pending;
      if (p && count() >= p.want) {
        window.__results.push({ frame: p.frame, screen: performance.now() - p.t0 });
        window.__pending = null;
      }
    }).observe(el, { subtree: true, childList: true, characterData: true });
  }, rows);

  // Clears the screen through cat's echo (ESC [ 2 J, ESC [ H): every 40 keys, so the line
  // never wraps or scrolls and the character count only grows by the echoed key.
  const clear = async () => {
    await page.evaluate(() => { window.__measure = false; });
    for (const k of ['Escape', '[', '2', 'J', 'Escape', '[', 'H']) await page.keyboard.press(k);
    await page.waitForFunction(() => window.__count() === 0);
    await page.evaluate(() => { window.__measure = true; });
  };
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  await clear();
  for (let i = 0; i < keys; i += 1) {
    if (i > 0 && i % 40 === 0) await clear();
    const before = await page.evaluate(() => window.__results.length);
    await page.keyboard.press(alphabet[i % alphabet.length]);
    await page.waitForFunction((n) => window.__results.length > n, before, { polling: 'raf' });
    await page.waitForTimeout(5 + (i % 7)); // a typist's gap, not a flood
  }
  const results = await page.evaluate(() => window.__results);
  console.log(JSON.stringify({
    frame: results.map((r) => r.frame).filter((x) => x !== undefined),
    screen: results.map((r) => r.screen),
  }));
} finally {
  await browser.close();
}
