import { assign, enqueueActions, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { agentMachine, type AgentNotification, type AgentResult, type AgentSpec, type AgentTask } from './agent.js';
import { compileWatchPattern } from '../src/memory/watch-pattern.js';

/**
 * The supervisor: spawns agent actors as named children (`spawnChild('agent', { id })`,
 * so the whole tree persists) and coordinates them only through their events.
 * Modes: `parallel` (all agents on the task, at most `maxConcurrent` at once) and
 * `sequential` (each agent gets the previous agents' outputs as context).
 */

export type FlowMode = 'parallel' | 'sequential';
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
  /** What one agent's failure does to the flow. Default `continue`. */
  onAgentFailure?: 'continue' | 'fail';
  /** Parent session for every agent's session (hierarchical use). */
  parentSessionID?: string;
  maxProviderRetries?: number;
  /** Hard budget (USD): a result that takes the flow past it stops the flow. */
  maxCost?: number;
  /**
   * Agents that start only when a memory key is written: agent name → key, or prefix
   * ending in `*` (`{ tester: 'api-design' }`). The flow forwards `memory.changed` events.
   */
  waitFor?: Record<string, string>;
}

export interface SupervisorContext extends Required<Omit<SupervisorInput, 'timeoutMs' | 'parentSessionID' | 'maxProviderRetries' | 'maxCost' | 'waitFor'>> {
  /** Agents still waiting for their memory key: name → pattern. */
  waiting: Record<string, string>;
  /** What woke each triggered agent (key and value), added to its task. */
  triggeredBy: Record<string, { key: string; value: unknown }>;
  maxCost?: number;
  /** Sum of finished agents' costs (USD). */
  spent: number;
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
  reason?: string;
  startedAt: number;
  finishedAt: number;
}

export type SupervisorEvent =
  | AgentNotification
  | { type: 'CANCEL'; reason?: string }
  | { type: 'BUDGET_EXCEEDED'; reason?: string }
  | { type: 'memory.changed'; key: string; value: unknown; by: string; namespace?: string }
  | { type: 'xstate.done.actor.*' };

export type SupervisorEmitted =
  | (AgentNotification & { flowId: string })
  | { type: 'flow.status'; flowId: string; status: FlowStatus; reason?: string };

export const agentActorId = (name: string) => `agent:${name}`;

