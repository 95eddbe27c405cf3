import type { AgentSpec } from '../agent.js';
import { supervisorMachine, type SupervisorInput } from '../supervisor.js';

/**
 * Plan and execute: a planner splits the task into subtasks with dependencies, they run in
 * dependency order (independent ones in parallel) as child sessions of the planner's
 * session, and the planner combines the outputs. It is the supervisor in `hierarchical`
 * mode, packaged to run with `flow.run` next to your own machines.
 *
 * @example
 * ```ts
 * const { output } = await flow.run(planExecuteMachine, planExecuteInput({
 *   task: 'Build a todo API',
 *   planner: await flow.agentSpec('planner'),
 *   agents: [await flow.agentSpec('coder'), await flow.agentSpec('tester')],
 * }));
 * output.output; // the planner's combined answer
 * ```
 */
export const planExecuteMachine = supervisorMachine;

export interface PlanExecuteOptions {
  task: string;
  planner: AgentSpec;
  /** The agents subtasks may be assigned to. */
  agents: AgentSpec[];
  flowId?: string;
  maxConcurrent?: number;
  aggregate?: 'agent' | 'concat';
  timeoutMs?: number;
  promptTimeoutMs?: number;
  keepSessions?: boolean;
  maxCost?: number;
}

/** The supervisor input for a plan-and-execute run. */
export function planExecuteInput(o: PlanExecuteOptions): SupervisorInput {
  return {
    flowId: o.flowId ?? `plan_${Date.now().toString(36)}`,
    task: o.task,
    mode: 'hierarchical',
    agents: o.agents,
    planner: o.planner,
    maxConcurrent: o.maxConcurrent,
    aggregate: o.aggregate,
    timeoutMs: o.timeoutMs,
    promptTimeoutMs: o.promptTimeoutMs,
    keepSessions: o.keepSessions,
    maxCost: o.maxCost,
  };
}
