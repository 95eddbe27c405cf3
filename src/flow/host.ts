import { EventEmitter } from 'eventemitter3';
import type { AnyStateMachine, InputFrom, OutputFrom } from 'xstate';
import type { AgentSpec } from '../../machines/agent.js';
import type { InputRequest } from '../../machines/input-policy.js';
import { StructuredChecks, type OutputSchema, type StructuredOf } from '../../machines/structured.js';
import { AgentConfigSchema, type AgentConfig } from '../config/agent.js';
import { zodToFlowError } from '../config/errors.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { MemoryClient } from '../memory/ops.js';
import type { OpencodeClient } from '../opencode/client.js';
import type { FlowStore, StoredFlowMeta } from '../store/store.js';
import type { AgentHandle } from './agents.js';
import type { FlowEvents, HostStartPhase, RunEvent } from './events.js';
import { newFlowId } from './ids.js';
import type { ReplyAnswer } from './inputs.js';
import {
  hostRouting,
  hostStore,
  keepSuccess,
  planContextOf,
  runHostOf,
  memoryClientOf,
  startHostParts,
  type HostParts,
} from './startup.js';
import {
  FlowOptionsSchema,
  type ExecuteOptions,
  type FlowOptions,
  type FlowOptionsOutput,
  type RunOptions,
} from './options.js';
import { parseOptions, parseRunOptions, planExecute, planMachine, planResume, type PlanContext } from './plan.js';
import { finishedReport, type FlowReport, type RunReport } from './report.js';
import type { FlowRun } from './run.js';
import { LiveRuns } from './runs.js';
import { FlowTools } from './tools.js';

/**
 * The host: connects to OpenCode (embedded by default), knows the models and presets, holds
 * the memory backend, the MCP endpoint agents reach it through, and the inspector; every
 * flow it runs is a {@link FlowRun}. With no `serverUrl` it starts (and later stops) its own
 * `opencode serve`.
 *
 * @example
 * ```ts
 * const flow = new OpencodeFlow({ serverUrl: 'http://127.0.0.1:4096' });
 * flow.on('agent.delta', (e) => process.stdout.write(e.text));
 * const report = await flow.execute({ task: 'Summarise AI trends', agents: ['researcher'] });
 * await flow.shutdown();
 * ```
 */
