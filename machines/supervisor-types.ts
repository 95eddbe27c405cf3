import type { AgentNotification, AgentResult, AgentSpec, AgentTask } from './agent.js';
import type { Plan } from './plan.js';

/** The supervisor's input, context, output and events (see `supervisor.ts`). */

export type FlowMode = 'parallel' | 'sequential' | 'hierarchical';
export type FlowStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'budget_exceeded';

export interface SupervisorInput {
  flowId: string;
  task: string;
  mode: FlowMode;
  agents: AgentSpec[];
  /** Agents running at once in parallel mode. Default 8. */
  maxConcurrent?: number;
  /** Per-prompt timeout for every agent (ms). */
  promptTimeoutMs?: number;
  /** Whole-flow timeout (ms). Default: none. */
  timeoutMs?: number;
  keepSessions?: boolean;
  /** What one agent's failure does to the flow (after its retries). Default `continue`. */
  onAgentFailure?: 'continue' | 'fail';
  /**
   * Times a failed agent's task is run again before the failure counts (default 3). Not
   * for failures no retry can fix: auth, budget, an abort, an unanswered input request.
   */
  retries?: number;
  /** Parent session for every agent's session (hierarchical use). */
  parentSessionID?: string;
  maxProviderRetries?: number;
  /**
   * The run's hard budget (USD), kept with the flow for `resume`. The run enforces it (its
   * cost object sends `BUDGET_EXCEEDED`); the supervisor only stops on that event.
   */
  maxCost?: number;
  /**
   * Agents that start only when a memory key is written: agent name → key, or prefix
   * ending in `*` (`{ tester: 'api-design' }`). The flow forwards `memory.changed` events.
   */
  waitFor?: Record<string, string>;
  /** Hierarchical mode: the agent that plans (and aggregates). */
  planner?: AgentSpec;
  /** Hierarchical mode: `agent` (the planner combines the outputs, default) or `concat`. */
  aggregate?: 'agent' | 'concat';
  /** Hierarchical mode: how many times the planner may answer before a bad plan fails the flow. Default 2. */
  maxPlanAttempts?: number;
  /**
   * Hierarchical mode: levels of supervisors at most (default 3). A subtask the planner marks
   * `decompose` runs as a sub-supervisor (a planner of its own over the same agents) while
   * the level below this one is within the limit.
   */
  maxDepth?: number;
  /** Level of this supervisor: 1 for a flow's own, 2 for a sub-supervisor of it, ... */
  depth?: number;
  /** A sub-supervisor's place in the tree (`coder:s3/`), put before its agents' names in events and results. */
  prefix?: string;
  /**
   * Hierarchical mode: how the planner gives its plan. `structured` (default): through
   * OpenCode's structured output, validated against the plan's schema. `text`: as a JSON
   * object in its answer, for a planner model that cannot call tools.
   */
  planAs?: 'structured' | 'text';
  /** Hierarchical mode: the structured output the planner's combined answer must fill (the flow's `schema`). */
  format?: AgentTask['format'];
}

/** Name of the planner in results and actor ids. */
export const PLANNER = 'planner';
/** Key of the planner's aggregation result. */
export const AGGREGATE = 'planner#aggregate';

export interface SupervisorContext extends Required<
  Omit<
    SupervisorInput,
    | 'timeoutMs'
    | 'parentSessionID'
    | 'maxProviderRetries'
    | 'maxCost'
    | 'waitFor'
    | 'planner'
    | 'aggregate'
    | 'maxPlanAttempts'
    | 'format'
  >
> {
  format?: AgentTask['format'];
  /** Hierarchical: the agents plans assign subtasks to (the flow's agents, before planning). */
  workers: AgentSpec[];
  /** Subtasks run by sub-supervisors: name → their results once done (names prefixed). */
  subflows: Record<string, AgentResult[]>;
  /** Retries used per agent. */
  retried: Record<string, number>;
  /** Cost of each agent's failed runs that were retried (USD). */
  retryCost: Record<string, number>;
  planner?: AgentSpec;
  aggregate: 'agent' | 'concat';
  maxPlanAttempts: number;
  planAttempts: number;
  plan?: Plan;
  /** Subtask agent name → names it waits for (hierarchical). */
  deps: Record<string, string[]>;
  /** Subtask agent name → its instruction (hierarchical). */
  subtaskText: Record<string, string>;
  /** The final, aggregated output (hierarchical). */
  output?: string;
  /** The combined answer's structured output (hierarchical, with a `format`). */
  structured?: unknown;
  /** Agents still waiting for their memory key: name → pattern. */
  waiting: Record<string, string>;
  /** What woke each triggered agent (key and value), added to its task. */
  triggeredBy: Record<string, { key: string; value: unknown }>;
  maxCost?: number;
  timeoutMs?: number;
  parentSessionID?: string;
  maxProviderRetries?: number;
  /** Agent names not started yet, in order. */
  queue: string[];
  /** Agent names running now. */
  running: string[];
  /** Agents whose cleanup has not finished. */
  live: string[];
  results: Record<string, AgentResult>;
  status: FlowStatus;
  reason?: string;
  startedAt: number;
  finishedAt?: number;
}

/** A flow's outcome: what `OpencodeFlow.execute` returns and the CLI prints with `--json`. */
export interface SupervisorOutput {
  flowId: string;
  status: Exclude<FlowStatus, 'running'>;
  mode: FlowMode;
  results: AgentResult[];
  /** Hierarchical: the plan that ran and the aggregated output. */
  plan?: Plan;
  output?: string;
  /**
   * The flow's structured answer: hierarchical, the planner's combined answer's; otherwise
   * the last agent's (in the flow's order) that gave one.
   */
  structured?: unknown;
  reason?: string;
  startedAt: number;
  finishedAt: number;
}

export type SupervisorEvent =
  | AgentNotification
  | { type: 'CANCEL'; reason?: string }
  | { type: 'BUDGET_EXCEEDED'; reason?: string }
  /** The run cannot go on (its OpenCode server is gone): stop every agent, end `failed`. */
  | { type: 'FAIL'; reason: string }
  | { type: 'memory.changed'; key: string; value: unknown; by: string; namespace?: string }
  /** What a sub-supervisor's agents report, passed up the tree to the flow's listeners. */
  | { type: 'subflow.event'; event: AgentNotification }
  | { type: 'xstate.done.actor.*'; actorId?: string; output?: SupervisorOutput };

export type SupervisorEmitted =
  | (AgentNotification & { flowId: string })
  | { type: 'flow.status'; flowId: string; status: FlowStatus; reason?: string };

export const agentActorId = (name: string) => `agent:${name}`;
/** Actor id of the sub-supervisor running a decomposed subtask. */
export const subflowActorId = (name: string) => `subflow:${name}`;
