import type { FlowEvents, FlowReport } from '../flow/index.js';
import { AGENT_EVENT_TYPES } from '../flow/events.js';
import type { FlowMode } from '../../machines/supervisor.js';

/** Status of a flow served by the API: `running` until its report exists. */
export type ServeFlowStatus = 'queued' | 'running' | FlowReport['status'];

/** Names of the flow events the API relays. */
/** Views kept per flow at most (a hierarchical plan adds one per subtask). */
const MAX_VIEWS = 1000;

const newView = (agent: string): AgentView => ({
  agent,
  status: 'pending',
  state: 'pending',
  model: '',
  tokens: { input: 0, output: 0 },
  cost: 0,
  fallbacks: [],
});

export const AGENT_EVENTS = AGENT_EVENT_TYPES;

/** An agent's state while its prompt waits for a slot (`agent.queued`): not a machine state, the wait inside `preparing`. */
export const WAITING_FOR_SLOT = 'waitingForSlot';
export type AgentEventType = (typeof AGENT_EVENTS)[number];
export type AgentEventPayload<T extends AgentEventType = AgentEventType> = Parameters<FlowEvents[T]>[0];

/** One event of a flow as the SSE stream carries it; `id` counts from 1 within the flow. */
export interface ServeEvent {
  id: number;
  type: AgentEventType | 'flow.started' | 'flow.plan' | 'flow.persist_error' | 'flow.done';
  data: Record<string, unknown>;
}

/** One agent of a flow as seen so far. Cost and tokens arrive when the agent finishes. */
export interface AgentView {
  agent: string;
  /** `pending` before its first state, `running`, then `done` or `failed`. */
  status: 'pending' | 'running' | 'done' | 'failed';
  /** The agent machine's latest state (`spawning`, `prompting`, `streaming`, `fallback`, `done`, `cleanup`, ...). */
  state: string;
  /** `provider/model` of the current (or last) attempt; '' for OpenCode's default. */
  model: string;
  sessionID?: string;
  tokens: { input: number; output: number };
  cost: number;
  fallbacks: Array<{ from: string; to: string; reason: string }>;
  error?: string;
  /** When its task began and ended (ms since the epoch), once it finished. */
  startedAt?: number;
  finishedAt?: number;
}

/** Cost of a flow: total, per agent and per model (USD, as OpenCode reports it). */
export interface FlowCost {
  total: number;
  byAgent: Record<string, number>;
  byModel: Record<string, number>;
}

/**
 * What is known of a flow before its agents run: each agent's model where it is certain
 * (given by the client, or the flow's default), and the hard budget.
 */
export interface FlowPlan {
  /** Agent (the client's name) → `provider/model`. */
  models: Record<string, string>;
  /** Hard budget of the flow, USD. */
  maxCost?: number;
}

/** A flow while it runs (`GET /flows/:id` before the report exists). */
export interface RunningFlowView {
  flowId: string;
  status: 'running';
  mode: FlowMode;
  task: string;
  startedAt: string;
  agents: AgentView[];
  cost: FlowCost;
  maxCost?: number;
  /** Saves of the run's state to the flow store failed: how many, and the last error. */
  unsaved?: { failures: number; error: string; store: string };
}

/** A line of `GET /flows`. */
export interface FlowSummary {
  id: string;
  status: ServeFlowStatus;
  task: string;
  agents: string[];
  cost: number;
  /** The flow's hard budget (USD), when it has one. */
  maxCost?: number;
  startedAt: string;
  finishedAt?: string;
}

/**
 * Everything the API knows about one flow: its agents' live state, the events so far
 * (for SSE replay), and in the end its report. Agent names inside are the names the
 * client gave (an optional alias map renames agents for display; serve runs inline agents
 * under their own names, in their own run).
 *
 * @example
 * ```ts
 * const rec = new FlowRecord({ id: 'flow_1', task: 'Review', mode: 'parallel', agents: ['reviewer'] });
 * rec.onAgentEvent('agent.state', { type: 'agent.state', flowId: 'flow_1', agent: 'reviewer', state: 'prompting', model: 'x/y' });
 * rec.view(); // { status: 'running', agents: [{ agent: 'reviewer', state: 'prompting', ... }], ... }
 * ```
 */
