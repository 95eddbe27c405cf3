import { EventEmitter } from 'eventemitter3';
import { toPromise, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate';
import { wallClock, type TellingClock } from '../../machines/clock.js';
import { agentMachine, withPromptTimeout, type AgentNotification, type AgentResult } from '../../machines/agent.js';
import type { MemoryActorRef } from '../../machines/memory.js';
import { FlowError } from '../errors.js';
import { flowNamespace } from '../memory/namespace.js';
import type { OpencodeClient } from '../opencode/client.js';
import type { EventHub } from '../opencode/events.js';
import type { OpencodePool, PoolMember } from '../opencode/pool.js';
import { createAgentActors, type AgentRuntime } from '../agent/effects.js';
import type { FlowStore } from '../store/store.js';
import { traceRun, type RunTrace } from '../telemetry/run-trace.js';
import { providerOf, type ConcurrencyLimiter, type SlotWait } from '../router/limiter.js';
import { RunCost } from './cost.js';
import { AGENT_EVENT_TYPES, EventQueue, type FlowEvents, type RunEvent } from './events.js';
import type { PendingInputs } from './inputs.js';
import { createPersister, type RunPersister } from './persistence.js';
import type { RunPlan } from './plan.js';
import type { FlowReport, RunReport, RunStatus } from './report.js';
import { agentsUnder, runKindOf, type RunKind } from './run-kinds.js';

export type { CustomRunPlan, CustomRunSnapshot, RunPlan, SupervisorRunPlan } from './plan.js';

/** What a run uses of its host: the server connection, the store, memory, inputs, inspector. */
export interface RunHost {
  client: OpencodeClient;
  hub: EventHub;
  /** Every OpenCode server of the host (one, or a pool): agents' sessions are spread over them. */
  pool: OpencodePool;
  /** The server's URL as errors may show it (no password). */
  serverUrl: string;
  store: FlowStore;
  /** Persist runs (default true). */
  persist: boolean;
  inputs: PendingInputs;
  memoryActor?: MemoryActorRef;
  inspect?: Observer<InspectionEvent>;
  /** The host's concurrency caps and provider cooldowns, shared by all its runs (`modelRouter.concurrency`). */
  limiter?: ConcurrencyLimiter;
  /** The clock the run's actors tell the time by (default the wall clock; a `SimulatedClock` in tests). */
  clock?: TellingClock;
  /** Every run's events reach the host's listeners too. */
  emit<K extends keyof FlowEvents>(type: K, e: Parameters<FlowEvents[K]>[0]): void;
  /** Checks an agent's structured answer against the zod schema it was asked with (see `AgentRuntime.checkStructured`). */
  checkStructured?: AgentRuntime['checkStructured'];
  /** Called when the run's agent creates a session and when the run ends (memory routing). */
  sessionOpened(sessionID: string, caller: SessionCaller): void;
  runEnded(run: FlowRun): void;
}

/** Who is behind an OpenCode session: the run and agent that opened it, and the agent's tool switches. */
export interface SessionCaller {
  flowId: string;
  agent: string;
  /** The agent's per-prompt tool switches (`flow_<name>: false` for app tools it may not use). */
  tools?: Record<string, boolean>;
}

/** The states in which an agent's session may be working on a prompt. */
const BUSY_STATES = new Set(['prompting', 'streaming', 'awaitingInput', 'fallback']);

/**
 * One flow from start to report: the only thing that runs flows. `execute`, `resume`,
 * `run(machine)` and every `serve` request create one. It owns, for that run: its agents
 * (the actors under its root, whatever machine spawned them, and every OpenCode session they
 * opened), its memory namespace (`flow:<flowId>`), its cost ({@link RunCost}: the only place
 * a budget is enforced), its pending human inputs, its persistence, its events (to the host
 * and to its own listeners, e.g. a stream) and its ending: cancel, detach, and the cleanup of
 * every session its agents opened (aborted if busy, deleted unless `keepSessions`).
 *
 * @example
 * ```ts
 * const run = new FlowRun(host, { kind: 'supervisor', flowId, routing, from: { input }, info });
 * run.on('agent.delta', (e) => process.stdout.write(e.text));
 * const report = await run.start();
 * ```
 */
export class FlowRun extends EventEmitter<FlowEvents> {
  readonly flowId: string;
  readonly kind: RunPlan['kind'];
  /** The run's memory namespace, `flow:<flowId>`. */
  readonly namespace: string;
  readonly cost: RunCost;
  readonly #host: RunHost;
  readonly #plan: RunPlan;
  readonly #runtime: AgentRuntime;
  /** Sessions the run's agents opened: id → the agent's name and its last known state. */
  readonly #sessions = new Map<string, { agent: string; state: string }>();
  /** Custom runs: every agent result, in order (a supervisor's output carries its own). */
  readonly #results: AgentResult[];
  #actor?: AnyActorRef;
  #kind?: RunKind;
  #persist?: RunPersister;
  /** Saves of this run's state that failed, and the last error. */
  #unsaved?: { failures: number; error: string; store: string };
  #ending?: { status: RunStatus; reason: string };
  #detached = false;
  #settled?: Promise<unknown>;
  #startedAt = Date.now();
  /** The run's spans (src/telemetry): none when no tracer provider is registered. */
  readonly #trace?: RunTrace;

  constructor(host: RunHost, plan: RunPlan) {
    super();
    this.#host = host;
    this.#plan = plan;
    this.flowId = plan.flowId;
    this.kind = plan.kind;
    this.namespace = flowNamespace(plan.flowId);
    this.#results = plan.kind === 'custom' ? [...(plan.restore?.snapshot.results ?? [])] : [];
    this.cost = new RunCost(plan.cost, (reason) => this.#stop('budget_exceeded', reason));
    this.cost.onChange((c) => this.#emit('flow.cost', { flowId: this.flowId, ...c }));
    this.#trace = traceRun({
      flowId: plan.flowId,
      name: plan.kind === 'custom' ? plan.machine.id : plan.info.mode,
      mode: plan.kind === 'custom' ? 'custom' : plan.info.mode,
      serverOf: (sid) => host.pool.of(sid),
      ...(plan.continues ? { continues: plan.continues } : {}),
    });
    this.#runtime = {
      client: host.client,
      hub: host.hub,
      pool: host.pool,
      keepSessions: plan.keepSessions,
      chooseFallback: plan.routing.chooseFallback,
      // The router may move a routed agent off a cooling model; the cost owner then holds
      // the prompt's estimate, or refuses it (budget_exceeded).
      beforePrompt: (i) => {
        const model = plan.routing.pickModel(i);
        this.cost.reserve({ agent: i.agent, model, task: i.task });
        return model;
      },
      ...(host.limiter ? this.#slots(host.limiter) : {}),
      // The agent's prompt id is stored before the prompt goes out (exactly once after a crash).
      // A store that fails here does not hold the prompt back: the failure is reported.
      beforeSend: () => this.#persist?.durable().catch(() => {}) ?? Promise.resolve(),
      onCost: (e) => this.cost.live({ ...e, agent: this.#sessions.get(e.sessionID)?.agent }),
      ...(host.checkStructured ? { checkStructured: host.checkStructured } : {}),
      onSession: ({ sessionID, agent, spec, parentSessionID }) => {
        this.#sessions.set(sessionID, { agent, state: 'spawning' });
        this.#trace?.session(sessionID, agent, parentSessionID);
        host.sessionOpened(sessionID, { flowId: this.flowId, agent, ...(spec.tools ? { tools: spec.tools } : {}) });
      },
    };
  }

  /**
   * The host's caps, for this run's prompts: each waits for its slot (told as `agent.queued`,
   * then `agent.dequeued`), and a rate limit one of them meets holds the provider's other
   * prompts, every run's, until OpenCode's next try.
   */
  #slots(limiter: ConcurrencyLimiter): Pick<AgentRuntime, 'acquireSlot' | 'onRateLimit'> {
    return {
      acquireSlot: async ({ agent, model, sessionID, signal }) => {
        const since = Date.now();
        let wait: SlotWait | undefined;
        const onWait = (w: SlotWait) => {
          wait = w;
          this.#emit('agent.queued', { type: 'agent.queued', flowId: this.flowId, agent, model, sessionID, ...w });
        };
        const lease = await limiter.acquire(model, { signal, onWait });
        if (wait)
          this.#emit('agent.dequeued', {
            type: 'agent.dequeued',
            flowId: this.flowId,
            agent,
            model,
            sessionID,
            key: wait.key,
            waitedMs: Date.now() - since,
          });
        return lease;
      },
      onRateLimit: ({ model, until }) => limiter.cooldown(providerOf(model), until),
    };
  }

  /** Sessions the run's agents opened so far. */
  sessions(): string[] {
    return [...this.#sessions.keys()];
  }

  /**
   * Start the run and wait for its report. Never rejects for an agent's failure, a cancel or
   * the budget: the report's `status` says how it ended. Rejects when the run was detached
   * (`cancelled` FlowError) or could not start.
   */
  start(): Promise<RunReport<unknown>> {
    const p = this.#start();
    this.#settled = p.catch(() => undefined);
    return p;
  }

  /** Resolves when the run has ended, however it ended. */
  settled(): Promise<unknown> {
    return this.#settled ?? Promise.resolve();
  }

  /** Stop the run: busy sessions are aborted; the report says `cancelled`. */
  cancel(reason = 'cancelled'): void {
    this.#stop('cancelled', reason);
  }

  /**
   * Stop the run without cancelling it: its state as of now is stored, its actors stop, and
   * its sessions are neither aborted nor deleted; `resume` continues it later.
   */
  async detach(): Promise<void> {
    if (this.#detached || !this.#actor) return;
    this.#detached = true;
    this.#runtime.detached = true;
    this.#persist?.freeze();
    await this.#host.store.flush();
    this.#actor.stop();
  }

  /**
   * The run's events as an async iterator, ending with `flow.done`. Leaving the loop early
   * (`break`) cancels the run and waits for its cleanup.
   */
  events(): EventQueue<RunEvent> {
    const queue = new EventQueue<RunEvent>(async () => {
      this.cancel('stream closed');
      await this.settled();
    });
    for (const t of AGENT_EVENT_TYPES) this.on(t, (e) => queue.push(e as RunEvent));
    this.on('flow.started', (e) => queue.push({ type: 'flow.started', ...e }));
    this.on('flow.persist_error', (e) => queue.push({ type: 'flow.persist_error', ...e }));
    this.on('flow.done', (report) => {
      queue.push({ type: 'flow.done', flowId: report.flowId, report });
      queue.end();
    });
    return queue;
  }

  /** Start the run and read its events, ending with `flow.done`; leaving the loop early cancels it. */
  async *stream(): AsyncGenerator<RunEvent, void, undefined> {
    const events = this.events();
    // The report (`flow.done`) is the last event; a run that ends without one (detached, or
    // it could not start) ends the iteration too.
    this.start().then(
      () => events.end(),
      () => events.end(),
    );
    try {
      yield* events;
    } finally {
      await events.return?.();
    }
  }

  #emit<K extends keyof FlowEvents>(type: K, e: Parameters<FlowEvents[K]>[0]) {
    (this.emit as (t: K, e: unknown) => boolean)(type, e);
    this.#host.emit(type, e);
    this.#trace?.observe(type, e);
  }

  /** Every agent event of the run passes here, whatever machine it came through. */
  #intake(e: AgentNotification) {
    const host = this.#host;
    switch (e.type) {
      case 'agent.state':
        if (e.sessionID) {
          const s = this.#sessions.get(e.sessionID);
          if (s) s.state = e.state;
        }
        this.#persist?.soon();
        break;
      case 'agent.done':
      case 'agent.failed':
        this.cost.book(e.result);
        if (this.kind === 'custom') this.#results.push(e.result);
        this.#persist?.soon();
        break;
      case 'agent.input_required': {
        const sessionID = e.sessionID;
        host.inputs.add({
          flowId: this.flowId,
          agent: e.agent,
          request: e.request,
          send: (ev) => {
            if (!this.#actor) return;
            agentsUnder(this.#actor)
              .find((a) => (a.getSnapshot() as { context?: { sessionID?: string } }).context?.sessionID === sessionID)
              ?.send(ev);
          },
        });
        break;
      }
      case 'agent.input_answered':
        host.inputs.delete(e.record.request.id);
        break;
    }
    this.#emit(e.type as 'agent.state', { ...e, flowId: this.flowId } as never);
  }

  /** End the run with `status` (first call wins): the machine kind says how its machine is told. */
  #stop(status: RunStatus, reason: string) {
    if (this.#ending || this.#detached) return;
    this.#ending = { status, reason };
    this.#trace?.stopping(status, reason);
    this.#kind?.stop(status, reason);
  }

  #agentLogic() {
    const agent = agentMachine.provide({ actors: createAgentActors(this.#runtime) });
    return this.#plan.promptTimeoutMs ? withPromptTimeout(agent, this.#plan.promptTimeoutMs) : agent;
  }

  /** The OpenCode server gone (its event stream refused for seconds): the run cannot go on. */
  /**
   * A dead OpenCode server: with no live server left the run ends, failed, naming it; in a
   * pool, the run's agents whose sessions were on it start their unfinished tasks again in new
   * sessions on the live servers (finished agents keep their results).
   */
  #followServer(): () => void {
    const pool = this.#host.pool;
    const onLost = (member: PoolMember, { reason }: { reason: string }) => {
      if (pool.alive().length === 0) {
        this.#stop('failed', `the OpenCode server at ${member.url} is gone (${reason})`);
        return;
      }
      const lost = new Set(pool.sessionsOn(member));
      if (!this.#actor || lost.size === 0) return;
      for (const agent of agentsUnder(this.#actor)) {
        const sid = (agent.getSnapshot() as { context?: { sessionID?: string } }).context?.sessionID;
        if (sid && lost.has(sid)) {
          pool.release(sid);
          this.#sessions.delete(sid);
          agent.send({ type: 'SESSION_LOST', reason: `the OpenCode server at ${member.url} is gone` });
        }
      }
    };
    pool.on('lost', onLost);
    return () => pool.off('lost', onLost);
  }

  /** Memory changes of the run's namespace reach its machine as `memory.changed` events. */
  #followMemory(actor: AnyActorRef) {
    return this.#host.memoryActor?.on('memory.changed', (c) => {
      if (c.namespace === this.namespace)
        actor.send({ type: 'memory.changed', key: c.key, value: c.value, by: c.by, namespace: c.namespace });
    });
  }

  /**
   * After the run: every session an agent opened and did not clean up itself (a machine that
   * reached its final state stops its agents without cleanup) is aborted when it may be busy,
   * and deleted unless kept.
   */
  async #sweep() {
    const keep = this.#plan.keepSessions === true;
    const left = [...this.#sessions].filter(([, s]) => s.state !== 'stopped');
    await Promise.allSettled(
      left.map(async ([id, s]) => {
        const { client } = await this.#host.pool.locate(id);
        if (BUSY_STATES.has(s.state)) await client.abort(id).catch(() => false);
        if (!keep) await client.deleteSession(id).catch(() => false);
        if (!keep) this.#host.pool.release(id);
        s.state = 'stopped';
      }),
    );
  }

  async #finish(report: FlowReport) {
    if (!this.#detached) await this.#sweep();
    this.#host.inputs.dropRun(this.flowId);
    this.#host.runEnded(this);
    this.#emit('flow.done', report);
  }

  /**
   * The one start path of every run: the machine kind makes the actor; the run wires cost,
   * events, persistence, memory, servers and the timeout the same way for all, then waits for
   * the ending, stores the report and cleans up.
   */
  async #start(): Promise<RunReport<unknown>> {
    try {
      return await this.#run();
    } catch (e) {
      // A run that could not start, or was detached: its trace ends without a report.
      this.#trace?.end(undefined, this.#detached ? undefined : e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  async #run(): Promise<RunReport<unknown>> {
    const kind = runKindOf(
      {
        flowId: this.flowId,
        clock: this.#host.clock ?? wallClock,
        agent: this.#agentLogic(),
        ...(this.#host.inspect ? { inspect: (ev: InspectionEvent) => this.#host.inspect?.next?.(ev) } : {}),
        intake: (e) => this.#intake(e),
        results: this.#results,
        agentNames: () => [
          ...new Set([...this.#sessions.values()].map((s) => s.agent).concat(this.#results.map((r) => r.agent))),
        ],
        spent: () => this.cost.spent,
        ...(this.cost.maxCost !== undefined ? { maxCost: this.cost.maxCost } : {}),
      },
      this.#plan,
    );
    this.#kind = kind;
    const actor = kind.actor;
    this.#actor = actor;
    this.#startedAt = kind.startedAt;
    let ended: RunStatus | undefined;
    this.#persist = createPersister({
      store: this.#host.store,
      flowId: this.flowId,
      enabled: this.#host.persist,
      read: () => {
        const stored = kind.stored(ended, this.#ending?.reason);
        // The trace a later run of this flow links to: this run's, else the one it continued.
        const traceparent = this.#trace?.traceparent ?? this.#plan.continues;
        return traceparent ? { ...stored, meta: { ...stored.meta, traceparent } } : stored;
      },
      onError: (error) => {
        const failures = (this.#unsaved?.failures ?? 0) + 1;
        this.#unsaved = { failures, error, store: this.#host.store.location };
        this.#emit('flow.persist_error', { flowId: this.flowId, ...this.#unsaved });
      },
    });
    actor.subscribe({ next: () => this.#persist?.soon(), error: () => {} });
    const memorySub = this.#followMemory(actor);
    const unfollowServer = this.#followServer();
    const timer = kind.timeoutMs
      ? setTimeout(() => this.#stop('failed', `flow timed out after ${kind.timeoutMs} ms`), kind.timeoutMs)
      : undefined;
    const done = toPromise(actor);
    this.#emit('flow.started', { flowId: this.flowId, ...kind.started() });
    actor.start();
    // A cancel that came before the actor existed.
    if (this.#ending) kind.stop(this.#ending.status, this.#ending.reason);
    let report: RunReport<unknown>;
    try {
      let output: unknown;
      let failure: string | undefined;
      try {
        output = await done;
      } catch (e) {
        failure = e instanceof Error ? e.message : String(e);
      }
      if (this.#detached) throw kind.detachedError();
      report = kind.report(
        {
          output,
          ...(failure !== undefined ? { failure } : {}),
          ...(this.#ending ? { ending: this.#ending } : {}),
          ...(this.cost.exceeded ? { overBudget: this.cost.reason ?? 'budget exceeded' } : {}),
        },
        (this.#host.clock ?? wallClock).now(),
      );
      ended = report.status;
      const before = this.#unsaved?.failures ?? 0;
      await this.#persist.now(report);
      await this.#host.store.flush();
      if (this.#unsaved)
        report = {
          ...report,
          unsaved: { ...this.#unsaved, reportSaved: this.#host.persist && this.#unsaved.failures === before },
        };
    } catch (e) {
      this.#host.inputs.dropRun(this.flowId);
      this.#host.runEnded(this);
      throw e;
    } finally {
      clearTimeout(timer);
      memorySub?.unsubscribe();
      unfollowServer();
    }
    await this.#finish(report as FlowReport);
    return report;
  }
}
