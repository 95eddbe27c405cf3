import type { z } from 'zod';
import type { AnyStateMachine } from 'xstate';
import type { AgentResult } from '../../machines/agent.js';
import type { StructuredChecks } from '../../machines/structured.js';
import { PLANNER, type FlowMode, type SupervisorContext, type SupervisorInput } from '../../machines/supervisor.js';
import type { AgentConfig } from '../config/agent.js';
import { zodToFlowError } from '../config/errors.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { ModelCatalog } from '../router/catalog.js';
import type { ModelRouterConfigInput } from '../router/config.js';
import type { StoredFlow } from '../store/store.js';
import { registerOutputSchema, type AgentRegistry } from './agents.js';
import type { RunCostOptions } from './cost.js';
import {
  ExecuteOptionsSchema,
  RENAMED_KEYS,
  RunOptionsSchema,
  type ExecuteOptions,
  type FlowOptionsOutput,
  type RunOptions,
} from './options.js';
import { createFlowRouting, type FlowRouting, type RoutedAgentSpec } from './routing.js';

/** What the flow store keeps of a custom machine's run. */
export interface CustomRunSnapshot {
  kind: 'custom';
  /** The machine's persisted snapshot (its agents with it). */
  actor: unknown;
  /** Agents' results so far: the run's cost. */
  results: AgentResult[];
}

interface PlanCommon {
  flowId: string;
  /** Models per agent, fallback and estimates. */
  routing: FlowRouting;
  /** The run's money: caps, what an earlier run spent, the estimate (see `RunCost`). */
  cost: RunCostOptions;
  /** Keep every agent's session after the run (default: deleted). */
  keepSessions?: boolean;
  /** Per-prompt timeout for agents that name none (ms). */
  promptTimeoutMs?: number;
  /** The stored run's `traceparent` this run continues: its trace links to that one. */
  continues?: string;
}

/** A run of the built-in supervisor (parallel, sequential, hierarchical): new, or continued from its snapshot. */
export interface SupervisorRunPlan extends PlanCommon {
  kind: 'supervisor';
  from: { input: SupervisorInput } | { snapshot: unknown };
  info: { mode: FlowMode; agents: string[]; task: string };
}

/** A run of the caller's own machine: new, or continued from its snapshot. */
export interface CustomRunPlan extends PlanCommon {
  kind: 'custom';
  machine: AnyStateMachine;
  input: unknown;
  /** A stored run to continue. */
  restore?: { snapshot: CustomRunSnapshot; startedAt: number };
  /** Whole-run timeout (ms); the supervisor has its own. */
  timeoutMs?: number;
}

/**
 * Everything a run is started from, decided before it starts: `execute`, `resume`,
 * `run(machine)` and every `serve` request become one of these (see the `plan*` functions), and
 * `FlowRun` starts any of them the same way.
 */
export type RunPlan = SupervisorRunPlan | CustomRunPlan;

/** What planning reads of its host (after `start()`). */
export interface PlanContext {
  options: FlowOptionsOutput;
  catalog: ModelCatalog;
  agents: AgentRegistry;
  structured: StructuredChecks;
  routerConfig?: ModelRouterConfigInput;
  /** The host has a memory actor (`waitFor` needs one). */
  memory: boolean;
  /** The id of a new run that names none. */
  newFlowId(): string;
}

