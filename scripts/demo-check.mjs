// What a newcomer sees of scripts/demo, checked in headless Chromium (scripts/demo-check
// runs it against the demo of a fresh clone): the demo's printed screen names the four
// logins (engineer alice, approver bob, auditor carol, admin dave) with their TOTP secrets,
// the page loads at the printed URL and shows its login form, and each printed login works
// through the API with a code made from the printed secret: /me says the role, the approver
// sees the waiting request, the auditor the finished session.
//
//   node scripts/demo-check.mjs DEMO_OUTPUT_FILE REPO_WITH_BUILT_PAGE
//
// Screenshots go to tests/test-artifacts/demo-*.png. Exits non-zero on any failure.

import { readFileSync, mkdirSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [outputFile, repo] = process.argv.slice(2);
if (!outputFile || !repo) {
  console.error('usage: node scripts/demo-check.mjs DEMO_OUTPUT_FILE REPO');
  process.exit(2);
}
// playwright-core is one of the page's npm packages (web-terminal/package.json).
const { chromium } = createRequire(join(repo, 'web-terminal', 'package.json'))('playwright-core');
const artifacts = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'test-artifacts');
mkdirSync(artifacts, { recursive: true });

let failed = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed++;
};

// eslint-disable-next-line no-control-regex
const screen = readFileSync(outputFile, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
const url = (screen.match(/the web on (https:\/\/[0-9.:]+)/) || [])[1];
check(Boolean(url), `the demo prints the web address (${url})`);
const password = (screen.match(/password "([^"]+)"/) || [])[1];
check(Boolean(password), 'the demo prints the web password');
const logins = {};
for (const m of screen.matchAll(/^\s+(engineer|approver|auditor|admin)\s+([a-z]+)\s+([A-Z2-7]{16,})\s/gm)) {
  logins[m[1]] = { user: m[2], secret: m[3] };
}
const want = { engineer: 'alice', approver: 'bob', auditor: 'carol', admin: 'dave' };
for (const [role, user] of Object.entries(want)) {
  check(logins[role]?.user === user, `the demo's screen names ${role} ${user} with a TOTP secret`);
}
check((screen.match(/▀▀▀▀▀▀▀▀▀▀/g) || []).length >= 2, "the demo draws bob's and dave's QR codes");
if (failed || !url) process.exit(1);

/** RFC 6238 code of a base32 secret at `step` (30 s steps). */
function totp(secret, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const resp = await page.goto(url, { waitUntil: 'load' });
  check(resp?.status() === 200, `GET ${url} answers 200 (the page is served)`);
  const form = page.locator('input[type=password]').first();
  let shown = true;
  await form.waitFor({ state: 'visible', timeout: 30_000 }).catch(() => { shown = false; });
  check(shown, 'the login page shows a password field');
  await page.screenshot({ path: join(artifacts, 'demo-login.png'), fullPage: true });

  for (const [role, { user, secret }] of Object.entries(logins)) {
    // A context of its own per login: its own cookie jar.
    const ctx = (await browser.newContext({ ignoreHTTPSErrors: true })).request;
    // A code is taken once per account: the demo may have just used this step's (bob's
    // grant), so on a refusal try the next step's.
    let status = 0;
    for (let attempt = 0; attempt < 3 && status !== 200; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, (30 - (Date.now() / 1000) % 30 + 1) * 1000));
      const step = Math.floor(Date.now() / 30_000);
      const r = await ctx.post(`${url}/api/v1/login`, { data: { user, password, totp: totp(secret, step) } });
      status = r.status();
    }
    check(status === 200, `${user} (${role}) logs in with the printed password and secret`);
    if (status !== 200) continue;
    const me = await (await ctx.get(`${url}/api/v1/me`)).json();
    check(me.role === role, `/me says ${user} is ${role} (${me.role})`);
    if (role === 'approver') {
      const r = await ctx.get(`${url}/api/v1/requests?state=pending&limit=10`);
      check(r.status() === 200 && (await r.json()).length >= 1, 'bob sees the waiting request');
    }
    if (role === 'auditor') {
      const r = await ctx.get(`${url}/api/v1/sessions?live=false&limit=10`);
      const rows = r.status() === 200 ? await r.json() : [];
      check(rows.some((s) => s.engineer === 'alice' && s.ended_at), 'carol sees the finished session');
    }
  }
} finally {
  await browser.close();
}
console.log(failed ? `demo-check: ${failed} failed` : 'demo-check: all passed');
process.exit(failed ? 1 : 0);
