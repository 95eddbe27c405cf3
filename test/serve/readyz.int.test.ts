import { createServer, Socket, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { needRedis } from '../helpers/services.js';
import { call, TOKEN, waitFor } from './helpers.js';

/**
 * Readiness follows its dependencies: the memory backend (Redis, reached through a TCP
 * proxy we can cut) and the OpenCode server (which we stop). This file owns its OpenCode.
 */
const redis = await needRedis();
const redisUrl = new URL(redis.url);

/** A TCP proxy to Redis that can refuse and cut connections. */
function redisProxy(): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let refuse = false;
  const server: Server = createServer((client) => {
    if (refuse) return void client.destroy();
    const upstream = new Socket();
    upstream.connect(Number(redisUrl.port || 6379), redisUrl.hostname);
    client.pipe(upstream).pipe(client);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as { port: number }).port,
        cut() {
          refuse = true;
          for (const s of sockets) s.destroy();
        },
        restore() {
          refuse = false;
        },
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    ),
  );
}

let llm: ScriptedLLM;
let oc: TestOpencode;
let proxy: Awaited<ReturnType<typeof redisProxy>>;
let serve: RunningServe;

beforeAll(async () => {
  if (!redis.up) return; // every test below is skipped
  llm = await startScriptedLLM();
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  proxy = await redisProxy();
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: oc.url,
    flowOptions: {
      memory: `redis://127.0.0.1:${proxy.port}/0?prefix=ocf-serve-readyz-${process.pid}:`,
      model: 'scripted/small',
    },
  });
});

afterAll(async () => {
  await serve?.close();
  await proxy?.close();
  await oc?.stop();
  await llm?.close();
});

describe.skipIf(!redis.up)('/readyz', () => {
  it('is 503 naming the memory backend while it is unreachable, and ready again after', async () => {
    const ok = await call(serve.url, 'GET', '/readyz', { token: null });
    expect(ok.status).toBe(200);
    expect(ok.body.checks.memory).toEqual({ ok: true });

    proxy.cut();
    const down = await call(serve.url, 'GET', '/readyz', { token: null });
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.checks.opencode.ok).toBe(true);
    expect(down.body.checks.memory.ok).toBe(false);
    expect(down.body.reasons).toHaveLength(1);
    expect(down.body.reasons[0]).toMatch(/^memory: /);
    expect((await call(serve.url, 'GET', '/healthz', { token: null })).status).toBe(200);

    proxy.restore();
    await waitFor(async () => (await call(serve.url, 'GET', '/readyz', { token: null })).status === 200, {
      what: 'readyz to recover',
      timeoutMs: 20_000,
      intervalMs: 250,
    });
  });

  it('is 503 naming OpenCode once its server is stopped; /healthz stays 200', async () => {
    expect((await call(serve.url, 'GET', '/readyz', { token: null })).status).toBe(200);
    await oc.stop();
    const t0 = Date.now();
    const r = await call(serve.url, 'GET', '/readyz', { token: null });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r.status).toBe(503);
    expect(r.body.ready).toBe(false);
    expect(r.body.checks.opencode.ok).toBe(false);
    expect(r.body.checks.opencode.error).toContain(oc.url);
    expect(r.body.checks.memory.ok).toBe(true);
    expect(r.body.reasons).toEqual([expect.stringMatching(/^opencode: OpenCode server at .* is not reachable/)]);
    const h = await call(serve.url, 'GET', '/healthz', { token: null });
    expect(h.status).toBe(200);
  });

  it('is 503 while shutting down', async () => {
    const closing = serve.handle.close();
    const r = await call(serve.url, 'GET', '/readyz', { token: null });
    expect(r.status).toBe(503);
    expect(r.body.reasons[0]).toBe('shutting down');
    const post = await call(serve.url, 'POST', '/flows', { body: { task: 'late', agents: ['coder'] } });
    expect(post.status).toBe(503);
    expect(post.body.error.code).toBe('shutting_down');
    await closing;
  });
});
