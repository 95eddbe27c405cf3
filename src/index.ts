/**
 * opencode-flow: programmable multi-agent flows on OpenCode.
 *
 * Every name exported here is public API: adding one is a promise to every user, so the root
 * stays short (at most 40 names) and test/package/surface.test.ts lists them exactly — it
 * fails when one is added or removed. Advanced and Node-only parts sit behind subpaths:
 * `opencode-flow/machines` (agent and supervisor machines, plans, structured output, input
 * policy, the memory machine), `opencode-flow/router` (model router, budget, cost ledger),
 * `opencode-flow/store` (flow stores), `opencode-flow/memory` (memory backends),
 * `opencode-flow/opencode` (the OpenCode client and server), `opencode-flow/testing`
 * (scripted LLM + real OpenCode for tests) and `opencode-flow/mcp` (the memory MCP server).
 *
 * @example
 * ```ts
 * import { OpencodeFlow } from 'opencode-flow';
 * const flow = new OpencodeFlow();
 * const report = await flow.execute({ agents: ['coder', 'reviewer'], task: 'Fix issue #12' });
 * ```
 */
export {
  OpencodeFlow,
  tool,
  type FlowTool,
  type FlowToolContext,
  type AgentHandle,
  type AgentReport,
  type ExecuteOptions,
  type FlowEvents,
  type FlowOptions,
  type FlowReport,
  type ReplyAnswer,
  type RunEvent,
  type RunOptions,
  type RunReport,
  type RunStatus,
} from './flow/index.js';
export { FlowError, FlowErrorCode, isFlowError } from './errors.js';
export type { AgentConfig } from './config/agent.js';
export { agentMachine, type AgentResult, type AgentSpec } from '../machines/agent.js';
export { outputFormat, structuredOf, type OutputSchema, type StructuredOf } from '../machines/structured.js';
export {
  spawnAgent,
  promptAgent,
  promptAgents,
  stopAgent,
  joinAgents,
  agentDone,
  agentFailed,
  type AgentEvents,
  type AgentSpecInput,
} from '../machines/flows/helpers.js';
export { reviewLoopMachine } from '../machines/flows/review-loop.js';
export { planExecuteMachine, planExecuteInput, type PlanExecuteOptions } from '../machines/flows/plan-execute.js';
export { loadPresets } from './presets/index.js';
