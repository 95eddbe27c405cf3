import { afterAll, beforeEach, expect, it, vi } from 'vitest';
import { FlowError, FlowErrorCode } from '../../src/errors.js';
import type { MemoryBackend } from '../../src/memory/backend.js';
import type { BackendKit } from './helpers.js';

const NS = 'flow:contract';
const OTHER = 'flow:other';

async function rejectsMemory(p: Promise<unknown>, message?: RegExp): Promise<FlowError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(FlowError);
  expect((e as FlowError).code).toBe(FlowErrorCode.Memory);
  if (message) expect((e as FlowError).message).toMatch(message);
  return e as FlowError;
}

/**
 * The behaviour every MemoryBackend must have. Called inside a `describe` per backend.
 */
export function backendContract(kit: BackendKit): void {
  let m: MemoryBackend;

  beforeEach(async () => {
    m = await kit.open();
  });
  afterAll(() => kit.cleanup());

  it('get of a missing key is null', async () => {
    expect(await m.get(NS, 'missing')).toBeNull();
  });

  it('set then get returns the value, its update time and no expiry', async () => {
    const before = Date.now();
    await m.set(NS, 'plan', { steps: ['a', 'b'], n: 2, ok: true, nested: { x: null } });
    const entry = await m.get(NS, 'plan');
    expect(entry).toMatchObject({ key: 'plan', value: { steps: ['a', 'b'], n: 2, ok: true, nested: { x: null } } });
    expect(entry!.updatedAt).toBeGreaterThanOrEqual(before);
    expect(entry!.updatedAt).toBeLessThanOrEqual(Date.now());
    expect(entry!.expiresAt).toBeUndefined();
  });

  it('stores every JSON kind and returns copies, not the stored object', async () => {
    const values = ['text', 'ünïcødé ✓ "quoted" \\ \n', 0, -1.5, 1e21, 2 ** 53 - 1, true, false, [], {}, [1, [2, [3]]]];
    for (const [i, v] of values.entries()) await m.set(NS, `kinds/${i}`, v);
    for (const [i, v] of values.entries()) expect((await m.get(NS, `kinds/${i}`))!.value).toEqual(v);
    const got = (await m.get(NS, 'kinds/10'))!.value as unknown[];
    got.push('mutated');
    expect((await m.get(NS, 'kinds/10'))!.value).toEqual([1, [2, [3]]]);
  });

  it('set replaces the value', async () => {
    await m.set(NS, 'k', 1);
    await m.set(NS, 'k', 'two');
    expect((await m.get(NS, 'k'))!.value).toBe('two');
  });

  it('delete removes and reports whether something was there', async () => {
    await m.set(NS, 'k', 1);
    expect(await m.delete(NS, 'k')).toBe(true);
    expect(await m.get(NS, 'k')).toBeNull();
    expect(await m.delete(NS, 'k')).toBe(false);
  });

  it('list returns entries sorted by key, filtered by prefix', async () => {
    await m.set(NS, 'tasks/2', 'b');
    await m.set(NS, 'tasks/10', 'c');
    await m.set(NS, 'tasks/1', 'a');
    await m.set(NS, 'taskset', 'x');
    await m.set(NS, 'plan', 'p');
    expect((await m.list(NS)).map((e) => e.key)).toEqual(['plan', 'tasks/1', 'tasks/10', 'tasks/2', 'taskset']);
    const tasks = await m.list(NS, 'tasks/');
    expect(tasks.map((e) => [e.key, e.value])).toEqual([
      ['tasks/1', 'a'],
      ['tasks/10', 'c'],
      ['tasks/2', 'b'],
    ]);
    expect(tasks.every((e) => typeof e.updatedAt === 'number')).toBe(true);
    expect((await m.list(NS, 'task')).length).toBe(4);
    expect(await m.list(NS, 'nothing/')).toEqual([]);
    expect(await m.list('flow:empty')).toEqual([]);
  });

  it('cas with null expected creates only when absent', async () => {
    expect(await m.cas(NS, 'lock', null, 'coder')).toEqual({ ok: true, current: 'coder' });
    expect(await m.cas(NS, 'lock', null, 'reviewer')).toEqual({ ok: false, current: 'coder' });
    expect((await m.get(NS, 'lock'))!.value).toBe('coder');
  });

  it('cas compares deep JSON equality, whatever the key order', async () => {
    await m.set(NS, 'doc', { b: 1, a: { y: [1, 2], x: 'x' } });
    expect(await m.cas(NS, 'doc', { a: { x: 'x', y: [1, 2] }, b: 1 }, { v: 2 })).toEqual({
      ok: true,
      current: { v: 2 },
    });
    expect(await m.cas(NS, 'doc', { v: 3 }, { v: 4 })).toEqual({ ok: false, current: { v: 2 } });
    expect(await m.cas(NS, 'doc', { v: '2' }, { v: 4 })).toEqual({ ok: false, current: { v: 2 } });
    expect(await m.cas(NS, 'absent', 'x', 'y')).toEqual({ ok: false, current: null });
    expect(await m.get(NS, 'absent')).toBeNull();
    expect((await m.get(NS, 'doc'))!.value).toEqual({ v: 2 });
  });

  it('incr counts from 0, by any finite amount, and returns the new value', async () => {
    expect(await m.incr(NS, 'n')).toBe(1);
    expect(await m.incr(NS, 'n')).toBe(2);
    expect(await m.incr(NS, 'n', 10)).toBe(12);
    expect(await m.incr(NS, 'n', -20)).toBe(-8);
    expect(await m.incr(NS, 'f', 0.25)).toBe(0.25);
    expect(await m.incr(NS, 'f', 0.5)).toBe(0.75);
    expect(await m.incr(NS, 'big', 2 ** 52)).toBe(2 ** 52);
    expect(await m.incr(NS, 'big', 2 ** 52 - 1)).toBe(2 ** 53 - 1);
    expect((await m.get(NS, 'n'))!.value).toBe(-8);
    await m.set(NS, 'set-number', 41);
    expect(await m.incr(NS, 'set-number')).toBe(42);
  });

  it('incr of a non-number value fails and leaves it', async () => {
    await m.set(NS, 's', '5');
    await rejectsMemory(m.incr(NS, 's'), /not a number/);
    await m.set(NS, 'o', { n: 1 });
    await rejectsMemory(m.incr(NS, 'o'), /not a number/);
    expect((await m.get(NS, 's'))!.value).toBe('5');
    await rejectsMemory(m.incr(NS, 'n', Number.NaN));
    await rejectsMemory(m.incr(NS, 'n', Number.POSITIVE_INFINITY));
    expect(await m.get(NS, 'n')).toBeNull();
  });

  it('TTL: an expired entry is invisible to get, list, cas, incr and delete', async () => {
    await m.set(NS, 'ttl/a', 'short', { ttlMs: 150 });
    await m.set(NS, 'ttl/b', 'long', { ttlMs: 60_000 });
    await m.set(NS, 'ttl/c', 5, { ttlMs: 150 });
    await m.set(NS, 'ttl/d', 'x', { ttlMs: 150 });
    const a = await m.get(NS, 'ttl/a');
    expect(a!.value).toBe('short');
    expect(a!.expiresAt! - a!.updatedAt).toBe(150);
    // Until the short ones expire (polled, not a fixed sleep): get no longer sees them.
    await vi.waitFor(
      async () =>
        expect(await Promise.all(['ttl/a', 'ttl/c', 'ttl/d'].map((k) => m.get(NS, k)))).toEqual([null, null, null]),
      { timeout: 10_000, interval: 20 },
    );
    expect((await m.list(NS, 'ttl/')).map((e) => e.key)).toEqual(['ttl/b']);
    expect(await m.cas(NS, 'ttl/a', 'short', 'again')).toEqual({ ok: false, current: null });
    expect(await m.cas(NS, 'ttl/a', null, 'fresh')).toEqual({ ok: true, current: 'fresh' });
    expect(await m.incr(NS, 'ttl/c')).toBe(1);
    expect(await m.delete(NS, 'ttl/d')).toBe(false);
  });

  it('TTL: set without ttl clears it; incr keeps it', async () => {
    await m.set(NS, 'k', 1, { ttlMs: 150 });
    await m.set(NS, 'k', 2);
    await m.set(NS, 'c', 1, { ttlMs: 150 });
    expect(await m.incr(NS, 'c')).toBe(2);
    expect((await m.get(NS, 'c'))!.expiresAt).toBeDefined();
    // Until c expires (polled): k, set with its TTL before c, would have expired by then.
    await vi.waitFor(async () => expect(await m.get(NS, 'c')).toBeNull(), { timeout: 10_000, interval: 20 });
    expect((await m.get(NS, 'k'))!.value).toBe(2);
  });

  it('namespaces are separate', async () => {
    await m.set(NS, 'k', 'mine');
    await m.set(OTHER, 'k', 'theirs');
    await m.set('shared', 'k', 'everyone');
    expect((await m.get(NS, 'k'))!.value).toBe('mine');
    expect((await m.get(OTHER, 'k'))!.value).toBe('theirs');
    expect((await m.get('shared', 'k'))!.value).toBe('everyone');
    expect(await m.delete(OTHER, 'k')).toBe(true);
    expect((await m.get(NS, 'k'))!.value).toBe('mine');
    expect((await m.list(NS)).map((e) => e.value)).toEqual(['mine']);
    // A namespace that is a prefix of another sees only its own keys.
    await m.set('flow:a', 'x', 1);
    await m.set('flow:ab', 'x', 2);
    expect((await m.list('flow:a')).map((e) => e.value)).toEqual([1]);
  });

  it('rejects bad keys, prefixes and namespaces and changes nothing', async () => {
    const badKeys = [
      '',
      '../../etc/passwd',
      '..',
      '.',
      'a/../b',
      'a/./b',
      '/abs',
      'a//b',
      'trailing/',
      'sp ace',
      'star*',
      'ü',
      'x'.repeat(257),
      'new\nline',
    ];
    for (const key of badKeys) {
      await rejectsMemory(m.set(NS, key, 1), /invalid memory key/);
      await rejectsMemory(m.get(NS, key), /invalid memory key/);
      await rejectsMemory(m.cas(NS, key, null, 1), /invalid memory key/);
      await rejectsMemory(m.incr(NS, key), /invalid memory key/);
      await rejectsMemory(m.delete(NS, key), /invalid memory key/);
    }
    await rejectsMemory(m.set(NS, 5 as unknown as string, 1), /invalid memory key/);
    for (const prefix of ['../', 'a/../', '*', 'a b']) await rejectsMemory(m.list(NS, prefix), /prefix/);
    for (const ns of ['', 'flow:x/..', '../x', 'flow/../../etc', '..', 'flow:a..b', 'has space', 'x'.repeat(129)]) {
      await rejectsMemory(m.set(ns, 'k', 1), /invalid memory namespace/);
      await rejectsMemory(m.list(ns), /invalid memory namespace/);
    }
    expect(await m.list(NS)).toEqual([]);
    expect(await m.get(NS, 'x'.repeat(256))).toBeNull(); // the longest key is fine
  });

  it('rejects values that are not JSON, or null, and changes nothing', async () => {
    await m.set(NS, 'k', 'keep');
    const bad: unknown[] = [
      null,
      undefined,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      () => 1,
      10n,
      new Date(),
      new Map(),
      { nested: { bad: undefined } },
      [1, Number.NaN],
    ];
    for (const v of bad) {
      await rejectsMemory(m.set(NS, 'k', v as never));
      await rejectsMemory(m.cas(NS, 'k', 'keep', v as never));
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await rejectsMemory(m.set(NS, 'k', cyclic as never), /nested deeper/);
    expect((await m.get(NS, 'k'))!.value).toBe('keep');
  });

  it('rejects oversized values with a clear message and changes nothing', async () => {
    const small = await kit.open({ maxValueBytes: 1024 });
    expect(small.maxValueBytes).toBe(1024);
    await small.set(NS, 'k', 'keep');
    await small.set(NS, 'fits', 'x'.repeat(1022)); // 1022 + 2 quotes
    const e = await rejectsMemory(
      small.set(NS, 'k', 'x'.repeat(1023)),
      /is 1025 bytes serialised; the limit is 1024 bytes \(1 KiB/,
    );
    expect(e.message).toContain('"k"');
    await rejectsMemory(small.cas(NS, 'k', 'keep', { big: 'é'.repeat(600) }), /the limit is 1024 bytes/);
    expect((await small.get(NS, 'k'))!.value).toBe('keep');
    // The 1 MiB default.
    await rejectsMemory(
      m.set(NS, 'huge', 'x'.repeat(1024 * 1024)),
      /is 1048578 bytes serialised; the limit is 1048576 bytes \(1 MiB, maxValueBytes\)/,
    );
    await m.set(NS, 'large', 'x'.repeat(1024 * 1024 - 2));
    expect(((await m.get(NS, 'large'))!.value as string).length).toBe(1024 * 1024 - 2);
  });

  it('rejects bad TTLs', async () => {
    for (const ttlMs of [0, -1, 1.5, Number.NaN, 400 * 24 * 3600 * 1000]) {
      await rejectsMemory(m.set(NS, 'k', 1, { ttlMs }), /ttlMs/);
    }
    expect(await m.get(NS, 'k')).toBeNull();
  });

  it('operations after close reject', async () => {
    const b = await kit.open();
    await b.set(NS, 'k', 1);
    await b.close();
    await b.close(); // idempotent
    await rejectsMemory(b.get(NS, 'k'), /closed/);
    await rejectsMemory(b.set(NS, 'k', 2), /closed/);
  });
}
