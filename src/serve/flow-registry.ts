import { newFlowId } from '../flow/ids.js';
import { secondsToMs } from '../config/timeouts.js';
import type { FlowEvents, FlowReport, OpencodeFlow } from '../flow/index.js';
import { AGENT_EVENTS, FlowRecord, type AgentEventType, type FlowSummary, type ServeEvent } from './flow-record.js';
import type { CreateFlowBody } from './flow-request.js';
import type { ServeLogger } from './logger.js';
import type { ServeMetrics } from './metrics.js';

/**
 * How a serve replica of a pool starts a flow it took from the queue: under the queued id,
 * its record continuing the events stored so far, each new event told to `onRecord`.
 */
export interface AdoptOptions {
  id: string;
  events: ServeEvent[];
  startedAt?: number;
  onRecord: (e: ServeEvent) => void;
}

/** What `cancel` found: the flow is being cancelled, already over, or unknown. */
export type CancelOutcome = 'cancelling' | 'finished' | 'not_found';

/**
 * The flows of one API server over one `OpencodeFlow`: starts them through the library
 * (`execute`, inline agents included), routes the library's events to each flow's
 * record and to the metrics, and keeps finished flows up to a bound.
 *
 * @example
 * ```ts
 * const flows = new FlowRegistry(flow, metrics, { keepFinished: 100, maxEventsPerFlow: 10_000 });
 * const rec = await flows.create({ task: 'Review src/', agents: ['reviewer'], mode: 'parallel' });
 * const report = await rec.settled();
 * ```
 */
export class FlowRegistry {
  private readonly records = new Map<string, FlowRecord>();
  private readonly finishedOrder: string[] = [];
  private readonly unsubscribe: Array<() => void> = [];
  /** Flows let go of (a replica lost their lease): their run's end is no longer theirs to tell. */
  private readonly released = new Set<FlowRecord>();

  constructor(
    private readonly flow: OpencodeFlow,
    private readonly metrics: ServeMetrics,
    private readonly options: { keepFinished: number; maxEventsPerFlow: number; logger?: ServeLogger },
  ) {
    for (const type of AGENT_EVENTS) this.listen(type);
    const onStarted: FlowEvents['flow.started'] = (e) => {
      const rec = this.records.get(e.flowId);
      if (!rec) return;
      rec.markStarted();
      this.options.logger?.info({ flowId: rec.id, mode: rec.mode, agents: rec.agents }, 'flow started');
      // The models the library chose (explicit, routed or default) and the run's budget.
      if (e.models)
        rec.setPlan({
          models: Object.fromEntries(Object.entries(e.models).map(([n, m]) => [rec.displayName(n), m])),
          ...(e.maxCost !== undefined ? { maxCost: e.maxCost } : {}),
        });
      // A cancel that came before the supervisor existed: apply it now that it does
      // (after `execute` has started the actor, which happens right after this event).
      if (rec.cancelRequested) queueMicrotask(() => this.flow.cancel(rec.id, 'cancelled'));
    };
    this.flow.on('flow.started', onStarted);
    this.unsubscribe.push(() => this.flow.off('flow.started', onStarted));
    // The run's cost owner is the one tally: the record shows its figures, live cost included.
    const onCost: FlowEvents['flow.cost'] = (e) => this.records.get(e.flowId)?.setCost(e);
    this.flow.on('flow.cost', onCost);
    this.unsubscribe.push(() => this.flow.off('flow.cost', onCost));
    const onUnsaved: FlowEvents['flow.persist_error'] = (e) => {
      this.metrics.onPersistError();
      this.records.get(e.flowId)?.setUnsaved(e);
    };
    this.flow.on('flow.persist_error', onUnsaved);
    this.unsubscribe.push(() => this.flow.off('flow.persist_error', onUnsaved));
  }

  private listen<T extends AgentEventType>(type: T) {
    const handler = ((e: Parameters<FlowEvents[T]>[0]) => {
      const rec = this.records.get(e.flowId);
      if (!rec || rec.finished) return;
      this.metrics.onAgentEvent(type, rec.onAgentEvent(type, e));
    }) as FlowEvents[T];
    this.flow.on(type, handler as never);
    this.unsubscribe.push(() => this.flow.off(type, handler as never));
  }

  /** Flows running now (including ones still being accepted). */
  active(): FlowRecord[] {
    return [...this.records.values()].filter((r) => !r.finished);
  }

  get(id: string): FlowRecord | undefined {
    return this.records.get(id);
  }

  /** Every kept flow, newest first. */
  list(): FlowSummary[] {
    return [...this.records.values()].reverse().map((r) => r.summary());
  }

