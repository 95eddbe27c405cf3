import type { z } from 'zod';
import { EventEmitter } from 'eventemitter3';
import { createActor, type Actor, type AnyStateMachine, type InputFrom, type OutputFrom } from 'xstate';
import type { AgentSpec } from '../../machines/agent.js';
import { StructuredChecks, type OutputSchema, type StructuredOf } from '../../machines/structured.js';
import type { InputRequest } from '../../machines/input-policy.js';
import { createMemoryClient, withMemoryBackend, type memoryMachine } from '../../machines/memory.js';
import {
  PLANNER,
  type SupervisorContext,
  type SupervisorInput,
  type SupervisorOutput,
} from '../../machines/supervisor.js';
import type { AgentConfig } from '../config/agent.js';
import { AgentConfigSchema } from '../config/agent.js';
import { zodToFlowError } from '../config/errors.js';
import { maskPasswords } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { MemoryBackend } from '../memory/backend.js';
import { createMemoryBackend } from '../memory/config.js';
import { callerSession } from '../memory/mcp/identity.js';
import { startMemoryMcpHttp, type MemoryMcpHttpServer } from '../memory/mcp/http.js';
import { flowNamespace } from '../memory/namespace.js';
import type { MemoryClient } from '../memory/ops.js';
import type { OpencodeClient } from '../opencode/client.js';
import { loadPresets } from '../presets/index.js';
import { parseModelRouterConfig, type ModelRouterConfigInput } from '../router/config.js';
import type { FlowStore, StoredFlowMeta } from '../store/store.js';
import { defaultFlowsDir, openFlowStore } from '../store/uri.js';
import type { FlowInspector } from '../inspector/inspector.js';
import { createFlowRouting } from './routing.js';
import { AgentRegistry, registerOutputSchema, type AgentHandle } from './agents.js';
import { checkProviders, connect, type Connection } from './connection.js';
import type { FlowEvents, RunEvent } from './events.js';
import { newFlowId } from './ids.js';
import { PendingInputs, type ReplyAnswer } from './inputs.js';
import {
  ExecuteOptionsSchema,
  FlowOptionsSchema,
  RENAMED_KEYS,
  RunOptionsSchema,
  type ExecuteOptions,
  type FlowOptions,
  type FlowOptionsOutput,
  type RunOptions,
} from './options.js';
import { toReport, type FlowReport, type RunReport } from './report.js';
import { FlowTools } from './tools.js';
import { FlowRun, type CustomRunSnapshot, type RunHost, type RunPlan, type SessionCaller } from './run.js';

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  for (const k of Object.keys((value ?? {}) as object)) {
    if (k in RENAMED_KEYS)
      throw new FlowError(FlowErrorCode.InvalidConfig, `${where}.${k}: renamed to ${RENAMED_KEYS[k]}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) throw zodToFlowError(r.error, where);
  return r.data;
}

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
  readonly #routerConfig?: ModelRouterConfigInput;
  readonly #runs = new Map<string, FlowRun>();
  /** OpenCode session → the run whose agent opened it (memory tool calls are routed by it). */
  readonly #sessions = new Map<string, SessionCaller>();
  readonly #inputs = new PendingInputs();
  /** The zod output schemas of agents and runs, to check structured answers with. */
  readonly #structured = new StructuredChecks();
  #starting?: Promise<void>;
  #conn?: Connection;
  #agents?: AgentRegistry;
  #memoryBackend?: MemoryBackend;
  #memoryActor?: Actor<typeof memoryMachine>;
  #memory?: MemoryClient;
  #mcp?: MemoryMcpHttpServer;
  /** The app's own tools (`tools` option), served beside memory's by the same MCP endpoint. */
  readonly #tools?: FlowTools;
  #inspector?: FlowInspector;
  #firstRun = true;
  #closed = false;

  constructor(options: FlowOptions = {}) {
    super();
    this.options = parse(FlowOptionsSchema, options, 'OpencodeFlow options');
    this.id = this.options.id ?? newFlowId();
    if (this.options.store !== undefined && this.options.flowsDir !== undefined)
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        'OpencodeFlow options: give store or flowsDir, not both (flowsDir is store "file:DIR")',
      );
    this.store = openFlowStore(
      this.options.store ?? { backend: 'file', dir: this.options.flowsDir ?? defaultFlowsDir(this.options.directory) },
    );
    if (this.options.modelRouter) this.#routerConfig = parseModelRouterConfig(this.options.modelRouter);
    if (this.options.tools?.length)
      this.#tools = new FlowTools(this.options.tools, {
        callerOf: (session) => (session ? this.#sessions.get(session) : { flowId: this.#onlyRun() }),
        onCall: (call) => this.emit('tool.call', call),
      });
  }

  /** The one run going now, if exactly one is (a call whose session is not named belongs to it). */
  #onlyRun(): string | undefined {
    return this.#runs.size === 1 ? [...this.#runs.keys()][0] : undefined;
  }

  /**
   * Memory of this host (namespace `flow:<id>`); `{ flowId }` reaches a run's own memory and
   * `{ shared: true }` the namespace every run shares. Agents reach their run's memory through
   * the `flow_memory_*` tools.
   *
   * @example
   * ```ts
   * await flow.memory.set('api-design', report.results[0]?.output ?? '');
   * const seen = await flow.memory.get('notes', { flowId: report.flowId });
   * ```
   */
  get memory(): MemoryClient {
    if (this.#memory) return this.#memory;
    throw new FlowError(
      FlowErrorCode.Memory,
      this.options.memory === false
        ? 'memory is turned off (memory: false)'
        : 'not started: await flow.start() before using memory',
    );
  }

  /** The OpenCode client (after `start()`). */
  get opencode(): OpencodeClient {
    if (!this.#conn) throw new FlowError(FlowErrorCode.Internal, 'not started: call start() first');
    return this.#conn.client;
  }

  /** Where to watch runs live, when `inspect` is on (after `start()`). */
  get inspectorUrl(): string | undefined {
    return this.#inspector?.url;
  }

  /** The WebSocket the inspection events go through, when `inspect` is on. */
  get inspectorWsUrl(): string | undefined {
    return this.#inspector?.wsUrl;
  }

  /** URL of the OpenCode server in use (after `start()`). */
  get serverUrl(): string | undefined {
    return this.#conn?.server.url;
  }

  /** Connect to (or start) the OpenCode server. Called for you by every method that needs it. */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new FlowError(FlowErrorCode.Internal, 'this OpencodeFlow was shut down'));
    this.#starting ??= this.#doStart().catch((e) => {
      this.#starting = undefined;
      throw e;
    });
    return this.#starting;
  }

  async #doStart() {
    const o = this.options;
    const presets = await loadPresets({ cwd: o.directory, extraDirs: o.agentDirs });
    if (o.inspect) {
      // Loaded only when asked for: the inspector brings @statelyai/inspect, superjson and ws.
      const { startFlowInspector } = await import('../inspector/inspector.js');
      this.#inspector = await startFlowInspector(o.inspect === true ? {} : o.inspect);
    }
    if (o.memory !== false) await this.#startMemory();
    else if (this.#tools) this.#mcp = await startMemoryMcpHttp({ register: this.#tools.register });
    this.#conn = await connect(
      o,
      presets,
      this.#mcp?.opencodeConfig() as Record<string, unknown> | undefined,
      (this.#routerConfig as { models?: unknown } | undefined)?.models,
    );
    this.#agents = new AgentRegistry({
      presets,
      models: this.#conn.models,
      remote: Boolean(o.serverUrl),
      inputPolicy: o.inputPolicy as never,
      structured: this.#structured,
      flowTools: this.#tools?.names(),
    });
    if (!o.skipProviderCheck) {
      try {
        checkProviders(
          this.#conn.providerIds,
          [o.model].filter((m): m is string => Boolean(m)),
        );
      } catch (e) {
        await this.#conn.close();
        this.#conn = undefined;
        throw e;
      }
    }
  }

  async #startMemory() {
    this.#memoryBackend = await createMemoryBackend(this.options.memory as never, { cwd: this.options.directory });
    const namespace = flowNamespace(this.id);
    this.#memoryActor = createActor(withMemoryBackend(this.#memoryBackend), {
      id: 'memory',
      input: { namespace },
      inspect: this.#inspector?.inspect,
    });
    this.#memoryActor.start();
    this.#memory = createMemoryClient(this.#memoryActor, { by: 'flow' });
    const agents = createMemoryClient(this.#memoryActor, { by: 'agent' });
    // Tool calls from agents become events of the same memory actor (single writer), each in
    // its own run's namespace.
    this.#mcp = await startMemoryMcpHttp({
      ops: agents,
      namespace,
      route: (extra) => this.#routeMemoryCall(extra, agents),
      ...(this.#tools ? { register: this.#tools.register } : {}),
    });
  }

  /** Which run's memory an agent's tool call uses: its session's run (told by our OpenCode plugin). */
  #routeMemoryCall(extra: Parameters<typeof callerSession>[0], agents: MemoryClient) {
    const session = callerSession(extra);
    let flowId = session ? this.#sessions.get(session)?.flowId : undefined;
    if (!session && this.#runs.size > 1) {
      throw new FlowError(
        FlowErrorCode.Memory,
        'cannot tell which flow this call belongs to (the OpenCode server does not name the session: add the opencode-flow session plugin to its config, see the README) — several flows are running',
      );
    }
    // Without the plugin and with one run: that run. A session no run opened: the host's own.
    if (!session) flowId = this.#onlyRun();
    if (!flowId) return { ops: agents, namespace: flowNamespace(this.id) };
    const id = flowId;
    const scoped = (opts?: { shared?: boolean; by?: string }) => ({ ...opts, flowId: id });
    return {
      namespace: flowNamespace(id),
      ops: {
        get: (k, o) => agents.get(k, scoped(o)),
        set: (k, v, o) => agents.set(k, v, { ...o, ...scoped(o) }),
        delete: (k, o) => agents.delete(k, { ...o, ...scoped(o) }),
        list: (p, o) => agents.list(p, scoped(o)),
        cas: (k, e, n, o) => agents.cas(k, e, n, { ...o, ...scoped(o) }),
        incr: (k, a, o) => agents.incr(k, a, { ...o, ...scoped(o) }),
      } satisfies MemoryClient extends infer C ? Omit<C, 'watch'> : never,
    };
  }

  /** Models the server can serve (`provider/model`), after `start()`. */
  availableModels(): string[] {
    return [...(this.#conn?.models ?? [])].sort();
  }

  /** Register an agent for later runs. A name that matches a preset (`reviewer`, ...) inherits its prompt and permissions. */
  async spawn(config: AgentConfig): Promise<AgentHandle> {
    const parsed = AgentConfigSchema.safeParse(config);
    if (!parsed.success) throw zodToFlowError(parsed.error, 'agent');
    await this.start();
    return this.#agents!.register(parsed.data);
  }

  /** The resolved spec of an agent (spawned or preset, with the host's default model), for your own machines. */
  async agentSpec(name: string): Promise<AgentSpec> {
    await this.start();
    const spec = this.#agents!.resolve(name);
    return spec.model || !this.options.model ? spec : { ...spec, model: this.options.model };
  }

  #host(): RunHost {
    const conn = this.#conn!;
    return {
      client: conn.client,
      hub: conn.hub,
      pool: conn.pool,
      serverUrl: maskPasswords(conn.server.url),
      store: this.store,
      persist: this.options.persist !== false,
      inputs: this.#inputs,
      ...(this.#memoryActor ? { memoryActor: this.#memoryActor } : {}),
      ...(this.#inspector ? { inspect: this.#inspector.inspect } : {}),
      emit: (type, e) => (this.emit as (t: string, e: unknown) => boolean)(type, e),
      sessionOpened: (sessionID, caller) => this.#sessions.set(sessionID, caller),
      checkStructured: (e) => this.#structured.check(e.format, e.value),
      runEnded: (run) => {
        if (this.#runs.get(run.flowId) === run) this.#runs.delete(run.flowId);
        for (const s of run.sessions()) this.#sessions.delete(s);
        this.#tools?.abort(run.flowId, 'the flow ended');
      },
    };
  }

  #open(plan: RunPlan): FlowRun {
    if (this.#runs.has(plan.flowId))
      throw new FlowError(FlowErrorCode.InvalidConfig, `flow "${plan.flowId}" is running already`);
    const run = new FlowRun(this.#host(), plan);
    this.#runs.set(plan.flowId, run);
    return run;
  }

  /** A built-in mode's run, ready to start. */
  async #prepare(options: ExecuteOptions): Promise<FlowRun> {
    const o = parse(ExecuteOptionsSchema, options, 'execute');
    await this.start();
    const agents = this.#agents!;
    const names = o.agents.map((a) => (typeof a === 'string' ? a : String((a as { name?: unknown }).name)));
    for (const name of Object.keys(o.waitFor ?? {})) {
      if (!names.includes(name))
        throw new FlowError(
          FlowErrorCode.InvalidConfig,
          `waitFor.${name}: not one of the flow's agents (${names.join(', ')})`,
        );
    }
    if (o.waitFor && !this.#memoryActor)
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        'waitFor needs shared memory, but memory is off (memory: false)',
      );
    const dup = names.find((a, i) => names.indexOf(a) !== i);
    if (dup) throw new FlowError(FlowErrorCode.InvalidConfig, `agents: "${dup}" is listed twice`);
    const defaultModel = o.model ?? this.options.model;
    const fallback = o.fallback ?? this.options.fallback;
    for (const m of [defaultModel, ...(fallback ?? [])]) agents.checkModel('(flow)', m);
    const hierarchical = o.mode === 'hierarchical';
    const routing = createFlowRouting({
      catalog: this.#conn!.catalog,
      config: { ...this.#routerConfig, ...(o.optimize ? { mode: o.optimize } : {}) },
      routing: o.optimize !== undefined || this.#routerConfig !== undefined,
      task: o.task,
      specs: [
        ...o.agents.map((a, i) => agents.specFor(a as string | AgentConfig, `execute.agents.${i}`)),
        ...(hierarchical ? [{ ...agents.resolve(o.planner ?? 'planner'), name: PLANNER }] : []),
      ],
      defaultModel,
      fallback,
      maxCost: o.maxCost,
    });
    const schema = o.schema ? registerOutputSchema(this.#structured, o.schema, 'execute.schema') : undefined;
    const planner = hierarchical ? routing.specs.at(-1) : undefined;
    // A planner model that cannot call tools cannot give structured output: it answers in text.
    const plannerModel = planner?.model ? this.#conn!.catalog.get(planner.model) : undefined;
    const workers = (hierarchical ? routing.specs.slice(0, -1) : routing.specs).map((s) =>
      schema && !hierarchical && !s.schema ? { ...s, schema } : s,
    );
    const flowId = o.flowId ?? (this.#firstRun ? this.id : newFlowId());
    this.#firstRun = false;
    const keepSessions = o.keepSessions ?? this.options.keepSessions;
    const promptTimeoutMs = o.promptTimeoutMs ?? this.options.promptTimeoutMs;
    const input: SupervisorInput = {
      flowId,
      task: o.task,
      mode: o.mode,
      agents: workers,
      maxConcurrent: o.maxConcurrent ?? this.options.maxConcurrent,
      promptTimeoutMs,
      timeoutMs: o.timeoutMs,
      keepSessions,
      onAgentFailure: o.onAgentFailure,
      retries: o.retries,
      maxCost: routing.budget.maxCost,
      waitFor: o.waitFor,
      planner,
      ...(hierarchical
        ? { planAs: plannerModel?.toolcall === false ? ('text' as const) : ('structured' as const) }
        : {}),
      ...(hierarchical && schema ? { format: { type: 'json_schema' as const, schema } } : {}),
      aggregate: o.aggregate,
      maxDepth: o.maxDepth,
    };
    return this.#open({
      kind: 'supervisor',
      flowId,
      routing,
      keepSessions,
      promptTimeoutMs,
      from: { input },
      info: { mode: o.mode, agents: names, task: o.task },
    });
  }

  /**
   * Run a task over agents and wait for the report. Never throws for an agent's failure, a
   * cancel or the budget: the report says (`status`, `results[].error`).
   */
  async execute<S extends OutputSchema = never>(
    options: ExecuteOptions & { schema?: S },
  ): Promise<FlowReport<[S] extends [never] ? unknown : StructuredOf<S>>> {
    return (await this.#prepare(options)).start() as Promise<
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
    const run = await this.#prepare(options);
    yield* this.#streamRun(run);
  }

  /** `stream` for your own machine: its events, then `flow.done` with the report (and the machine's output). */
  async *streamMachine<M extends AnyStateMachine>(
    machine: M,
    input: InputFrom<M>,
    options: RunOptions = {},
  ): AsyncGenerator<RunEvent, void, undefined> {
    const run = await this.#prepareMachine(machine, input, options);
    yield* this.#streamRun(run);
  }

  async *#streamRun(run: FlowRun): AsyncGenerator<RunEvent, void, undefined> {
    const events = run.events();
    // The report (`flow.done`) is the last event; a run that ends without one (detached, or
    // it could not start) ends the iteration too.
    run.start().then(
      () => events.end(),
      () => events.end(),
    );
    try {
      yield* events;
    } finally {
      await events.return?.();
    }
  }

  /**
   * Continue a run whose process died, from its stored snapshot: finished agents are not run
   * again; an agent that was mid-prompt reconciles with its session (an answer that came
   * meanwhile is taken; a prompt left unanswered or aborted is sent again, recorded as an
   * attempt). A run that had finished just returns its report. A custom machine's run is
   * continued with `run(machine, input, { flowId, resume: true })`.
   *
   * @example
   * ```ts
   * const report = await new OpencodeFlow({ serverUrl }).resume('flow_20261124_abc123');
   * ```
   */
  async resume(flowId: string, options: { promptTimeoutMs?: number } = {}): Promise<FlowReport> {
    const stored = await this.store.load(flowId);
    await this.start();
    const snap = stored.snapshot as { status?: string; output?: SupervisorOutput; context?: SupervisorContext };
    if ((stored.snapshot as CustomRunSnapshot).kind === 'custom') {
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `stored flow "${flowId}" ran a custom machine: continue it with run(machine, input, { flowId: "${flowId}", resume: true })`,
      );
    }
    if (snap.status === 'done' && snap.output) return toReport(snap.output);
    const ctx = snap.context;
    if (!ctx) throw new FlowError(FlowErrorCode.FlowNotFound, `stored flow "${flowId}" has no supervisor state`);
    const routing = createFlowRouting({
      catalog: this.#conn!.catalog,
      config: { ...this.#routerConfig },
      routing: false,
      task: ctx.task,
      specs: [...ctx.agents, ...(ctx.planner ? [{ ...ctx.planner, name: PLANNER }] : [])],
      maxCost: ctx.maxCost ?? stored.meta.maxCost,
      spent: ctx.spent,
    });
    const promptTimeoutMs = options.promptTimeoutMs ?? this.options.promptTimeoutMs;
    const run = this.#open({
      kind: 'supervisor',
      flowId,
      routing,
      keepSessions: ctx.keepSessions,
      promptTimeoutMs,
      from: { snapshot: stored.snapshot },
      info: { mode: ctx.mode, agents: stored.meta.agents, task: ctx.task },
    });
    return run.start() as Promise<FlowReport>;
  }

  async #prepareMachine(machine: AnyStateMachine, input: unknown, options: RunOptions): Promise<FlowRun> {
    const o = parse(RunOptionsSchema, options, 'run');
    if (o.resume && !o.flowId)
      throw new FlowError(FlowErrorCode.InvalidConfig, 'run: resume needs the flowId of the run to continue');
    await this.start();
    const flowId = o.flowId ?? newFlowId();
    const stored = o.resume ? await this.store.load(flowId) : undefined;
    const saved = stored?.snapshot as CustomRunSnapshot | undefined;
    if (stored && saved?.kind !== 'custom') {
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `stored flow "${flowId}" is not a custom machine's run: continue it with resume("${flowId}")`,
      );
    }
    const spent = (saved?.results ?? []).reduce((n, r) => n + r.cost, 0);
    const maxCost = o.maxCost ?? stored?.meta.maxCost;
    const routing = createFlowRouting({
      catalog: this.#conn!.catalog,
      config: { ...this.#routerConfig },
      routing: false,
      task: '',
      specs: [],
      maxCost,
      spent,
    });
    return this.#open({
      kind: 'custom',
      flowId,
      routing,
      machine,
      input,
      keepSessions: o.keepSessions ?? this.options.keepSessions,
      promptTimeoutMs: o.promptTimeoutMs ?? this.options.promptTimeoutMs,
      timeoutMs: o.timeoutMs,
      ...(stored && saved ? { restore: { snapshot: saved, startedAt: stored.meta.startedAt } } : {}),
    });
  }

  /**
   * Run your own coordination machine as a flow: the same run as `execute` (cost and
   * `maxCost`, persistence, cancel, inputs, memory, inspector, events), resolving to the same
   * report plus the machine's `output`. The machine registers the agent logic as `agent` and
   * spawns agents with `spawnAgent` (see `machines/flows/helpers.ts`). When it reaches a final
   * state, is cancelled or fails, every agent it spawned is stopped and its session cleaned up.
   *
   * @example
   * ```ts
   * const report = await flow.run(reviewLoopMachine, {
   *   task: 'Add validation', coder: await flow.agentSpec('coder'), reviewer: await flow.agentSpec('reviewer'),
   * });
   * report.status; report.output?.approved;
   * ```
   */
  async run<M extends AnyStateMachine>(
    machine: M,
    input: InputFrom<M>,
    options: RunOptions = {},
  ): Promise<RunReport<OutputFrom<M>>> {
    return (await this.#prepareMachine(machine, input, options)).start() as Promise<RunReport<OutputFrom<M>>>;
  }

  /** Runs persisted in this project's flow store (running ones included), newest first. */
  async listFlows(): Promise<StoredFlowMeta[]> {
    return this.store.list();
  }

  /**
   * Answer a permission request or question an agent of any run is waiting on (see the
   * `agent.input_required` event). Permissions: `'once' | 'always' | 'reject'`; questions:
   * one answer list per question (`[['Yes']]`) or `'reject'`.
   *
   * @example
   * ```ts
   * flow.on('agent.input_required', (e) => flow.reply(e.request.id, e.request.kind === 'permission' ? 'once' : [['Yes']]));
   * ```
   */
  reply(requestId: string, answer: ReplyAnswer): void {
    this.#inputs.reply(requestId, answer);
  }

  /** Requests agents are waiting on now (all runs, or one). */
  pendingRequests(flowId?: string): Array<{ flowId: string; agent: string; request: InputRequest }> {
    return this.#inputs.list(flowId);
  }

  /** Cancel one running flow, or all of them. Busy sessions are aborted; the report says `cancelled`. */
  cancel(flowId?: string, reason = 'cancelled'): void {
    for (const [id, run] of this.#runs) if (!flowId || id === flowId) run.cancel(reason);
    this.#tools?.abort(flowId, `the flow was cancelled (${reason})`);
  }

  /** Ids of the runs going now. */
  runningFlows(): string[] {
    return [...this.#runs.keys()];
  }

  /**
   * Stop running flows (all, or one) without cancelling them: their state as of now is
   * stored, their actors stop, and their sessions are neither aborted nor deleted. `resume`
   * continues them later. Their `execute`/`run` rejects with a `cancelled` FlowError that says so.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', async () => { await flow.detach(); await flow.shutdown(); });
   * ```
   */
  async detach(flowId?: string): Promise<void> {
    const chosen = [...this.#runs].filter(([id]) => !flowId || id === flowId).map(([, r]) => r);
    await Promise.all(chosen.map((r) => r.detach()));
    await Promise.allSettled(chosen.map((r) => r.settled()));
  }

  /** Cancel running flows (or, with `{ flows: 'detach' }`, store them for `resume`), wait for their cleanup, stop an embedded server. */
  async shutdown({ flows = 'cancel' }: { flows?: 'cancel' | 'detach' } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const running = [...this.#runs.values()];
    if (flows === 'detach') await this.detach();
    else this.cancel(undefined, 'shutdown');
    await Promise.allSettled(running.map((r) => r.settled()));
    this.#tools?.abort(undefined, 'the host is shutting down');
    await this.#conn?.close();
    await this.#mcp?.close();
    this.#memoryActor?.stop();
    await this.#memoryBackend?.close();
    await this.store.close();
    this.#inspector?.stop();
    this.removeAllListeners();
  }
}
