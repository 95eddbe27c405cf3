import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConcurrencyLimiter, type SlotLease } from '../../../src/router/limiter.js';
import { parseModelRouterConfig } from '../../../src/router/config.js';

/** Settles pending promise callbacks (no timers run). */
const tick = () => new Promise<void>((r) => queueMicrotask(r)).then(() => undefined);

describe('ConcurrencyLimiter', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('starts prompts up to the provider cap and the rest in arrival order', async () => {
    const l = new ConcurrencyLimiter({ scripted: 2 });
    const started: string[] = [];
    const leases = new Map<string, SlotLease>();
    const waits: Array<{ name: string; key: string; position: number }> = [];
    for (const name of ['a', 'b', 'c', 'd', 'e'])
      void l
        .acquire('scripted/m', { onWait: (w) => waits.push({ name, key: w.key, position: w.position }) })
        .then((lease) => {
          started.push(name);
          leases.set(name, lease);
        });
    await tick();
    expect(started).toEqual(['a', 'b']);
    expect(l.queued).toBe(3);
    expect(waits).toEqual([
      { name: 'c', key: 'scripted', position: 1 },
      { name: 'd', key: 'scripted', position: 2 },
      { name: 'e', key: 'scripted', position: 3 },
    ]);
    leases.get('b')!.release();
    leases.get('b')!.release(); // idempotent: frees one slot, not two
    await tick();
    expect(started).toEqual(['a', 'b', 'c']);
    expect(l.running('scripted')).toBe(2);
    leases.get('a')!.release();
    leases.get('c')!.release();
    await tick();
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(l.queued).toBe(0);
  });

  it('holds a model cap and its provider cap together; other models of the provider go by the provider cap', async () => {
    const l = new ConcurrencyLimiter({ openai: 3, 'openai/gpt-5': 1 });
    const got: string[] = [];
    const take = (m: string, name: string) => l.acquire(m).then((x) => (got.push(name), x));
    const first = await take('openai/gpt-5', 'g1');
    void take('openai/gpt-5', 'g2');
    void take('openai/gpt-5-mini', 'm1');
    void take('anthropic/claude', 'c1'); // no cap: at once
    await tick();
    expect(got).toEqual(['g1', 'm1', 'c1']);
    expect(l.running('openai')).toBe(2);
    first.release();
    await tick();
    expect(got).toEqual(['g1', 'm1', 'c1', 'g2']);
  });

  it('never lets a later prompt overtake a waiting one on the key it waits for', async () => {
    const l = new ConcurrencyLimiter({ openai: 2, 'openai/gpt-5': 1 });
    const got = new Map<string, SlotLease>();
    const take = (m: string, name: string) => void l.acquire(m).then((x) => got.set(name, x));
    take('openai/gpt-5', 'g1');
    take('openai/mini', 'm1');
    take('openai/gpt-5', 'g2'); // waits on the model cap (and the provider's)
    take('openai/mini', 'm2'); // waits on the provider cap
    await tick();
    expect([...got.keys()]).toEqual(['g1', 'm1']);
    got.get('m1')!.release(); // a provider slot: g2 still waits on its model, so m2 may take it
    await tick();
    expect([...got.keys()]).toEqual(['g1', 'm1', 'm2']);
    take('openai/mini', 'm3'); // the provider is full again
    got.get('g1')!.release(); // the model's slot and a provider slot: g2's, not m3's
    await tick();
    expect([...got.keys()]).toEqual(['g1', 'm1', 'm2', 'g2']);
    got.get('m2')!.release();
    await tick();
    expect([...got.keys()]).toEqual(['g1', 'm1', 'm2', 'g2', 'm3']);
  });

  it('an aborted wait leaves the queue and the prompts behind it move up', async () => {
    const l = new ConcurrencyLimiter({ scripted: 1 });
    const held = await l.acquire('scripted/m');
    const ac = new AbortController();
    const aborted = l.acquire('scripted/m', { signal: ac.signal });
    let next: SlotLease | undefined;
    void l.acquire('scripted/m').then((x) => (next = x));
    ac.abort(new Error('cancelled'));
    await expect(aborted).rejects.toThrow('cancelled');
    expect(l.queued).toBe(1);
    held.release();
    await tick();
    expect(next).toBeDefined();
    expect(l.running('scripted')).toBe(1);
    // Already aborted: refused without queueing.
    await expect(l.acquire('scripted/m', { signal: ac.signal })).rejects.toThrow('cancelled');
    expect(l.queued).toBe(0);
  });

  it("a provider's cooldown holds its prompts until then, capped or not, and never shortens", async () => {
    const l = new ConcurrencyLimiter({});
    l.cooldown('scripted', Date.now() + 2_000);
    l.cooldown('scripted', Date.now() + 500); // earlier: ignored
    expect(l.coolingUntil('scripted')).toBe(1_002_000);
    let started = false;
    const waits: unknown[] = [];
    void l.acquire('scripted/m', { onWait: (w) => waits.push(w) }).then(() => (started = true));
    const other = await l.acquire('anthropic/x'); // another provider: at once
    expect(other.keys).toEqual([]);
    expect(waits).toEqual([{ key: 'scripted', position: 1, until: 1_002_000 }]);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(started).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toBe(true);
    expect(l.coolingUntil('scripted')).toBeUndefined();
    // A time in the past is no cooldown.
    l.cooldown('scripted', Date.now() - 1);
    expect(l.coolingUntil('scripted')).toBeUndefined();
  });

  it('close refuses every waiting prompt', async () => {
    const l = new ConcurrencyLimiter({ scripted: 1 });
    await l.acquire('scripted/m');
    const waiting = l.acquire('scripted/m');
    l.close(new Error('shut down'));
    await expect(waiting).rejects.toThrow('shut down');
  });
});

describe('modelRouter.concurrency', () => {
  it('takes provider ids and provider/model keys with positive integers', () => {
    expect(parseModelRouterConfig({ concurrency: { anthropic: 4, 'openai/gpt-5': 2 } }).concurrency).toEqual({
      anthropic: 4,
      'openai/gpt-5': 2,
    });
  });

  it.each([
    [{ anthropic: 0 }, 'modelRouter.concurrency.anthropic'],
    [{ anthropic: 1.5 }, 'modelRouter.concurrency.anthropic'],
    [{ 'openai/gpt-5': 'two' }, 'modelRouter.concurrency.openai/gpt-5'],
    [{ 'bad key': 1 }, 'modelRouter.concurrency.bad key'],
  ])('refuses %j naming %s', (concurrency, path) => {
    expect(() => parseModelRouterConfig({ concurrency })).toThrow(path);
  });
});
