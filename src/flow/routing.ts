import type { AgentErrorKind, AgentSpec, AgentTask } from '../../machines/agent.js';
import type { FallbackInput } from '../../machines/retry.js';
import type { ModelCatalog } from '../router/catalog.js';
import { TASK_TYPES, type ModelRouterConfigInput, type TaskType } from '../router/config.js';
import type { ErrorKind } from '../router/error-kind.js';
import { ModelRouter } from '../router/router.js';
import { estimatePromptTokens } from '../router/score.js';

/**
 * An agent spec as routing reads it: {@link AgentSpec} plus the agent's own quality floor (a
 * preset's `flow.qualityFloor`). The field rides along on the spec object (it is plain data,
 * so it persists with the flow and is copied to a hierarchical flow's subtask agents).
 *
 * @example
 * ```ts
 * const spec: RoutedAgentSpec = { name: 'coder', role: 'coder', taskType: 'code', qualityFloor: 85 };
 * ```
 */
export interface RoutedAgentSpec extends AgentSpec {
  /** Minimum model quality, 0–100, for this agent; scoring uses max(this, the task type's floor). */
  qualityFloor?: number;
}

/**
 * Per-flow routing: the router (with its shared cooldowns), each agent's model, the next
 * model after a failure, and estimates. It decides models and estimates their cost; it never
 * spends or enforces money (the run's `RunCost` does, with `estimate`).
 */
export interface FlowRouting {
  readonly router: ModelRouter;
  /** Agents with their models decided (explicit, rule or scoring). */
  readonly specs: RoutedAgentSpec[];
  /** The agent machine's `chooseFallback` (`machines/retry.ts`): the agent's chain, or the router's ranking. */
  chooseFallback(input: FallbackInput): string | null;
  /**
   * Before a prompt: a routed agent whose model is cooling down (another agent just saw it
   * fail) is moved to the router's current pick. Returns the model to use.
   */
  pickModel(input: { agent: string; model: string }): string;
  /** The router's estimate of one prompt of `task` on `model`, USD (0 for a model it does not know). */
  estimate(model: string, task: AgentTask): number;
}

export interface FlowRoutingOptions {
  catalog: ModelCatalog;
  config: ModelRouterConfigInput;
  /** True when models are chosen by the router (an `optimize` mode or router config was given). */
  routing: boolean;
  task: string;
  specs: RoutedAgentSpec[];
  /** Model for agents without their own; explicit, so it wins over routing. */
  defaultModel?: string;
  /** Fallback models for every agent, after its own. */
  fallback?: string[];
}

const taskTypeOf = (spec: RoutedAgentSpec): TaskType | undefined =>
  spec.taskType && (TASK_TYPES as readonly string[]).includes(spec.taskType) ? (spec.taskType as TaskType) : undefined;

const toRouterKind = (k: AgentErrorKind): ErrorKind =>
  k === 'aborted' || k === 'budget' || k === 'input' || k === 'structured_output' ? 'other' : k;

/**
 * Decide each agent's model and wire the router and budget into a flow: explicit models win;
 * otherwise, when routing, the router picks (rules, then scoring over the models meeting the
 * higher of the task type's floor and the agent's own `qualityFloor`);
 * otherwise OpenCode's default model. Fallback walks the agent's explicit chain, or the
 * router's ranking when routing, skipping models other agents just saw fail (cooldown).
 *
 * @example
 * ```ts
 * const r = createFlowRouting({ catalog, config: { mode: 'cost' }, routing: true, task, specs });
 * r.specs[0].model; // the router's pick
 * ```
 */
export function createFlowRouting(o: FlowRoutingOptions): FlowRouting {
  const router = new ModelRouter(o.catalog, o.config);
  const explicitChains = new Map<string, string[]>();
  const routed = new Set<string>();

  const specs = o.specs.map((spec) => {
    // An explicit model (the agent's, or the flow's --model) wins; the router picks otherwise.
    const preferred = spec.model ?? o.defaultModel;
    const chain = [...new Set([...(spec.fallback ?? []), ...(o.fallback ?? [])])].filter((m) => m !== preferred);
    explicitChains.set(spec.name, chain);
    if (!preferred && !o.routing) return { ...spec, fallback: chain };
    if (!preferred) routed.add(spec.name);
    const sel = router.select({
      agent: spec.name,
      role: spec.role,
      task: o.task,
      preferred,
      taskType: taskTypeOf(spec),
      qualityFloor: spec.qualityFloor,
    });
    return { ...spec, model: sel.model, fallback: chain };
  });

  // A hierarchical flow runs a worker's subtasks as agents named `<worker>:<subtask id>`:
  // they are routed as their worker (its explicit chain, its ranking, its floor).
  const routeAs = (agent: string): string => {
    if (explicitChains.has(agent)) return agent;
    let worker: string | undefined;
    for (const name of explicitChains.keys())
      if (agent.startsWith(`${name}:`) && name.length > (worker?.length ?? -1)) worker = name;
    return worker ?? agent;
  };

  return {
    router,
    specs,
    chooseFallback({ agent: name, failed, errorKind, attempts, chain }) {
      const agent = routeAs(name);
      const explicit = explicitChains.get(agent) ?? [];
      const next = router.next({
        agent,
        failed,
        errorKind: toRouterKind(errorKind),
        tried: attempts.map((a) => a.model),
        // An explicit chain is walked as given; a routed agent may use the router's ranking.
        chain: explicit.length > 0 || !o.routing ? chain : undefined,
      });
      return next ?? null;
    },
    pickModel({ agent, model: planned }) {
      const routeAsAgent = routeAs(agent);
      if (!routed.has(routeAsAgent) || !planned || !router.isCoolingDown(planned)) return planned;
      const spec = specs.find((s) => s.name === routeAsAgent);
      return router.select({
        agent: routeAsAgent,
        role: spec?.role,
        task: o.task,
        taskType: spec ? taskTypeOf(spec) : undefined,
        qualityFloor: spec?.qualityFloor,
      }).model;
    },
    // The same estimate (and `expectedOutputTokens`) the router scores with.
    estimate: (model, task) => router.estimate(model, estimatePromptTokens(task.text)) ?? 0,
  };
}
