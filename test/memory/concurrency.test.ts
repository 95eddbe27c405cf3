import { afterAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { createMemoryClient, memoryMachine } from '../../machines/memory.js';
import type { MemoryBackend } from '../../src/memory/backend.js';
import type { MemoryOps } from '../../src/memory/ops.js';
import { createBackendMemoryOps } from '../../src/memory/backend-ops.js';
import { needRedis } from '../helpers/services.js';
import { exitOf, fileKit, redisKit, spawnFixture, sqliteKit, type BackendKit } from './helpers.js';

const redis = await needRedis();

const NS = 'flow:concurrency';
const WRITERS = 20;
const PER_WRITER = 500;

async function incrLoops(ops: MemoryOps, key: string): Promise<void> {
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (let i = 0; i < PER_WRITER; i++) await ops.incr(key);
    }),
  );
}

/** Each writer adds 1 `perWriter` times with get + cas, retrying on conflict; returns the retries. */
async function casLoops(ops: MemoryOps, key: string, perWriter: number): Promise<number> {
  let retries = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (let i = 0; i < perWriter; i++) {
        for (;;) {
          const current = await ops.get(key);
          const next = (typeof current === 'number' ? current : 0) + 1;
          if ((await ops.cas(key, current, next)).ok) break;
          retries++;
        }
      }
    }),
  );
  return retries;
}

function actorOps(backend: MemoryBackend) {
  const actor = createActor(memoryMachine, { input: { backend, namespace: NS } }).start();
  return { ops: createMemoryClient(actor), stop: () => actor.stop() };
}

describe('in one process: 20 writers x 500 incr = 10000', () => {
  const kits = { file: fileKit(), sqlite: sqliteKit(), redis: redisKit() };
  afterAll(() => Promise.all(Object.values(kits).map((k) => k.cleanup())));

  it('file backend, through the memory actor', { timeout: 240_000 }, async () => {
    const backend = await kits.file.open();
    const { ops, stop } = actorOps(backend);
    await incrLoops(ops, 'n');
    expect(await ops.get('n')).toBe(WRITERS * PER_WRITER);
    stop();
  });

  it('sqlite backend, direct', async () => {
    const backend = await kits.sqlite.open();
    await incrLoops(createBackendMemoryOps(backend, { namespace: NS }), 'n');
    expect((await backend.get(NS, 'n'))!.value).toBe(10_000);
  });

  it.skipIf(!redis.up)('redis backend, direct', async () => {
    const backend = await kits.redis.open();
    await incrLoops(createBackendMemoryOps(backend, { namespace: NS }), 'n');
    expect((await backend.get(NS, 'n'))!.value).toBe(10_000);
  });
});

describe('in one process: 20 writers x CAS retry loops lose no update', () => {
  const kits = { file: fileKit(), sqlite: sqliteKit(), redis: redisKit() };
  afterAll(() => Promise.all(Object.values(kits).map((k) => k.cleanup())));

  it('file backend, through the memory actor', { timeout: 240_000 }, async () => {
    const { ops, stop } = actorOps(await kits.file.open());
    const retries = await casLoops(ops, 'c', 50);
    expect(await ops.get('c')).toBe(WRITERS * 50);
    // The actor interleaves the writers' get/cas pairs, so conflicts must have happened and been retried.
    expect(retries).toBeGreaterThan(0);
    stop();
  });

  it('sqlite backend, direct', async () => {
    const backend = await kits.sqlite.open();
    await casLoops(createBackendMemoryOps(backend, { namespace: NS }), 'c', 100);
    expect((await backend.get(NS, 'c'))!.value).toBe(WRITERS * 100);
  });

  it.skipIf(!redis.up)('redis backend, direct', async () => {
    const backend = await kits.redis.open();
    const retries = await casLoops(createBackendMemoryOps(backend, { namespace: NS }), 'c', 100);
    expect((await backend.get(NS, 'c'))!.value).toBe(WRITERS * 100);
    expect(retries).toBeGreaterThan(0);
  });
});

/** Starts 4 worker processes on one store, releases them together, waits for all. */
async function acrossProcesses(
  kit: BackendKit,
  mode: 'incr' | 'cas',
  writersPerProcess: number,
  perWriter: number,
): Promise<{ value: unknown; retries: number }> {
  const backend = await kit.open(); // creates the store; the workers open their own connections
  const children = Array.from({ length: 4 }, () =>
    spawnFixture('worker.ts', [kit.uri(), mode, NS, 'n', String(writersPerProcess), String(perWriter)]),
  );
  const outputs = children.map((c) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    return () => out;
  });
  const exits = children.map(exitOf);
  // Barrier: every worker has opened the store before any writes.
  await Promise.all(
    children.map(
      (c, i) =>
        new Promise<void>((resolve, reject) => {
          const check = () => (outputs[i]!().includes('ready\n') ? resolve() : undefined);
          c.stdout!.on('data', check);
          c.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
          check();
        }),
    ),
  );
  for (const c of children) c.stdin!.end('go\n');
  await Promise.all(exits);
  const retries = outputs
    .map((o) => JSON.parse(o().trim().split('\n').at(-1)!) as { retries: number })
    .reduce((sum, r) => sum + r.retries, 0);
  const value = (await backend.get(NS, 'n'))?.value;
  return { value, retries };
}

describe('across 4 OS processes', () => {
  const kits = { sqlite: sqliteKit(), redis: redisKit() };
  afterAll(() => Promise.all(Object.values(kits).map((k) => k.cleanup())));

  it('sqlite: 4 processes x 5 writers x 500 incr = 10000', { timeout: 120_000 }, async () => {
    expect((await acrossProcesses(kits.sqlite, 'incr', 5, 500)).value).toBe(10_000);
  });

  it.skipIf(!redis.up)('redis: 4 processes x 5 writers x 500 incr = 10000', { timeout: 120_000 }, async () => {
    expect((await acrossProcesses(kits.redis, 'incr', 5, 500)).value).toBe(10_000);
  });

  it('sqlite: 4 processes x 5 writers x 100 CAS increments = 2000', { timeout: 120_000 }, async () => {
    const { value, retries } = await acrossProcesses(kits.sqlite, 'cas', 5, 100);
    expect(value).toBe(2000);
    expect(retries).toBeGreaterThan(0);
  });

  it.skipIf(!redis.up)('redis: 4 processes x 5 writers x 100 CAS increments = 2000', { timeout: 120_000 }, async () => {
    const { value, retries } = await acrossProcesses(kits.redis, 'cas', 5, 100);
    expect(value).toBe(2000);
    expect(retries).toBeGreaterThan(0);
  });
});
