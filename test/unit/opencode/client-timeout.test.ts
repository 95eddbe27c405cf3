import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeClient } from '../../../src/opencode/client.js';

/**
 * The client's request timeout covers the whole answer, body included, against a server that
 * stalls (a starting or overloaded one can): before its headers, or halfway through its body.
 */
let server: Server;
let url: string;
const held: ServerResponse[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith('/session/status')) {
      // The client's project directory (a query parameter or a header) says how to stall.
      const how = `${req.url} ${String(req.headers['x-opencode-directory'] ?? '')}`;
      if (how.includes('stall-headers')) return void held.push(res);
      if (how.includes('stall-body')) {
        res.writeHead(200, { 'content-type': 'application/json' }).write('{"ses_a":');
        return void held.push(res);
      }
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ses_a":{"type":"busy"}}');
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const client = (stall?: 'headers' | 'body') =>
  new OpencodeClient({ url, requestTimeoutMs: 300, ...(stall ? { directory: `/stall-${stall}` } : {}) });

describe('OpencodeClient request timeout', () => {
  it('reads a whole answer', async () => {
    await expect(client().status()).resolves.toEqual({ ses_a: { type: 'busy' } });
  });

  for (const stall of ['headers', 'body'] as const) {
    it(`fails a request that stalls before its ${stall} are whole, after the timeout`, async () => {
      const t0 = Date.now();
      await expect(client(stall).status()).rejects.toThrow(/timed out after 300 ms/);
      // A GET is tried up to three times; each try gets its own 300 ms.
      expect(Date.now() - t0).toBeLessThan(3000);
    });
  }
});
