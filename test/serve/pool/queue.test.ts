import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresFlowStore } from '../../../src/store/postgres.js';
import { FlowQueue } from '../../../src/serve/pool/queue.js';
import { EventLog } from '../../../src/serve/pool/event-log.js';
import { CreateFlowBodySchema } from '../../../src/serve/flow-request.js';
import { createTestDatabase, needPostgres } from '../../helpers/services.js';

const postgres = await needPostgres();
const body = CreateFlowBodySchema.parse({ task: 'Review src/', agents: ['reviewer'] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// A lease lapses on PostgreSQL's clock: the tests move that clock for one row (the lease's
// end set into the past) instead of waiting for it.
const lapse = (store: PostgresFlowStore, flowId: string) =>
  store
    .connection()
    .then((db) =>
      db.query(`UPDATE opencode_flow_runs SET lease_expires_at = now() - interval '1 millisecond' WHERE flow_id = $1`, [
        flowId,
      ]),
    );

describe.skipIf(!postgres.up)('the queue of serve replicas (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  // Two replicas: each its own store, so its own connections.
  let a: PostgresFlowStore;
  let b: PostgresFlowStore;
  let qa: FlowQueue;
  let qb: FlowQueue;

  beforeAll(async () => {
    db = await createTestDatabase(postgres.url);
    a = new PostgresFlowStore(db.url);
    b = new PostgresFlowStore(db.url);
    qa = new FlowQueue(await a.connection());
    qb = new FlowQueue(await b.connection());
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('two workers racing on one queued run: exactly one gets it, every time', async () => {
    for (let i = 0; i < 20; i++) {
      await qa.enqueue(`flow_race_${i}`, body);
      const got = await Promise.all([qa.claim('replica-a', 10_000), qb.claim('replica-b', 10_000)]);
      const winners = got.filter((g) => g !== undefined);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.flowId).toBe(`flow_race_${i}`);
      expect(winners[0]!.request).toEqual(body);
      expect(winners[0]!.resumable).toBe(false);
      expect(winners[0]!.claims).toBe(1);
      // Taken: neither gets it again while the lease holds.
      expect(await qa.claim('replica-a', 10_000)).toBeUndefined();
      expect(await qb.claim('replica-b', 10_000)).toBeUndefined();
      const owner = got[0] ? 'replica-a' : 'replica-b';
      expect(await qa.finish(owner, `flow_race_${i}`, { status: 'completed', report: { ok: i } })).toBe(true);
    }
    const row = await qa.get('flow_race_3');
    expect(row).toMatchObject({ status: 'completed', report: { ok: 3 } });
  });

  it('an expired lease is taken over (and its old holder can renew it no more, nor write the run)', async () => {
    await qa.enqueue('flow_expire', body);
    expect((await qa.claim('replica-a', 10_000))?.flowId).toBe('flow_expire');
    a.writeAs('replica-a');
    await a.save({
      meta: {
        flowId: 'flow_expire',
        task: 't',
        mode: 'parallel',
        agents: [],
        status: 'running',
        cost: 0.5,
        startedAt: 1,
        updatedAt: 2,
      },
      snapshot: { step: 1 },
    });
    expect(await qb.claim('replica-b', 10_000)).toBeUndefined();
    await lapse(b, 'flow_expire');
    const taken = await qb.claim('replica-b', 10_000);
    expect(taken).toMatchObject({ flowId: 'flow_expire', resumable: true, claims: 2 });
    expect(await qa.renew('replica-a', ['flow_expire'], 10_000)).toEqual([]);
    // The old holder's late save is refused by the lease condition: the snapshot stays.
    await a.save({
      meta: {
        flowId: 'flow_expire',
        task: 't',
        mode: 'parallel',
        agents: [],
        status: 'completed',
        cost: 9,
        startedAt: 1,
        updatedAt: 3,
      },
      snapshot: { step: 'stale' },
    });
    expect((await b.load('flow_expire')).snapshot).toEqual({ step: 1 });
    expect(await qb.renew('replica-b', ['flow_expire'], 10_000)).toEqual([{ flowId: 'flow_expire' }]);
    expect(await qa.finish('replica-a', 'flow_expire', { status: 'completed', report: {} })).toBe(false);
  });

  it('a renewed lease is not taken over', async () => {
    await qa.enqueue('flow_renewed', body);
    // A lease of 20 ms, renewed for a minute at once: 40 ms on it is still held.
    expect((await qa.claim('replica-a', 20))?.flowId).toBe('flow_renewed');
    for (let i = 0; i < 3; i++) {
      expect(await qa.renew('replica-a', ['flow_renewed'], 60_000)).toEqual([{ flowId: 'flow_renewed' }]);
      await sleep(40);
      expect(await qb.claim('replica-b', 700)).toBeUndefined();
    }
    expect((await qa.get('flow_renewed'))?.leaseOwner).toBe('replica-a');
    // And the same row, lapsed, is taken: the claim above was held off by the renewal.
    await lapse(b, 'flow_renewed');
    expect((await qb.claim('replica-b', 700))?.flowId).toBe('flow_renewed');
    expect(await qa.renew('replica-a', ['flow_renewed'], 700)).toEqual([]);
    await qb.finish('replica-b', 'flow_renewed', { status: 'completed', report: {} });
  });

  it('a cancel ends a queued run at once, and flags a running one for its owner', async () => {
    await qa.enqueue('flow_cancel_q', body);
    expect(await qb.cancel('flow_cancel_q', 'stop', () => ({ status: 'cancelled' }))).toBe('cancelled');
    expect(await qa.claim('replica-a', 10_000)).toBeUndefined();
    expect(await qa.get('flow_cancel_q')).toMatchObject({ status: 'cancelled', report: { status: 'cancelled' } });
    await qa.enqueue('flow_cancel_r', body);
    await qa.claim('replica-a', 10_000);
    expect(await qb.cancel('flow_cancel_r', 'stop it', () => ({}))).toBe('requested');
    expect(await qa.renew('replica-a', ['flow_cancel_r'], 10_000)).toEqual([
      { flowId: 'flow_cancel_r', cancelRequested: 'stop it' },
    ]);
    expect(await qb.cancel('flow_nope', 'x', () => ({}))).toBe('not_found');
  });

  it("events are stored only by the run's lease holder, in order", async () => {
    await qa.enqueue('flow_events', body);
    await qa.claim('replica-a', 10_000);
    const la = new EventLog(await a.connection());
    const lb = new EventLog(await b.connection());
    la.append('flow_events', 'replica-a', { id: 1, type: 'flow.started', data: { n: 1 } });
    la.append('flow_events', 'replica-a', { id: 2, type: 'agent.state', data: { n: 2 } });
    lb.append('flow_events', 'replica-b', { id: 3, type: 'flow.done', data: { n: 3 } });
    await Promise.all([la.flush('flow_events'), lb.flush('flow_events')]);
    expect(await lb.read('flow_events')).toEqual([
      { id: 1, type: 'flow.started', data: { n: 1 } },
      { id: 2, type: 'agent.state', data: { n: 2 } },
    ]);
    expect(await lb.read('flow_events', 1)).toHaveLength(1);
  });
});
