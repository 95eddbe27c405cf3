import type { AgentAttempt, AgentErrorKind, AgentResult, AgentSpec, AgentTask } from '../../machines/agent.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { Budget } from '../router/budget.js';
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
 * Per-flow routing state: the router (with its shared cooldowns) and the budget. What the
 * flow spent is summed from its results (`toReport`), which persist with the flow.
 */
export interface FlowRouting {
  readonly router: ModelRouter;
  readonly budget: Budget;
  /** Agents with their models decided (explicit, rule or scoring). */
  readonly specs: RoutedAgentSpec[];
  /** The agent machine's `chooseFallback`. */
  chooseFallback(input: {
    agent: string;
    failed: string;
    errorKind: AgentErrorKind;
    attempts: AgentAttempt[];
    chain: string[];
  }): string | null;
  /**
   * Before a prompt: a routed agent whose model is cooling down (another agent just saw it
   * fail) is moved to the router's current pick; then the budget is checked (throws
   * `budget_exceeded` when the prompt must not start). Returns the model to use.
   */
  beforePrompt(input: { agent: string; model: string; task: AgentTask }): string;
  /** Books a finished task's cost in the budget. */
  onResult(result: AgentResult): void;
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
  maxCost?: number;
  /** Already spent (a resumed flow). */
  spent?: number;
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
 * const r = createFlowRouting({ catalog, config: { mode: 'cost' }, routing: true, task, specs, maxCost: 0.5 });
 * r.specs[0].model; // the router's pick
 * ```
 */
export function createFlowRouting(o: FlowRoutingOptions): FlowRouting {
  const router = new ModelRouter(o.catalog, o.config);
  const maxCost = o.maxCost ?? (o.config as { maxCost?: number }).maxCost;
  const budget = new Budget({
    maxCost,
    maxCostPerTask: (o.config as { maxCostPerTask?: number }).maxCostPerTask,
    spent: o.spent,
  });
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

  const reservations = new Map<string, string>();
  let seq = 0;
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
    budget,
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
    beforePrompt({ agent, model: planned, task }) {
      let model = planned;
      const routeAsAgent = routeAs(agent);
      if (routed.has(routeAsAgent) && model && router.isCoolingDown(model)) {
        const spec = specs.find((s) => s.name === routeAsAgent);
        model = router.select({
          agent: routeAsAgent,
          role: spec?.role,
          task: o.task,
          taskType: spec ? taskTypeOf(spec) : undefined,
          qualityFloor: spec?.qualityFloor,
        }).model;
      }
      if (budget.maxCost === undefined && budget.maxCostPerTask === undefined) return model;
      // The same estimate (and `expectedOutputTokens`) the router scores with.
      const estimate = model ? (router.estimate(model, estimatePromptTokens(task.text)) ?? 0) : 0;
      const prev = reservations.get(agent);
      if (prev) budget.release(prev);
      const r = budget.reserve(estimate, `${agent}#${++seq}`);
      if (!r.ok) {
        reservations.delete(agent);
        throw new FlowError(FlowErrorCode.BudgetExceeded, `budget: ${r.reason}`);
      }
      reservations.set(agent, r.id);
      return model;
    },
    onResult(result) {
      const id = reservations.get(result.agent);
      reservations.delete(result.agent);
      budget.commit(result.cost, id);
    },
  };
}
