import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requireToken, tokenMatches } from '../../src/serve/index.js';

const TOKEN = 'unit-test-token-0123456789';

function app(token: string | undefined) {
  const a = new Hono();
  a.get('/x', requireToken(token), (c) => c.text('in'));
  return a;
}

describe('requireToken', () => {
  it('lets the exact bearer token through, and nothing else', async () => {
    const a = app(TOKEN);
    const req = (headers: Record<string, string>) => a.request('http://127.0.0.1/x', { headers });
    expect((await req({ authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await req({ authorization: `bearer ${TOKEN}` })).status).toBe(200);
    for (const h of [
      {},
      { authorization: TOKEN },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(1)}` },
      { authorization: 'Bearer ' },
      { authorization: `Token ${TOKEN}` },
    ] as Array<Record<string, string>>) {
      const r = await req(h);
      expect(r.status, JSON.stringify(h)).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="opencode-flow"');
      expect((await r.json()).error.code).toBe('unauthorized');
    }
  });

  it('without a token answers only requests addressed to a loopback host (no DNS rebinding)', async () => {
    const a = app(undefined);
    const req = (host: string) => a.request('http://x/x', { headers: { host } });
    for (const host of ['127.0.0.1:5000', 'localhost:5000', '[::1]:5000', 'localhost'])
      expect((await req(host)).status, host).toBe(200);
    for (const host of ['evil.example:5000', 'evil.example', '10.0.0.2:5000']) {
      const r = await req(host);
      expect(r.status, host).toBe(403);
      expect((await r.json()).error.code).toBe('forbidden_host');
    }
  });

  it('compares tokens without regard to where they differ', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches('', TOKEN)).toBe(false);
    expect(tokenMatches(`${TOKEN}\0`, TOKEN)).toBe(false);
  });
});
