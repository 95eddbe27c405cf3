import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { createNodeServer, createServeApp } from '../../src/serve/index.js';
import { TOKEN } from './helpers.js';

/**
 * The serve app behind the same Node listener `startServe` uses, on loopback. No flow is
 * started: every request here is refused before the app would reach OpenCode.
 */
let server: Server;
let port: number;

beforeAll(async () => {
  const flow = new OpencodeFlow({
    serverUrl: 'http://127.0.0.1:9',
    flowsDir: join(tmpdir(), `ocf-adapter-${process.pid}`),
  });
  const { app } = createServeApp(flow, { token: TOKEN });
  server = createNodeServer(app.fetch);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends bytes as they are over TCP and reads the answer until the server closes. */
function raw(request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`no answer to ${JSON.stringify(request)}`)), 10_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) });
    });
    socket.end(request);
  });
}

const auth = `Authorization: Bearer ${TOKEN}\r\n`;

describe("requests the HTTP layers refuse get the API's JSON error body", () => {
  it('a well-formed request reaches the app (the harness itself works)', async () => {
    const r = await raw('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ status: 'ok' });
  });

  it.each([
    ['a Host with a space', 'GET /flows HTTP/1.1\r\nHost: a b\r\n' + auth + '\r\n'],
    ['a Host with a path', 'GET /flows HTTP/1.1\r\nHost: 127.0.0.1:1/evil\r\n' + auth + '\r\n'],
  ])('bad Host (%s): 400 with a JSON body naming the host', async (_what, request) => {
    const r = await raw(request);
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(r.body) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toMatch(/host/i);
  });

  it.each([
    [
      'a Content-Length that is not a number',
      'POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}',
    ],
    [
      'two Content-Lengths that disagree',
      'POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}',
    ],
    [
      'a Content-Length beside chunked encoding',
      'POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
  ])('lying Content-Length (%s): 400 with a JSON body, connection closed', async (_what, request) => {
    const r = await raw(request);
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers.connection).toBe('close');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    const body = JSON.parse(r.body) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toMatch(/^malformed HTTP request: /);
  });

  it('oversized headers: 431 with a JSON body', async () => {
    const r = await raw(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(JSON.parse(r.body)).toEqual({
      error: { code: 'headers_too_large', message: 'request headers are too large' },
    });
  });
});