/** Parse `value` with `schema`, naming renamed keys and zod's issues at `where`. */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  for (const k of Object.keys((value ?? {}) as object)) {
    if (k in RENAMED_KEYS)
      throw new FlowError(FlowErrorCode.InvalidConfig, `${where}.${k}: renamed to ${RENAMED_KEYS[k]}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) throw zodToFlowError(r.error, where);
  return r.data;
}

/** The money of a run: its caps (the call's, else the router config's) and what it spent before. */
function costOf(ctx: PlanContext, routing: FlowRouting, maxCost: number | undefined, spent?: number): RunCostOptions {
  const cfg = (ctx.routerConfig ?? {}) as { maxCost?: number; maxCostPerTask?: number };
  const cap = maxCost ?? cfg.maxCost;
  return {
    ...(cap !== undefined ? { maxCost: cap } : {}),
    ...(cfg.maxCostPerTask !== undefined ? { maxCostPerTask: cfg.maxCostPerTask } : {}),
    ...(spent ? { spent } : {}),
    estimate: routing.estimate,
  };
}

/** Routing for a run whose models were decided already (a resume, a custom machine). */
function fixedRouting(ctx: PlanContext, task: string, specs: RoutedAgentSpec[]): FlowRouting {
  return createFlowRouting({ catalog: ctx.catalog, config: { ...ctx.routerConfig }, routing: false, task, specs });
}

/**
 * A built-in mode's run (`execute`, `stream`, serve's `POST /flows`): options checked, every
 * agent's model decided, the supervisor's input written.
 */
export function planExecute(ctx: PlanContext, options: ExecuteOptions, flowId: string | undefined): SupervisorRunPlan {
  const o = parseOptions(ExecuteOptionsSchema, options, 'execute');
  const agents = ctx.agents;
  const names = o.agents.map((a) => (typeof a === 'string' ? a : String((a as { name?: unknown }).name)));
  for (const name of Object.keys(o.waitFor ?? {})) {
    if (!names.includes(name))
      throw new FlowError(
        FlowErrorCode.InvalidConfig,
        `waitFor.${name}: not one of the flow's agents (${names.join(', ')})`,
      );
  }
  if (o.waitFor && !ctx.memory)
    throw new FlowError(FlowErrorCode.InvalidConfig, 'waitFor needs shared memory, but memory is off (memory: false)');
  const dup = names.find((a, i) => names.indexOf(a) !== i);
  if (dup) throw new FlowError(FlowErrorCode.InvalidConfig, `agents: "${dup}" is listed twice`);
  const defaultModel = o.model ?? ctx.options.model;
  const fallback = o.fallback ?? ctx.options.fallback;
  for (const m of [defaultModel, ...(fallback ?? [])]) agents.checkModel('(flow)', m);
  const hierarchical = o.mode === 'hierarchical';
  const routing = createFlowRouting({
    catalog: ctx.catalog,
    config: { ...ctx.routerConfig, ...(o.optimize ? { mode: o.optimize } : {}) },
    routing: o.optimize !== undefined || ctx.routerConfig !== undefined,
    task: o.task,
    specs: [
      ...o.agents.map((a, i) => agents.specFor(a as string | AgentConfig, `execute.agents.${i}`)),
      ...(hierarchical ? [{ ...agents.resolve(o.planner ?? 'planner'), name: PLANNER }] : []),
    ],
    defaultModel,
    fallback,
  });
  const cost = costOf(ctx, routing, o.maxCost);
  const schema = o.schema ? registerOutputSchema(ctx.structured, o.schema, 'execute.schema') : undefined;
  const planner = hierarchical ? routing.specs.at(-1) : undefined;
  // A planner model that cannot call tools cannot give structured output: it answers in text.
  const plannerModel = planner?.model ? ctx.catalog.get(planner.model) : undefined;
  const workers = (hierarchical ? routing.specs.slice(0, -1) : routing.specs).map((s) =>
    schema && !hierarchical && !s.schema ? { ...s, schema } : s,
  );
  const id = o.flowId ?? flowId ?? ctx.newFlowId();
  const keepSessions = o.keepSessions ?? ctx.options.keepSessions;
  const promptTimeoutMs = o.promptTimeoutMs ?? ctx.options.promptTimeoutMs;
  const input: SupervisorInput = {
    flowId: id,
    task: o.task,
    mode: o.mode,
    agents: workers,
    maxConcurrent: o.maxConcurrent ?? ctx.options.maxConcurrent,
    promptTimeoutMs,
    timeoutMs: o.timeoutMs,
    keepSessions,
    onAgentFailure: o.onAgentFailure,
    retries: o.retries,
    maxCost: cost.maxCost,
    waitFor: o.waitFor,
    planner,
    ...(hierarchical ? { planAs: plannerModel?.toolcall === false ? ('text' as const) : ('structured' as const) } : {}),
    ...(hierarchical && schema ? { format: { type: 'json_schema' as const, schema } } : {}),
    aggregate: o.aggregate,
    maxDepth: o.maxDepth,
  };
  return {
    kind: 'supervisor',
    flowId: id,
    routing,
    cost,
    keepSessions,
    promptTimeoutMs,
    from: { input },
    info: { mode: o.mode, agents: names, task: o.task },
  };
}

