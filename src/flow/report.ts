import type { AgentResult } from '../../machines/agent.js';
import type { InputRecord } from '../../machines/input-policy.js';
import type { FlowMode, FlowStatus, SupervisorOutput } from '../../machines/supervisor.js';
import { CostLedger, type CostSummary } from '../router/ledger.js';
import type { StoredFlow, StoredFlowMeta } from '../store/store.js';

/** One agent's line in a flow report (the CLI's `--json` contract). `T`: its structured answer's type. */
export interface AgentReport<T = unknown> {
  agent: string;
  sessionID: string;
  model: string;
  status: 'done' | 'failed';
  output: string;
  cost: number;
  tokens: { input: number; output: number };
  attempts: Array<{ model: string; error?: string; errorKind?: string }>;
  error?: string;
  /** Why it failed, as a kind: `structured_output`, `timeout`, `rate_limit`, `budget`, ... (only when it failed). */
  errorKind?: string;
  /** Permission requests and questions, with the answers given (only when there were any). */
  inputs?: InputRecord[];
  /** Times the task was run again after failing (only when it was). */
  retries?: number;
  /** The agent's structured answer, when its task asked for one (checked against the schema). */
  structured?: T;
}

/** How a run ended. */
export type RunStatus = Exclude<FlowStatus, 'running'>;

/**
 * The outcome of a flow: what `execute`, `resume` and `run` resolve to. `T`: the type of the
 * structured answers, from `execute`'s zod `schema`.
 */
export interface FlowReport<T = unknown> {
  flowId: string;
  status: RunStatus;
  /** The built-in mode, or `custom` for your own machine (`run`). */
  mode: FlowMode | 'custom';
  results: AgentReport<T>[];
  /** USD, OpenCode's own figures: in total, per agent, per model and per task (a hierarchical flow's subtask ids). */
  cost: CostSummary;
  durationMs: number;
  reason?: string;
  /** Hierarchical flows: the plan that ran, and the final aggregated output. */
  plan?: SupervisorOutput['plan'];
  output?: string;
  /**
   * The flow's structured answer, when it asked for one (`schema`): hierarchical, the
   * planner's combined answer's; otherwise the last agent's in the flow's order that gave one.
   */
  structured?: T;
  /**
   * Set when saves of the run's state to the flow store failed (`flow.persist_error`): how
   * many, the last error, the store (password masked), and whether this final report was stored. While it was unsaved a
   * crash could not have been resumed, and `flows` shows an older state or none.
   */
  unsaved?: { failures: number; error: string; store: string; reportSaved: boolean };
}

/** The report of your own machine's run: a {@link FlowReport} with the machine's output (absent unless it reached a final state). */
export type RunReport<O> = Omit<FlowReport, 'output'> & { output?: O };

/** What a report is made from: the run's results and how it ended. */
export interface ReportSource {
  flowId: string;
  status: RunStatus;
  mode: FlowMode | 'custom';
  results: AgentResult[];
  startedAt: number;
  finishedAt: number;
  reason?: string;
  plan?: SupervisorOutput['plan'];
  output?: string;
  structured?: unknown;
}

function agentReport(r: AgentResult): AgentReport {
  return {
    agent: r.agent,
    sessionID: r.sessionID,
    model: r.model,
    status: r.status,
    output: r.output,
    cost: r.cost,
    tokens: r.tokens,
    attempts: r.attempts.map((a) =>
      a.error
        ? { model: a.model, error: a.error, ...(a.errorKind ? { errorKind: a.errorKind } : {}) }
        : { model: a.model },
    ),
    ...(r.error ? { error: r.error } : {}),
    ...(r.status === 'failed' && r.attempts.at(-1)?.errorKind ? { errorKind: r.attempts.at(-1)!.errorKind } : {}),
    ...(r.inputs?.length ? { inputs: r.inputs } : {}),
    ...(r.retries ? { retries: r.retries } : {}),
    ...(r.structured !== undefined ? { structured: r.structured } : {}),
  };
}

/**
 * A built-in mode that completed although agents failed (`onAgentFailure: 'continue'`, the
 * default) says which in its reason, and the CLI exits 1 for it: a completed flow is not a
 * clean one. A custom machine decides for itself what its agents' failures mean.
 */
