import { afterAll, describe, expect, it } from 'vitest';
import { createActor, createMachine, type AnyActorRef, type AnyEventObject } from 'xstate';
import {
  createMemoryClient,
  memoryMachine,
  memoryWorker,
  runMemoryOp,
  type MemoryChangedEvent,
  type MemoryOpInput,
  type MemoryResultEvent,
  withMemoryBackend,
} from '../../machines/memory.js';
import { FlowError, FlowErrorCode } from '../../src/errors.js';
import type { MemoryChange } from '../../src/memory/ops.js';
import { needRedis } from '../helpers/services.js';
import { fileKit, redisKit, sleep } from './helpers.js';

const redis = await needRedis();

const NS = 'flow:actor';

/** An actor that records every event it receives. */
function recorder() {
  const received: AnyEventObject[] = [];
  const ref = createActor(
    createMachine({
      on: { '*': { actions: ({ event }) => void received.push(event) } },
    }),
  ).start();
  return { ref: ref as AnyActorRef, received, stop: () => ref.stop() };
}

/** A fake memory operation over a Map with random latency, tracking how many ops ran at once. */
function fakeOps() {
  const store = new Map<string, unknown>();
  const stats = { inFlight: 0, maxInFlight: 0, calls: [] as string[] };
  const logic = memoryWorker(async (input: MemoryOpInput) => {
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    stats.calls.push(`${input.request.type}:${input.namespace}:${'key' in input.request ? input.request.key : ''}`);
    try {
      await sleep(Math.random() * 4);
      const r = input.request;
      const k = `${input.namespace}/${'key' in r ? r.key : ''}`;
      const by = r.by ?? 'flow';
      switch (r.type) {
        case 'memory.set':
          store.set(k, r.value);
          return { value: null, change: { namespace: input.namespace, key: r.key, value: r.value, by, op: 'set' } };
        case 'memory.get':
          return { value: (store.get(k) ?? null) as never };
        case 'memory.incr': {
          if (r.key === 'boom') throw new FlowError(FlowErrorCode.Memory, 'boom failed');
          const n = ((store.get(k) as number | undefined) ?? 0) + (r.amount ?? 1);
          store.set(k, n);
          return { value: n, change: { namespace: input.namespace, key: r.key, value: n, by, op: 'incr' } };
        }
        default:
          return { value: null };
      }
    } finally {
      stats.inFlight--;
    }
  });
  return { logic, stats, store };
}

function startFake() {
  const fake = fakeOps();
  const machine = memoryMachine.provide({ actors: { memoryWorker: fake.logic } });
  // The backend is never touched: the provided worker replaces all I/O.
  const actor = createActor(machine, { input: { backend: {} as never, namespace: NS } }).start();
  return { actor, ...fake };
}

