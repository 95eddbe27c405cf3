import { connect, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createNodeServer } from '../../src/serve/node-server.js';

/** Hostile HTTP against serve's listener: what never arrives times out, a client that hangs up is no error. */
let server: Server | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function listen(limits: Parameters<typeof createNodeServer>[1]) {
  const bodies: string[] = [];
  server = createNodeServer(async (req) => {
    bodies.push(await req.text());
    return new Response('{}', { headers: { 'content-type': 'application/json' } });
  }, limits);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, bodies };
}

/** Write raw bytes and collect what comes back until the server closes the connection. */
function raw(port: number, bytes: string, hangUp = false) {
  return new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(bytes);
      if (hangUp) setImmediate(() => s.destroy());
    });
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
}

describe('serve listener limits', () => {
  it('a Content-Length larger than the body: 408 with the JSON error once the request timeout passes', async () => {
    const { port, bodies } = await listen({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const answer = await raw(port, 'POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"task":');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"request_timeout"');
    expect(bodies).toEqual([]);
  });

  it('headers never finished: 408 once the headers timeout passes', async () => {
    const { port } = await listen({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const answer = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a client that hangs up mid-body is no error: nothing logged, the server goes on', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { port } = await listen({});
    await raw(port, 'POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"task":', true);
    // The server still answers, and said nothing about the client that left.
    const ok = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'x' });
    expect(ok.status).toBe(200);
    expect(logged).not.toHaveBeenCalled();
  });
});
