import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { createActor, toPromise, type Actor, type AnyStateMachine, type InputFrom, type OutputFrom } from 'xstate';
import { z } from 'zod';
import { agentMachine, type AgentNotification, type AgentResult, type AgentSpec } from '../machines/agent.js';
import type { InputAnswer, InputPolicy, InputRecord, InputRequest } from '../machines/input-policy.js';
import {
  PLANNER,
  agentActorId,
  subflowActorId,
  supervisorMachine,
  withSubflows,
  type FlowMode,
  type FlowStatus,
  type SupervisorContext,
  type SupervisorInput,
  type SupervisorOutput,
} from '../machines/supervisor.js';
import {
  AgentConfigSchema,
  InputPolicySchema,
  fullModelId,
  toolSwitches,
  toPermissionRuleset,
  type AgentConfig,
} from './config/agent.js';
import { FlowError, FlowErrorCode } from './errors.js';
import { OpencodeClient } from './opencode/client.js';
import { EventHub } from './opencode/events.js';
import { attachOpencodeServer, startOpencodeServer, type OpencodeServer } from './opencode/server.js';
import { createAgentActors, type AgentRuntime } from './runtime/agent-actors.js';
import { loadPresets, toOpencodeAgentConfig, type PresetAgent } from './presets/index.js';
import { zodToFlowError } from './config/errors.js';
import { memoryMachine, createMemoryClient, withMemoryBackend, type MemoryActorRef } from '../machines/memory.js';
import { createMemoryBackend } from './memory/config.js';
import type { MemoryBackend } from './memory/backend.js';
import type { MemoryClient } from './memory/ops.js';
import { flowNamespace } from './memory/namespace.js';
import { startMemoryMcpHttp, type MemoryMcpHttpServer } from './memory/mcp/http.js';
import { buildCatalog, type ModelCatalog, type ProvidersAnswer } from './router/catalog.js';
import { CostLedger, type CostSummary } from './router/ledger.js';
import { parseModelRouterConfig, ROUTING_MODES, type ModelRouterConfigInput } from './router/config.js';
import { createFlowRouting, type FlowRouting, type RoutedAgentSpec } from './runtime/routing.js';
import { FlowStore, type StoredFlowMeta } from './runtime/flow-store.js';
import { startFlowInspector, type FlowInspector } from './runtime/inspector.js';

/** Options of {@link OpencodeFlow}. */
export const FlowOptionsSchema = z
  .object({
    /** Attach to this OpenCode server; when absent an embedded `opencode serve` is started. */
    serverUrl: z.string().url().optional(),
    /** Basic-auth password of the server (`OPENCODE_SERVER_PASSWORD`). */
    password: z.string().optional(),
    username: z.string().optional(),
    /** Project directory agents work in (embedded server cwd). Default `process.cwd()`. */
    directory: z.string().optional(),
    /** Default model for agents without one (`provider/model`). */
    model: z.string().optional(),
    /** Fallback models for every agent, after its own. */
    fallback: z.array(z.string()).optional(),
    keepSessions: z.boolean().optional(),
    /** Per-prompt timeout (ms). Default 10 min. */
    promptTimeoutMs: z.number().int().positive().optional(),
    /** Agents at once in parallel mode. Default 8. */
    maxConcurrent: z.number().int().positive().optional(),
    /** Extra OpenCode config for the embedded server (merged over ours). */
    opencodeConfig: z.record(z.string(), z.unknown()).optional(),
    /** Environment for the embedded server (e.g. an isolated HOME). */
    serverEnv: z.record(z.string(), z.string()).optional(),
    /** Timeout of every OpenCode HTTP call (ms). Default 15 s. */
    requestTimeoutMs: z.number().int().positive().optional(),
    /** Extra directories with agent markdown files. */
    agentDirs: z.array(z.string()).optional(),
    /** Skip the "is any provider configured" preflight. */
    skipProviderCheck: z.boolean().optional(),
    /**
     * Shared memory: `{ backend: 'file', path } | { backend: 'sqlite', path } | { backend:
     * 'redis', url }` or a URI (`file:.opencode-flow/memory.json`, `sqlite:./flow.db`,
     * `redis://127.0.0.1:6379/0`). Default: the file backend. `false` turns memory off.
     */
    memory: z.union([z.string(), z.record(z.string(), z.unknown()), z.literal(false)]).optional(),
    /**
     * Model routing: `{ mode, maxCost, maxCostPerTask, fallbackChain, rules, floors, models,
     * cooldownMs }` (see `src/router/README.md`). With it, agents without an explicit model get
     * the router's pick.
     */
    modelRouter: z.record(z.string(), z.unknown()).optional(),
    /** How agents answer permission requests and questions, unless they set their own (default: reject). */
    inputPolicy: InputPolicySchema.optional(),
    /**
     * Show flows live in the Stately inspector: `true` (a free port) or `{ port, open }`.
     * Every actor (supervisor, agents, memory) appears under its id; see `inspectorUrl`.
     */
    inspect: z.union([z.boolean(), z.object({ port: z.number().int().min(1).max(65535).optional(), open: z.boolean().optional() }).strict()]).optional(),
    /** Persist every flow's state so it can be resumed (default true). */
    persist: z.boolean().optional(),
    /** Where flows are persisted. Default `.opencode-flow/flows` in `directory`. */
    flowsDir: z.string().optional(),
    /** Id of this flow object: its memory namespace (`flow:<id>`) and its first flow's id. */
    id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'expected letters, digits, "_" or "-" (max 64)' }).optional(),
  })
  .strict();

export type FlowOptions = z.input<typeof FlowOptionsSchema>;