export class FlowRecord {
  readonly id: string;
  readonly task: string;
  readonly mode: FlowMode;
  /** Agent names as the client gave them, in order. */
  readonly agents: string[];
  readonly startedAt: number;
  finishedAt?: number;
  report?: FlowReport;
  /** Set by `DELETE` before the flow's actor exists; applied once it starts. */
  cancelRequested = false;
  /** True once `flow.started` was seen (the library resolved every agent). */
  started = false;
  private readonly alias: Map<string, string>;
  private readonly views = new Map<string, AgentView>();
  /** Models known before agents run (see `setPlan`), also for views created later. */
  private readonly plannedModels = new Map<string, string>();
  /** Hard budget of the flow (USD), when it has one. */
  maxCost?: number;
  /** The run's cost owner's latest figures (`flow.cost`): total and per agent, running agents included. */
  private owned?: { total: number; byAgent: Record<string, number> };
  private readonly events: ServeEvent[] = [];
  private seq = 0;
  private readonly maxEvents: number;
  /** Told every replayable event as it is recorded (a serve replica stores them for the others). */
  private readonly onRecord?: (e: ServeEvent) => void;
  /** The stored event being applied by `apply`: recorded under its own id, told to nobody. */
  private applying?: ServeEvent;
  private unsaved?: { failures: number; error: string; store: string };
  private readonly listeners = new Set<(e: ServeEvent | null) => void>();
  private readonly settledPromise: Promise<FlowReport>;
  private resolveSettled!: (r: FlowReport) => void;
  private readonly startedPromise: Promise<void>;
  private resolveStarted!: () => void;

  constructor(init: {
    id: string;
    task: string;
    mode: FlowMode;
    agents: string[];
    alias?: Map<string, string>;
    maxEvents?: number;
    startedAt?: number;
    onRecord?: (e: ServeEvent) => void;
  }) {
    this.startedAt = init.startedAt ?? Date.now();
    this.onRecord = init.onRecord;
    this.id = init.id;
    this.task = init.task;
    this.mode = init.mode;
    this.agents = init.agents;
    this.alias = init.alias ?? new Map();
    this.maxEvents = init.maxEvents ?? 10_000;
    // A hierarchical flow runs its agents per subtask (`coder:s1`), known only once planned.
    if (init.mode !== 'hierarchical') for (const a of init.agents) this.views.set(a, newView(a));
    this.settledPromise = new Promise((r) => (this.resolveSettled = r));
    this.startedPromise = new Promise((r) => (this.resolveStarted = r));
  }

  get status(): ServeFlowStatus {
    return this.report?.status ?? 'running';
  }

  get finished(): boolean {
    return this.report !== undefined;
  }

  /** Resolves with the report when the flow ends. */
  settled(): Promise<FlowReport> {
    return this.settledPromise;
  }

  /** Resolves once the library accepted the flow (`flow.started`). */
  whenStarted(): Promise<void> {
    return this.startedPromise;
  }

  /** The client's name of an agent from the name it ran under. */
  displayName(name: string): string {
    const shown = this.alias.get(name);
    if (shown !== undefined) return shown;
    // Hierarchical flows run an agent once per subtask, as `<agent>:<subtask id>`.
    const colon = name.lastIndexOf(':');
    const base = colon > 0 ? this.alias.get(name.slice(0, colon)) : undefined;
    return base !== undefined ? `${base}${name.slice(colon)}` : name;
  }

  /** The name an agent runs under, from the client's name (inline agents are suffixed). */
  runName(display: string): string {
    for (const [run, shown] of this.alias) if (shown === display) return run;
    return display;
  }

  /**
   * What is known before the agents run: a pending agent shows its model (not OpenCode's
   * "default") and the flow its budget. Models fill only views that have none yet: an
   * agent's own events are the truth once it runs. Streamed as `flow.plan`.
   */
  setPlan(plan: FlowPlan): void {
    if (plan.maxCost !== undefined) this.maxCost = plan.maxCost;
    if (this.finished) return;
    const models: Record<string, string> = {};
    for (const [name, model] of Object.entries(plan.models)) {
      if (!model) continue;
      models[name] = model;
      this.plannedModels.set(name, model);
      const view = this.views.get(name);
      if (view && !view.model) view.model = model;
    }
    this.record('flow.plan', {
      flowId: this.id,
      models,
      ...(this.maxCost !== undefined ? { maxCost: this.maxCost } : {}),
    });
  }

  /** The library accepted the flow: every agent resolved, the supervisor exists. */
  markStarted(): void {
    if (this.started) return;
    this.started = true;
    this.resolveStarted();
    this.record('flow.started', {
      flowId: this.id,
      mode: this.mode,
      task: this.task,
      agents: this.agents,
      startedAt: new Date(this.startedAt).toISOString(),
    });
  }

