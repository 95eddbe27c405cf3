import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { FlowReport, OpencodeFlow } from '../../flow/index.js';
import type { ReplyAnswer } from '../../flow/inputs.js';
import type { PostgresFlowStore } from '../../store/postgres.js';
import { FlowRecord, type FlowCost, type FlowSummary, type RunningFlowView, type ServeEvent } from '../flow-record.js';
import type { FlowRegistry } from '../flow-registry.js';
import { planOf } from '../flow-plan.js';
import type { CreateFlowBody } from '../flow-request.js';
import { PoolBus } from './bus.js';
import { EventLog, EVENTS_CHANNEL } from './event-log.js';
import { FlowQueue, QUEUE_CHANNEL, type ClaimedRun, type QueueRow } from './queue.js';
import { REPLIES_CHANNEL, RequestBoard, type PendingRequest } from './requests.js';

/** The channel a cancel asked on one replica reaches the flow's owner on (payload: the flow id). */
export const CANCELS_CHANNEL = 'opencode_flow_cancels';

/** How a replica keeps its leases. */
export interface PoolTiming {
  /** How long a lease lasts without a heartbeat (ms). Default 10 000. */
  leaseMs: number;
  /** How often leases are renewed (ms). Default 2 000. */
  heartbeatMs: number;
  /** How often the queue is looked at without a NOTIFY (ms): the safety net, and how lapsed leases are found. Default 2 000. */
  pollMs: number;
}

export const DEFAULT_POOL_TIMING: PoolTiming = { leaseMs: 10_000, heartbeatMs: 2_000, pollMs: 2_000 };

/** A flow as the API answers for it, on whichever replica is asked. */
export type PoolFlowView = FlowReport | RunningFlowView | (Omit<RunningFlowView, 'status'> & { status: 'queued' });

