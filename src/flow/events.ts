import type { AgentNotification } from '../../machines/agent.js';
import type { FlowMode } from '../../machines/supervisor.js';
import type { RunCostSnapshot } from './cost.js';
import type { FlowReport } from './report.js';
import type { FlowToolCall } from './tools.js';

/**
 * A prompt waiting for a slot of the host's concurrency caps (`modelRouter.concurrency`), and
 * getting one. Told by the run, not the agent machine: `key` is the cap in the way (a provider
 * id or `provider/model`), `position` the prompt's place in that key's queue (1 = next),
 * `until` the end of the provider's rate-limit cooldown (epoch ms) when that is the reason.
 */
export type AgentSlotNotification =
  | {
      type: 'agent.queued';
      agent: string;
      model: string;
      sessionID: string;
      key: string;
      position: number;
      until?: number;
    }
  | { type: 'agent.dequeued'; agent: string; model: string; sessionID: string; key: string; waitedMs: number };

/** The agent events a run passes on, to the host's listeners and to its own stream. */
export const AGENT_EVENT_TYPES = [
  'agent.state',
  'agent.delta',
  'agent.tool',
  'agent.fallback',
  'agent.done',
  'agent.failed',
  'agent.input_required',
  'agent.input_answered',
  'agent.queued',
  'agent.dequeued',
] as const satisfies ReadonlyArray<(AgentNotification | AgentSlotNotification)['type']>;

/** What `flow.started` says of a run. */
export interface FlowStarted {
  flowId: string;
  mode: FlowMode | 'custom';
  agents: string[];
  task: string;
  /** Agent → the model it starts on (`''`: OpenCode's default), for a built-in mode's run. */
  models?: Record<string, string>;
  /** The run's hard budget (USD), when it has one. */
  maxCost?: number;
}

/**
 * A step of a host's start (`host.starting`), in order: `memory` (shared memory and the MCP
 * endpoint), for an embedded server `server.spawn`, `server.listen`, `server.health` (see
 * `startOpencodeServer`'s `onPhase`), or `server.attach` for a remote one; then `project`
 * (OpenCode boots the project's instance), `providers` (what it serves, the pre-flight), `ready`.
 */
export type HostStartPhase =
  'memory' | 'server.spawn' | 'server.listen' | 'server.health' | 'server.attach' | 'project' | 'providers' | 'ready';

type AgentEvent<T extends (AgentNotification | AgentSlotNotification)['type']> = Extract<
  AgentNotification | AgentSlotNotification,
  { type: T }
> & { flowId: string };

/** Events of {@link OpencodeFlow} (every run's) and of one run; each carries `flowId`. */
export interface FlowEvents {
  'agent.state': (e: AgentEvent<'agent.state'>) => void;
  'agent.delta': (e: AgentEvent<'agent.delta'>) => void;
  'agent.tool': (e: AgentEvent<'agent.tool'>) => void;
  'agent.fallback': (e: AgentEvent<'agent.fallback'>) => void;
  'agent.done': (e: AgentEvent<'agent.done'>) => void;
  'agent.failed': (e: AgentEvent<'agent.failed'>) => void;
  /** OpenCode paused an agent for a person (a permission under an `ask` rule, or a question): answer with `reply`. */
  'agent.input_required': (e: AgentEvent<'agent.input_required'>) => void;
  'agent.input_answered': (e: AgentEvent<'agent.input_answered'>) => void;
  /** A prompt waits for a slot of a concurrency cap (`modelRouter.concurrency`) or a provider's rate-limit cooldown. */
  'agent.queued': (e: AgentEvent<'agent.queued'>) => void;
  /** A queued prompt got its slot after `waitedMs`, and goes out. */
  'agent.dequeued': (e: AgentEvent<'agent.dequeued'>) => void;
  /**
   * `mode` is `custom` for `run(machine)`, whose `task` is the machine's id. A built-in mode's
   * run says which model each agent starts on (`''`: OpenCode's default) and its budget.
   */
  'flow.started': (e: FlowStarted) => void;
  'flow.done': (e: FlowReport) => void;
  /** The run's cost owner changed its figures (a live message cost, a booked result): total includes running agents. */
  'flow.cost': (e: { flowId: string } & RunCostSnapshot) => void;
  /**
   * The run's state could not be written to the flow store (the run goes on, unsaved):
   * `store` is where (password masked), `failures` how many saves of this run failed so far.
   */
  'flow.persist_error': (e: FlowPersistError) => void;
  /** The host's start moved on to `phase` (`start()`; shown by the CLI while OpenCode starts). Host only, no `flowId`. */
  'host.starting': (e: { phase: HostStartPhase }) => void;
  /** An agent's call of one of your own tools (`tools` option) finished; `error` when it failed. Host only. */
  'tool.call': (e: FlowToolCall) => void;
}

/**
 * One event of a run as `flow.stream(...)` yields it: an agent's event, the start, and last
 * the report (`flow.done`).
 *
 * @example
 * ```ts
 * for await (const ev of flow.stream({ task, agents: ['coder'] })) {
 *   if (ev.type === 'agent.delta') process.stdout.write(ev.text);
 *   if (ev.type === 'flow.done') console.log(ev.report.status);
 * }
 * ```
 */
export type RunEvent =
  | ((AgentNotification | AgentSlotNotification) & { flowId: string })
  | ({ type: 'flow.started' } & FlowStarted)
  | { type: 'flow.done'; flowId: string; report: FlowReport }
  | ({ type: 'flow.persist_error' } & FlowPersistError);

/** A save of a run's state that failed (see the `flow.persist_error` event). */
export interface FlowPersistError {
  flowId: string;
  error: string;
  store: string;
  failures: number;
}

/**
 * An unbounded queue read as an async iterator: events pushed before anyone reads are kept.
 * `end()` finishes the iteration after what is queued; `onReturn` runs when the reader stops
 * early (a `break` out of `for await`).
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = [];
  #waiting?: (r: IteratorResult<T>) => void;
  #ended = false;

  constructor(private readonly onReturn: () => Promise<void>) {}

  push(item: T): void {
    if (this.#ended) return;
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w({ value: item, done: false });
    } else this.#items.push(item);
  }

  end(): void {
    this.#ended = true;
    if (this.#waiting && this.#items.length === 0) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift()!, done: false });
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  async return(): Promise<IteratorResult<T>> {
    const wasEnded = this.#ended;
    this.#ended = true;
    this.#items.length = 0;
    if (!wasEnded) await this.onReturn();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