describe('memory actor (with a provided fake memoryWorker)', () => {
  it('runs requests one at a time and replies to replyTo in request order', async () => {
    const { actor, stats } = startFake();
    const rec = recorder();
    for (let i = 0; i < 30; i++) {
      actor.send({ type: 'memory.incr', requestId: `r${i}`, key: 'n', replyTo: rec.ref });
    }
    actor.send({ type: 'memory.get', requestId: 'last', key: 'n', replyTo: rec.ref });
    await sleep(0);
    await waitFor(() => rec.received.length === 31);
    const replies = rec.received as MemoryResultEvent[];
    expect(replies.map((r) => r.requestId)).toEqual([...Array.from({ length: 30 }, (_, i) => `r${i}`), 'last']);
    expect(replies.map((r) => (r.ok ? r.value : r.error))).toEqual([
      ...Array.from({ length: 30 }, (_, i) => i + 1),
      30,
    ]);
    expect(stats.maxInFlight).toBe(1);
    actor.stop();
    rec.stop();
  });

  it('emits memory.changed with by, and memory.result for every request', async () => {
    const { actor } = startFake();
    const changed: MemoryChangedEvent[] = [];
    const results: MemoryResultEvent[] = [];
    actor.on('memory.changed', (e) => void changed.push(e));
    actor.on('memory.result', (e) => void results.push(e));
    actor.send({ type: 'memory.set', requestId: 'a', key: 'plan', value: { steps: 2 }, by: 'planner' });
    actor.send({ type: 'memory.get', requestId: 'b', key: 'plan' });
    actor.send({ type: 'memory.incr', requestId: 'c', key: 'n', amount: 5, shared: true });
    await waitFor(() => results.length === 3);
    expect(changed).toEqual([
      { type: 'memory.changed', namespace: NS, key: 'plan', value: { steps: 2 }, by: 'planner', op: 'set' },
      { type: 'memory.changed', namespace: 'shared', key: 'n', value: 5, by: 'flow', op: 'incr' },
    ]);
    expect(results.map((r) => [r.requestId, r.ok])).toEqual([
      ['a', true],
      ['b', true],
      ['c', true],
    ]);
    actor.stop();
  });

  it('a failed operation replies an error and the actor keeps serving', async () => {
    const { actor } = startFake();
    const rec = recorder();
    actor.send({ type: 'memory.incr', requestId: 'bad', key: 'boom', replyTo: rec.ref });
    actor.send({ type: 'memory.incr', requestId: 'good', key: 'n', replyTo: rec.ref });
    await waitFor(() => rec.received.length === 2);
    expect(rec.received[0]).toEqual({
      type: 'memory.result',
      requestId: 'bad',
      ok: false,
      error: { code: 'memory', message: 'boom failed' },
    });
    expect(rec.received[1]).toMatchObject({ requestId: 'good', ok: true, value: 1 });
    expect(actor.getSnapshot().status).toBe('active');
    actor.stop();
  });

  it('watch sends memory.changed to the watcher for matching keys, in its namespace, until unwatch', async () => {
    const { actor } = startFake();
    const watcher = recorder();
    const replies = recorder();
    actor.send({ type: 'memory.watch', requestId: 'w', pattern: 'tasks/*', replyTo: watcher.ref });
    actor.send({ type: 'memory.watch', requestId: 'w2', pattern: 'plan', replyTo: watcher.ref, watchId: 'plan-watch' });
    actor.send({ type: 'memory.set', requestId: '1', key: 'tasks/1', value: 'a', by: 'coder' });
    actor.send({ type: 'memory.set', requestId: '2', key: 'other', value: 'b' });
    actor.send({ type: 'memory.set', requestId: '3', key: 'tasks/1', value: 'c', shared: true }); // other namespace
    actor.send({ type: 'memory.set', requestId: '4', key: 'plan', value: 'p' });
    actor.send({ type: 'memory.set', requestId: '5', key: 'planning', value: 'no' }); // exact key only
    actor.send({ type: 'memory.unwatch', requestId: 'u', watchId: 'watch-1', replyTo: replies.ref });
    actor.send({ type: 'memory.set', requestId: '6', key: 'tasks/2', value: 'after' });
    actor.send({ type: 'memory.watch', requestId: 'bad', pattern: '../*', replyTo: replies.ref });
    await waitFor(() => replies.received.length === 2);
    await sleep(10);
    const results = watcher.received.filter((e) => e.type === 'memory.result') as MemoryResultEvent[];
    expect(results).toEqual([
      { type: 'memory.result', requestId: 'w', ok: true, value: 'watch-1' },
      { type: 'memory.result', requestId: 'w2', ok: true, value: 'plan-watch' },
    ]);
    const changes = watcher.received.filter((e) => e.type === 'memory.changed') as MemoryChangedEvent[];
    expect(changes.map((c) => [c.key, c.value, c.by])).toEqual([
      ['tasks/1', 'a', 'coder'],
      ['plan', 'p', 'flow'],
    ]);
    expect(replies.received[0]).toMatchObject({ requestId: 'u', ok: true, value: true });
    expect(replies.received[1]).toMatchObject({ requestId: 'bad', ok: false, error: { code: 'memory' } });
    actor.stop();
  });

  it('stops notifying a watcher that has stopped', async () => {
    const { actor } = startFake();
    const watcher = recorder();
    actor.send({ type: 'memory.watch', requestId: 'w', pattern: '*', replyTo: watcher.ref });
    actor.send({ type: 'memory.set', requestId: '1', key: 'a', value: 1 });
    await waitFor(() => watcher.received.length === 2);
    watcher.stop();
    actor.send({ type: 'memory.set', requestId: '2', key: 'b', value: 2 });
    await waitFor(() => actor.getSnapshot().context.watchers.length === 0);
    expect(watcher.received).toHaveLength(2);
    actor.stop();
  });

  it('refuses requests beyond maxQueue at once', async () => {
    const fake = fakeOps();
    const actor = createActor(memoryMachine.provide({ actors: { memoryWorker: fake.logic } }), {
      input: { backend: {} as never, namespace: NS, maxQueue: 3 },
    }).start();
    const results: MemoryResultEvent[] = [];
    actor.on('memory.result', (e) => void results.push(e));
    for (let i = 0; i < 6; i++) actor.send({ type: 'memory.incr', requestId: `r${i}`, key: 'n' });
    await waitFor(() => results.length === 6);
    // r0 is running; r1-r3 wait; r4 and r5 find the queue full.
    expect(results.filter((r) => !r.ok).map((r) => r.requestId)).toEqual(['r4', 'r5']);
    expect(results.find((r) => r.requestId === 'r4')).toMatchObject({
      error: { message: expect.stringMatching(/busy: 3 requests/) },
    });
    actor.stop();
  });

  it('rejects a bad namespace at start', () => {
    const actor = createActor(memoryMachine, { input: { backend: {} as never, namespace: 'flow:x/..' } });
    const errors: unknown[] = [];
    actor.subscribe({ error: (e) => void errors.push(e) });
    actor.start();
    expect(actor.getSnapshot().status).toBe('error');
    expect(String(errors[0])).toMatch(/invalid memory namespace/);
  });
});

