import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { FlowError, FlowErrorCode } from '../../src/errors.js';
import type { FlowStore, StoredFlow, StoredFlowMeta } from '../../src/store/store.js';

/** One backend under test: `open` gives a store on the same place each time it is called. */
export interface StoreKit {
  name: string;
  /** Prepares the place (a temp dir, a database); called once before the tests. */
  setup(): Promise<void>;
  open(): FlowStore;
  cleanup(): Promise<void>;
}

let seq = 0;
/** A flow's meta and snapshot; `startedAt` grows with each call, so list order is known. */
export function flowOf(flowId: string, over: Partial<StoredFlowMeta> = {}, snapshot: unknown = {}): StoredFlow {
  seq++;
  return {
    meta: {
      flowId,
      task: `task of ${flowId}`,
      mode: 'parallel',
      agents: ['coder', 'reviewer'],
      status: 'running',
      cost: 0,
      startedAt: 1_700_000_000_000 + seq * 1000,
      updatedAt: 1_700_000_000_000 + seq * 1000,
      ...over,
    },
    snapshot,
  };
}

async function rejection(p: Promise<unknown>): Promise<FlowError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(FlowError);
  return e as FlowError;
}

/** The behaviour every flow store backend must have. Called inside a `describe` per backend. */
export function flowStoreContract(kit: StoreKit): void {
  let store: FlowStore;
  const opened: FlowStore[] = [];
  const open = () => {
    const s = kit.open();
    opened.push(s);
    return s;
  };

  beforeAll(() => kit.setup());
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  afterAll(() => kit.cleanup());

  it('saves a flow and loads it back: meta, snapshot, no report while it runs', async () => {
    store = open();
    const snapshot = {
      status: 'active',
      context: { results: { coder: { output: 'ünïcødé ✓ "q" \\ \n \u0000 end' } } },
    };
    const flow = flowOf('flow_save_load', { maxCost: 0.5 }, snapshot);
    await store.save(flow);
    const back = await store.load('flow_save_load');
    expect(back.meta).toEqual(flow.meta);
    expect(back.snapshot).toEqual(snapshot);
    expect(back.report).toBeUndefined();
  });

  it('keeps the report of a finished run, and its status and cost in the list', async () => {
    store = open();
    await store.save(flowOf('flow_report'));
    const report = { flowId: 'flow_report', status: 'completed', results: [{ agent: 'coder', cost: 0.25 }] };
    await store.save({ ...flowOf('flow_report', { status: 'completed', cost: 0.25 }), report });
    const back = await store.load('flow_report');
    expect(back.report).toEqual(report);
    const listed = (await store.list()).find((m) => m.flowId === 'flow_report');
    expect(listed).toMatchObject({ status: 'completed', cost: 0.25, agents: ['coder', 'reviewer'] });
    // Started again under the same id: no report until it finishes again.
    await store.save(flowOf('flow_report'));
    expect((await store.load('flow_report')).report).toBeUndefined();
  });

  it('lists every flow newest first', async () => {
    store = open();
    for (const id of ['flow_list_a', 'flow_list_b', 'flow_list_c']) await store.save(flowOf(id));
    const ids = (await store.list()).map((m) => m.flowId).filter((id) => id.startsWith('flow_list_'));
    expect(ids).toEqual(['flow_list_c', 'flow_list_b', 'flow_list_a']);
  });

  it('coalesces a burst of saves of one flow: few writes, the last state stored, every save resolved', async () => {
    store = open();
    await store.save(flowOf('flow_burst')); // the first write opens the database
    const writes = vi.spyOn(store as unknown as { write: (f: StoredFlow) => Promise<void> }, 'write');
    const saves = Array.from({ length: 50 }, (_, i) => store.save(flowOf('flow_burst', { cost: i }, { step: i })));
    await Promise.all(saves);
    // All 50 are pending before the first write starts: it takes the newest, the rest have nothing left.
    expect(writes).toHaveBeenCalledTimes(1);
    const back = await store.load('flow_burst');
    expect(back.meta.cost).toBe(49);
    expect(back.snapshot).toEqual({ step: 49 });
    writes.mockRestore();
  });

  it('saves different flows at once, each complete', async () => {
    store = open();
    const ids = Array.from({ length: 20 }, (_, i) => `flow_many_${i}`);
    await Promise.all(ids.map((id, i) => store.save(flowOf(id, { cost: i }, { id, big: 'x'.repeat(10_000) }))));
    await store.flush();
    for (const [i, id] of ids.entries()) {
      const back = await store.load(id);
      expect(back.meta.cost).toBe(i);
      expect(back.snapshot).toEqual({ id, big: 'x'.repeat(10_000) });
    }
    const listed = (await store.list()).filter((m) => m.flowId.startsWith('flow_many_'));
    expect(listed).toHaveLength(20);
  });

  it('a store opened again sees what an earlier one stored', async () => {
    const first = open();
    await first.save(flowOf('flow_reopen', { status: 'failed', reason: 'the process died' }, { n: 1 }));
    await first.close();
    const second = open();
    const back = await second.load('flow_reopen');
    expect(back.meta).toMatchObject({ status: 'failed', reason: 'the process died' });
    expect(back.snapshot).toEqual({ n: 1 });
    expect((await second.list()).some((m) => m.flowId === 'flow_reopen')).toBe(true);
  });

  it('refuses an invalid flow id, and says when a flow is not there', async () => {
    store = open();
    for (const bad of ['../escape', 'a/b', '', 'x'.repeat(65), "flow'; DROP TABLE x; --"]) {
      expect((await rejection(store.save(flowOf(bad)))).code).toBe(FlowErrorCode.InvalidConfig);
      expect((await rejection(store.load(bad))).code).toBe(FlowErrorCode.InvalidConfig);
    }
    const missing = await rejection(store.load('flow_never_stored'));
    expect(missing.code).toBe(FlowErrorCode.FlowNotFound);
    expect(missing.message).toContain('flow_never_stored');
  });

  it('deletes a flow', async () => {
    store = open();
    await store.save(flowOf('flow_delete'));
    expect(await store.delete('flow_delete')).toBe(true);
    expect(await store.delete('flow_delete')).toBe(false);
    expect((await rejection(store.load('flow_delete'))).code).toBe(FlowErrorCode.FlowNotFound);
    expect((await store.list()).some((m) => m.flowId === 'flow_delete')).toBe(false);
  });

  it('close waits for pending saves; a closed store refuses work', async () => {
    store = open();
    const saved = store.save(flowOf('flow_close', {}, { last: true }));
    await store.close();
    await saved;
    await expect(store.list()).rejects.toThrow(/closed/);
    const again = open();
    expect((await again.load('flow_close')).snapshot).toEqual({ last: true });
  });

  it('open() says the store can be used, and a closed one cannot', async () => {
    const s = open();
    await expect(s.open()).resolves.toBeUndefined();
    await s.close();
    await expect(s.open()).rejects.toThrow(/closed/);
  });

  it('a snapshot whose long strings repeat loads back exactly as saved', async () => {
    store = open();
    const prompt = `You are the reviewer.\n${'Check every line. '.repeat(12_000)}`;
    const spec = { name: 'big', prompt, model: 'scripted/small' };
    const snapshot = {
      context: { agents: [spec], workers: [{ name: 'big', spec }] },
      children: { big: { snapshot: { context: { spec: { ...spec } } } } },
      // A string that looks like a reference to the packed table is kept as it is.
      odd: '\u0000ocf:0',
      small: ['a', 'a'],
    };
    await store.save(flowOf('flow_packed', {}, snapshot));
    expect((await open().load('flow_packed')).snapshot).toEqual(snapshot);
  });
}
