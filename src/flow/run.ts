import { EventEmitter } from 'eventemitter3';
import {
  createActor,
  toPromise,
  type AnyActorRef,
  type AnyStateMachine,
  type InspectionEvent,
  type Observer,
} from 'xstate';
import { agentMachine, withPromptTimeout, type AgentNotification, type AgentResult } from '../../machines/agent.js';
import type { MemoryActorRef } from '../../machines/memory.js';
import {
  PLANNER,
  prefixed,
  supervisorMachine,
  withSubflows,
  type FlowMode,
  type SupervisorContext,
  type SupervisorInput,
  type SupervisorOutput,
} from '../../machines/supervisor.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { flowNamespace } from '../memory/namespace.js';
import type { OpencodeClient } from '../opencode/client.js';
import type { EventHub } from '../opencode/events.js';
import type { OpencodePool, PoolMember } from '../opencode/pool.js';
import { createAgentActors, type AgentRuntime } from '../agent/effects.js';
import type { FlowStore, StoredFlowMeta } from '../store/store.js';
import type { FlowRouting } from './routing.js';
import { RunCost } from './cost.js';
import { AGENT_EVENT_TYPES, EventQueue, type FlowEvents, type RunEvent } from './events.js';
import type { PendingInputs } from './inputs.js';
import { createPersister, type RunPersister } from './persistence.js';
import { toReport, type FlowReport, type RunReport, type RunStatus } from './report.js';

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

/** What the flow store keeps of a custom machine's run. */
export interface CustomRunSnapshot {
  kind: 'custom';
  /** The machine's persisted snapshot (its agents with it). */
  actor: unknown;
  /** Agents' results so far: the run's cost. */
  results: AgentResult[];
}

interface RunCommon {
  flowId: string;
  routing: FlowRouting;
  /** Keep every agent's session after the run (default: deleted). */
  keepSessions?: boolean;
  /** Per-prompt timeout for agents that name none (ms). */
  promptTimeoutMs?: number;
}

/** A run of the built-in supervisor (parallel, sequential, hierarchical). */
export interface SupervisorRunPlan extends RunCommon {
  kind: 'supervisor';
  from: { input: SupervisorInput } | { snapshot: unknown };
  info: { mode: FlowMode; agents: string[]; task: string };
}

/** A run of the caller's own machine. */
export interface CustomRunPlan extends RunCommon {
  kind: 'custom';
  machine: AnyStateMachine;
  input: unknown;
  /** A stored run to continue. */
  restore?: { snapshot: CustomRunSnapshot; startedAt: number };
  /** Whole-run timeout (ms); the supervisor has its own. */
  timeoutMs?: number;
}

export type RunPlan = SupervisorRunPlan | CustomRunPlan;

type AnyRef = AnyActorRef & { logic?: { id?: string } };

