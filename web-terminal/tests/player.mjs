// Headless check of the built page (web-terminal/dist): it loads without a server API and
// shows the login instead of a blank screen, and the wasm player replays a recording made
// by the recordings crate's writer: the screen shows the expected text, seeking backwards
// and forwards shows the screen of that time, search finds output and jumps to it, marks
// and the command list are there. Screenshots go to web-terminal/test-artifacts/.
//
//   node web-terminal/tests/player.mjs          (after web-terminal/build)
//   MWREC=path.mwrec                            use this recording instead of making one
//
// Prints "N passed, N failed" and exits non-zero on any failure.

import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve, launchArgs } from './serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const crate = join(here, '..');
const repo = join(crate, '..');
const dist = join(crate, 'dist');
const artifacts = join(crate, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });

if (!existsSync(join(dist, 'index.html'))) {
  console.error('dist/ is missing: run web-terminal/build first');
  process.exit(2);
}

let recording = process.env.MWREC;
if (!recording) {
  recording = join(tmpdir(), `menwei-small-${process.pid}.mwrec`);
  const made = spawnSync('cargo', ['run', '-q', '-p', 'web-terminal', '--example', 'make_recording', '--', 'small', recording],
    { cwd: repo, stdio: 'inherit' });
  if (made.status !== 0) { console.error('cannot make the test recording'); process.exit(2); }
}