/** What `execute` takes. */
export const ExecuteOptionsSchema = z
  .object({
    task: z.string().min(1, { message: 'expected a non-empty task' }),
    /** Agent names: spawned ones or presets (`researcher`, `coder`, ...). */
    agents: z.array(z.string().min(1)).min(1, { message: 'expected at least one agent' }),
    mode: z.enum(['parallel', 'sequential', 'hierarchical']).default('parallel'),
    /** Hierarchical mode: the agent that plans and aggregates (default the `planner` preset). */
    planner: z.string().min(1).optional(),
    /** Hierarchical mode: `agent` (the planner combines outputs, default) or `concat`. */
    aggregate: z.enum(['agent', 'concat']).optional(),
    /**
     * Hierarchical mode: levels of planners at most (default 3). A subtask the planner marks
     * `"decompose": true` is planned again by a sub-supervisor, while the limit allows.
     */
    maxDepth: z.number().int().min(1).max(5).optional(),
    /** Whole-flow timeout (ms). */
    timeout: z.number().int().positive().optional(),
    maxConcurrent: z.number().int().positive().optional(),
    onAgentFailure: z.enum(['continue', 'fail']).optional(),
    /** Times a failed agent's task is run again (default 3; not for auth/budget/abort failures). */
    retries: z.number().int().min(0).max(10).optional(),
    flowId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
    /** Routing mode for agents without an explicit model (turns routing on). */
    optimize: z.enum(ROUTING_MODES).optional(),
    /** Hard budget for this flow, USD. */
    maxCost: z.number().positive().optional(),
    /** Model for agents without one (`provider/model`). */
    model: z.string().optional(),
    /** Fallback models for every agent, after its own. */
    fallback: z.array(z.string()).optional(),
    /**
     * Agents that start only once a shared-memory key is written (by an agent's
     * `flow_memory_set`, or `flow.memory.set`): agent name → key or `prefix*`.
     */
    waitFor: z.record(z.string(), z.string().min(1)).optional(),
  })
  .strict();

export type ExecuteOptions = z.input<typeof ExecuteOptionsSchema>;

/** One agent's line in a flow report (the CLI's `--json` contract). */
export interface AgentReport {
  agent: string;
  sessionID: string;
  model: string;
  status: 'done' | 'failed';
  output: string;
  cost: number;
  tokens: { input: number; output: number };
  attempts: Array<{ model: string; error?: string }>;
  error?: string;
  /** Permission requests and questions, with the answers given (only when there were any). */
  inputs?: InputRecord[];
  /** Times the task was run again after failing (only when it was). */
  retries?: number;
}

/** The outcome of a flow. */
export interface FlowReport {
  flowId: string;
  status: Exclude<FlowStatus, 'running'>;
  mode: FlowMode;
  results: AgentReport[];
  /** USD, OpenCode's own figures: in total, per agent, per model and per task (a hierarchical flow's subtask ids). */
  cost: CostSummary;
  durationMs: number;
  reason?: string;
  /** Hierarchical flows: the plan that ran, and the final aggregated output. */
  plan?: SupervisorOutput['plan'];
  output?: string;
}

/** Events of {@link OpencodeFlow}; each carries `flowId`. */
export interface FlowEvents {
  'agent.state': (e: Extract<AgentNotification, { type: 'agent.state' }> & { flowId: string }) => void;
  'agent.delta': (e: Extract<AgentNotification, { type: 'agent.delta' }> & { flowId: string }) => void;
  'agent.tool': (e: Extract<AgentNotification, { type: 'agent.tool' }> & { flowId: string }) => void;
  'agent.fallback': (e: Extract<AgentNotification, { type: 'agent.fallback' }> & { flowId: string }) => void;
  'agent.done': (e: Extract<AgentNotification, { type: 'agent.done' }> & { flowId: string }) => void;
  'agent.failed': (e: Extract<AgentNotification, { type: 'agent.failed' }> & { flowId: string }) => void;
  /** OpenCode paused an agent for a person (a permission under an `ask` rule, or a question): answer with `reply`. */
  'agent.input_required': (e: Extract<AgentNotification, { type: 'agent.input_required' }> & { flowId: string }) => void;
  'agent.input_answered': (e: Extract<AgentNotification, { type: 'agent.input_answered' }> & { flowId: string }) => void;
  /** `mode` is `custom` for `run(machine)`, whose `task` is the machine's id. */
  'flow.started': (e: { flowId: string; mode: FlowMode | 'custom'; agents: string[]; task: string }) => void;
  'flow.done': (e: FlowReport) => void;
  /** The flow's state could not be written to the flow store (the flow goes on). */
  'flow.persist_error': (e: { flowId: string; error: string }) => void;
}

/** A spawned agent. */
export interface AgentHandle {
  readonly name: string;
  readonly spec: AgentSpec;
}

function newFlowId(): string {
  const t = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `flow_${t}_${randomBytes(3).toString('hex')}`;
}

/** What the flow store keeps of a custom machine's run (`run`). */
interface CustomFlowSnapshot {
  kind: 'custom';
  /** The machine's persisted snapshot (its agents with it). */
  actor: unknown;
  /** Agents' results so far: the run's cost. */
  results: AgentResult[];
}

type AnyRef = { id: string; send(e: unknown): void; getSnapshot(): { status: string; value?: unknown; children?: Record<string, AnyRef> } };

/** Send STOP to every agent under `root` and wait (15 s at most) until each has cleaned up. */
async function stopAgents(root: unknown): Promise<void> {
  const agents: AnyRef[] = [];
  const walk = (ref: AnyRef) => {
    for (const child of Object.values(ref.getSnapshot().children ?? {})) {
      if ((child as unknown as { logic?: { id?: string } }).logic?.id === agentMachine.id) agents.push(child);
      else walk(child);
    }
  };
  walk(root as AnyRef);
  for (const a of agents) a.send({ type: 'STOP' });
  await Promise.race([
    Promise.allSettled(agents.map((a) => toPromise(a as never))),
    new Promise((r) => setTimeout(r, 15_000).unref()),
  ]);
}