function lostAgents(src: ReportSource | SupervisorOutput): string | undefined {
  if (src.status !== 'completed' || src.mode === 'custom') return undefined;
  const failed = src.results.filter((r) => r.status === 'failed');
  if (failed.length === 0) return undefined;
  const names = failed.map(
    (r) => `${r.agent}${r.attempts.at(-1)?.errorKind ? ` (${r.attempts.at(-1)!.errorKind})` : ''}`,
  );
  return `${failed.length} of ${src.results.length} agent${src.results.length > 1 ? 's' : ''} failed: ${names.join(', ')}`;
}

/**
 * The one derivation of a report from agent results, for every kind of run, live or stored:
 * built from the results (which persist with the run), so a stored run's report is the
 * live one. A hierarchical subtask's agent is named `<agent>:<subtask id>`; its task is the
 * subtask id, any other result's its task id.
 *
 * @example
 * ```ts
 * const report = toReport(supervisorOutput);
 * report.cost.byAgent;
 * ```
 */
export function toReport(src: ReportSource | SupervisorOutput): FlowReport {
  const subtaskOf = new Map((src.plan?.subtasks ?? []).map((t) => [`${t.agent}:${t.id}`, t.id]));
  const ledger = new CostLedger();
  for (const r of src.results) {
    ledger.record({
      agent: r.agent,
      task: subtaskOf.get(r.agent) ?? r.taskId,
      model: r.model || 'default',
      sessionID: r.sessionID,
      cost: r.cost,
      tokens: r.tokens,
    });
  }
  const reason = src.reason || lostAgents(src);
  return {
    flowId: src.flowId,
    status: src.status,
    mode: src.mode,
    results: src.results.map(agentReport),
    cost: ledger.summary(),
    durationMs: src.finishedAt - src.startedAt,
    ...(reason ? { reason } : {}),
    ...(src.plan ? { plan: src.plan } : {}),
    ...(src.output !== undefined ? { output: src.output } : {}),
    ...(src.structured !== undefined ? { structured: src.structured } : {}),
  };
}

/**
 * The report of a stored run, finished or not: the report a finished run stored, else a finished supervisor's output as it ended, or
 * what an unfinished run (or a custom machine's) has recorded so far, with the status its
 * store meta gives. Decoding stored snapshots is the library's business, not its callers'.
 *
 * @example
 * ```ts
 * const report = storedReport(await flow.store.load('flow_20261124_abc123'));
 * ```
 */
export function storedReport(stored: { meta: StoredFlowMeta; snapshot: unknown; report?: unknown }): FlowReport {
  // A finished run stored its report as it ended.
  if (stored.report !== undefined) return stored.report as FlowReport;
  const finished = finishedReport(stored);
  if (finished) return finished;
  const { meta } = stored;
  const snap = stored.snapshot as {
    context?: { results?: Record<string, AgentResult>; plan?: SupervisorOutput['plan']; reason?: string };
    /** A custom machine's run keeps its agents' results beside the machine. */
    results?: AgentResult[];
  };
  const status = (['completed', 'failed', 'cancelled', 'budget_exceeded'] as const).find((s) => s === meta.status);
  return toReport({
    flowId: meta.flowId,
    // Still `running` in the store: the process died; the report is what it got to.
    status: status ?? 'failed',
    mode: meta.mode as FlowMode | 'custom',
    results: snap.results ?? Object.values(snap.context?.results ?? {}),
    ...(snap.context?.plan ? { plan: snap.context.plan } : {}),
    ...(meta.reason ? { reason: meta.reason } : status ? {} : { reason: 'not finished: resume it to continue' }),
    startedAt: meta.startedAt,
    finishedAt: meta.updatedAt,
  });
}

/** The report of a stored built-in run that had finished (its supervisor's output), else undefined. */
export function finishedReport(stored: Pick<StoredFlow, 'snapshot'>): FlowReport | undefined {
  const snap = stored.snapshot as { status?: string; output?: SupervisorOutput };
  return snap.status === 'done' && snap.output ? toReport(snap.output) : undefined;
}
