import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresAnswers, probe, redisAnswers } from './services.js';

/** The service probes against loopback servers that answer right, wrong, or not at all. */
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A TCP server on a free loopback port that answers each request with `reply` (or stays silent). */
async function fake(reply?: string | Buffer): Promise<string> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => (reply === undefined ? undefined : socket.write(reply)));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return `127.0.0.1:${address.port}`;
}

describe('redisAnswers', () => {
  it('is true for +PONG and for -NOAUTH (there, wanting a password)', async () => {
    expect(await redisAnswers(`redis://${await fake('+PONG\r\n')}`)).toBe(true);
    expect(await redisAnswers(`redis://${await fake('-NOAUTH Authentication required.\r\n')}`)).toBe(true);
  });

  it('is false for a refused port, another protocol, or silence (within its timeout)', async () => {
    expect(await redisAnswers('redis://127.0.0.1:1')).toBe(false);
    expect(await redisAnswers(`redis://${await fake('HTTP/1.1 400 Bad Request\r\n\r\n')}`)).toBe(false);
    const t0 = Date.now();
    expect(await redisAnswers(`redis://${await fake()}`, 300)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('postgresAnswers', () => {
  it("is true for the one-byte answer to an SSLRequest, 'S' or 'N'", async () => {
    expect(await postgresAnswers(`postgres://u@${await fake('N')}/db`)).toBe(true);
    expect(await postgresAnswers(`postgres://u@${await fake('S')}/db`)).toBe(true);
  });

  it('is false for a refused port or another protocol', async () => {
    expect(await postgresAnswers('postgres://u@127.0.0.1:1/db')).toBe(false);
    expect(await postgresAnswers(`postgres://u@${await fake('+PONG\r\n')}/db`)).toBe(false);
  });
});

describe('probe', () => {
  it('sends the request it is given', async () => {
    let got = '';
    const server = createServer((socket) => socket.once('data', (d) => ((got = d.toString()), socket.end('ok'))));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    expect(await probe('127.0.0.1', port, Buffer.from('hello'), (r) => r.toString() === 'ok')).toBe(true);
    expect(got).toBe('hello');
  });
});