describe('createMemoryClient over a real file backend', () => {
  const kit = fileKit();
  afterAll(() => kit.cleanup());

  it('resolves each call with its result, routes shared, and watch fires with by', async () => {
    const backend = await kit.open();
    const actor = createActor(memoryMachine, { input: { backend, namespace: NS } }).start();
    const memory = createMemoryClient(actor, { by: 'supervisor' });
    const seen: MemoryChange[] = [];
    const sharedSeen: MemoryChange[] = [];
    const stop = memory.watch('results/*', (c) => seen.push(c));
    memory.watch('*', (c) => sharedSeen.push(c), { shared: true });

    await memory.set('results/coder', { files: 3 }, { by: 'coder' });
    await memory.set('plan', 'x');
    expect(await memory.get('results/coder')).toEqual({ files: 3 });
    expect(await memory.get('missing')).toBeNull();
    expect(await memory.incr('count')).toBe(1);
    expect(await memory.incr('count', 4, { by: 'tester' })).toBe(5);
    expect(await memory.cas('lock', null, 'me')).toEqual({ ok: true, current: 'me' });
    expect(await memory.cas('lock', null, 'you')).toEqual({ ok: false, current: 'me' });
    expect((await memory.list('results/')).map((e) => [e.key, e.value])).toEqual([['results/coder', { files: 3 }]]);
    await memory.set('results/tester', 'ok', { ttlMs: 60_000 });
    expect(await memory.delete('results/tester')).toBe(true);
    expect(await memory.delete('results/tester')).toBe(false);
    await memory.set('announce', 'hello', { shared: true, by: 'coder' });
    expect(await memory.get('announce')).toBeNull();
    expect(await memory.get('announce', { shared: true })).toBe('hello');
    expect((await backend.get('shared', 'announce'))!.value).toBe('hello');
    expect((await backend.get(NS, 'results/coder'))!.value).toEqual({ files: 3 });

    expect(seen.map((c) => [c.key, c.value, c.by, c.op])).toEqual([
      ['results/coder', { files: 3 }, 'coder', 'set'],
      ['results/tester', 'ok', 'supervisor', 'set'],
      ['results/tester', null, 'supervisor', 'delete'],
    ]);
    expect(sharedSeen).toEqual([{ namespace: 'shared', key: 'announce', value: 'hello', by: 'coder', op: 'set' }]);

    stop();
    await memory.set('results/late', 1);
    expect(seen).toHaveLength(3);

    const e = await memory.set('../x', 1).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(FlowError);
    expect((e as FlowError).code).toBe(FlowErrorCode.Memory);
    expect(() => memory.watch('bad pattern', () => undefined)).toThrow(/invalid memory key/);
    actor.stop();
  });

  it('rejects pending and later calls once the actor stops', async () => {
    const backend = await kit.open();
    const slow = memoryWorker(async (input) => {
      await sleep(50);
      return runMemoryOp(backend, input);
    });
    const actor = createActor(memoryMachine.provide({ actors: { memoryWorker: slow } }), {
      input: { backend, namespace: NS },
    }).start();
    const memory = createMemoryClient(actor);
    const pending = memory.set('k', 1);
    actor.stop();
    await expect(pending).rejects.toThrow(/memory actor has stopped/);
    await expect(memory.get('k')).rejects.toThrow(/not running/);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(2);
  }
}

describe('memory actor snapshots', () => {
  const kit = redisKit();
  afterAll(() => kit.cleanup());

  it.skipIf(!redis.up)('persist as plain JSON (no backend inside) and restore into withMemoryBackend', async () => {
    const backend = await kit.open(); // an ioredis client: circular, would break any snapshot holding it
    const actor = createActor(memoryMachine, { input: { backend, namespace: NS } }).start();
    const watcher = recorder();
    const memory = createMemoryClient(actor);
    actor.send({ type: 'memory.watch', requestId: 'w', pattern: '*', replyTo: watcher.ref });
    await memory.set('plan', { steps: 2 });
    expect(await memory.incr('n')).toBe(1);
    const persisted = actor.getPersistedSnapshot();
    const text = JSON.stringify(persisted);
    expect(text).not.toContain('redis');
    expect(JSON.parse(text)).toMatchObject({
      status: 'active',
      context: { namespace: NS, watchers: [{ id: 'watch-1', pattern: '*' }] },
    });
    actor.stop();

    // Input is required by the type and ignored on restore: the snapshot's context wins.
    const restored = createActor(withMemoryBackend(backend), {
      snapshot: JSON.parse(text) as never,
      input: { namespace: 'flow:ignored' },
    }).start();
    const again = createMemoryClient(restored);
    expect(await again.get('plan')).toEqual({ steps: 2 });
    expect(await again.incr('n')).toBe(2);
    // The watcher was not the actor's child, so it does not come back; the actor drops it and serves on.
    expect(restored.getSnapshot().context.watchers).toEqual([]);
    expect(restored.getSnapshot().context.namespace).toBe(NS);
    expect(restored.getSnapshot().status).toBe('active');
    restored.stop();
    watcher.stop();
  });

  it('without any backend, requests fail with a clear error', async () => {
    const actor = createActor(memoryMachine, { input: { namespace: NS } }).start();
    await expect(createMemoryClient(actor).get('k')).rejects.toThrow(/no backend: create it from withMemoryBackend/);
    actor.stop();
  });
});
