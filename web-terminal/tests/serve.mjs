// A static file server for the built page (dist/) on 127.0.0.1 and a free port, for the
// headless tests and the replay benchmark. `fixtures` maps URL paths to files (recordings);
// a recording's data key, if `FILE.key` holds it (hex, as make_recording writes it), goes in
// the X-Menwei-Recording-Key header (base64) as the gateway's API sends it. Anything under
// /api/ answers 401 like a gateway to a visitor who is not logged in.

import http from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join, extname, normalize } from 'node:path';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };

export function serve(dir, fixtures) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/api/')) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'unauthenticated', message: 'no session' } }));
      return;
    }
    if (fixtures[url.pathname]) {
      const headers = { 'content-type': 'application/octet-stream' };
      const keyFile = `${fixtures[url.pathname]}.key`;
      if (existsSync(keyFile)) {
        headers['x-menwei-recording-key'] = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex').toString('base64');
      }
      res.writeHead(200, headers);
      res.end(readFileSync(fixtures[url.pathname]));
      return;
    }
    const path = normalize(join(dir, url.pathname === '/' ? 'index.html' : url.pathname));
    if (!path.startsWith(dir) || !existsSync(path)) { res.writeHead(404); res.end('not found'); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(path)] || 'application/octet-stream' });
    res.end(readFileSync(path));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Chromium flags for a headless run on a CI machine without a GPU or a sandbox.
export const launchArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

