import { z } from 'zod';
import { InputPolicySchema, OutputSchemaSchema, type AgentConfig } from '../config/agent.js';
import { ROUTING_MODES } from '../router/config.js';
import { isServerUrlList, SERVER_URLS_EXPECTED } from '../config/server-urls.js';
import { FlowStoreUriSchema } from '../store/uri.js';
import { FlowIdSchema } from './ids.js';
import { timeoutMsSchema } from '../config/timeouts.js';
import type { AnyFlowTool } from './tools.js';

/** Options of {@link OpencodeFlow}. */
export const FlowOptionsSchema = z
  .object({
    /** Attach to this OpenCode server; when absent an embedded `opencode serve` is started. */
    /** An OpenCode server to attach to, or a pool of them separated by commas; absent: an embedded one. */
    serverUrl: z.string().refine(isServerUrlList, { message: SERVER_URLS_EXPECTED }).optional(),
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
    /** Per-prompt timeout of every run's agents (ms), unless a run sets its own. Default 10 min. */
    promptTimeoutMs: timeoutMsSchema('a prompt').optional(),
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
     * cooldownMs, concurrency }` (see `src/router/README.md`). With it, agents without an
     * explicit model get the router's pick; `concurrency` alone (caps per provider or model,
     * shared by every run of the host) does not turn routing on.
     */
    modelRouter: z.record(z.string(), z.unknown()).optional(),
    /** How agents answer permission requests and questions, unless they set their own (default: reject). */
    inputPolicy: InputPolicySchema.optional(),
    /**
     * Show flows live in the Stately inspector: `true` (a free port) or `{ port, open }`.
     * Every actor (supervisor, agents, memory) appears under its id; see `inspectorUrl`.
     */
    inspect: z
      .union([
        z.boolean(),
        z.object({ port: z.number().int().min(1).max(65535).optional(), open: z.boolean().optional() }).strict(),
      ])
      .optional(),
    /** Persist every flow's state so it can be resumed (default true). */
    persist: z.boolean().optional(),
    /**
     * Where flows are persisted, by URI: `file:DIR` (or a directory), `sqlite:PATH`, or
     * `postgres://USER@HOST:PORT/DB` (the schema is created there on first use). Default: files
     * in `.opencode-flow/flows` in `directory`.
     */
    store: FlowStoreUriSchema.optional(),
    /** The file store's directory (`store: 'file:DIR'`). Default `.opencode-flow/flows` in `directory`. */
    flowsDir: z.string().optional(),
    /**
     * Your own TypeScript functions as agents' tools (`flow_<name>`), served by the flow's MCP
     * endpoint; see {@link tool}. Checked when the host is made.
     */
    tools: z.array(z.custom<AnyFlowTool>((t) => typeof t === 'object' && t !== null, 'expected a tool')).optional(),
    /** Id of this host: its own memory namespace (`flow:<id>`, what `flow.memory` uses) and its first run's id. */
    id: FlowIdSchema.optional(),
  })
  .strict();

export type FlowOptions = z.input<typeof FlowOptionsSchema>;

/** What `execute` takes. */
export const ExecuteOptionsSchema = z
  .object({
    task: z.string().min(1, { message: 'expected a non-empty task' }),
    /**
     * The run's agents: names of spawned agents or presets (`researcher`, `coder`, ...), or
     * inline agent configs, which live and die with this run.
     */
    agents: z
      .array(z.union([z.string().min(1), z.record(z.string(), z.unknown())]))
      .min(1, { message: 'expected at least one agent' }),
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
    /** Whole-run timeout (ms). Default: none. */
    timeoutMs: timeoutMsSchema('the flow').optional(),
    /** Per-prompt timeout (ms): a prompt past it falls back to the next model. Default the host's, else 10 min. */
    promptTimeoutMs: timeoutMsSchema('a prompt').optional(),
    /** Keep this run's OpenCode sessions after it (default: the host's `keepSessions`, else deleted). */
    keepSessions: z.boolean().optional(),
    maxConcurrent: z.number().int().positive().optional(),
    onAgentFailure: z.enum(['continue', 'fail']).optional(),
    /** Times a failed agent's task is run again (default 3; not for auth/budget/abort failures). */
    retries: z.number().int().min(0).max(10).optional(),
    flowId: FlowIdSchema.optional(),
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
    /**
     * Structured output (a zod schema, or a JSON Schema of type `object`): every agent's
     * answer (an agent's own `schema` wins); hierarchical mode, the planner's combined
     * answer. In the report's `structured` and `results[].structured`, checked and typed.
     */
    schema: OutputSchemaSchema.optional(),
  })
  .strict();

/** What `execute` and `stream` take. */
export type ExecuteOptions = Omit<z.input<typeof ExecuteOptionsSchema>, 'agents'> & {
  agents: Array<string | AgentConfig>;
};

export type FlowOptionsOutput = z.output<typeof FlowOptionsSchema>;

/** What `run(machine, input, options)` takes. */
export const RunOptionsSchema = z
  .object({
    /** The run's id (default a new one); with `resume`, the stored run to continue. */
    flowId: FlowIdSchema.optional(),
    /** Continue the stored run `flowId` (its finished agents keep their results and cost). */
    resume: z.boolean().optional(),
    /** Hard budget for this run, USD: past it the run stops (`budget_exceeded`). */
    maxCost: z.number().positive().optional(),
    /** Whole-run timeout (ms). Default: none. */
    timeoutMs: timeoutMsSchema('the flow').optional(),
    /** Per-prompt timeout (ms) for agents your machine gives none. Default the host's, else 10 min. */
    promptTimeoutMs: timeoutMsSchema('a prompt').optional(),
    /** Keep this run's OpenCode sessions after it (default: the host's `keepSessions`, else deleted). */
    keepSessions: z.boolean().optional(),
  })
  .strict();

export type RunOptions = z.input<typeof RunOptionsSchema>;

/** Keys an older release took, and what they are now (a clear error instead of "unrecognized key"). */
export const RENAMED_KEYS: Record<string, string> = {
  timeout: 'timeoutMs (milliseconds; the CLI, config files and serve take seconds as `timeout`)',
};
