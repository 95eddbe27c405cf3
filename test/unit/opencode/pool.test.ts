import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OpencodeClient } from '../../../src/opencode/client.js';
import type { EventHub } from '../../../src/opencode/events.js';
import { OpencodePool, type PoolMember } from '../../../src/opencode/pool.js';

/**
 * The pool's bookkeeping and its judgement of a dead server, with hubs played by emitters and
 * servers by a real HTTP server (answers /global/health) and a port nobody listens on.
 */
class FakeHub extends EventEmitter {
  connected = true;
  drop() {
    this.connected = false;
    this.emit('disconnected', { reason: 'stream ended' });
  }
  back() {
    this.connected = true;
    this.emit('connected', { reconnect: true });
  }
}

let health: Server;
let healthUrl: string;
/** Health probes the live server has answered. */
let probesAnswered = 0;
let deadUrl: string;
beforeAll(async () => {
  health = createServer((req, res) => {
    if (req.url === '/global/health') res.on('finish', () => probesAnswered++);
    res.writeHead(req.url === '/global/health' ? 200 : 404).end('{}');
  });
  await new Promise<void>((r) => health.listen(0, '127.0.0.1', () => r()));
  healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
  // A port that was free a moment ago: connections to it are refused.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  deadUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((r) => probe.close(() => r()));
});
afterAll(() => new Promise<void>((r) => health.close(() => r())));

function pool(urls: string[], sessions: Record<string, string[]> = {}, confirmMs = 400) {
  const hubs = urls.map(() => new FakeHub());
  const members = urls.map((url, i) => ({
    endpoint: { url },
    hub: hubs[i] as unknown as EventHub,
    client: {
      getSession: async (id: string) => {
        if (!(sessions[url] ?? []).includes(id)) throw new Error('not found');
        return { id };
      },
    } as unknown as OpencodeClient,
  }));
  return { p: new OpencodePool(members, { confirmMs, probeTimeoutMs: 500 }), hubs };
}

describe('OpencodePool', () => {
  it('spreads new sessions by load, counting servers picked but not bound yet', () => {
    const { p } = pool([healthUrl, `${healthUrl}/b`, `${healthUrl}/c`]);
    const picks = [p.pick(), p.pick(), p.pick(), p.pick()].map((m) => m.index);
    expect(picks).toEqual([0, 1, 2, 0]);
    const [m0, m1] = p.members as PoolMember[];
    p.bind('s1', m0!, { picked: true });
    p.unpick(m1!);
    expect(p.members.map((m) => [m.sessions, m.pending])).toEqual([
      [1, 1],
      [0, 0],
      [0, 1],
    ]);
    expect(p.of('s1')).toBe(m0);
    p.release('s1');
    expect(p.of('s1')).toBeUndefined();
    expect(m0!.sessions).toBe(0);
    p.stop();
  });

  it('locates a session from before this process by asking the servers, then keeps it bound', async () => {
    const { p } = pool([healthUrl, deadUrl], { [deadUrl]: ['ses_old'] });
    expect((await p.locate('ses_old')).index).toBe(1);
    expect(p.of('ses_old')?.index).toBe(1);
    p.stop();
  });

  it('a server whose stream closed and whose probes are refused is lost; pick() avoids it; it comes back', async () => {
    const { p, hubs } = pool([deadUrl, healthUrl]);
    const lost: string[] = [];
    p.on('lost', (m, { reason }) => lost.push(`${m.index}: ${reason}`));
    const t0 = Date.now();
    hubs[0]!.drop();
    await expect.poll(() => lost.length, { timeout: 5000 }).toBe(1);
    // Not before its probes were refused for confirmMs.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(lost[0]).toMatch(/^0: its event stream closed and OpenCode server at .* is not reachable/);
    expect([p.pick().index, p.pick().index]).toEqual([1, 1]);
    hubs[0]!.back();
    expect(p.alive().map((m) => m.index)).toEqual([0, 1]);
    p.stop();
  });

  it('a server whose stream closed but which answers its health probe is not lost', async () => {
    const { p, hubs } = pool([healthUrl]);
    const lost: unknown[] = [];
    p.on('lost', (m) => lost.push(m));
    const before = probesAnswered;
    hubs[0]!.drop();
    // Its probe was answered: the pool keeps it (waiting on the answer, not on a clock).
    await vi.waitFor(() => expect(probesAnswered).toBeGreaterThan(before), { timeout: 5000, interval: 10 });
    await new Promise((r) => setImmediate(r));
    expect(lost).toEqual([]);
    expect(p.alive()).toHaveLength(1);
    p.stop();
  });

  it('with every server lost, pick() says so, naming them', async () => {
    const { p, hubs } = pool([deadUrl]);
    hubs[0]!.drop();
    await expect.poll(() => p.alive().length, { timeout: 5000 }).toBe(0);
    expect(() => p.pick()).toThrow(/no OpenCode server is left: .* are all gone/);
    p.stop();
  });
});
