/**
 * `opencode-flow/machines`: the state machines behind every flow — the agent and supervisor
 * machines with their events and snapshots, the plan and structured-output formats, the
 * input policy, the memory machine, and the helpers and prebuilt coordination machines of
 * `machines/flows/`. The root `opencode-flow` re-exports the few a custom machine needs.
 * Every export of this file is public API: adding one is a promise to users, and
 * test/package/surface.test.ts fails until its list says so.
 *
 * @example
 * ```ts
 * import { supervisorMachine, type SupervisorInput } from 'opencode-flow/machines';
 * ```
 */
export {
  agentMachine,
  type AgentActorRef,
  type AgentAttempt,
  type AgentContext,
  type AgentErrorKind,
  type AgentEvent,
  type AgentInput,
  type AgentNotification,
  type AgentOutcome,
  type AgentResult,
  type AgentSnapshot,
  type AgentSpec,
  type AgentTask,
} from './agent.js';
export {
  supervisorMachine,
  agentActorId,
  taskFor,
  PLANNER,
  AGGREGATE,
  type FlowMode,
  type FlowStatus,
  type SupervisorActorRef,
  type SupervisorEvent,
  type SupervisorInput,
  type SupervisorOutput,
  type SupervisorSnapshot,
} from './supervisor.js';
export { PlanSchema, parsePlan, planPrompt, PLAN_FORMAT, type Plan, type Subtask } from './plan.js';
export {
  outputFormat,
  structuredOf,
  toOutputJsonSchema,
  OutputSchemaError,
  type OutputSchema,
  type OutputFormat,
  type StructuredOf,
} from './structured.js';
export {
  spawnAgent,
  promptAgent,
  promptAgents,
  stopAgent,
  joinAgents,
  agentDone,
  agentFailed,
  type AgentEvents,
  type AgentEventFor,
  type AgentSpecInput,
  type AgentsJoinedEvent,
} from './flows/helpers.js';
export { reviewLoopMachine, type ReviewLoopInput, type ReviewLoopOutput } from './flows/review-loop.js';
export { planExecuteMachine, planExecuteInput, type PlanExecuteOptions } from './flows/plan-execute.js';
export {
  decideInput,
  DEFAULT_INPUT_POLICY,
  type InputAnswer,
  type InputPolicy,
  type InputRecord,
  type InputRequest,
} from './input-policy.js';
export { memoryMachine, createMemoryClient, type MemoryActorRef } from './memory.js';
export type { MemoryChange, MemoryClient, MemoryOps } from '../src/memory/ops.js';
