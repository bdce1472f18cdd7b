// The web side's whole flow in headless Chromium, as three people in three browser
// contexts against a running gateway that serves the built page (tests/browser.rs starts
// it):
//
//   a. the engineer logs in and files a request for the target from the page;
//   b. the approver, logged in before the request was filed, sees it appear in the queue
//      without reloading (server-sent events) and approves it with a comment;
//   c. the engineer sees the grant, opens the browser terminal, types a command and sees
//      the target's answer on the xterm screen; types `echo 你好世界` and sees 你好世界 as
//      the output line (the shell runs in a UTF-8 locale);
//   d. the approver watches the session live, sees the same output and new output appear;
//      the engineer's window changes size and the watcher's view takes the new size; the
//      approver terminates the session; the engineer's page says the session ended;
//   c3. the engineer types a password at a `read -s` prompt (not echoed);
//   e. an auditor finds the session by engineer, opens the replay, searches the output and
//      jumps to the hit: the replayed screen shows it; the password is a `••••` mark and is
//      nowhere on the page until the auditor unmasks it, giving a reason;
//   f. the approver's login ends elsewhere (logout from another tab): within seconds the
//      page's event stream hears it and the page says so, in its language.
//
// Every step saves a screenshot into MENWEI_SHOTS. Prints "N passed, N failed" and exits
// non-zero on any failure. A step after a failed one is reported as failed (skipped).
//
// Everything the engineer's page shows (its text, the terminal's text at every step, every
// WebSocket frame it receives) is written to MENWEI_SEEN for tests/browser.rs to check
// against the targets' addresses and ports.
//
// Environment: MENWEI_URL (https://127.0.0.1:PORT), MENWEI_PASSWORD, MENWEI_ENGINEER,
// MENWEI_ENGINEER_TOTP_HEX, MENWEI_APPROVER, MENWEI_APPROVER_TOTP_HEX, MENWEI_AUDITOR,
// MENWEI_AUDITOR_TOTP_HEX
// (optional), MENWEI_TARGET, MENWEI_SHOTS, MENWEI_SEEN; CHROMIUM (default /usr/bin/chromium); DEBUG=1
// echoes the pages' console.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { totp } from './totp.mjs';
import { launch, assert, steps } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
// playwright-core is installed with the page's tooling (web-terminal/node_modules).

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) { console.error(`flow: ${name} is not set`); process.exit(2); }
  return v;
};
const base = env('MENWEI_URL');
const password = env('MENWEI_PASSWORD');
const engineer = env('MENWEI_ENGINEER', 'alice');
const approver = env('MENWEI_APPROVER', 'bob');
const auditor = env('MENWEI_AUDITOR', 'audrey');
const target = env('MENWEI_TARGET', 'web01');
const shots = env('MENWEI_SHOTS', join(repo, 'tests', 'test-artifacts', 'browser'));
mkdirSync(shots, { recursive: true });
const seenFile = env('MENWEI_SEEN', join(shots, 'engineer-seen.txt'));

// The whole flow has a deadline: a hung browser fails the run instead of the CI job.
const DEADLINE_MS = Number(process.env.FLOW_DEADLINE_MS || 100000);
setTimeout(() => { console.log(`FAIL the flow did not finish within ${DEADLINE_MS} ms`); process.exit(3); }, DEADLINE_MS).unref();
const STEP_MS = 15000;


const { step, finish } = steps({ stopAtFirst: true, onFailure: (name) => snapAll(`FAILED-${name}`) });
const browser = await launch(['--disable-quic']);

const pageErrors = [];
const pages = {};
// What the engineer's page was shown: its text at each step (strings) and every frame it
// received (one array of Buffers per socket).
const seen = [];
async function noteSeen(page, when) {
  const text = await page.evaluate(() => [
    document.body.innerText,
    ...[...document.querySelectorAll('.xterm-rows')].map((e) => e.textContent),
  ].join('\n')).catch((e) => `(page text unavailable: ${e})`);
  seen.push(`--- page text ${when}\n${text}`);
}

