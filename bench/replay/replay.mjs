// Measures the wasm player (web-terminal/dist) in headless Chromium on the recording named by
// MWREC: time to open (parse, index, first frame drawn), time for the background keyframe
// pass, and seek times (p50/p99/max) over random positions, both before the keyframes are
// complete ("cold": tail approximation where they are missing) and after. A seek counts
// until xterm has processed the writes and the next animation frame has run (drawn).

import { statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const crate = join(here, '..', '..', 'web-terminal');
// playwright-core is installed by web-terminal/build (npm ci in web-terminal/).
const require = createRequire(join(crate, 'package.json'));
const { chromium } = require('playwright-core');
const { serve, launchArgs } = await import(join(crate, 'tests', 'serve.mjs'));

const recording = process.env.MWREC;
if (!recording) { console.error('MWREC=path.mwrec required'); process.exit(2); }
const seeks = Number(process.env.SEEKS || 50);

const server = await serve(join(crate, 'dist'), { '/fixtures/bench.mwrec': recording });
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: launchArgs });
const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
page.on('pageerror', (e) => console.error('page error:', String(e)));
// CPU time of the page's main thread (Chromium's ThreadTime metric) at marks the page sets:
// wall times swing with other load on the machine, CPU time much less.
const cdp = await page.context().newCDPSession(page);
await cdp.send('Performance.enable');
const cpu = {};
await page.exposeFunction('cpuMark', async (label) => {
  const { metrics } = await cdp.send('Performance.getMetrics');
  cpu[label] = metrics.find((m) => m.name === 'ThreadTime')?.value;
});
try {
  await page.goto(`${base}/?bench`);
  await page.waitForFunction(() => window.menwei && window.menwei.Player, null, { timeout: 20000 });
  const r = await page.evaluate(async (n) => {
    const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
    const res = await fetch('/fixtures/bench.mwrec');
    const b64 = res.headers.get('x-menwei-recording-key');
    const key = b64 ? Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)) : undefined;
    const buf = new Uint8Array(await res.arrayBuffer());
    document.querySelector('#main').replaceChildren();
    const el = document.createElement('div');
    document.querySelector('#main').append(el);
    await window.cpuMark('open');
    const t0 = performance.now();
    const p = new window.menwei.Player(buf, el, key);
    const tParsed = performance.now();
    await window.cpuMark('parsed');
    p.play();
    await p.seek(100);
    await frame();
    const tFirst = performance.now();
    await window.cpuMark('first');
    p.pause();
    const dur = p.duration_ms();
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    const measure = async (count) => {
      const times = []; let exact = 0;
      for (let i = 0; i < count; i++) {
        const at = rnd() * dur;
        const s = performance.now();
        const res = await p.seek(at);
        await frame();
        times.push(performance.now() - s);
        if (res.exact) exact++;
      }
      return { times, exact };
    };
    const cold = await measure(Math.min(20, n));
    const kfStart = performance.now();
    while (!p.keyframes().done) await new Promise((res) => setTimeout(res, 50));
    const kfMs = performance.now() - kfStart + (kfStart - tFirst);
    await window.cpuMark('warm');
    const warm = await measure(n);
    await window.cpuMark('warmed');
    const hits = p.search('ERROR').length;
    const s0 = performance.now(); p.search('request id=deadbeef'); const searchMs = performance.now() - s0;
    return { parseMs: tParsed - t0, firstMs: tFirst - t0, kfMs, kfCount: p.keyframes().count, cold, warm, dur, bytes: p.output_bytes(), hits, searchMs };
  }, seeks);
  const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
  const f = (x) => `${x.toFixed(0)} ms`;
  const mb = (x) => `${(x / 1e6).toFixed(1)} MB`;
  console.log(`\n### Replay in the browser (headless Chromium, ${new Date().toISOString().slice(0, 10)})\n`);
  console.log(`Recording: ${(r.dur / 3.6e6).toFixed(2)} h, ${mb(statSync(recording).size)} file, ${mb(r.bytes)} of terminal output.\n`);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| open: parse + verify + index (\`new Player\`) | ${f(r.parseMs)} |`);
  console.log(`| open: first frame drawn | ${f(r.firstMs)} |`);
  console.log(`| background keyframes (${r.kfCount}, every 256 KiB) complete after | ${f(r.kfMs)} |`);
  console.log(`| seek, keyframes complete: p50 / p99 / max (${r.warm.times.length} random) | ${f(pct(r.warm.times, 0.5))} / ${f(pct(r.warm.times, 0.99))} / ${f(Math.max(...r.warm.times))} |`);
  console.log(`| seek, right after open: p50 / p99 / max (${r.cold.times.length} random, ${r.cold.exact} exact) | ${f(pct(r.cold.times, 0.5))} / ${f(pct(r.cold.times, 0.99))} / ${f(Math.max(...r.cold.times))} |`);
  const c = (a, b) => (cpu[a] === undefined || cpu[b] === undefined ? 'n/a' : f((cpu[b] - cpu[a]) * 1000));
  console.log(`| main-thread CPU: open (\`new Player\`) / to first frame | ${c('open', 'parsed')} / ${c('open', 'first')} |`);
  const perSeek = cpu.warm === undefined || cpu.warmed === undefined ? 'n/a' : f((cpu.warmed - cpu.warm) * 1000 / r.warm.times.length);
  console.log(`| main-thread CPU per seek, keyframes complete (mean of ${r.warm.times.length}) | ${perSeek} |`);
  console.log(`| search the output (first search builds the text index; ${r.hits} hits for "ERROR") | ${f(r.searchMs)} (later search) |`);
} finally {
  await browser.close();
  server.close();
}
