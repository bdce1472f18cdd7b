// What the browser walks under tests/browser share: playwright-core (from web-terminal's
// node_modules), Debian's Chromium launched headless (CHROMIUM to use another), named
// steps that print "ok NAME" or "FAIL NAME" with the error, and the closing line
// "N passed, N failed" the Rust side checks. Not here: what any walk checks.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { chromium } = createRequire(join(repo, 'web-terminal', 'package.json'))('playwright-core');

// Chromium, headless, with a fresh temporary profile (Playwright gives every launch one).
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
    timeout: 30000,
  });
}

export function assert(cond, msg) { if (!cond) throw new Error(msg); }

// Steps of one walk. With `stopAtFirst`, the steps after a failure are reported as skipped
// (each builds on the one before); `onFailure(name)` runs after a failed step (e.g. to
// take screenshots).
export function steps({ stopAtFirst = false, onFailure = null } = {}) {
  const results = [];
  let broken = false;
  async function step(name, fn) {
    if (broken) {
      results.push([name, 'skipped']);
      console.log(`FAIL ${name} (skipped: an earlier step failed)`);
      return;
    }
    const t0 = Date.now();
    try {
      await fn();
      results.push([name, null]);
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (err) {
      broken = stopAtFirst;
      results.push([name, err]);
      console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${err && err.stack ? err.stack.split('\n').slice(0, 4).join('\n     ') : err}`);
      if (onFailure) await Promise.resolve(onFailure(name)).catch(() => {});
    }
  }
  // Prints the summary line; the number of failed steps.
  function finish() {
    const failed = results.filter(([, e]) => e).length;
    console.log(`${results.length - failed} passed, ${failed} failed`);
    return failed;
  }
  return { step, finish, results };
}