  /**
   * Apply an event of this flow's agents; returns the payload with the client's agent
   * names (what the SSE stream and metrics see).
   */
  onAgentEvent<T extends AgentEventType>(type: T, payload: AgentEventPayload<T>): AgentEventPayload<T> {
    const e = this.rename(payload);
    // Agents a flow creates as it goes (a hierarchical flow's planner and subtasks) get a
    // view of their own when they first appear.
    if (!this.views.has(e.agent) && this.views.size < MAX_VIEWS) {
      const view = newView(e.agent);
      // A hierarchical subtask (`coder:s1`) runs on its agent's model.
      view.model = this.plannedModels.get(e.agent) ?? this.plannedModels.get(e.agent.replace(/:[^:]*$/, '')) ?? '';
      this.views.set(e.agent, view);
    }
    const view = this.views.get(e.agent);
    if (view) {
      switch (e.type) {
        case 'agent.state':
          view.state = e.state;
          if (e.model) view.model = e.model;
          if (e.sessionID) view.sessionID = e.sessionID;
          if (view.status === 'pending') view.status = 'running';
          break;
        case 'agent.queued':
          // Held back by the host's concurrency caps or a provider's cooldown: `prompting` follows.
          view.state = WAITING_FOR_SLOT;
          if (e.model) view.model = e.model;
          if (view.status === 'pending') view.status = 'running';
          break;
        case 'agent.fallback':
          view.fallbacks.push({ from: e.from, to: e.to, reason: e.reason });
          view.model = e.to;
          break;
        case 'agent.done':
        case 'agent.failed':
          view.status = e.type === 'agent.done' ? 'done' : 'failed';
          view.model = e.result.model || view.model;
          view.tokens = { ...e.result.tokens };
          view.cost = e.result.cost;
          view.startedAt = e.result.startedAt;
          view.finishedAt = e.result.finishedAt;
          if (e.result.sessionID) view.sessionID = e.result.sessionID;
          if (e.type === 'agent.failed') view.error = e.error;
          break;
        default:
          break;
      }
    }
    // Text deltas are the bulk of a flow's events: past the cap they stream live only.
    const replayable = e.type !== 'agent.delta' || this.events.length < this.maxEvents;
    this.record(type, e as unknown as Record<string, unknown>, replayable);
    return e as AgentEventPayload<T>;
  }

  /** The flow ended: keep its report (agent names mapped back) and end every stream. */
  finish(report: FlowReport): FlowReport {
    if (this.report) return this.report;
    // The library's report has no times per agent; the API's carries them (from agent.done),
    // so a client can tell when money was spent (the dashboard's cost-over-the-run chart).
    const results = report.results.map((r) => {
      const agent = this.displayName(r.agent);
      const v = this.views.get(agent);
      return {
        ...r,
        agent,
        ...(v?.finishedAt !== undefined ? { startedAt: v.startedAt, finishedAt: v.finishedAt } : {}),
      };
    });
    const byAgent: Record<string, number> = {};
    for (const [name, cost] of Object.entries(report.cost.byAgent)) byAgent[this.displayName(name)] = cost;
    const byModel = (report.cost as Partial<FlowCost>).byModel ?? costByModel(results);
    // A task is named after its agent outside hierarchical flows: map those back too.
    const byTask: Record<string, number> = {};
    for (const [task, cost] of Object.entries(report.cost.byTask ?? {})) byTask[this.displayName(task)] = cost;
    const mapped: FlowReport = { ...report, results, cost: { ...report.cost, byAgent, byModel, byTask } };
    for (const r of results) {
      const view = this.views.get(r.agent);
      if (!view) continue;
      view.status = r.status;
      view.model = r.model || view.model;
      view.tokens = { ...r.tokens };
      view.cost = r.cost;
      if (r.error) view.error = r.error;
    }
    this.report = mapped;
    this.finishedAt = Date.now();
    this.record('flow.done', mapped as unknown as Record<string, unknown>);
    for (const l of this.listeners) l(null);
    this.listeners.clear();
    this.resolveSettled(mapped);
    return mapped;
  }

  /** Agents as seen now: the flow's own in order, then those it created as it ran. */
  agentViews(): AgentView[] {
    return [...this.views.values()].map((v) => ({ ...v, tokens: { ...v.tokens }, fallbacks: [...v.fallbacks] }));
  }

  /**
   * The run's cost owner told its figures (`flow.cost`): the record reads them instead of
   * adding costs up itself, so a running agent's spending shows as it happens.
   */
  setCost(c: { total: number; byAgent: Record<string, number> }): void {
    if (this.finished) return;
    const byAgent: Record<string, number> = {};
    for (const [name, cost] of Object.entries(c.byAgent)) byAgent[this.displayName(name)] = cost;
    this.owned = { total: c.total, byAgent };
  }