/** Agent actors under `root`, at any depth. */
function agentsUnder(root: AnyActorRef): AnyRef[] {
  const out: AnyRef[] = [];
  const walk = (ref: AnyActorRef) => {
    const children = (ref.getSnapshot() as { children?: Record<string, AnyRef> }).children ?? {};
    for (const child of Object.values(children)) {
      if (child.logic?.id === agentMachine.id) out.push(child);
      else walk(child);
    }
  };
  walk(root);
  return out;
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
  #persist?: RunPersister;
  #ending?: { status: RunStatus; reason: string };
  #detached = false;
  #settled?: Promise<unknown>;
  #startedAt = Date.now();

  constructor(host: RunHost, plan: RunPlan) {
    super();
    this.#host = host;
    this.#plan = plan;
    this.flowId = plan.flowId;
    this.kind = plan.kind;
    this.namespace = flowNamespace(plan.flowId);
    this.#results = plan.kind === 'custom' ? [...(plan.restore?.snapshot.results ?? [])] : [];
    this.cost = new RunCost(plan.routing, (reason) => this.#stop('budget_exceeded', reason));
    this.#runtime = {
      client: host.client,
      hub: host.hub,
      pool: host.pool,
      keepSessions: plan.keepSessions,
      chooseFallback: (i) => plan.routing.chooseFallback(i),
      beforePrompt: (i) => plan.routing.beforePrompt(i),
      onCost: (e) => this.cost.live(e),
      ...(host.checkStructured ? { checkStructured: host.checkStructured } : {}),
      onSession: ({ sessionID, agent, spec }) => {
        this.#sessions.set(sessionID, { agent, state: 'spawning' });
        host.sessionOpened(sessionID, { flowId: this.flowId, agent, ...(spec.tools ? { tools: spec.tools } : {}) });
      },
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
    const p = this.#plan.kind === 'supervisor' ? this.#startSupervisor(this.#plan) : this.#startCustom(this.#plan);
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

  #emit<K extends keyof FlowEvents>(type: K, e: Parameters<FlowEvents[K]>[0]) {
    (this.emit as (t: K, e: unknown) => boolean)(type, e);
    this.#host.emit(type, e);
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

  /** End the run with `status` (first call wins): the supervisor winds down by itself; a custom machine's agents are stopped, then the machine. */
  #stop(status: RunStatus, reason: string) {
    if (this.#ending || this.#detached) return;
    this.#ending = { status, reason };
    const actor = this.#actor;
    if (!actor) return;
    if (this.kind === 'supervisor') {
      actor.send(
        status === 'budget_exceeded'
          ? { type: 'BUDGET_EXCEEDED', reason }
          : status === 'failed'
            ? { type: 'FAIL', reason }
            : { type: 'CANCEL', reason },
      );
      return;
    }
    // The machine may not know CANCEL: stop its agents (busy ones abort and report what they
    // cost so far), then the machine itself.
    const agents = agentsUnder(actor);
    for (const a of agents) a.send({ type: 'STOP' });
    void Promise.race([
      Promise.allSettled(agents.map((a) => toPromise(a))),
      new Promise((r) => setTimeout(r, 15_000).unref()),
    ]).finally(() => actor.stop());
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

  #persister(read: () => { meta: Omit<StoredFlowMeta, 'flowId' | 'updatedAt'>; snapshot: unknown }) {
    return createPersister({
      store: this.#host.store,
      flowId: this.flowId,
      enabled: this.#host.persist,
      read,
      onError: (error) => this.#emit('flow.persist_error', { flowId: this.flowId, error }),
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

  async #startSupervisor(plan: SupervisorRunPlan): Promise<FlowReport> {
    const maxDepth =
      'input' in plan.from
        ? plan.from.input.maxDepth
        : (plan.from.snapshot as { context?: SupervisorContext }).context?.maxDepth;
    const machine = withSubflows(supervisorMachine.provide({ actors: { agent: this.#agentLogic() } }), maxDepth ?? 3);
    const inspect = this.#host.inspect;
    const actor =
      'input' in plan.from
        ? createActor(machine, { id: this.flowId, input: plan.from.input, ...(inspect ? { inspect } : {}) })
        : // The input is ignored on restore; the snapshot carries the context.
          createActor(machine, {
            id: this.flowId,
            snapshot: plan.from.snapshot as never,
            input: undefined as unknown as SupervisorInput,
            ...(inspect ? { inspect } : {}),
          });
    this.#actor = actor;
    this.#startedAt = actor.getSnapshot().context.startedAt ?? Date.now();
    this.#persist = this.#persister(() => {
      const snap = actor.getSnapshot();
      const ctx = snap.context;
      return {
        meta: {
          task: plan.info.task,
          mode: plan.info.mode,
          agents: plan.info.agents,
          status: snap.status === 'done' ? (snap.output?.status ?? ctx.status) : 'running',
          cost: this.cost.spent,
          startedAt: ctx.startedAt ?? this.#startedAt,
          ...(ctx.reason ? { reason: ctx.reason } : {}),
        },
        snapshot: actor.getPersistedSnapshot(),
      };
    });
    // The supervisor emits its agents' events (sub-supervisors' too, names prefixed).
    actor.on('*', (e) => {
      if (e.type.startsWith('agent.')) this.#intake(e as AgentNotification);
    });
    actor.subscribe({ next: () => this.#persist?.soon(), error: () => {} });
    const memorySub = this.#followMemory(actor);
    const unfollowServer = this.#followServer();
    const done = toPromise(actor);
    const specs = (() => {
      const ctx = actor.getSnapshot().context;
      return [...ctx.agents, ...(ctx.planner ? [{ ...ctx.planner, name: PLANNER }] : [])];
    })();
    this.#emit('flow.started', {
      flowId: this.flowId,
      mode: plan.info.mode,
      agents: plan.info.agents,
      task: plan.info.task,
      models: Object.fromEntries(specs.map((s) => [s.name, s.model ?? ''])),
      ...(this.cost.maxCost !== undefined ? { maxCost: this.cost.maxCost } : {}),
    });
    actor.start();
    // A cancel that came before the actor existed.
    if (this.#ending) actor.send({ type: 'CANCEL', reason: this.#ending.reason });
    try {
      const out: SupervisorOutput | undefined = await done;
      if (this.#detached || !out) {
        throw new FlowError(
          FlowErrorCode.Cancelled,
          `flow ${this.flowId} was detached: its agents go on (or are prompted again) when it is resumed (opencode-flow resume ${this.flowId})`,
        );
      }
      // The run owns the budget: over it, the run ended for that, whatever else ended last.
      const report = toReport(
        this.cost.exceeded && out.status !== 'cancelled' && out.status !== 'budget_exceeded'
          ? { ...out, status: 'budget_exceeded', reason: this.cost.reason }
          : out,
      );
      this.#persist.now(report);
      await this.#host.store.flush();
      await this.#finish(report);
      return report;
    } catch (e) {
      this.#host.inputs.dropRun(this.flowId);
      this.#host.runEnded(this);
      throw e;
    } finally {
      memorySub?.unsubscribe();
      unfollowServer();
    }
  }

  async #startCustom(plan: CustomRunPlan): Promise<RunReport<unknown>> {
    const agent = this.#agentLogic();
    let machine = plan.machine.provide({ actors: { agent } } as never) as AnyStateMachine;
    // A machine built on the supervisor (planExecuteMachine) gets its sub-supervisors too.
    if ('subflow' in (plan.machine.implementations.actors ?? {})) {
      machine = withSubflows(machine as unknown as typeof supervisorMachine) as unknown as AnyStateMachine;
    }
    this.#startedAt = plan.restore?.startedAt ?? Date.now();
    let root: AnyActorRef | undefined;
    const hostInspect = this.#host.inspect;
    const actor = createActor(machine, {
      id: this.flowId,
      input: plan.input as never,
      ...(plan.restore ? { snapshot: plan.restore.snapshot.actor as never } : {}),
      inspect: (ev) => {
        hostInspect?.next?.(ev);
        // Agents report to the machine that spawned them, at any depth: pick their reports up on the way.
        if (ev.type !== '@xstate.event' || root === undefined) return;
        const source = ev.sourceRef as AnyRef | undefined;
        if (source?.logic?.id !== agentMachine.id || source.system !== root.system) return;
        const e = ev.event as AgentNotification;
        if (typeof e.type !== 'string' || !e.type.startsWith('agent.')) return;
        // An event to several targets is seen once per target: take it on its way to the parent.
        const parentOf = (a: AnyActorRef) => (a as unknown as { _parent?: AnyActorRef })._parent;
        if (ev.actorRef !== parentOf(source)) return;
        // Under a sub-supervisor (a machine built on the supervisor), named by its place in the
        // tree as the supervisor itself names it: `coder:s3/tester:t1`.
        let prefix = '';
        for (let p = parentOf(source); p && p !== root; p = parentOf(p))
          if (p.id.startsWith('subflow:')) prefix = `${p.id.slice(8)}/${prefix}`;
        this.#intake(prefixed(e, prefix));
      },
    });
    root = actor;
    this.#actor = actor;
    const report = (status: RunStatus, reason?: string, output?: unknown): RunReport<unknown> => ({
      ...toReport({
        flowId: this.flowId,
        status,
        mode: 'custom',
        results: this.#results,
        startedAt: this.#startedAt,
        finishedAt: Date.now(),
        ...(reason ? { reason } : {}),
      }),
      ...(output !== undefined ? { output } : {}),
    });
    let ended: RunStatus | undefined;
    this.#persist = this.#persister(() => {
      const snap = actor.getSnapshot() as { status: string };
      return {
        meta: {
          task: plan.machine.id,
          mode: 'custom',
          agents: [
            ...new Set([...this.#sessions.values()].map((s) => s.agent).concat(this.#results.map((r) => r.agent))),
          ],
          status: ended ?? (snap.status === 'done' ? 'completed' : 'running'),
          cost: this.cost.spent,
          ...(this.cost.maxCost !== undefined ? { maxCost: this.cost.maxCost } : {}),
          startedAt: this.#startedAt,
          ...(this.#ending ? { reason: this.#ending.reason } : {}),
        },
        snapshot: {
          kind: 'custom',
          actor: actor.getPersistedSnapshot(),
          results: this.#results,
        } satisfies CustomRunSnapshot,
      };
    });
    actor.subscribe({ next: () => this.#persist?.soon(), error: () => {} });
    const memorySub = this.#followMemory(actor);
    const unfollowServer = this.#followServer();
    const timer = plan.timeoutMs
      ? setTimeout(() => this.#stop('failed', `flow timed out after ${plan.timeoutMs} ms`), plan.timeoutMs)
      : undefined;
    const done = toPromise(actor);
    this.#emit('flow.started', { flowId: this.flowId, mode: 'custom', agents: [], task: plan.machine.id });
    actor.start();
    if (this.#ending) this.#stop(this.#ending.status, this.#ending.reason);
    let r: RunReport<unknown>;
    try {
      let output: unknown;
      let failure: string | undefined;
      try {
        output = await done;
      } catch (e) {
        failure = e instanceof Error ? e.message : String(e);
      }
      if (this.#detached) {
        throw new FlowError(
          FlowErrorCode.Cancelled,
          `flow ${this.flowId} was detached: continue it with run(machine, input, { flowId: "${this.flowId}", resume: true })`,
        );
      }
      // Stopping an actor completes it too, with no output: only a final state is `done`.
      const reachedFinal = (actor.getSnapshot() as { status: string }).status === 'done';
      if (this.#ending) r = report(this.#ending.status, this.#ending.reason, reachedFinal ? output : undefined);
      else if (failure !== undefined) r = report('failed', failure);
      else if (!reachedFinal) r = report('failed', 'the machine was stopped');
      else r = report('completed', undefined, output);
      ended = r.status;
      this.#persist.now(r);
      await this.#host.store.flush();
    } catch (e) {
      this.#host.inputs.dropRun(this.flowId);
      this.#host.runEnded(this);
      throw e;
    } finally {
      clearTimeout(timer);
      memorySub?.unsubscribe();
      unfollowServer();
    }
    await this.#finish(r as FlowReport);
    return r;
  }
}