const results = [];
async function test(name, fn) {
  try {
    await fn();
    results.push([name, null]);
    console.log(`ok   ${name}`);
  } catch (err) {
    results.push([name, err]);
    console.log(`FAIL ${name}\n     ${err && err.stack ? err.stack.split('\n').slice(0, 3).join('\n     ') : err}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

// The same recording without its key header: what a page gets that was not sent the key.
const keyless = join(tmpdir(), `menwei-keyless-${process.pid}.mwrec`);
copyFileSync(recording, keyless);
const server = await serve(dist, { '/fixtures/small.mwrec': recording, '/fixtures/keyless.mwrec': keyless });
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: launchArgs });
const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
if (process.env.DEBUG) page.on('console', (m) => console.log('console:', m.text()));

const screen = () => page.evaluate(() => document.querySelector('#aud-replay .xterm-rows')?.textContent ?? '');

try {
  await test('page_without_a_session_shows_the_login_in_chinese', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('#login form', { timeout: 10000 });
    const text = await page.textContent('#main');
    assert(text.includes('登录'), `login form in Chinese: ${text}`);
    await page.click('#lang');
    await page.waitForFunction(() => document.querySelector('#main').textContent.includes('Log in'));
    await page.click('#lang');
    await page.screenshot({ path: join(artifacts, 'login.png') });
  });

  await test('replay_shows_the_recorded_screen_and_seeks_both_ways', async () => {
    await page.goto(`${base}/?replay#replay=${encodeURIComponent("/fixtures/small.mwrec")}`);
    await page.waitForFunction(() => window.menweiPlayer, null, { timeout: 10000 });
    const duration = await page.evaluate(() => window.menweiPlayer.duration_ms());
    assert(duration === 40000, `duration 40 s, got ${duration}`);
    await page.evaluate(() => window.menweiPlayer.seek(40000));
    await page.waitForFunction(() => document.querySelector('#aud-replay .xterm-rows').textContent.includes('FINAL-SCREEN'), null, { timeout: 5000 });
    let s = await screen();
    assert(s.includes('line-200'), 'end screen shows the end of seq output');
    await page.screenshot({ path: join(artifacts, 'replay-end.png') });
    // Back in time: the later output must be gone.
    await page.evaluate(async () => {
      await window.menweiPlayer.seek(2500);
      await new Promise((r) => requestAnimationFrame(r));
    });
    await page.waitForFunction(() => document.querySelector('#aud-replay .xterm-rows').textContent.includes('hello-replay'), null, { timeout: 5000 });
    s = await screen();
    assert(s.includes('hello-replay'), `screen at 2.5 s shows the echo: ${s.slice(0, 300)}`);
    assert(!s.includes('line-1'), 'screen at 2.5 s shows nothing of the later command');
    await page.screenshot({ path: join(artifacts, 'replay-2500ms.png') });
  });

  await test('replay_plays_at_8x_with_idle_skipped', async () => {
    await page.selectOption('#speed', '8');
    await page.click('#play');
    // From 2.5 s, 27.5 s of recording of which 18 s idle cut to 2 s: about 1.5 s at 8×.
    await page.waitForFunction(() => document.querySelector('#aud-replay .xterm-rows').textContent.includes('FINAL-SCREEN'), null, { timeout: 8000 });
    const pos = await page.evaluate(() => window.menweiPlayer.position_ms());
    assert(pos >= 30000, `position after playing: ${pos}`);
    const bar = await page.$eval('#seek', (el) => Number(el.value));
    assert(bar >= 30000, `seek bar follows: ${bar}`);
  });

  await test('search_finds_output_and_jumps_to_it', async () => {
    await page.fill('#find', 'HELLO-replay');
    await page.press('#find', 'Enter');
    await page.waitForSelector('#hits li a');
    const hits = await page.evaluate(() => window.menweiPlayer.search('hello-replay'));
    assert(hits.length === 2, `typed echo and output: ${JSON.stringify(hits)}`);
    await page.click('#hits li:last-child a');
    await page.waitForFunction(() => {
      const text = document.querySelector('#aud-replay .xterm-rows').textContent;
      return !text.includes('FINAL-SCREEN') && text.includes('hello-replay');
    }, null, { timeout: 5000 });
    const pos = await page.evaluate(() => window.menweiPlayer.position_ms());
    assert(pos > 1000 && pos < 3000, `jumped to the hit: ${pos}`);
  });

  await test('marks_and_command_list_are_listed_with_the_disclaimer', async () => {
    const marks = await page.textContent('#marks');
    // In the page's language (zh-CN): the gateway's note and the command's exit.
    assert(marks.includes('授权将在 5 分钟后结束'), marks);
    assert(marks.includes('退出码 0'), marks);
    const cmds = await page.evaluate(() => window.menweiPlayer.commands().map((c) => c.text));
    assert(JSON.stringify(cmds) === JSON.stringify(['echo hello-replay', 'seq -f line-%g 1 200', 'uname -a']), JSON.stringify(cmds));
    const note = await page.textContent('#aud-replay');
    assert(note.includes('不是安全边界'), 'the command list says it is not a security boundary');
    await page.screenshot({ path: join(artifacts, 'replay-panel.png'), fullPage: true });
  });

  await test('a_damaged_recording_is_a_message_not_a_blank_page', async () => {
    await page.goto(`${base}/?damaged#replay=${encodeURIComponent("/index.html")}`);
    await page.waitForSelector('#aud-replay .msg.error', { timeout: 10000 });
    const text = await page.textContent('#aud-replay');
    assert(text.includes('录像无法读取'), text);
  });

  await test('an_encrypted_recording_is_decrypted_in_the_page_and_without_its_key_is_a_message', async () => {
    const onDisk = readFileSync(recording);
    assert(!onDisk.includes('hello-replay'), 'the recording file holds no plaintext');
    await page.goto(`${base}/?keyless#replay=${encodeURIComponent("/fixtures/keyless.mwrec")}`);
    await page.waitForSelector('#aud-replay .msg.error', { timeout: 10000 });
    const text = await page.textContent('#aud-replay');
    assert(text.includes('encrypted') && text.includes('data key'), text);
  });

  await test('no_uncaught_errors_in_the_page', async () => {
    assert(pageErrors.length === 0, pageErrors.join('\n'));
  });
} finally {
  await browser.close();
  server.close();
}

const failed = results.filter(([, e]) => e).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