/** The task text an agent receives: in sequential mode, prefixed with the earlier outputs. */
export function taskFor(
  context: Pick<SupervisorContext, 'mode' | 'task' | 'agents' | 'results'> & { triggeredBy?: SupervisorContext['triggeredBy'] },
  name: string,
): AgentTask {
  const trigger = context.triggeredBy?.[name];
  if (trigger) {
    return {
      id: name,
      text: `${context.task}\n\n# Started because shared memory key "${trigger.key}" was written\n\n${JSON.stringify(trigger.value, null, 2)}`,
    };
  }
  if (context.mode !== 'sequential') return { id: `${name}`, text: context.task };
  const before: string[] = [];
  for (const a of context.agents) {
    if (a.name === name) break;
    const r = context.results[a.name];
    if (r?.status === 'done') before.push(`## Output of ${a.name}\n\n${r.output}`);
  }
  if (before.length === 0) return { id: name, text: context.task };
  return {
    id: name,
    text: `${context.task}\n\n# Context from earlier agents in this flow\n\n${before.join('\n\n')}`,
  };
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    input: {} as SupervisorInput,
    events: {} as SupervisorEvent,
    emitted: {} as SupervisorEmitted,
    output: {} as SupervisorOutput,
  },
  actors: { agent: agentMachine },
  delays: {
    flowTimeout: ({ context }) => context.timeoutMs ?? 2 ** 31 - 1,
  },
  guards: {
    allFinished: ({ context }) => context.queue.length === 0 && context.running.length === 0,
    allStopped: ({ context }) => context.live.length === 0,
    shouldFailFlow: ({ context, event }) => event.type === 'agent.failed' && context.onAgentFailure === 'fail',
    /** The budget refused this agent's prompt, or its cost takes the flow past the cap. */
    overBudget: ({ context, event }) => {
      if (event.type !== 'agent.done' && event.type !== 'agent.failed') return false;
      if (event.result.attempts.at(-1)?.errorKind === 'budget') return true;
      return context.maxCost !== undefined && context.spent + event.result.cost > context.maxCost + 1e-9;
    },
  },
  actions: {
    startAgents: enqueueActions(({ context, enqueue }) => {
      const limit = context.mode === 'sequential' ? 1 : Math.max(1, context.maxConcurrent);
      const queue = [...context.queue];
      const running = [...context.running];
      const live = [...context.live];
      while (queue.length > 0 && running.length < limit) {
        const name = queue.shift()!;
        const spec = context.agents.find((a) => a.name === name)!;
        running.push(name);
        live.push(name);
        enqueue.spawnChild('agent', {
          id: agentActorId(name),
          input: {
            spec,
            flowId: context.flowId,
            parentSessionID: context.parentSessionID,
            keepSessions: context.keepSessions,
            promptTimeoutMs: context.promptTimeoutMs,
            maxProviderRetries: context.maxProviderRetries,
            task: taskFor(context, name),
          },
        });
      }
      enqueue.assign({ queue, running, live });
    }),
    record: assign(({ context, event }) => {
      if (event.type !== 'agent.done' && event.type !== 'agent.failed') return {};
      return {
        results: { ...context.results, [event.agent]: event.result },
        running: context.running.filter((n) => n !== event.agent),
        spent: context.spent + event.result.cost,
      };
    }),
    stopAgent: enqueueActions(({ enqueue, event }) => {
      if (event.type === 'agent.done' || event.type === 'agent.failed') enqueue.sendTo(agentActorId(event.agent), { type: 'STOP' });
    }),
    stopAll: enqueueActions(({ context, enqueue }) => {
      for (const name of context.live) enqueue.sendTo(agentActorId(name), { type: 'STOP' });
      enqueue.assign({ queue: [], running: [] });
    }),
    forward: enqueueActions(({ context, enqueue, event }) => {
      if (event.type.startsWith('agent.')) enqueue.emit({ ...(event as AgentNotification), flowId: context.flowId });
    }),
    budgetStop: assign(({ context, event }) => {
      if (event.type !== 'agent.done' && event.type !== 'agent.failed') return {};
      const refused = event.result.attempts.at(-1)?.errorKind === 'budget';
      return {
        status: 'budget_exceeded' as const,
        reason: refused
          ? `${event.agent}: ${event.result.error ?? 'budget refused the prompt'}`
          : `budget exceeded: spent $${context.spent.toFixed(6)} of max $${context.maxCost}`,
      };
    }),
    wake: assign(({ context, event }) => {
      if (event.type !== 'memory.changed' || event.value === null) return {};
      const woken = Object.entries(context.waiting).filter(([, pattern]) => compileWatchPattern(pattern)(event.key));
      if (woken.length === 0) return {};
      const waiting = { ...context.waiting };
      const triggeredBy = { ...context.triggeredBy };
      for (const [name] of woken) {
        delete waiting[name];
        triggeredBy[name] = { key: event.key, value: event.value };
      }
      return { waiting, triggeredBy, queue: [...context.queue, ...woken.map(([n]) => n)] };
    }),
    markStopped: assign(({ context, event }) => {
      const id = (event as { actorId?: string }).actorId ?? '';
      const name = id.startsWith('agent:') ? id.slice(6) : '';
      return { live: context.live.filter((n) => n !== name) };
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    flowId: input.flowId,
    task: input.task,
    mode: input.mode,
    agents: input.agents,
    maxConcurrent: input.maxConcurrent ?? 8,
    promptTimeoutMs: input.promptTimeoutMs ?? 600_000,
    timeoutMs: input.timeoutMs,
    keepSessions: input.keepSessions ?? false,
    onAgentFailure: input.onAgentFailure ?? 'continue',
    parentSessionID: input.parentSessionID,
    maxProviderRetries: input.maxProviderRetries,
    maxCost: input.maxCost,
    spent: 0,
    queue: input.agents.map((a) => a.name).filter((n) => !input.waitFor?.[n]),
    waiting: { ...input.waitFor },
    triggeredBy: {},
    running: [],
    live: [],
    results: {},
    status: 'running',
    startedAt: Date.now(),
  }),
  initial: 'running',
  on: {
    'agent.delta': { actions: 'forward' },
    'agent.state': { actions: 'forward' },
    'agent.tool': { actions: 'forward' },
    'agent.fallback': { actions: 'forward' },
    'xstate.done.actor.*': { actions: 'markStopped' },
  },
  states: {
    running: {
      entry: 'startAgents',
      after: {
        flowTimeout: {
          target: 'stopping',
          actions: assign({ status: 'failed', reason: ({ context }) => `flow timed out after ${context.timeoutMs} ms` }),
        },
      },
      on: {
        'agent.done': [
          { guard: 'overBudget', target: 'stopping', actions: ['record', 'forward', 'budgetStop'] },
          { actions: ['record', 'forward', 'stopAgent', 'startAgents'] },
        ],
        'agent.failed': [
          { guard: 'overBudget', target: 'stopping', actions: ['record', 'forward', 'budgetStop'] },
          {
            guard: 'shouldFailFlow',
            target: 'stopping',
            actions: ['record', 'forward', assign({ status: 'failed', reason: ({ event }) => `agent ${event.agent} failed: ${event.error}` })],
          },
          { actions: ['record', 'forward', 'stopAgent', 'startAgents'] },
        ],
        'memory.changed': { actions: ['wake', 'startAgents'] },
        CANCEL: {
          target: 'stopping',
          actions: assign({ status: 'cancelled', reason: ({ event }) => event.reason ?? 'cancelled' }),
        },
        BUDGET_EXCEEDED: {
          target: 'stopping',
          actions: assign({ status: 'budget_exceeded', reason: ({ event }) => event.reason ?? 'budget exceeded' }),
        },
      },
      always: {
        guard: 'allFinished',
        target: 'stopping',
        actions: assign({
          status: ({ context }) => {
            const rs = Object.values(context.results);
            return rs.length > 0 && rs.every((r) => r.status === 'failed') ? 'failed' : 'completed';
          },
          reason: ({ context }) => {
            const never = Object.entries(context.waiting);
            return never.length ? `not started (memory key never written): ${never.map(([n, k]) => `${n} ← ${k}`).join(', ')}` : undefined;
          },
        }),
      },
    },
    stopping: {
      entry: ['stopAll', enqueueActions(({ context, enqueue }) => enqueue.emit({ type: 'flow.status', flowId: context.flowId, status: context.status, reason: context.reason }))],
      on: {
        'agent.done': { actions: ['record', 'forward'] },
        'agent.failed': { actions: ['record', 'forward'] },
      },
      always: { guard: 'allStopped', target: 'finished' },
      // Cleanup talks to the server; never let a stuck one keep the flow open.
      after: { 15_000: 'finished' },
    },
    finished: {
      type: 'final',
      entry: assign({ finishedAt: () => Date.now() }),
    },
  },
  output: ({ context }) => ({
    flowId: context.flowId,
    status: context.status === 'running' ? 'failed' : context.status,
    mode: context.mode,
    results: context.agents.map((a) => context.results[a.name]).filter((r): r is AgentResult => r !== undefined),
    reason: context.reason,
    startedAt: context.startedAt,
    finishedAt: context.finishedAt ?? Date.now(),
  }),
});

export type SupervisorActorRef = ActorRefFrom<typeof supervisorMachine>;
export type SupervisorSnapshot = SnapshotFrom<typeof supervisorMachine>;