export class OpencodeFlow extends EventEmitter<FlowEvents> {
  readonly options: FlowOptionsOutput;
  /** This host's id: its own memory namespace is `flow:<id>` (`flow.memory`), and its first run's id. */
  readonly id: string;
  /** Where runs are persisted: the `store` option's backend, else files in `.opencode-flow/flows`. */
  readonly store: FlowStore;
  /** The `modelRouter` option: routing's config, and the concurrency caps every run shares. */
  readonly #routing: ReturnType<typeof hostRouting>;
  readonly #runs: LiveRuns;
  /** The zod output schemas of agents and runs, to check structured answers with. */
  readonly #structured = new StructuredChecks();
  /** The app's own tools (`tools` option), served beside memory's by the same MCP endpoint. */
  readonly #tools?: FlowTools;
  /** The start, once: a failed one is tried again by the next call. */
  readonly #start = keepSuccess(() => {
    const route = (session: string | undefined) => this.#runs.route(session);
    const onPhase = (phase: HostStartPhase) => this.emit('host.starting', { phase });
    const started = { options: this.options, hostId: this.id, structured: this.#structured, route, onPhase };
    return startHostParts({ ...started, routerConfig: this.#routing.routerConfig, tools: this.#tools }).then(
      (parts) => void (this.#parts = parts),
    );
  });
  #parts?: HostParts;
  #firstRun = true;
  readonly #storeReady = keepSuccess(() => this.store.open());
  #closed = false;

  constructor(options: FlowOptions = {}) {
    super();
    this.options = parseOptions(FlowOptionsSchema, options, 'OpencodeFlow options');
    this.id = this.options.id ?? newFlowId();
    const emit = (t: string, e: unknown) => (this.emit as (t: string, e: unknown) => boolean)(t, e);
    this.#runs = new LiveRuns(
      this.id,
      () => runHostOf(this.#parts!, this.store, this.options, this.#structured, emit, this.#routing.limiter),
      (run) => this.#tools?.abort(run.flowId, 'the flow ended'),
    );
    this.store = hostStore(this.options);
    this.#routing = hostRouting(this.options.modelRouter);
    if (this.options.tools?.length)
      this.#tools = new FlowTools(this.options.tools, {
        callerOf: (session) => this.#runs.route(session).caller,
        onCall: (call) => this.emit('tool.call', call),
      });
  }

  /**
   * Memory of this host (`flow:<id>`); `{ flowId }` reaches a run's own, `{ shared: true }` the
   * namespace every run shares. Agents reach their run's through the `flow_memory_*` tools.
   * @example `await flow.memory.get('notes', { flowId: report.flowId })`
   */
  get memory(): MemoryClient {
    return memoryClientOf(this.#parts, this.options);
  }

  /** The OpenCode client (after `start()`). */
  get opencode(): OpencodeClient {
    if (!this.#parts?.conn) throw new FlowError(FlowErrorCode.Internal, 'not started: call start() first');
    return this.#parts?.conn.client;
  }

  /** Where to watch runs live, when `inspect` is on (after `start()`). */
  get inspectorUrl(): string | undefined {
    return this.#parts?.inspector?.url;
  }

  /** The WebSocket the inspection events go through, when `inspect` is on. */
  get inspectorWsUrl(): string | undefined {
    return this.#parts?.inspector?.wsUrl;
  }

  /** URL of the OpenCode server in use (after `start()`). */
  get serverUrl(): string | undefined {
    return this.#parts?.conn.server.url;
  }

  /** Connect to (or start) the OpenCode server. Called for you by every method that needs it. */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new FlowError(FlowErrorCode.Internal, 'this OpencodeFlow was shut down'));
    return this.#start();
  }

  /** Models the server can serve (`provider/model`), after `start()`. */
  availableModels(): string[] {
    return [...(this.#parts?.conn.models ?? [])].sort();
  }

  /** Register an agent for later runs. A name that matches a preset (`reviewer`, ...) inherits its prompt and permissions. */
  async spawn(config: AgentConfig): Promise<AgentHandle> {
    const parsed = AgentConfigSchema.safeParse(config);
    if (!parsed.success) throw zodToFlowError(parsed.error, 'agent');
    await this.start();
    return this.#parts!.agents.register(parsed.data);
  }

  /** The resolved spec of an agent (spawned or preset, with the host's default model), for your own machines. */
  async agentSpec(name: string): Promise<AgentSpec> {
    await this.start();
    const spec = this.#parts!.agents.resolve(name);
    return spec.model || !this.options.model ? spec : { ...spec, model: this.options.model };
  }

  /** What planning reads of the host, once started. */
  async #planning(): Promise<PlanContext> {
    await this.start();
    // A store that cannot be written fails the run here, before anything is sent or paid.
    if (this.options.persist !== false) await this.#storeReady();
    return planContextOf(this.#parts!, this.options, this.#structured, this.#routing.routerConfig);
  }

  /** A built-in mode's run; the host's first run takes the host's id. */
  async #openExecute(options: ExecuteOptions): Promise<FlowRun> {
    const ctx = await this.#planning();
    const plan = planExecute(ctx, options, this.#firstRun ? this.id : undefined);
    this.#firstRun = false;
    return this.#runs.open(plan);
  }

  async #openMachine(machine: AnyStateMachine, input: unknown, options: RunOptions): Promise<FlowRun> {
    const o = parseRunOptions(options);
    const ctx = await this.#planning();
    const stored = o.resume && o.flowId ? await this.store.load(o.flowId) : undefined;
    return this.#runs.open(planMachine(ctx, machine, input, o, stored));
  }

  /**
   * Run a task over agents and wait for the report. Never throws for an agent's failure, a
   * cancel or the budget: the report says (`status`, `results[].error`).
   */
  async execute<S extends OutputSchema = never>(
    options: ExecuteOptions & { schema?: S },
  ): Promise<FlowReport<[S] extends [never] ? unknown : StructuredOf<S>>> {
    return (await this.#openExecute(options)).start() as Promise<
      FlowReport<[S] extends [never] ? unknown : StructuredOf<S>>
    >;
  }

  /**
   * Run a task and read its events as they happen, ending with `flow.done` and the report.
   * Leaving the loop early cancels the run (its busy sessions are aborted).
   *
   * @example
   * ```ts
   * for await (const ev of flow.stream({ task: 'Review src/', agents: ['reviewer'] })) {
   *   if (ev.type === 'agent.delta') process.stdout.write(ev.text);
   * }
   * ```
   */
  async *stream(options: ExecuteOptions): AsyncGenerator<RunEvent, void, undefined> {
    yield* (await this.#openExecute(options)).stream();
  }

  /** `stream` for your own machine: its events, then `flow.done` with the report (and the machine's output). */
  async *streamMachine<M extends AnyStateMachine>(
    machine: M,
    input: InputFrom<M>,
    options: RunOptions = {},
  ): AsyncGenerator<RunEvent, void, undefined> {
    yield* (await this.#openMachine(machine, input, options)).stream();
  }

  /**
   * Continue a run whose process died, from its stored snapshot: finished agents are not run
   * again; a mid-prompt agent reconciles with its session (an answer that came is taken; a
   * prompt left unanswered is sent again, as an attempt). A finished run returns its report.
   * A custom machine's run: `run(machine, input, { flowId, resume: true })`.
   * @example `const report = await new OpencodeFlow({ serverUrl }).resume('flow_20261124_abc123');`
   */
  async resume(flowId: string, options: { promptTimeoutMs?: number } = {}): Promise<FlowReport> {
    const stored = await this.store.load(flowId);
    const ctx = await this.#planning();
    return finishedReport(stored) ?? (this.#runs.open(planResume(ctx, stored, options)).start() as Promise<FlowReport>);
  }

  /**
   * Run your own coordination machine as a flow: the same run as `execute` (cost, `maxCost`,
   * persistence, cancel, inputs, memory, inspector, events), resolving to the same report plus
   * the machine's `output`. It spawns agents with `spawnAgent` (`machines/flows/helpers.ts`);
   * when it ends, every agent it spawned is stopped and its session cleaned up.
   * @example `const report = await flow.run(reviewLoopMachine, { task, coder, reviewer });`
   */
  async run<M extends AnyStateMachine>(
    machine: M,
    input: InputFrom<M>,
    options: RunOptions = {},
  ): Promise<RunReport<OutputFrom<M>>> {
    return (await this.#openMachine(machine, input, options)).start() as Promise<RunReport<OutputFrom<M>>>;
  }

  /** Runs persisted in this project's flow store (running ones included), newest first. */
  async listFlows(): Promise<StoredFlowMeta[]> {
    return this.store.list();
  }

  /**
   * Answer a permission request or question an agent of any run waits on (`agent.input_required`):
   * permissions `'once' | 'always' | 'reject'`; questions one answer list each (`[['Yes']]`) or `'reject'`.
   * @example `flow.on('agent.input_required', (e) => flow.reply(e.request.id, 'once'));`
   */
  reply(requestId: string, answer: ReplyAnswer): void {
    this.#runs.reply(requestId, answer);
  }

  /** Requests agents are waiting on now (all runs, or one). */
  pendingRequests(flowId?: string): Array<{ flowId: string; agent: string; request: InputRequest }> {
    return this.#runs.pending(flowId);
  }

  /** Cancel one running flow, or all of them. Busy sessions are aborted; the report says `cancelled`. */
  cancel(flowId?: string, reason = 'cancelled'): void {
    this.#runs.cancel(flowId, reason);
    this.#tools?.abort(flowId, `the flow was cancelled (${reason})`);
  }

  /** Ids of the runs going now. */
  runningFlows(): string[] {
    return this.#runs.ids();
  }

  /**
   * Stop running flows (all, or one) without cancelling them: their state is stored, their
   * actors stop, their sessions are left working; `resume` continues them later. Their
   * `execute`/`run` rejects with a `cancelled` FlowError that says so.
   * @example `process.on('SIGTERM', async () => { await flow.detach(); await flow.shutdown(); });`
   */
  async detach(flowId?: string): Promise<void> {
    await this.#runs.detach(flowId);
  }

  /** Cancel running flows (or, with `{ flows: 'detach' }`, store them for `resume`), wait for their cleanup, stop an embedded server. */
  async shutdown({ flows = 'cancel' }: { flows?: 'cancel' | 'detach' } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const running = this.#runs.select();
    if (flows === 'detach') await this.detach();
    else this.cancel(undefined, 'shutdown');
    await Promise.allSettled(running.map((r) => r.settled()));
    this.#routing.limiter?.close();
    this.#tools?.abort(undefined, 'the host is shutting down');
    await this.#parts?.conn.close();
    await this.#parts?.memory.close();
    await this.store.close();
    this.#parts?.inspector?.stop();
    this.removeAllListeners();
  }
}