/** A new replica id: host, process, and a random part (two replicas on one host differ). */
export const newReplicaId = () => `${hostname().slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;

/**
 * One `serve` process as a member of a pool of replicas sharing a Postgres flow store:
 *
 * - a worker that takes queued runs (and runs whose lease lapsed) while it runs fewer than
 *   `maxFlows`, woken by NOTIFY and by a slow poll, and runs them through the same
 *   {@link FlowRegistry} a single process uses (`execute`, or `resume` for a run taken over);
 * - heartbeats that renew its leases; a run whose lease it could not renew (taken over, or
 *   the database unreachable for longer than the lease allows) is let go: detached, never
 *   run twice;
 * - the answers every replica gives for every flow: lists, views and event streams read from
 *   the store; cancels and input replies carried to the owner through the database.
 *
 * @example
 * ```ts
 * const replica = new PoolReplica(flow, registry, store, { maxFlows: 4, keepFinished: 100, maxEventsPerFlow: 10_000 });
 * await replica.start();
 * const { id } = await replica.enqueue(body); // any replica may run it
 * ```
 */
export class PoolReplica {
  readonly id: string;
  readonly timing: PoolTiming;
  #db!: Pool;
  #queue!: FlowQueue;
  #log!: EventLog;
  #board!: RequestBoard;
  #bus!: PoolBus;
  /** Runs this replica holds the lease of, by flow id. */
  readonly #owned = new Map<string, FlowRecord>();
  #claiming = 0;
  #ticking?: Promise<void>;
  #again = false;
  #accepting = true;
  #timers: NodeJS.Timeout[] = [];
  #lastRenewal = Date.now();
  readonly #off: Array<() => void> = [];

  constructor(
    private readonly flow: OpencodeFlow,
    private readonly registry: FlowRegistry,
    private readonly store: PostgresFlowStore,
    private readonly options: {
      maxFlows: number;
      keepFinished: number;
      replicaId?: string;
      timing?: Partial<PoolTiming>;
      log?: (line: string) => void;
    },
  ) {
    this.id = options.replicaId ?? newReplicaId();
    this.timing = { ...DEFAULT_POOL_TIMING, ...options.timing };
  }

  #say(line: string) {
    this.options.log?.(`replica ${this.id}: ${line}`);
  }

  async start(): Promise<void> {
    this.#db = await this.store.connection();
    this.store.writeAs(this.id);
    this.#queue = new FlowQueue(this.#db);
    this.#log = new EventLog(this.#db, {
      onError: (flowId, e) => this.#say(`could not store events of ${flowId}: ${(e as Error).message}`),
    });
    this.#board = new RequestBoard(this.#db);
    this.#bus = new PoolBus(this.#db, [QUEUE_CHANNEL, EVENTS_CHANNEL, CANCELS_CHANNEL, REPLIES_CHANNEL]);
    await this.#bus.start();
    this.#off.push(
      this.#bus.on(QUEUE_CHANNEL, () => this.tick()),
      this.#bus.on(CANCELS_CHANNEL, (flowId) => {
        if (this.#owned.has(flowId)) this.registry.cancel(flowId, 'cancelled via API');
      }),
      this.#bus.on(REPLIES_CHANNEL, (flowId) => {
        if (this.#owned.has(flowId)) void this.#deliverAnswers();
      }),
      this.#bus.onReconnect(() => this.tick()),
    );
    // The requests agents wait on are mirrored to the table as they appear.
    const onInput = (e: { flowId: string }) => {
      if (this.#owned.has(e.flowId)) void this.#syncRequests(e.flowId);
    };
    this.flow.on('agent.input_required', onInput);
    this.#off.push(() => this.flow.off('agent.input_required', onInput));
    this.#timers.push(
      setInterval(() => void this.#beat(), this.timing.heartbeatMs),
      setInterval(() => this.tick(), this.timing.pollMs),
    );
    this.tick();
  }

  /** Runs this replica holds now. */
  owned(): string[] {
    return [...this.#owned.keys()];
  }

  /** Queue a flow for any replica; returns its id. */
  async enqueue(body: CreateFlowBody, flowId: string): Promise<void> {
    await this.#queue.enqueue(flowId, body);
  }

  /** Take queued runs while there is room (one claim loop at a time; a call during one runs it again). */
  tick(): void {
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = (async () => {
      do {
        this.#again = false;
        while (this.#accepting && this.registry.active().length + this.#claiming < this.options.maxFlows) {
          this.#claiming++;
          let job: ClaimedRun | undefined;
          try {
            job = await this.#queue.claim(this.id, this.timing.leaseMs);
            if (job) await this.#adopt(job);
          } catch (e) {
            this.#say(`claiming failed: ${(e as Error).message}`);
          } finally {
            this.#claiming--;
          }
          if (!job) break;
        }
      } while (this.#again && this.#accepting);
    })().finally(() => (this.#ticking = undefined));
  }

  async #adopt(job: ClaimedRun): Promise<void> {
    const id = job.flowId;
    const events = await this.#log.read(id);
    const done = events.find((e) => e.type === 'flow.done');
    if (done) {
      // It ended, but the replica died before dropping its lease.
      const report = done.data as unknown as FlowReport;
      await this.#queue.finish(this.id, id, { status: report.status, report });
      return;
    }
    await this.#board.clear(id);
    const adopt = {
      id,
      events,
      startedAt: job.queuedAt,
      onRecord: (e: ServeEvent) => this.#log.append(id, this.id, e),
    };
    let rec: FlowRecord;
    if (job.resumable) {
      this.#say(`resuming ${id} (taken over, claim ${job.claims})`);
      rec = this.registry.resume(job.request, adopt);
    } else {
      try {
        rec = await this.registry.create(job.request, adopt);
        rec.setPlan(await planOf(this.flow, rec, job.request));
      } catch (e) {
        await this.#refused(job, events, e);
        return;
      }
    }
    this.#owned.set(id, rec);
    if (job.cancelRequested) this.registry.cancel(id, job.cancelRequested);
    void rec.settled().then(async (report) => {
      if (this.#owned.get(id) !== rec) return;
      try {
        await this.flow.store.flush();
        await this.#log.flush(id);
        await this.#queue.finish(this.id, id, { status: report.status, report });
        await this.#board.clear(id);
      } catch (e) {
        this.#say(`could not record the end of ${id}: ${(e as Error).message}`);
      } finally {
        this.#owned.delete(id);
        this.tick();
      }
    });
  }

  /** The library refused a queued flow (unknown agent, model not served): it ends failed, for every replica to see. */
  async #refused(job: ClaimedRun, events: ServeEvent[], e: unknown): Promise<void> {
    const report: FlowReport = {
      flowId: job.flowId,
      status: 'failed',
      mode: job.request.mode,
      results: [],
      cost: { total: 0, byAgent: {}, byModel: {}, byTask: {} },
      durationMs: Date.now() - job.queuedAt,
      reason: e instanceof Error ? e.message : String(e),
    };
    const last = events.at(-1)?.id ?? 0;
    this.#log.append(job.flowId, this.id, { id: last + 1, type: 'flow.done', data: report as never });
    await this.#log.flush(job.flowId);
    await this.#queue.finish(this.id, job.flowId, { status: 'failed', report });
  }

  /** Renew every lease; let go of the runs whose lease could not be renewed; act on cancels and answers. */
  async #beat(): Promise<void> {
    const ids = this.owned();
    if (!ids.length) {
      this.#lastRenewal = Date.now();
      return;
    }
    const sent = Date.now();
    try {
      const held = await this.#queue.renew(this.id, ids, this.timing.leaseMs);
      this.#lastRenewal = sent;
      const kept = new Set(held.map((h) => h.flowId));
      for (const id of ids) if (!kept.has(id) && this.#owned.has(id)) await this.#lose(id, 'its lease was taken over');
      for (const h of held) if (h.cancelRequested) this.registry.cancel(h.flowId, h.cancelRequested);
      for (const id of kept) await this.#syncRequests(id);
      await this.#deliverAnswers();
    } catch (e) {
      // Another replica may take these runs once their lease lapses: stop before it can.
      if (Date.now() - this.#lastRenewal >= this.timing.leaseMs - this.timing.heartbeatMs) {
        for (const id of this.owned()) await this.#lose(id, `leases could not be renewed (${(e as Error).message})`);
      }
    }
  }

  async #lose(id: string, why: string): Promise<void> {
    const rec = this.#owned.get(id);
    if (!rec || rec.finished) return;
    this.#owned.delete(id);
    this.#say(`letting ${id} go: ${why}`);
    await this.registry.release(id);
  }

  async #syncRequests(flowId: string): Promise<void> {
    try {
      await this.#board.sync(this.id, flowId, this.flow.pendingRequests(flowId));
    } catch (e) {
      this.#say(`could not store the requests of ${flowId}: ${(e as Error).message}`);
    }
  }

  async #deliverAnswers(): Promise<void> {
    for (const a of await this.#board.take(this.id)) {
      try {
        this.flow.reply(a.requestId, a.answer);
      } catch (e) {
        this.#say(`answer to ${a.requestId} of ${a.flowId} not delivered: ${(e as Error).message}`);
      }
    }
  }

  // ---- what every replica answers for every flow ----

  /** Queued and running flows of the pool, then the newest finished ones; newest first. */
  async list(): Promise<FlowSummary[]> {
    const rows = await this.#queue.list(this.options.keepFinished);
    return rows.map((r) => this.#owned.get(r.flowId)?.summary() ?? summaryOf(r));
  }

  /** A flow's view (the report once it ended); undefined when the pool has no such flow. */
  async view(flowId: string): Promise<PoolFlowView | undefined> {
    const local = this.#owned.get(flowId);
    if (local) return local.view();
    const row = await this.#queue.get(flowId);
    if (!row) return undefined;
    const rec = await this.#mirror(row);
    const view = rec.view();
    return row.status === 'queued' ? { ...(view as RunningFlowView), status: 'queued' } : view;
  }

  /** A flow's cost so far. */
  async cost(flowId: string): Promise<(FlowCost & { status: string }) | undefined> {
    const local = this.#owned.get(flowId);
    if (local) return { status: local.status, ...local.cost() };
    const row = await this.#queue.get(flowId);
    if (!row) return undefined;
    const rec = await this.#mirror(row);
    return { status: row.status === 'queued' ? 'queued' : rec.status, ...rec.cost() };
  }

  /** Whether the pool knows the flow. */
  async has(flowId: string): Promise<boolean> {
    return this.#owned.has(flowId) || (await this.#queue.get(flowId)) !== undefined;
  }

  /** A record of the flow rebuilt from its stored events (the report of the store if it ended without one). */
  async #mirror(row: QueueRow): Promise<FlowRecord> {
    const rec = new FlowRecord({
      id: row.flowId,
      task: row.meta.task,
      mode: row.meta.mode as FlowRecord['mode'],
      agents: row.meta.agents,
      startedAt: row.queuedAt ?? row.meta.startedAt,
    });
    for (const e of await this.#log.read(row.flowId)) rec.apply(e);
    if (!rec.finished && row.report && row.status !== 'queued' && row.status !== 'running')
      rec.finish(row.report as FlowReport);
    return rec;
  }

  /**
   * A flow's events after `after`, from the store: what is stored, then each new batch as
   * its NOTIFY arrives (or at the poll), ending after `flow.done`.
   */
  async *events(flowId: string, after: number, signal: AbortSignal): AsyncGenerator<ServeEvent> {
    let last = after;
    while (!signal.aborted) {
      const batch = await this.#log.read(flowId, last);
      for (const e of batch) {
        yield e;
        last = e.id;
        if (e.type === 'flow.done') return;
      }
      if (!batch.length) {
        // A flow that ended without a stored `flow.done` (its store was written by a single process).
        const row = await this.#queue.get(flowId);
        if (!row || (row.status !== 'queued' && row.status !== 'running')) return;
      }
      await this.#bus.wait(EVENTS_CHANNEL, flowId, this.timing.pollMs, signal);
    }
  }

  /**
   * Cancel a flow on whichever replica runs it: `cancelled` (it was queued, and is over),
   * `cancelling` (its owner was told), `finished` or `not_found`.
   */
  async cancel(flowId: string, reason: string): Promise<'cancelled' | 'cancelling' | 'finished' | 'not_found'> {
    if (this.#owned.has(flowId)) {
      const o = this.registry.cancel(flowId, reason);
      return o === 'cancelling' ? 'cancelling' : o;
    }
    const outcome = await this.#queue.cancel(flowId, reason, (row) => cancelledReport(row, reason));
    if (outcome === 'cancelled') {
      const row = (await this.#queue.get(flowId))!;
      this.#log.append(flowId, null, { id: 1, type: 'flow.done', data: row.report as never });
      await this.#log.flush(flowId);
      return 'cancelled';
    }
    if (outcome === 'requested') {
      await this.#db.query(`SELECT pg_notify('${CANCELS_CHANNEL}', $1)`, [flowId]);
      return 'cancelling';
    }
    return outcome;
  }

  /** Resolves with the flow's view once it ended, or undefined after `timeoutMs`. */
  async settled(flowId: string, timeoutMs: number): Promise<PoolFlowView | undefined> {
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), timeoutMs);
    try {
      for await (const e of this.events(flowId, 0, stop.signal)) if (e.type === 'flow.done') return this.view(flowId);
      return stop.signal.aborted ? undefined : this.view(flowId);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The requests a flow's agents wait on, wherever it runs. */
  requests(flowId: string): Promise<PendingRequest[]> {
    if (this.#owned.has(flowId)) return Promise.resolve(this.flow.pendingRequests(flowId));
    return this.#board.list(flowId);
  }

  /** Answer a request of a flow wherever it runs; false when it is not pending. */
  async reply(flowId: string, requestId: string, answer: ReplyAnswer): Promise<boolean> {
    if (this.#owned.has(flowId)) {
      if (!this.flow.pendingRequests(flowId).some((p) => p.request.id === requestId)) return false;
      this.flow.reply(requestId, answer);
      await this.#syncRequests(flowId);
      return true;
    }
    return this.#board.answer(flowId, requestId, answer);
  }

  /**
   * Stop taking runs, then end this replica's part: `cancel` its runs, `wait` for them, or
   * `persist` them (detached, leases dropped: another replica resumes each at once).
   */
  async close(onShutdown: 'cancel' | 'wait' | 'persist'): Promise<void> {
    this.#accepting = false;
    await this.#ticking;
    if (onShutdown === 'cancel') this.registry.cancelAll('server shutting down');
    if (onShutdown === 'persist') {
      for (const id of this.owned()) {
        const rec = this.#owned.get(id)!;
        this.#owned.delete(id);
        await this.registry.release(id);
        await this.flow.store.flush();
        await this.#log.flush(id);
        await this.#queue.abandon(this.id, id).catch(() => undefined);
        void rec;
      }
    }
    // Leases are renewed until every run this replica still holds has ended and been recorded.
    while (this.#owned.size) await new Promise((r) => setTimeout(r, 50));
    for (const t of this.#timers) clearInterval(t);
    for (const off of this.#off.splice(0)) off();
    await this.#bus.close();
  }
}

function summaryOf(r: QueueRow): FlowSummary {
  const finished = r.status !== 'queued' && r.status !== 'running';
  return {
    id: r.flowId,
    status: r.status as FlowSummary['status'],
    task: r.meta.task,
    agents: [...r.meta.agents],
    cost: r.meta.cost,
    ...(r.meta.maxCost !== undefined ? { maxCost: r.meta.maxCost } : {}),
    startedAt: new Date(r.queuedAt ?? r.meta.startedAt).toISOString(),
    ...(finished ? { finishedAt: new Date(r.updatedAt).toISOString() } : {}),
  };
}

function cancelledReport(row: QueueRow, reason: string): FlowReport {
  return {
    flowId: row.flowId,
    status: 'cancelled',
    mode: row.meta.mode as FlowReport['mode'],
    results: [],
    cost: { total: 0, byAgent: {}, byModel: {}, byTask: {} },
    durationMs: Date.now() - (row.queuedAt ?? row.meta.startedAt),
    reason,
  };
}