/** Convert a supervisor output into the public report. */
export function toReport(out: SupervisorOutput): FlowReport {
  const results = out.results.map(
    (r: AgentResult): AgentReport => ({
      agent: r.agent,
      sessionID: r.sessionID,
      model: r.model,
      status: r.status,
      output: r.output,
      cost: r.cost,
      tokens: r.tokens,
      attempts: r.attempts.map((a) => (a.error ? { model: a.model, error: a.error } : { model: a.model })),
      ...(r.error ? { error: r.error } : {}),
      ...(r.inputs?.length ? { inputs: r.inputs } : {}),
      ...(r.retries ? { retries: r.retries } : {}),
    }),
  );
  // Built from the results, which persist with the flow, so a stored flow's report is the
  // live one. A hierarchical subtask's agent is named `<agent>:<subtask id>` by the supervisor;
  // its task is the subtask id, any other result's its task id (the planner's `plan`/`aggregate`).
  const subtaskOf = new Map((out.plan?.subtasks ?? []).map((t) => [`${t.agent}:${t.id}`, t.id]));
  const ledger = new CostLedger();
  for (const r of out.results) {
    ledger.record({
      agent: r.agent,
      task: subtaskOf.get(r.agent) ?? r.taskId,
      model: r.model || 'default',
      sessionID: r.sessionID,
      cost: r.cost,
      tokens: r.tokens,
    });
  }
  const cost: CostSummary = ledger.summary();
  return {
    flowId: out.flowId,
    status: out.status,
    mode: out.mode,
    results,
    cost,
    durationMs: out.finishedAt - out.startedAt,
    ...(out.reason ? { reason: out.reason } : {}),
    ...(out.plan ? { plan: out.plan } : {}),
    ...(out.output !== undefined ? { output: out.output } : {}),
  };
}

/**
 * The programmatic API: spawn agents on an OpenCode server and run flows over them.
 * With no `serverUrl` it starts (and later stops) its own `opencode serve`.
 *
 * @example
 * ```ts
 * const flow = new OpencodeFlow({ serverUrl: 'http://127.0.0.1:4096' });
 * await flow.spawn({ name: 'researcher', model: 'anthropic/claude-sonnet-4' });
 * flow.on('agent.delta', (e) => process.stdout.write(e.text));
 * const report = await flow.execute({ task: 'Summarise AI trends', agents: ['researcher'] });
 * await flow.shutdown();
 * ```
 */
export class OpencodeFlow extends EventEmitter<FlowEvents> {
  readonly options: z.output<typeof FlowOptionsSchema>;
  private server?: OpencodeServer;
  private client?: OpencodeClient;
  private hub?: EventHub;
  private starting?: Promise<void>;
  private presets?: Map<string, PresetAgent>;
  private models = new Set<string>();
  private readonly agents = new Map<string, AgentHandle>();
  /** Flows running now: how to cancel or detach each, and when it has wound down. */
  private readonly flows = new Map<string, { cancel(reason: string): void; detach(): Promise<void>; done: Promise<unknown> }>();
  private closed = false;
  private memoryBackend?: MemoryBackend;
  private memoryActor?: Actor<typeof memoryMachine>;
  private memoryClient?: MemoryClient;
  private mcp?: MemoryMcpHttpServer;
  private firstFlow = true;
  private inspector?: FlowInspector;
  /** Requests waiting for a person: request id → where to send the answer. */
  private readonly pendingInputs = new Map<string, { flowId: string; agent: string; request: InputRequest; send: (e: { type: 'INPUT_REPLY'; requestId: string; answer: InputAnswer }) => void }>();
  private catalog?: ModelCatalog;
  private readonly routerConfig?: ModelRouterConfigInput;
  /** This flow object's id: its memory namespace is `flow:<id>`. */
  readonly id: string;
  /** Where flows are persisted (`.opencode-flow/flows`). */
  readonly store: FlowStore;

  constructor(options: FlowOptions = {}) {
    super();
    const parsed = FlowOptionsSchema.safeParse(options);
    if (!parsed.success) throw zodToFlowError(parsed.error, 'OpencodeFlow options');
    this.options = parsed.data;
    this.id = parsed.data.id ?? newFlowId();
    this.store = new FlowStore(parsed.data.flowsDir ?? join(parsed.data.directory ?? process.cwd(), '.opencode-flow', 'flows'));
    if (parsed.data.modelRouter) this.routerConfig = parseModelRouterConfig(parsed.data.modelRouter);
  }

  /**
   * Shared memory of this flow (namespace `flow:<id>`; pass `{ shared: true }` for the
   * cross-flow namespace). Agents reach the same store through the `flow_memory_*` tools.
   *
   * @example
   * ```ts
   * await flow.memory.set('api-design', report.results[0].output);
   * const design = await flow.memory.get('api-design');
   * const stop = flow.memory.watch('api-*', (c) => console.log(c.key, 'written by', c.by));
   * ```
   */
  get memory(): MemoryClient {
    if (!this.memoryClient) {
      throw new FlowError(
        FlowErrorCode.Memory,
        this.options.memory === false ? 'memory is turned off for this flow (memory: false)' : 'flow not started: await flow.start() before using memory',
      );
    }
    return this.memoryClient;
  }

  /** The OpenCode client (after `start()`). */
  get opencode(): OpencodeClient {
    if (!this.client) throw new FlowError(FlowErrorCode.Internal, 'flow not started: call start() first');
    return this.client;
  }

  /** Where to watch this flow's actors live, when `inspect` is on (after `start()`). */
  get inspectorUrl(): string | undefined {
    return this.inspector?.url;
  }

