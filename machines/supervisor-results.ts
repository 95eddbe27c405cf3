import type { AgentNotification, AgentResult } from './agent.js';
import { PLANNER, type SupervisorContext, type SupervisorEvent, type SupervisorOutput } from './supervisor-types.js';

/** How the supervisor names, derives and collects results: pure functions of its context and events. */

/** A child's actor id → the name it runs under (`agent:coder:s1` → `coder:s1`). */
export function childName(id: string): string {
  return id.startsWith('agent:') ? id.slice(6) : id.startsWith('subflow:') ? id.slice(8) : '';
}

/** An agent notification with its agent (and result) renamed for a place in the tree (`coder:s3/`). */
export function prefixed(event: AgentNotification, prefix: string): AgentNotification {
  if (!prefix) return event;
  const agent = `${prefix}${event.agent}`;
  if (event.type === 'agent.done' || event.type === 'agent.failed')
    return { ...event, agent, result: { ...event.result, agent: `${prefix}${event.result.agent}` } };
  return { ...event, agent } as AgentNotification;
}

/** A sub-supervisor's outcome as one result of its parent: its final output, its whole cost. */
export function subflowResult(name: string, out: SupervisorOutput): AgentResult {
  const planner = out.results.find((r) => r.agent.endsWith(PLANNER));
  const sum = (f: (r: AgentResult) => number) => out.results.reduce((n, r) => n + f(r), 0);
  const ok = out.status === 'completed';
  return {
    agent: name,
    taskId: name,
    sessionID: planner?.sessionID ?? '',
    model: planner?.model ?? '',
    status: ok ? 'done' : 'failed',
    output: out.output ?? '',
    cost: sum((r) => r.cost),
    tokens: { input: sum((r) => r.tokens.input), output: sum((r) => r.tokens.output) },
    attempts: [],
    ...(ok ? {} : { error: `sub-plan ${out.status}${out.reason ? `: ${out.reason}` : ''}` }),
    startedAt: out.startedAt,
    finishedAt: out.finishedAt,
  };
}

/** The finished sub-supervisor a done event is about, if it is one. */
export function doneSubflow(
  context: SupervisorContext,
  event: SupervisorEvent,
): { name: string; out: SupervisorOutput } | undefined {
  if (!event.type.startsWith('xstate.done.actor.')) return undefined;
  const id = event.type.slice('xstate.done.actor.'.length);
  const name = id.startsWith('subflow:') ? id.slice(8) : undefined;
  const out = (event as { output?: SupervisorOutput }).output;
  return name !== undefined && name in context.subflows && out ? { name, out } : undefined;
}

/** The flow's worker agents (hierarchical: the agents a plan may assign). */
export function workerNames(context: Pick<SupervisorContext, 'agents'>): string[] {
  return context.agents.map((a) => a.name);
}

export function skippedResult(name: string, error: string, now: number): AgentResult {
  return {
    agent: name,
    taskId: name,
    sessionID: '',
    model: '',
    status: 'failed',
    output: '',
    cost: 0,
    tokens: { input: 0, output: 0 },
    attempts: [],
    error,
    startedAt: now,
    finishedAt: now,
  };
}
