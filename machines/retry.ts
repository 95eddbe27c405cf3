/**
 * The one retry and fallback policy of a flow: every default, every "may this be tried
 * again?" and the one input a fallback decision is made from. The agent machine asks it when
 * a prompt fails (fall back to another model, or fail), the supervisor asks it when an agent
 * failed (run the task again, or not), and the run's routing (`src/flow/routing.ts`) answers
 * `chooseFallback` with the router's ranking. Nothing else decides a retry.
 *
 * Pure: no I/O, no clock. (LangGraph.js keeps its retry policy in one `retry.ts` the same way.)
 */

/** Why a try of a model failed. */
export type AgentErrorKind =
  | 'rate_limit'
  | 'server'
  | 'timeout'
  | 'context_overflow'
  | 'auth'
  | 'aborted'
  | 'budget'
  | 'input'
  /** The task asked for structured output and the model gave none, or none that fits the schema. */
  | 'structured_output'
  | 'other';

/** One try of a model for a task. */
export interface AgentAttempt {
  model: string;
  error?: string;
  errorKind?: AgentErrorKind;
}

/** Every default of the policy. */
export const RETRY_DEFAULTS = {
  /** OpenCode `retry` statuses (its own provider retries) tolerated before falling back to another model. */
  providerRetries: 1,
  /** Times the supervisor runs a failed agent's task again (new session, the agent's chain from the start). */
  taskRetries: 3,
} as const;

/**
 * Failures that neither another model nor another run of the task can fix: bad credentials,
 * the flow's budget, an abort (a cancel, a stop), a person's input that never came.
 */
export const FINAL_ERROR_KINDS: ReadonlySet<AgentErrorKind> = new Set(['auth', 'budget', 'aborted', 'input']);

/**
 * What a failed prompt leads to: `fallback` (the agent asks `chooseFallback` for another
 * model; with none left it fails) or `fail` at once.
 *
 * @example
 * ```ts
 * onPromptFailure('rate_limit'); // 'fallback'
 * onPromptFailure('budget');     // 'fail': no model can help
 * ```
 */
export function onPromptFailure(kind: AgentErrorKind): 'fallback' | 'fail' {
  return kind === 'budget' || kind === 'aborted' ? 'fail' : 'fallback';
}

/**
 * True when OpenCode's own retrying of the provider has gone on long enough: the agent falls
 * back to the next model instead of waiting on more retries.
 */
export function providerRetriesExhausted(attempt: number, max: number = RETRY_DEFAULTS.providerRetries): boolean {
  return attempt > max;
}

/**
 * May the supervisor run a failed agent's task again? Not for final kinds, not past `max`.
 *
 * @example
 * ```ts
 * shouldRetryTask({ kind: 'server', retried: 0, max: 3 }); // true
 * shouldRetryTask({ kind: 'auth', retried: 0, max: 3 });   // false
 * ```
 */
export function shouldRetryTask(o: { kind: AgentErrorKind | undefined; retried: number; max: number }): boolean {
  if (o.kind && FINAL_ERROR_KINDS.has(o.kind)) return false;
  return o.retried < o.max;
}

/** The one input of a fallback decision (the agent machine's `chooseFallback` actor and every implementation of it). */
export interface FallbackInput {
  /** The agent's name (`worker:subtask` for a hierarchical flow's subtasks). */
  agent: string;
  role?: string;
  flowId?: string;
  /** The task being tried. */
  task?: { text: string };
  /** The model that just failed. */
  failed: string;
  errorKind: AgentErrorKind;
  /** Every try so far, the failed one included. */
  attempts: AgentAttempt[];
  /** The agent's own model and fallback chain, in order. */
  chain: string[];
}

/** Answers a {@link FallbackInput} with the next model, or `null` for none. */
export type ChooseFallback = (input: FallbackInput) => string | null | Promise<string | null>;

/** The fields of an agent's state a fallback decision is made from. */
export interface FallbackSource {
  spec: { name: string; role?: string; model?: string; fallback?: string[] };
  flowId?: string;
  task?: { text: string };
  model: string;
  pendingError?: { kind: AgentErrorKind };
  attempts: AgentAttempt[];
}

/** The {@link FallbackInput} of an agent's state: built here alone, so every caller sees the same fields. */
export function fallbackInput(s: FallbackSource): FallbackInput {
  return {
    agent: s.spec.name,
    ...(s.spec.role !== undefined ? { role: s.spec.role } : {}),
    ...(s.flowId !== undefined ? { flowId: s.flowId } : {}),
    ...(s.task !== undefined ? { task: s.task } : {}),
    failed: s.model,
    errorKind: s.pendingError?.kind ?? 'other',
    attempts: s.attempts,
    chain: [s.spec.model ?? '', ...(s.spec.fallback ?? [])].filter(Boolean),
  };
}

/**
 * The default fallback: the next model of the agent's own chain not tried yet. A run with a
 * router replaces it (`src/flow/routing.ts`), walking the same chain or the router's ranking.
 */
export const nextInChain: ChooseFallback = (input) => {
  const tried = new Set(input.attempts.map((a) => a.model));
  return input.chain.find((m) => !tried.has(m)) ?? null;
};

/** The kind of an error a prompt's send threw: the flow's budget refusing it, or anything else. */
export function thrownErrorKind(error: unknown): AgentErrorKind {
  return (error as { code?: string } | undefined)?.code === 'budget_exceeded' ? 'budget' : 'other';
}