  /** The WebSocket the inspection events go through, when `inspect` is on. */
  get inspectorWsUrl(): string | undefined {
    return this.inspector?.wsUrl;
  }

  /** URL of the OpenCode server in use (after `start()`). */
  get serverUrl(): string | undefined {
    return this.server?.url;
  }

  /** Connect to (or start) the OpenCode server. Called for you by `spawn`/`execute`. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new FlowError(FlowErrorCode.Internal, 'flow was shut down'));
    this.starting ??= this.doStart().catch((e) => {
      this.starting = undefined;
      throw e;
    });
    return this.starting;
  }

  private async doStart() {
    const o = this.options;
    this.presets = await loadPresets({ cwd: o.directory, extraDirs: o.agentDirs });
    if (o.inspect) this.inspector = await startFlowInspector(o.inspect === true ? {} : o.inspect);
    if (o.memory !== false) await this.startMemory();
    const mcpConfig = this.mcp ? { flow: this.mcp.opencodeConfig() } : undefined;
    if (o.serverUrl) {
      this.server = await attachOpencodeServer({ url: o.serverUrl, password: o.password, username: o.username });
    } else {
      const agentConfig = Object.fromEntries([...this.presets.values()].map((p) => [p.name, toOpencodeAgentConfig(p)]));
      const extra = o.opencodeConfig ?? {};
      this.server = await startOpencodeServer({
        cwd: o.directory,
        env: o.serverEnv,
        config: {
          ...extra,
          agent: { ...agentConfig, ...(extra.agent as object | undefined) },
          ...(mcpConfig ? { mcp: { ...(extra.mcp as object | undefined), ...mcpConfig } } : {}),
        },
      });
    }
    this.client = new OpencodeClient({
      url: this.server.url,
      password: this.server.password,
      username: this.server.username,
      requestTimeoutMs: o.requestTimeoutMs,
    });
    // A running server does not pick up config changes: register the memory tools live.
    if (o.serverUrl && mcpConfig) await this.client.addMcp('flow', mcpConfig.flow as unknown as Record<string, unknown>);
    const providers = await this.client.providers();
    for (const p of providers.providers) for (const m of Object.keys(p.models)) this.models.add(`${p.id}/${m}`);
    this.catalog = buildCatalog(providers as unknown as ProvidersAnswer, (this.routerConfig as { models?: never } | undefined)?.models);
    if (!o.skipProviderCheck) this.checkProviders(providers.providers.map((p) => p.id));
    this.hub = new EventHub(this.client);
    await this.hub.start();
  }

  private async startMemory() {
    this.memoryBackend = await createMemoryBackend(this.options.memory as never, { cwd: this.options.directory });
    const namespace = flowNamespace(this.id);
    this.memoryActor = createActor(withMemoryBackend(this.memoryBackend), { id: 'memory', input: { namespace }, inspect: this.inspector?.inspect });
    this.memoryActor.start();
    this.memoryClient = createMemoryClient(this.memoryActor, { by: 'flow' });
    // Tool calls from agents become events of the same memory actor (single writer).
    this.mcp = await startMemoryMcpHttp({ ops: createMemoryClient(this.memoryActor, { by: 'agent' }), namespace });
  }

  /**
   * With no credentials OpenCode only offers its built-in `opencode` provider, whose free
   * models need the internet: say how to configure a provider instead of hanging.
   */
  private checkProviders(ids: string[]) {
    const explicit = [this.options.model, ...[...this.agents.values()].map((a) => a.spec.model)].filter(Boolean) as string[];
    const real = ids.filter((id) => id !== 'opencode');
    if (real.length === 0 && !explicit.some((m) => m.startsWith('opencode/'))) {
      throw new FlowError(
        FlowErrorCode.NoProvider,
        'no model provider is configured for OpenCode: run `opencode auth login` or set a provider key (e.g. ANTHROPIC_API_KEY, OPENAI_API_KEY), ' +
          'or pass --server URL of a configured OpenCode server; `opencode-flow demo` runs a flow with a scripted model',
      );
    }
  }

  /** Models the server can serve (`provider/model`), after `start()`. */
  availableModels(): string[] {
    return [...this.models].sort();
  }

