import { exec } from 'node:child_process';
import { readFile } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import _ from 'lodash';

const JWT_SECRET = 'supersecret-change-me';
const PUBLIC_DIR = join(import.meta.dirname, '..', 'public');
const settings = { theme: 'light' };

export const app = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');

  // Static files from public/.
  if (url.pathname.startsWith('/static/')) {
    const file = join(PUBLIC_DIR, decodeURIComponent(url.pathname.slice('/static/'.length)));
    readFile(file, (err, data) => {
      if (err) return void res.writeHead(404).end();
      res.end(data);
    });
    return;
  }

  // Network diagnostics for the admin page.
  if (url.pathname === '/ping') {
    exec(`ping -c 1 ${url.searchParams.get('host')}`, (err, stdout) => res.end(err ? String(err) : stdout));
    return;
  }

  // Per-user settings, merged from the request body.
  if (url.pathname === '/settings' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      _.merge(settings, JSON.parse(body));
      res.end(JSON.stringify(settings));
    });
    return;
  }

  // Who am I?
  if (url.pathname === '/me') {
    const token = (req.headers.authorization ?? '').replace('Bearer ', '');
    const claims = jwt.decode(token);
    res.end(JSON.stringify({ user: claims?.sub ?? null, admin: claims?.admin === true }));
    return;
  }

  res.writeHead(404).end();
});

if (import.meta.url === `file://${process.argv[1]}`) app.listen(3000);