/**
 * A stored built-in run to continue (`resume`): its models as they were decided, its cap and
 * what it spent so far. A custom machine's run is refused here (it needs its machine).
 */
export function planResume(ctx: PlanContext, stored: StoredFlow, options: { promptTimeoutMs?: number }) {
  const flowId = stored.meta.flowId;
  if ((stored.snapshot as CustomRunSnapshot).kind === 'custom') {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `stored flow "${flowId}" ran a custom machine: continue it with run(machine, input, { flowId: "${flowId}", resume: true })`,
    );
  }
  const ctxOf = (stored.snapshot as { context?: SupervisorContext }).context;
  if (!ctxOf) throw new FlowError(FlowErrorCode.FlowNotFound, `stored flow "${flowId}" has no supervisor state`);
  const routing = fixedRouting(ctx, ctxOf.task, [
    ...ctxOf.agents,
    ...(ctxOf.planner ? [{ ...ctxOf.planner, name: PLANNER }] : []),
  ]);
  // What the run's cost owner had booked when the snapshot was taken (stored beside it).
  const spent = stored.meta.cost;
  return {
    kind: 'supervisor',
    flowId,
    routing,
    cost: costOf(ctx, routing, ctxOf.maxCost ?? stored.meta.maxCost, spent),
    keepSessions: ctxOf.keepSessions,
    promptTimeoutMs: options.promptTimeoutMs ?? ctx.options.promptTimeoutMs,
    from: { snapshot: stored.snapshot },
    info: { mode: ctxOf.mode, agents: stored.meta.agents, task: ctxOf.task },
    ...(stored.meta.traceparent ? { continues: stored.meta.traceparent } : {}),
  } satisfies SupervisorRunPlan;
}

/** Checks `run(machine)`'s options; `flowId` is the run to continue when `resume` is set. */
export function parseRunOptions(options: RunOptions) {
  const o = parseOptions(RunOptionsSchema, options, 'run');
  if (o.resume && !o.flowId)
    throw new FlowError(FlowErrorCode.InvalidConfig, 'run: resume needs the flowId of the run to continue');
  return o;
}

/** A custom machine's run (`run`, `streamMachine`): new, or continued from `stored`. */
export function planMachine(
  ctx: PlanContext,
  machine: AnyStateMachine,
  input: unknown,
  o: ReturnType<typeof parseRunOptions>,
  stored: StoredFlow | undefined,
): CustomRunPlan {
  const flowId = o.flowId ?? ctx.newFlowId();
  const saved = stored?.snapshot as CustomRunSnapshot | undefined;
  if (stored && saved?.kind !== 'custom') {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `stored flow "${flowId}" is not a custom machine's run: continue it with resume("${flowId}")`,
    );
  }
  const spent = stored?.meta.cost ?? 0;
  const routing = fixedRouting(ctx, '', []);
  return {
    kind: 'custom',
    flowId,
    routing,
    cost: costOf(ctx, routing, o.maxCost ?? stored?.meta.maxCost, spent),
    machine,
    input,
    keepSessions: o.keepSessions ?? ctx.options.keepSessions,
    promptTimeoutMs: o.promptTimeoutMs ?? ctx.options.promptTimeoutMs,
    timeoutMs: o.timeoutMs,
    ...(stored && saved ? { restore: { snapshot: saved, startedAt: stored.meta.startedAt } } : {}),
    ...(stored?.meta.traceparent ? { continues: stored.meta.traceparent } : {}),
  };
}