  private checkModel(agent: string, model: string | undefined) {
    if (!model || this.models.size === 0 || this.models.has(model)) return;
    const provider = model.split('/')[0];
    const same = [...this.models].filter((m) => m.startsWith(`${provider}/`)).slice(0, 8);
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `agent "${agent}": model "${model}" is not served by the OpenCode server` +
        (same.length ? ` (models of ${provider}: ${same.join(', ')})` : ` (providers: ${[...new Set([...this.models].map((m) => m.split('/')[0]))].join(', ')})`),
    );
  }

  private toSpec(cfg: z.output<typeof AgentConfigSchema>): RoutedAgentSpec {
    const preset = this.presets?.get(cfg.preset ?? cfg.name);
    if (cfg.preset && !preset) {
      throw new FlowError(FlowErrorCode.UnknownAgent, `agent "${cfg.name}": unknown preset "${cfg.preset}" (presets: ${[...(this.presets?.keys() ?? [])].join(', ')})`);
    }
    const model = fullModelId(cfg) ?? preset?.model;
    this.checkModel(cfg.name, model);
    const fallback = (cfg.fallback ?? []).filter((m) => m !== model);
    for (const m of fallback) this.checkModel(cfg.name, m);
    // A preset registered on the embedded server runs as that OpenCode agent (prompt,
    // permissions, temperature native); on a remote server we pass prompt and rules.
    const nativePreset = preset && !this.options.serverUrl && !cfg.agent;
    return {
      name: cfg.name,
      agent: cfg.agent ?? (nativePreset ? preset.name : undefined),
      model,
      fallback: [...new Set(fallback)],
      systemPrompt: cfg.systemPrompt ?? (nativePreset ? undefined : preset?.systemPrompt),
      tools: toolSwitches(cfg.tools) ?? (nativePreset ? undefined : preset?.tools),
      permission: toPermissionRuleset(cfg.permissions ?? (nativePreset ? undefined : preset?.permission)),
      role: cfg.role ?? preset?.name ?? cfg.name,
      taskType: preset?.taskType,
      // AgentSpec has no field for it: routing reads it from the spec object (RoutedAgentSpec).
      ...(preset?.qualityFloor !== undefined ? { qualityFloor: preset.qualityFloor } : {}),
      inputPolicy: (cfg.inputPolicy ?? this.options.inputPolicy) as InputPolicy | undefined,
    };
  }

  /**
   * Register an agent for later `execute` calls. A name that matches a preset
   * (`reviewer`, ...) inherits its prompt and permissions.
   */
  async spawn(config: AgentConfig): Promise<AgentHandle> {
    const parsed = AgentConfigSchema.safeParse(config);
    if (!parsed.success) throw zodToFlowError(parsed.error, 'agent');
    await this.start();
    const handle: AgentHandle = { name: parsed.data.name, spec: this.toSpec(parsed.data) };
    this.agents.set(handle.name, handle);
    return handle;
  }

  private resolveAgent(name: string): AgentSpec {
    const spawned = this.agents.get(name);
    if (spawned) return spawned.spec;
    if (this.presets?.has(name)) return this.toSpec(AgentConfigSchema.parse({ name }));
    const known = [...new Set([...this.agents.keys(), ...(this.presets?.keys() ?? [])])].sort();
    throw new FlowError(FlowErrorCode.UnknownAgent, `unknown agent "${name}" (known: ${known.join(', ')})`);
  }

  /**
   * Run a task over agents and wait for the report. Never throws for an agent's failure:
   * that is in the report (`status`, `results[].error`).
   */
  async execute(options: ExecuteOptions): Promise<FlowReport> {
    const parsed = ExecuteOptionsSchema.safeParse(options);
    if (!parsed.success) throw zodToFlowError(parsed.error, 'execute');
    const o = parsed.data;
    await this.start();
    for (const name of Object.keys(o.waitFor ?? {})) {
      if (!o.agents.includes(name)) throw new FlowError(FlowErrorCode.InvalidConfig, `waitFor.${name}: not one of the flow's agents (${o.agents.join(', ')})`);
    }
    if (o.waitFor && !this.memoryActor) throw new FlowError(FlowErrorCode.InvalidConfig, 'waitFor needs shared memory, but memory is off (memory: false)');
    const dup = o.agents.find((a, i) => o.agents.indexOf(a) !== i);
    if (dup) throw new FlowError(FlowErrorCode.InvalidConfig, `agents: "${dup}" is listed twice`);
    const defaultModel = o.model ?? this.options.model;
    const fallback = o.fallback ?? this.options.fallback;
    for (const m of [defaultModel, ...(fallback ?? [])]) this.checkModel('(flow)', m);
    const routing = createFlowRouting({
      catalog: this.catalog!,
      config: { ...this.routerConfig, ...(o.optimize ? { mode: o.optimize } : {}) },
      routing: o.optimize !== undefined || this.routerConfig !== undefined,
      task: o.task,
      specs: [
        ...o.agents.map((n) => this.resolveAgent(n)),
        ...(o.mode === 'hierarchical' ? [{ ...this.resolveAgent(o.planner ?? 'planner'), name: PLANNER }] : []),
      ],
      defaultModel,
      fallback,
      maxCost: o.maxCost,
    });
    const specs = o.mode === 'hierarchical' ? routing.specs.slice(0, -1) : routing.specs;
    const plannerSpec = o.mode === 'hierarchical' ? routing.specs[routing.specs.length - 1] : undefined;
    const flowId = o.flowId ?? (this.firstFlow ? this.id : newFlowId());
    this.firstFlow = false;
    const input: SupervisorInput = {
      flowId,
      task: o.task,
      mode: o.mode,
      agents: specs,
      maxConcurrent: o.maxConcurrent ?? this.options.maxConcurrent,
      promptTimeoutMs: this.options.promptTimeoutMs,
      timeoutMs: o.timeout,
      keepSessions: this.options.keepSessions,
      onAgentFailure: o.onAgentFailure,
      retries: o.retries,
      maxCost: routing.budget.maxCost,
      waitFor: o.waitFor,
      planner: plannerSpec,
      aggregate: o.aggregate,
      maxDepth: o.maxDepth,
    };
    return this.runSupervisor(flowId, routing, { input }, { mode: o.mode, agents: o.agents, task: o.task });
  }

  /**
   * Continue a flow whose process died, from its persisted snapshot: finished agents are
   * not run again (their results and costs are kept); an agent that was mid-prompt
   * reconciles with its OpenCode session: finished meanwhile → its answer is taken; still
   * running → it waits for it; left unanswered or aborted (e.g. its OpenCode died too) → it
   * is prompted again on the same model, recorded as an attempt. A flow that had finished
   * just returns its report.
   *
   * @example
   * ```ts
   * const report = await new OpencodeFlow({ serverUrl }).resume('flow_20261124_abc123');
   * ```
   */
  async resume(flowId: string): Promise<FlowReport> {
    const stored = await this.store.load(flowId);
    await this.start();
    const snap = stored.snapshot as { status?: string; output?: SupervisorOutput; context?: SupervisorContext };
    if (snap.status === 'done' && snap.output) return toReport(snap.output);
    const ctx = snap.context;
    if ((stored.snapshot as CustomFlowSnapshot).kind === 'custom') {
      throw new FlowError(FlowErrorCode.InvalidConfig, `stored flow "${flowId}" ran a custom machine: continue it with run(machine, input, { flowId: "${flowId}", resume: true })`);
    }
    if (!ctx) throw new FlowError(FlowErrorCode.FlowNotFound, `stored flow "${flowId}" has no supervisor state`);
    const routing = createFlowRouting({
      catalog: this.catalog!,
      config: { ...this.routerConfig },
      routing: false,
      task: ctx.task,
      specs: [...ctx.agents, ...(ctx.planner ? [{ ...ctx.planner, name: PLANNER }] : [])],
      maxCost: ctx.maxCost,
      spent: ctx.spent,
    });
    return this.runSupervisor(flowId, routing, { snapshot: stored.snapshot }, { mode: ctx.mode, agents: stored.meta.agents, task: ctx.task });
  }

  /**
   * The resolved spec of an agent (spawned or preset, with the flow's default model), for
   * your own machines.
   */
  async agentSpec(name: string): Promise<AgentSpec> {
    await this.start();
    const spec = this.resolveAgent(name);
    return spec.model || !this.options.model ? spec : { ...spec, model: this.options.model };
  }

  /**
   * Run your own coordination machine as a flow. The machine registers the agent logic as
   * `agent` (`setup({ actors: { agent: agentMachine } })`) and spawns agents with
   * `spawnAgent` (see `machines/flows/helpers.ts`); `run` supplies the real OpenCode
   * effects, forwards agents' events to `flow.on(...)` (`flow.started`, `agent.*`,
   * `flow.done`), tracks cost per agent, model and task, enforces `maxCost`, persists the
   * machine after every step and shows it in the inspector. `cancel(flowId)` and
   * `shutdown()` stop it: every agent's session is aborted, and `run` rejects with a
   * `cancelled` FlowError. A run whose process died continues with `resume: true` and the
   * same `flowId` and machine (agents that had finished keep their results and cost).
   *
   * @example
   * ```ts
   * const { output, cost } = await flow.run(reviewLoopMachine, {
   *   task: 'Add validation', coder: await flow.agentSpec('coder'), reviewer: await flow.agentSpec('reviewer'),
   * });
   * ```
   */
  async run<M extends AnyStateMachine>(
    machine: M,
    input: InputFrom<M>,
    options: { flowId?: string; maxCost?: number; resume?: boolean } = {},
  ): Promise<{ flowId: string; output: OutputFrom<M>; cost: FlowReport['cost'] }> {
    if (options.resume && !options.flowId) throw new FlowError(FlowErrorCode.InvalidConfig, 'run: resume needs the flowId of the run to continue');
    await this.start();
    const flowId = options.flowId ?? newFlowId();
    const stored = options.resume ? await this.store.load(flowId) : undefined;
    const saved = stored?.snapshot as CustomFlowSnapshot | undefined;
    if (stored && saved?.kind !== 'custom') {
      throw new FlowError(FlowErrorCode.InvalidConfig, `stored flow "${flowId}" is not a custom machine's run: continue it with resume("${flowId}")`);
    }
    const results: AgentResult[] = [...(saved?.results ?? [])];
    const spent = results.reduce((n, r) => n + r.cost, 0);
    const routing = createFlowRouting({ catalog: this.catalog!, config: { ...this.routerConfig }, routing: false, task: '', specs: [], maxCost: options.maxCost, spent });
    const runtime: AgentRuntime = {
      client: this.client!,
      hub: this.hub!,
      keepSessions: this.options.keepSessions,
      chooseFallback: (i) => routing.chooseFallback(i),
      beforePrompt: (i) => routing.beforePrompt(i),
    };
    const agent = agentMachine.provide({ actors: createAgentActors(runtime) });
    const provided = machine.provide({ actors: { agent } } as never) as M;
    const startedAt = stored?.meta.startedAt ?? Date.now();
    // Inspection starts inside createActor (a restored tree reports its actors at once).
    let root: unknown;
    const actor: Actor<M> = createActor(provided, {
      id: flowId,
      input,
      ...(saved ? { snapshot: saved.actor as never } : {}),
      inspect: (ev) => {
        this.inspector?.inspect.next?.(ev);
        // Agents report to the machine that spawned them; pick those reports up on the way.
        if (ev.type !== '@xstate.event' || root === undefined || ev.actorRef !== root) return;
        const e = ev.event as AgentNotification;
        if (!e.type?.startsWith('agent.')) return;
        if (e.type === 'agent.done' || e.type === 'agent.failed') {
          routing.onResult(e.result);
          results.push(e.result);
        }
        this.emit(e.type as 'agent.state', { ...e, flowId } as never);
        persist.soon();
      },
    });
    root = actor;
    const report = (status: FlowReport['status'], reason?: string) =>
      toReport({ flowId, status, mode: 'custom' as FlowMode, results, startedAt, finishedAt: Date.now(), ...(reason ? { reason } : {}) });
    let ended: FlowReport['status'] | undefined;
    const persist = this.persister(flowId, () => {
      const snap = actor.getSnapshot() as { status: string };
      const status = ended ?? (snap.status === 'done' ? 'completed' : 'running');
      return {
        meta: { task: machine.id, mode: 'custom', agents: [...new Set(results.map((r) => r.agent))], status, cost: results.reduce((n, r) => n + r.cost, 0), startedAt },
        snapshot: { kind: 'custom', actor: actor.getPersistedSnapshot(), results } satisfies CustomFlowSnapshot,
      };
    });
    actor.subscribe({ next: () => persist.soon(), error: () => {} });
    let cancelled: string | undefined;
    const done = toPromise(actor);
    this.flows.set(flowId, {
      cancel: (reason) => {
        cancelled ??= reason;
        // The machine may not know CANCEL: stop its agents (their sessions are aborted and
        // deleted as usual), then the machine itself.
        void stopAgents(actor).finally(() => actor.stop());
      },
      detach: async () => {
        cancelled ??= 'detached';
        runtime.detached = true;
        persist.freeze();
        await this.store.flush();
        actor.stop();
      },
      done: done.catch(() => {}),
    });
    this.emit('flow.started', { flowId, mode: 'custom', agents: [], task: machine.id });
    actor.start();
    try {
      const output = (await done) as OutputFrom<M>;
      // Stopping an actor completes it too, with no output.
      if ((actor.getSnapshot() as { status: string }).status !== 'done') throw new Error(cancelled ?? 'the machine was stopped');
      persist.now();
      await this.store.flush();
      const r = report('completed');
      this.emit('flow.done', r);
      return { flowId, output, cost: r.cost };
    } catch (e) {
      const r = report(cancelled ? 'cancelled' : 'failed', cancelled ?? (e instanceof Error ? e.message : String(e)));
      // The store says how it ended (a detached run stays as it was: running, resumable).
      ended = r.status;
      persist.now();
      await this.store.flush();
      this.emit('flow.done', r);
      if (cancelled) throw new FlowError(FlowErrorCode.Cancelled, `flow ${flowId} was cancelled (${cancelled})`);
      throw e;
    } finally {
      this.flows.delete(flowId);
    }
  }

  /**
   * Saving serialises the whole actor tree: `soon()` coalesces bursts (20 agents changing
   * state at once) into one write per 50 ms; `now()` writes at once (the final state).
   */
  private persister(
    flowId: string,
    read: () => { meta: Omit<StoredFlowMeta, 'flowId' | 'updatedAt'>; snapshot: unknown },
  ): { soon(): void; now(): void; freeze(): void } {
    let timer: NodeJS.Timeout | undefined;
    let frozen = false;
    const now = () => {
      clearTimeout(timer);
      timer = undefined;
      if (this.options.persist === false || frozen) return;
      const { meta, snapshot } = read();
      void this.store
        .save({ meta: { ...meta, flowId, updatedAt: Date.now() }, snapshot })
        .catch((e: unknown) => this.emit('flow.persist_error', { flowId, error: e instanceof Error ? e.message : String(e) }));
    };
    return {
      soon: () => {
        if (this.options.persist === false || timer || frozen) return;
        timer = setTimeout(now, 50);
      },
      now,
      // Detached: the stored state is the one to resume from; nothing after it is written.
      freeze: () => {
        now();
        frozen = true;
      },
    };
  }

  /** Flows persisted in this project's flow store (running ones included), newest first. */
  async listFlows(): Promise<StoredFlowMeta[]> {
    return this.store.list();
  }

  private async runSupervisor(
    flowId: string,
    routing: FlowRouting,
    from: { input: SupervisorInput } | { snapshot: unknown },
    info: { mode: FlowMode; agents: string[]; task: string },
  ): Promise<FlowReport> {
    // The hard budget mid-prompt: what running agents' messages cost so far (by session and
    // message), on top of what finished agents booked. Past the cap the flow stops now, so a
    // long tool loop cannot run on until its agent finishes.
    const live = new Map<string, Map<string, number>>();
    let overBudget = false;
    const runtime: AgentRuntime = {
      client: this.client!,
      hub: this.hub!,
      chooseFallback: (i) => routing.chooseFallback(i),
      beforePrompt: (i) => routing.beforePrompt(i),
      onCost: ({ sessionID, messageID, cost }) => {
        const cap = routing.budget.maxCost;
        if (cap === undefined || overBudget) return;
        let costs = live.get(sessionID);
        if (!costs) live.set(sessionID, (costs = new Map()));
        costs.set(messageID, cost);
        let running = 0;
        for (const m of live.values()) for (const c of m.values()) running += c;
        if (routing.budget.spent + running > cap + 1e-9) {
          overBudget = true;
          actor.send({
            type: 'BUDGET_EXCEEDED',
            reason: `budget exceeded mid-prompt: spent $${(routing.budget.spent + running).toFixed(6)} of max $${cap} (running agents stopped)`,
          });
        }
      },
    };
    const maxDepth = 'input' in from ? from.input.maxDepth : (from.snapshot as { context?: SupervisorContext }).context?.maxDepth;
    const machine = withSubflows(
      supervisorMachine.provide({
        actors: { agent: agentMachine.provide({ actors: createAgentActors(runtime) }) },
      }),
      maxDepth ?? 3,
    );
    const actor =
      'input' in from
        ? createActor(machine, { id: flowId, input: from.input, inspect: this.inspector?.inspect })
        : // The input is ignored on restore; the snapshot carries the context.
          createActor(machine, { id: flowId, snapshot: from.snapshot as never, input: undefined as unknown as SupervisorInput, inspect: this.inspector?.inspect });
    const startedAt = Date.now();
    const persist = this.persister(flowId, () => {
      const snap = actor.getSnapshot();
      const ctx = snap.context;
      return {
        meta: {
          task: info.task,
          mode: info.mode,
          agents: info.agents,
          status: snap.status === 'done' ? (snap.output?.status ?? ctx.status) : 'running',
          cost: ctx.spent,
          startedAt: ctx.startedAt ?? startedAt,
          ...(ctx.reason ? { reason: ctx.reason } : {}),
        },
        snapshot: actor.getPersistedSnapshot(),
      };
    });
    actor.on('*', (e) => {
      // The supervisor itself stops on the budget; the ledger and reservations live here.
      if (e.type === 'agent.done' || e.type === 'agent.failed') {
        routing.onResult(e.result);
        // Booked now: its messages no longer count as running.
        live.delete(e.result.sessionID);
      }
      // Known before listeners hear of it, so they can answer at once.
      if (e.type === 'agent.input_required') {
        // A sub-supervisor's agent (`coder:s3/reviewer:t1`) is a grandchild: walk the path.
        const child = () => {
          const path = e.agent.split('/');
          let ref = actor as unknown as { getSnapshot(): { children: Record<string, unknown> } } | undefined;
          for (const part of path.slice(0, -1)) ref = ref?.getSnapshot().children[subflowActorId(part)] as typeof ref;
          return ref?.getSnapshot().children[agentActorId(path.at(-1)!)] as { send(ev: unknown): void } | undefined;
        };
        this.pendingInputs.set(e.request.id, { flowId, agent: e.agent, request: e.request, send: (ev) => child()?.send(ev) });
      }
      if (e.type === 'agent.input_answered') this.pendingInputs.delete(e.record.request.id);
      if (e.type.startsWith('agent.')) this.emit(e.type as 'agent.state', e as never);
      // Agents' own transitions do not change the supervisor's snapshot object: save on them too.
      if (e.type === 'agent.state') persist.soon();
    });
    actor.subscribe({ next: () => persist.soon(), error: () => {} });
    // Memory changes of this flow's namespace reach the supervisor as events.
    const namespace = flowNamespace(this.id);
    const memorySub = this.memoryActor?.on('memory.changed', (c) => {
      if (c.namespace === namespace) actor.send({ type: 'memory.changed', key: c.key, value: c.value, by: c.by, namespace: c.namespace });
    });
    const done = toPromise(actor);
    let detached = false;
    this.flows.set(flowId, {
      cancel: (reason) => actor.send({ type: 'CANCEL', reason }),
      detach: async () => {
        detached = true;
        runtime.detached = true;
        persist.freeze();
        await this.store.flush();
        actor.stop();
      },
      done,
    });
    this.emit('flow.started', { flowId, mode: info.mode, agents: info.agents, task: info.task });
    actor.start();
    try {
      const out = await done;
      if (detached || !out) {
        throw new FlowError(FlowErrorCode.Cancelled, `flow ${flowId} was detached: its agents go on (or are prompted again) when it is resumed (opencode-flow resume ${flowId})`);
      }
      persist.now();
      await this.store.flush();
      const report = toReport(out);
      this.emit('flow.done', report);
      return report;
    } finally {
      memorySub?.unsubscribe();
      this.flows.delete(flowId);
    }
  }

  /**
   * Answer a permission request or question an agent is waiting on (see the
   * `agent.input_required` event). Permissions: `'once' | 'always' | 'reject'`; questions:
   * one answer list per question (`[['Yes']]`) or `'reject'`.
   *
   * @example
   * ```ts
   * flow.on('agent.input_required', (e) => flow.reply(e.request.id, e.request.kind === 'permission' ? 'once' : [['Yes']]));
   * ```
   */
  reply(requestId: string, answer: 'once' | 'always' | 'reject' | string[][]): void {
    const pending = this.pendingInputs.get(requestId);
    if (!pending) throw new FlowError(FlowErrorCode.InvalidConfig, `no agent is waiting on request "${requestId}"`);
    const a: InputAnswer = Array.isArray(answer) ? { answers: answer } : { reply: answer };
    if (pending.request.kind === 'permission' && 'answers' in a) {
      throw new FlowError(FlowErrorCode.InvalidConfig, `request "${requestId}" is a permission: answer 'once', 'always' or 'reject'`);
    }
    if (pending.request.kind === 'question' && 'reply' in a && a.reply !== 'reject') {
      throw new FlowError(FlowErrorCode.InvalidConfig, `request "${requestId}" is a question: answer with one list of choices per question, or 'reject'`);
    }
    pending.send({ type: 'INPUT_REPLY', requestId, answer: a });
  }

  /** Requests agents are waiting on now (all flows, or one). */
  pendingRequests(flowId?: string): Array<{ flowId: string; agent: string; request: InputRequest }> {
    return [...this.pendingInputs.values()].filter((p) => !flowId || p.flowId === flowId).map(({ flowId: f, agent, request }) => ({ flowId: f, agent, request }));
  }

  /** Cancel one running flow, or all of them. Busy sessions are aborted. */
  cancel(flowId?: string, reason = 'cancelled'): void {
    for (const [id, flow] of this.flows) if (!flowId || id === flowId) flow.cancel(reason);
  }

  /** Ids of the flows running now. */
  runningFlows(): string[] {
    return [...this.flows.keys()];
  }

  /**
   * Stop running flows (all, or one) without cancelling them: their state as of now is
   * stored, their actors stop, and their sessions are neither aborted nor deleted. `resume`
   * continues them later (a prompt still running on a remote OpenCode is taken when done;
   * one that died with an embedded OpenCode is sent again). Their `execute`/`run` rejects
   * with a `cancelled` FlowError that says so.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', async () => { await flow.detach(); await flow.shutdown(); });
   * ```
   */
  async detach(flowId?: string): Promise<void> {
    const chosen = [...this.flows].filter(([id]) => !flowId || id === flowId).map(([, f]) => f);
    await Promise.all(chosen.map((f) => f.detach()));
    await Promise.allSettled(chosen.map((f) => f.done));
  }

  /**
   * Cancel running flows (or, with `{ flows: 'detach' }`, store and leave them for
   * `resume`), wait for their cleanup, stop an embedded server.
   */
  async shutdown({ flows = 'cancel' }: { flows?: 'cancel' | 'detach' } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const running = [...this.flows.values()];
    if (flows === 'detach') await this.detach();
    else this.cancel(undefined, 'shutdown');
    await Promise.allSettled(running.map((f) => f.done));
    this.hub?.stop();
    await this.server?.stop();
    await this.mcp?.close();
    this.memoryActor?.stop();
    await this.memoryBackend?.close();
    this.inspector?.stop();
    this.removeAllListeners();
  }
}