async function person(who) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 900 }, locale: 'zh-CN' });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${who}: ${e}`));
  if (who === 'engineer') {
    page.on('websocket', (ws) => {
      // The frames of one socket end to end, as the terminal gets them: a number split
      // across two frames is still one number.
      const frames = [];
      seen.push(`--- websocket ${ws.url()}`, frames);
      ws.on('framereceived', (f) => frames.push(Buffer.from(f.payload)));
    });
  }
  if (process.env.DEBUG) {
    page.on('console', (m) => console.log(`${who} console:`, m.text()));
    page.on('websocket', (ws) => {
      console.log(`${who} websocket ${ws.url()}`);
      const show = (dir) => (f) => console.log(`${who} ws ${dir}`, JSON.stringify(typeof f.payload === 'string' ? f.payload : f.payload.toString('latin1')).slice(0, 200));
      ws.on('framesent', show('>'));
      ws.on('framereceived', show('<'));
      ws.on('close', () => console.log(`${who} ws closed`));
      ws.on('socketerror', (e) => console.log(`${who} ws error ${e}`));
    });
  }
  pages[who] = page;
  return page;
}
let shotNo = 0;
async function snap(page, name) {
  shotNo += 1;
  await page.screenshot({ path: join(shots, `${String(shotNo).padStart(2, '0')}-${name}.png`), fullPage: true });
}
async function snapAll(name) {
  for (const [who, page] of Object.entries(pages)) await snap(page, `${name}-${who}`);
}

// The text of an xterm screen inside `scope` (a CSS selector).
const screenText = (page, scope) => page.evaluate((s) => document.querySelector(`${s} .xterm-rows`)?.textContent ?? '', scope);
async function waitScreen(page, scope, needle, timeout = STEP_MS) {
  try {
    await page.waitForFunction(([s, n]) => (document.querySelector(`${s} .xterm-rows`)?.textContent ?? '').includes(n), [scope, needle], { timeout });
  } catch (err) {
    throw new Error(`${scope} screen never showed ${JSON.stringify(needle)}; it shows: ${JSON.stringify((await screenText(page, scope)).replace(/\s+/g, ' ').slice(-400))}`);
  }
}

async function logIn(page, user, totpHex) {
  await page.goto(`${base}/`);
  await page.waitForSelector('#login form');
  await page.fill('#login input[name=user]', user);
  await page.fill('#login input[name=password]', password);
  if (totpHex) {
    // A code close to the end of its window may be stale when it arrives.
    while (Math.floor(Date.now() / 1000) % 30 > 26) await new Promise((r) => setTimeout(r, 250));
    await page.fill('#login input[name=totp]', totp(totpHex, Date.now() / 1000));
  }
  await page.click('#login button[type=submit]');
  await page.waitForFunction((u) => document.querySelector('#who')?.textContent.includes(u), user);
  // Marks this document: a reload or navigation would lose it.
  await page.evaluate(() => { window.__sameDocument = true; });
}
const sameDocument = (page) => page.evaluate(() => window.__sameDocument === true);

// The engineer's terminal size as the target's shell sees it: `stty size` prints "ROWS COLS".
let sizeNo = 0;
async function ttySize(page) {
  sizeNo += 1;
  const tag = `SIZE${sizeNo}`;
  await page.click('#eng-terminal .term');
  await page.keyboard.type(`echo ${tag}=$(stty size | tr ' ' x)`);
  await page.keyboard.press('Enter');
  const re = new RegExp(`${tag}=(\\d+)x(\\d+)`);
  await page.waitForFunction((r) => new RegExp(r).test(document.querySelector('#eng-terminal .xterm-rows')?.textContent ?? ''), re.source);
  const m = (await screenText(page, '#eng-terminal')).match(re);
  return { rows: Number(m[1]), cols: Number(m[2]) };
}
// The watcher's terminal has that size: the size the view says, and as many screen rows.
async function watcherHasSize({ cols, rows }) {
  try {
    await appr.waitForFunction(([c, r]) => {
      const box = document.querySelector('#appr-sessions .terminal-box');
      return box?.querySelector('.toolbar .size')?.textContent === `${c}×${r}`
        && box.querySelectorAll('.xterm-rows > div').length === r;
    }, [cols, rows], { timeout: 10000 });
  } catch (err) {
    const got = await appr.evaluate(() => {
      const box = document.querySelector('#appr-sessions .terminal-box');
      return `${box?.querySelector('.toolbar .size')?.textContent}, ${box?.querySelectorAll('.xterm-rows > div').length} rows`;
    });
    throw new Error(`the watcher's view is not ${cols}×${rows} like the engineer's terminal: ${got}`);
  }
}

const marker = `INC-BROWSER-${process.pid}`;
const secret = `Pw7-${process.pid}-qZ`;
let requestId = '';
let eng; let appr; let aud;

try {
  await step('approver_logs_in_before_the_request_and_sees_the_desk', async () => {
    appr = await person('approver');
    await logIn(appr, approver, process.env.MENWEI_APPROVER_TOTP_HEX);
    await appr.waitForSelector('#appr-queue');
    const who = await appr.textContent('#who');
    assert(who.includes('审批员'), `approver role shown in Chinese: ${who}`);
    // The live indicator: the queue's event stream is open.
    await appr.waitForSelector('#live-indicator:not([hidden])');
    await snap(appr, 'approver-queue-empty');
  });

  await step('a_engineer_logs_in_and_files_a_request_from_the_page', async () => {
    eng = await person('engineer');
    await eng.goto(`${base}/`);
    await eng.waitForSelector('#login form');
    await snap(eng, 'login');
    await logIn(eng, engineer, process.env.MENWEI_ENGINEER_TOTP_HEX);
    // The engineer lands on "my access"; the request form is under "requests".
    await eng.waitForSelector('#eng-grants');
    await eng.click('#nav a[data-page=requests]');
    await eng.waitForSelector('#eng-request form');
    // The form offers the targets the policy lets the engineer request, by name.
    await eng.check(`#eng-request input[name=targets][value="${target}"]`);
    await eng.fill('#eng-request input[name=reason]', 'browser e2e: disk almost full');
    await eng.fill('#eng-request input[name=incident]', marker);
    await eng.selectOption('#eng-request select[name=level]', 'B');
    await eng.fill('#eng-request input[name=duration]', '30m');
    await snap(eng, 'engineer-request-form');
    await eng.click('#eng-request button[type=submit]');
    const ok = await eng.waitForSelector('#messages .msg.ok');
    const text = await ok.textContent();
    const m = text.match(/r-[0-9a-z]+/);
    assert(m, `the page names the filed request: ${text}`);
    requestId = m[0];
    await eng.waitForFunction((id) => document.querySelector('#eng-mine')?.textContent.includes(id), requestId);
    const row = await eng.textContent(`#eng-mine tr:has-text("${requestId}")`);
    assert(row.includes('待审批') && row.includes(marker) && row.includes(target), `my request row: ${row}`);
    await snap(eng, 'engineer-request-filed');
  });

  await step('b_approver_sees_it_arrive_without_reload_and_approves_with_a_comment', async () => {
    await appr.waitForFunction((id) => document.querySelector('#appr-queue')?.textContent.includes(id), requestId);
    assert(await sameDocument(appr), 'the approver page was reloaded');
    const row = appr.locator('#appr-queue tr', { hasText: requestId });
    const text = await row.textContent();
    assert(text.includes(engineer) && text.includes(marker) && text.includes('B') && text.includes('/ 30 分钟'),
      `queue row has engineer, incident, level and time waiting against 30 min: ${text}`);
    await snap(appr, 'approver-queue-live');
    await row.locator('input.comment').fill('approved from the browser test');
    await row.locator('button.ok').click();
    await appr.waitForSelector('#messages .msg.ok');
    await appr.waitForFunction((id) => !document.querySelector('#appr-queue')?.textContent.includes(id), requestId);
    await snap(appr, 'approver-approved');
  });

  await step('c_engineer_sees_the_grant_opens_the_terminal_and_sees_the_answer', async () => {
    await eng.click('#nav a[data-page=access]');
    const open = eng.locator('#eng-grants button', { hasText: target });
    await open.waitFor();
    assert(await sameDocument(eng), 'the engineer page was reloaded');
    await eng.waitForFunction((id) => document.querySelector(`#eng-mine`)?.textContent.match(new RegExp(`${id}.*已批准`)), requestId);
    await snap(eng, 'engineer-grant-live');
    await open.click();
    // The terminal has its own page, which the button opens.
    await eng.waitForFunction(() => location.hash === '#/terminal');
    await eng.waitForSelector('#eng-terminal .xterm-rows');
    // What a person waits for before typing: the target's shell prompt.
    await eng.waitForFunction(() => /[$#] *$/m.test(document.querySelector('#eng-terminal .xterm-rows')?.innerText ?? ''));
    await eng.click('#eng-terminal .term');
    await eng.keyboard.type('echo BROWSER_$((6*7))');
    await eng.keyboard.press('Enter');
    await waitScreen(eng, '#eng-terminal', 'BROWSER_42');
    await snap(eng, 'engineer-terminal');
    await noteSeen(eng, 'after the first command');
  });

  await step('c2_engineer_types_chinese_and_the_shell_prints_it_back', async () => {
    await eng.click('#eng-terminal .term');
    await eng.keyboard.type('echo 你好世界');
    await eng.keyboard.press('Enter');
    // The output line is the four characters alone: in the C locale readline took their
    // bytes for Meta keys and the line came out empty or garbled.
    try {
      await eng.waitForFunction(() => [...document.querySelectorAll('#eng-terminal .xterm-rows > div')]
        .some((row) => row.textContent.trim() === '你好世界'));
    } catch (err) {
      throw new Error(`no output line 你好世界; the screen shows: ${JSON.stringify((await screenText(eng, '#eng-terminal')).replace(/\s+/g, ' ').slice(-400))}`);
    }
    await snap(eng, 'engineer-terminal-chinese');
    await noteSeen(eng, 'after the Chinese command');
  });

  await step('c3_engineer_types_a_password_at_a_prompt_that_does_not_echo', async () => {
    await eng.click('#eng-terminal .term');
    // The prompt is spelled apart in the command line, so only the prompt itself matches.
    await eng.keyboard.type(`read -s -p 'Pass''word: ' P; echo; echo "got \${#P}"`);
    await eng.keyboard.press('Enter');
    await waitScreen(eng, '#eng-terminal', 'Password: ');
    await eng.keyboard.type(secret);
    await eng.keyboard.press('Enter');
    await waitScreen(eng, '#eng-terminal', `got ${secret.length}`);
    assert(!(await screenText(eng, '#eng-terminal')).includes(secret), 'the terminal echoed the password');
  });

  await step('d_approver_watches_live_and_terminates_and_the_engineer_is_told', async () => {
    await appr.click('#nav a[data-page=live]');
    const row = appr.locator('#appr-sessions tr', { hasText: engineer });
    await row.waitFor();
    assert(await sameDocument(appr), 'the approver page was reloaded');
    await row.locator('button:not(.danger)').click();
    await waitScreen(appr, '#appr-sessions', 'BROWSER_42');
    // New output reaches the watcher as it happens.
    await eng.click('#eng-terminal .term');
    await eng.keyboard.type('echo WATCH_$((7*8))');
    await eng.keyboard.press('Enter');
    await waitScreen(eng, '#eng-terminal', 'WATCH_56');
    await waitScreen(appr, '#appr-sessions', 'WATCH_56', 10000);
    await snap(appr, 'approver-watch');

    // The engineer's window changes size; the watcher's view follows.
    const before = await ttySize(eng);
    await watcherHasSize(before);
    await eng.setViewportSize({ width: 1000, height: 640 });
    // The page fits its terminal to the new window.
    await eng.waitForFunction((r) => document.querySelectorAll('#eng-terminal .xterm-rows > div').length !== r, before.rows);
    const after = await ttySize(eng);
    assert(after.cols !== before.cols && after.rows !== before.rows,
      `the engineer's terminal changed size: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    await watcherHasSize(after);
    await snap(appr, 'approver-watch-resized');
    await noteSeen(eng, 'after the resize');
    appr.once('dialog', (d) => d.accept());
    await appr.click('#appr-sessions .terminal-box .toolbar button.danger');
    await eng.waitForFunction(() => (document.querySelector('#eng-terminal .terminal-box .status')?.textContent ?? '').includes('会话已结束'));
    await noteSeen(eng, 'after the session ended');
    const status = await eng.textContent('#eng-terminal .terminal-box .status');
    assert(status.includes(approver), `the end message says who ended it: ${status}`);
    await snap(eng, 'engineer-session-ended');
    await appr.waitForFunction(() => (document.querySelector('#appr-sessions .terminal-box .status')?.textContent ?? '').includes('会话已结束'));
    // The watcher is told why: by whom, not "the engineer closed the connection".
    await waitScreen(appr, '#appr-sessions', `an approver (${approver}) ended the session`, 5000);
    // And the active-session list drops it without a reload.
    await appr.waitForFunction(() => !document.querySelector('#appr-sessions table')?.textContent.includes('web01'));
    assert(await sameDocument(appr), 'the approver page was reloaded');
    await snap(appr, 'approver-watch-ended');
  });

  await step('e_auditor_finds_the_session_searches_the_replay_and_jumps_to_the_output', async () => {
    aud = await person('auditor');
    await logIn(aud, auditor, process.env.MENWEI_AUDITOR_TOTP_HEX);
    // The auditor lands on the overview; sessions are a page of their own.
    await aud.waitForSelector('#aud-overview');
    await aud.click('#nav a[data-page=sessions]');
    await aud.waitForSelector('#aud-sessions form');
    await aud.fill('#aud-sessions input[name=engineer]', engineer);
    await aud.click('#aud-sessions button[type=submit]');
    const row = aud.locator('#aud-sessions tr', { hasText: marker });
    await row.waitFor();
    const text = await row.textContent();
    assert(text.includes(engineer) && text.includes(target) && text.includes('B'), `session row: ${text}`);
    await snap(aud, 'auditor-sessions');
    await row.locator('a.button').click();
    await aud.waitForSelector('#aud-replay .xterm-rows');
    // The replay has its own URL.
    const replayUrl = aud.url();
    assert(/#\/replay\/s-[0-9a-z]+$/.test(replayUrl), `replay URL: ${replayUrl}`);
    await aud.waitForSelector('#find');
    await aud.fill('#find', 'BROWSER_42');
    await aud.press('#find', 'Enter');
    const hit = aud.locator('#hits li a').first();
    await hit.waitFor();
    const hits = await aud.evaluate(() => window.menwei && document.querySelectorAll('#hits li a').length);
    assert(hits >= 1, `search hits: ${hits}`);
    await hit.click();
    await waitScreen(aud, '#aud-replay', 'BROWSER_42');
    const later = await screenText(aud, '#aud-replay');
    assert(!later.includes('WATCH_56'), `the replay jumped to the hit, not to the end: ${later.replace(/\s+/g, ' ').slice(-300)}`);
    await snap(aud, 'auditor-replay-hit');

    // The typed password: a `••••` mark, in no text of the page, not found by search.
    const secretMark = aud.locator('#marks li.secret').first();
    await secretMark.waitFor();
    assert((await secretMark.textContent()).includes('••••'), `secret mark: ${await secretMark.textContent()}`);
    assert((await aud.textContent('#commands')).includes('••••'), `commands: ${await aud.textContent('#commands')}`);
    assert(!(await aud.evaluate(() => document.body.textContent)).includes(secret), 'the password is on the page');
    await aud.fill('#find', secret);
    await aud.press('#find', 'Enter');
    await aud.waitForSelector('#hits li.empty');
    await snap(aud, 'auditor-replay-masked');
    // Unmasking asks for a reason; then the mark shows what was typed.
    aud.once('dialog', (d) => d.accept(`unmask for ${marker}`));
    await aud.click('#unmask');
    await aud.waitForFunction((s) => (document.querySelector('#marks li.secret')?.textContent ?? '').includes(s), secret);
    assert(!(await aud.isVisible('#unmask')), 'the unmasked replay still offers to unmask');
    await snap(aud, 'auditor-replay-unmasked');
  });

  await step('e2_the_replay_url_survives_a_reload', async () => {
    const url = aud.url();
    await aud.reload();
    await aud.waitForSelector('#aud-replay .xterm-rows');
    assert(aud.url() === url, `after the reload: ${aud.url()} (was ${url})`);
    assert(await aud.isVisible('#aud-replay') && !(await aud.isVisible('#aud-sessions')), 'the reload shows the replay page');
    await snap(aud, 'auditor-replay-reloaded');
  });

  await step('f_the_approvers_login_ends_elsewhere_and_the_page_says_so', async () => {
    // As from another tab: the same cookie logs out; the page itself is not told.
    const status = await appr.evaluate(async () => {
      const csrf = document.cookie.split('; ').find((c) => c.startsWith('__Host-menwei_csrf='))?.split('=')[1] ?? '';
      const r = await fetch('/api/v1/logout', { method: 'POST', headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' }, body: '{}' });
      return r.status;
    });
    assert(status === 204, `logout: ${status}`);
    const at = Date.now();
    await appr.waitForFunction(() => (document.querySelector('#messages')?.textContent ?? '').includes('您的网页登录已结束'), null, { timeout: 5000 });
    console.log(`the approver's page said its login ended ${Date.now() - at} ms after the logout`);
    await snap(appr, 'approver-login-ended');
  });

  await step('no_uncaught_errors_in_any_page', async () => {
    assert(pageErrors.length === 0, pageErrors.join('\n'));
  });
} finally {
  await browser.close().catch(() => {});
  writeFileSync(seenFile, Buffer.concat(seen.map((x) => (Array.isArray(x) ? Buffer.concat(x) : Buffer.from(`\n${x}\n`)))));
}

process.exit(finish() ? 1 : 0);