  /**
   * Start a flow and resolve once the library accepted it (every agent resolved, the
   * supervisor started). Rejects with the library's `FlowError` when it refuses the flow
   * (unknown agent, model not served, ...). The record is registered synchronously, so
   * a caller that checked `active().length` before calling cannot be overtaken.
   */
  async create(body: CreateFlowBody, adopt?: AdoptOptions): Promise<FlowRecord> {
    let id = adopt?.id ?? newFlowId();
    while (!adopt && this.records.has(id)) id = newFlowId();
    const rec = this.newRecord(id, body, adopt);
    try {
      // Inline agents are the run's own: they live and die with it (the host keeps none).
      const outcome = this.flow
        .execute({
          task: body.task,
          agents: body.agents,
          mode: body.mode,
          flowId: id,
          ...(body.timeout !== undefined ? { timeoutMs: secondsToMs(body.timeout) } : {}),
          ...(body.promptTimeout !== undefined ? { promptTimeoutMs: secondsToMs(body.promptTimeout) } : {}),
          ...(body.model !== undefined ? { model: body.model } : {}),
          ...(body.fallback !== undefined ? { fallback: body.fallback } : {}),
          ...(body.optimize !== undefined ? { optimize: body.optimize } : {}),
          ...(body.maxCost !== undefined ? { maxCost: body.maxCost } : {}),
          ...(body.maxConcurrent !== undefined ? { maxConcurrent: body.maxConcurrent } : {}),
          ...(body.onAgentFailure !== undefined ? { onAgentFailure: body.onAgentFailure } : {}),
          ...(body.schema !== undefined ? { schema: body.schema } : {}),
        })
        .then(
          (report) => ({ report }),
          (error: unknown) => ({ error }),
        );
      const first = await Promise.race([rec.whenStarted().then(() => undefined), outcome]);
      if (first && 'error' in first && !rec.started) throw first.error;
      void outcome.then((o) => this.finish(rec, 'report' in o ? o.report : this.failedReport(rec, o.error)));
      return rec;
    } catch (e) {
      this.records.delete(id);
      throw e;
    }
  }

  /**
   * Continue a flow a dead replica was running, from its stored snapshot (`resume`: finished
   * agents keep their results, agents that were mid-prompt reconcile), its record continuing
   * the events it had stored.
   */
  resume(body: CreateFlowBody, adopt: AdoptOptions): FlowRecord {
    const rec = this.newRecord(adopt.id, body, adopt);
    void this.flow.resume(adopt.id).then(
      (report) => this.finish(rec, report),
      (error: unknown) => this.finish(rec, this.failedReport(rec, error)),
    );
    return rec;
  }

  /**
   * Let a flow go without ending it: its run is detached (state stored as it is, sessions
   * left alone) and its record forgotten, so this process never reports an end for it.
   */
  async release(id: string): Promise<void> {
    const rec = this.records.get(id);
    if (!rec) return;
    this.released.add(rec);
    this.records.delete(id);
    await this.flow.detach(id);
  }

  private newRecord(id: string, body: CreateFlowBody, adopt?: AdoptOptions): FlowRecord {
    const rec = new FlowRecord({
      id,
      task: body.task,
      mode: body.mode,
      agents: body.agents.map((a) => (typeof a === 'string' ? a : a.name)),
      maxEvents: this.options.maxEventsPerFlow,
      ...(adopt ? { onRecord: adopt.onRecord, startedAt: adopt.startedAt } : {}),
    });
    for (const e of adopt?.events ?? []) rec.apply(e);
    this.records.set(id, rec);
    return rec;
  }

  /** Ask a flow to stop; its busy sessions are aborted by the library. */
  cancel(id: string, reason = 'cancelled'): CancelOutcome {
    const rec = this.records.get(id);
    if (!rec) return 'not_found';
    if (rec.finished) return 'finished';
    rec.cancelRequested = true;
    if (rec.started) this.flow.cancel(id, reason);
    return 'cancelling';
  }

  /** Cancel every running flow. */
  cancelAll(reason: string): void {
    for (const rec of this.active()) this.cancel(rec.id, reason);
  }

  /** Resolves when every flow running now has finished. */
  async settleAll(): Promise<void> {
    await Promise.allSettled(this.active().map((r) => r.settled()));
  }

  /** Stop listening to the library's events. */
  dispose(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private finish(rec: FlowRecord, report: FlowReport) {
    if (this.released.delete(rec) || rec.finished) return;
    const mapped = rec.finish(report);
    this.metrics.onFlowFinished(mapped);
    const fields = {
      flowId: rec.id,
      status: rec.status,
      costUsd: mapped.cost.total,
      durationMs: (rec.finishedAt ?? Date.now()) - rec.startedAt,
      ...(mapped.reason ? { reason: mapped.reason } : {}),
    };
    if (rec.status === 'failed') this.options.logger?.warn(fields, 'flow finished');
    else this.options.logger?.info(fields, 'flow finished');
    this.finishedOrder.push(rec.id);
    while (this.finishedOrder.length > this.options.keepFinished) this.records.delete(this.finishedOrder.shift()!);
  }

  /** The report of a flow whose run threw after it had started (a bug, not an agent failure). */
  private failedReport(rec: FlowRecord, error: unknown): FlowReport {
    return {
      flowId: rec.id,
      status: 'failed',
      mode: rec.mode,
      results: [],
      cost: { total: 0, byAgent: {}, byModel: {}, byTask: {} },
      durationMs: Date.now() - rec.startedAt,
      reason: error instanceof Error ? error.message : String(error),
    };
  }
}