  /** Cost so far: the run's cost owner's total and per agent (running agents included); per model as finished agents booked it. */
  cost(): FlowCost {
    if (this.report) {
      const c = this.report.cost as FlowCost;
      return { total: c.total, byAgent: { ...c.byAgent }, byModel: { ...c.byModel } };
    }
    const byAgent: Record<string, number> = {};
    const byModel: Record<string, number> = {};
    let total = 0;
    for (const v of this.views.values()) {
      byAgent[v.agent] = v.cost;
      if (v.status === 'done' || v.status === 'failed')
        byModel[v.model || 'default'] = (byModel[v.model || 'default'] ?? 0) + v.cost;
      total += v.cost;
    }
    // A replica that only replays another's events has no owner's figures: what the events say.
    if (!this.owned) return { total, byAgent, byModel };
    return { total: this.owned.total, byAgent: { ...byAgent, ...this.owned.byAgent }, byModel };
  }

  /**
   * Saving the run's state failed (`flow.persist_error`): the running view says so and the
   * event reaches the SSE stream and the dashboard.
   */
  setUnsaved(e: { failures: number; error: string; store: string }): void {
    if (this.finished) return;
    this.unsaved = { failures: e.failures, error: e.error, store: e.store };
    this.record('flow.persist_error', { flowId: this.id, ...e });
  }

  /** `GET /flows/:id`: the report when finished, else the running view. */
  view(): FlowReport | RunningFlowView {
    if (this.report) return this.report;
    return {
      flowId: this.id,
      status: 'running',
      mode: this.mode,
      task: this.task,
      startedAt: new Date(this.startedAt).toISOString(),
      agents: this.agentViews(),
      cost: this.cost(),
      ...(this.maxCost !== undefined ? { maxCost: this.maxCost } : {}),
      ...(this.unsaved ? { unsaved: { ...this.unsaved } } : {}),
    };
  }

  summary(): FlowSummary {
    return {
      id: this.id,
      status: this.status,
      task: this.task,
      agents: [...this.agents],
      cost: this.cost().total,
      ...(this.maxCost !== undefined ? { maxCost: this.maxCost } : {}),
      startedAt: new Date(this.startedAt).toISOString(),
      ...(this.finishedAt ? { finishedAt: new Date(this.finishedAt).toISOString() } : {}),
    };
  }

  /**
   * Events after `afterId`, then live ones until the flow ends. Subscribing takes the
   * backlog and registers for new events in the same tick, so nothing is lost or doubled.
   */
  async *subscribe(afterId = 0, signal?: AbortSignal): AsyncGenerator<ServeEvent> {
    const queue: ServeEvent[] = this.events.filter((e) => e.id > afterId);
    let ended = this.finished;
    let wake: (() => void) | undefined;
    const listener = (e: ServeEvent | null) => {
      if (e === null) ended = true;
      else if (e.id > afterId) queue.push(e);
      wake?.();
    };
    const onAbort = () => wake?.();
    if (!ended) this.listeners.add(listener);
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        if (signal?.aborted) return;
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.listeners.delete(listener);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Apply an event this flow recorded before, elsewhere (another serve replica, or this one
   * before it died): the record's views, cost and report follow as if it had seen it, and
   * new events continue after its id.
   */
  apply(e: ServeEvent): void {
    if (e.id <= this.seq) return;
    this.applying = e;
    try {
      switch (e.type) {
        case 'flow.started':
          this.markStarted();
          break;
        case 'flow.plan':
          this.setPlan(e.data as unknown as FlowPlan);
          break;
        case 'flow.done':
          this.finish(e.data as unknown as FlowReport);
          break;
        case 'flow.persist_error':
          this.setUnsaved(e.data as unknown as { failures: number; error: string; store: string });
          break;
        default:
          this.onAgentEvent(e.type, e.data as unknown as AgentEventPayload);
      }
    } finally {
      this.applying = undefined;
    }
  }

  /** Number of the last event recorded. */
  get lastEventId(): number {
    return this.seq;
  }

  private record(type: ServeEvent['type'], data: Record<string, unknown>, replayable = true) {
    const applied = this.applying;
    const event: ServeEvent = applied ? { ...applied } : { id: ++this.seq, type, data };
    if (applied) this.seq = Math.max(this.seq, applied.id);
    if (replayable) this.events.push(event);
    if (replayable && !applied) this.onRecord?.(event);
    for (const l of this.listeners) l(event);
  }

  private rename<T extends AgentEventPayload>(e: T): T {
    const shown = this.displayName(e.agent);
    if (shown === e.agent) return e;
    if (e.type === 'agent.done' || e.type === 'agent.failed')
      return { ...e, agent: shown, result: { ...e.result, agent: shown } };
    return { ...e, agent: shown };
  }
}

function costByModel(results: Array<{ model: string; cost: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) out[r.model || 'default'] = (out[r.model || 'default'] ?? 0) + r.cost;
  return out;
}
