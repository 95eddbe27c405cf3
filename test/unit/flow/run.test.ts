import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setup, SimulatedClock } from 'xstate';
import { EventEmitter } from 'eventemitter3';
import { FlowErrorCode } from '../../../src/errors.js';
import { FlowRun, type RunHost } from '../../../src/flow/run.js';
import { PendingInputs } from '../../../src/flow/inputs.js';
import type { CustomRunPlan } from '../../../src/flow/plan.js';
import { createFlowRouting } from '../../../src/flow/routing.js';
import { buildCatalog } from '../../../src/router/catalog.js';
import { FileFlowStore } from '../../../src/store/file.js';

/**
 * FlowRun's own behaviour, whatever machine it runs: start, report, store, timeout, cancel,
 * budget, detach and its cost events. The machines here spawn no agents, so the run never
 * reaches OpenCode; time is fake (vitest's timers and XState's SimulatedClock).
 */

const catalog = buildCatalog({ providers: [] } as never);
const routing = createFlowRouting({ catalog, config: {}, routing: false, task: '', specs: [] });

/** Waits for an event nobody sends; knows nothing of CANCEL. */
const waiter = setup({}).createMachine({
  id: 'waiter',
  initial: 'waiting',
  states: { waiting: { on: { FINISH: 'finished' } }, finished: { type: 'final' } },
});

/** Final at once, with an output. */
const instant = setup({ types: { output: {} as { ok: boolean } } }).createMachine({
  id: 'instant',
  initial: 'finished',
  states: { finished: { type: 'final' } },
  output: { ok: true },
});

/** Finishes after 5 s of its clock. */
const sleeper = setup({}).createMachine({
  id: 'sleeper',
  initial: 'sleeping',
  states: { sleeping: { after: { 5000: 'finished' } }, finished: { type: 'final' } },
});

let dir: string;
let store: FileFlowStore;
const events: Array<{ type: string; e: unknown }> = [];

function host(extra: Partial<RunHost> = {}): RunHost {
  const pool = new EventEmitter() as unknown as RunHost['pool'];
  return {
    client: {} as RunHost['client'],
    hub: {} as RunHost['hub'],
    pool,
    serverUrl: 'http://127.0.0.1:1',
    store,
    persist: true,
    inputs: new PendingInputs(),
    emit: (type, e) => events.push({ type, e }),
    sessionOpened: () => {},
    runEnded: () => {},
    ...extra,
  };
}

const plan = (machine: CustomRunPlan['machine'], o: Partial<CustomRunPlan> = {}): CustomRunPlan => ({
  kind: 'custom',
  flowId: 'flow_unit_1',
  routing,
  cost: { estimate: routing.estimate },
  machine,
  input: {},
  ...o,
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ocf-run-'));
  store = new FileFlowStore(dir);
  events.length = 0;
});
afterEach(async () => {
  vi.useRealTimers();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('FlowRun', () => {
  it('runs a machine to its final state: completed report with its output, stored, flow.started then flow.done', async () => {
    const run = new FlowRun(host(), plan(instant));
    const r = await run.start();
    expect(r.status).toBe('completed');
    expect((r as { output?: unknown }).output).toEqual({ ok: true });
    expect(r.mode).toBe('custom');
    const stored = await store.load('flow_unit_1');
    expect(stored.meta.status).toBe('completed');
    expect(stored.report).toMatchObject({ status: 'completed' });
    expect(events.map((x) => x.type)).toEqual(['flow.started', 'flow.done']);
  });

  it('a cancel of a machine that knows no CANCEL stops it: cancelled, stored so', async () => {
    const run = new FlowRun(host(), plan(waiter));
    const report = run.start();
    await vi.waitFor(() => expect(events.some((x) => x.type === 'flow.started')).toBe(true));
    run.cancel('not this time');
    const r = await report;
    expect(r.status).toBe('cancelled');
    expect(r.reason).toBe('not this time');
    expect((await store.load('flow_unit_1')).meta.status).toBe('cancelled');
  });

  it('a whole-run timeout fails the run, on fake timers', async () => {
    vi.useFakeTimers();
    const run = new FlowRun(host(), plan(waiter, { timeoutMs: 1000 }));
    const report = run.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(run.sessions()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(15_000);
    const r = await report;
    expect(r.status).toBe('failed');
    expect(r.reason).toBe('flow timed out after 1000 ms');
  });

  it("reads time from the run's clock: a SimulatedClock moves the machine's delays and the report's times", async () => {
    const clock = new SimulatedClock();
    clock.set(1_000_000);
    const run = new FlowRun(host({ clock }), plan(sleeper));
    const report = run.start();
    clock.increment(4999);
    await Promise.resolve();
    expect((await store.list()).length).toBeLessThanOrEqual(1);
    clock.increment(1);
    const r = await report;
    expect(r.status).toBe('completed');
    expect(r.durationMs).toBe(5000);
    expect((await store.load('flow_unit_1')).meta.startedAt).toBe(1_000_000);
  });

  it('the cost owner stops the run past its cap (budget_exceeded) and its figures reach the host as flow.cost', async () => {
    const run = new FlowRun(host(), plan(waiter, { cost: { maxCost: 0.01, estimate: routing.estimate } }));
    const report = run.start();
    run.cost.live({ sessionID: 'ses_x', messageID: 'm1', cost: 0.004, agent: 'a' });
    run.cost.live({ sessionID: 'ses_x', messageID: 'm1', cost: 0.02, agent: 'a' });
    const r = await report;
    expect(r.status).toBe('budget_exceeded');
    expect(r.reason).toContain('budget exceeded mid-prompt: spent $0.020000 of max $0.01');
    const costs = events.filter((x) => x.type === 'flow.cost').map((x) => x.e as { total: number; byAgent: object });
    expect(costs.map((c) => c.total)).toEqual([0.004, 0.02]);
    expect(costs.at(-1)?.byAgent).toEqual({ a: 0.02 });
  });

  it('a cancel before the actor exists is applied once it does', async () => {
    const run = new FlowRun(host(), plan(waiter));
    run.cancel('early');
    const r = await run.start();
    expect(r.status).toBe('cancelled');
    expect(r.reason).toBe('early');
  });

  it('detach stores the state and start() rejects with cancelled, naming how to continue', async () => {
    const run = new FlowRun(host(), plan(waiter));
    const report = run.start();
    await vi.waitFor(() => expect(events.some((x) => x.type === 'flow.started')).toBe(true));
    await run.detach();
    await expect(report).rejects.toMatchObject({
      code: FlowErrorCode.Cancelled,
      message: expect.stringContaining('resume: true'),
    });
    const stored = await store.load('flow_unit_1');
    expect(stored.meta.status).toBe('running');
    expect((stored.snapshot as { kind: string }).kind).toBe('custom');
  });
});
