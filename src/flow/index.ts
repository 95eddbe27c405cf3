/** The host, runs and their reports: `src/flow/README.md` maps each file to its concept. */
export { OpencodeFlow } from './host.js';
export { FlowRun, type CustomRunSnapshot, type RunHost, type RunPlan } from './run.js';
export { RunCost } from './cost.js';
export { PendingInputs, type ReplyAnswer } from './inputs.js';
export { storedReport, toReport, type AgentReport, type FlowReport, type RunReport, type RunStatus } from './report.js';
export type { FlowEvents, RunEvent } from './events.js';
export type { AgentHandle } from './agents.js';
export {
  tool,
  DEFAULT_TOOL_TIMEOUT_MS,
  type AnyFlowTool,
  type FlowTool,
  type FlowToolArgs,
  type FlowToolCall,
  type FlowToolContext,
  type JsonSchemaObject,
} from './tools.js';
export { FlowIdSchema, newFlowId } from './ids.js';
export {
  MAX_TIMER_MS,
  MAX_TIMER_SECONDS,
  secondsToMs,
  timeoutMsSchema,
  timeoutSecondsSchema,
} from '../config/timeouts.js';
export {
  ExecuteOptionsSchema,
  FlowOptionsSchema,
  RunOptionsSchema,
  type ExecuteOptions,
  type FlowOptions,
  type FlowOptionsOutput,
  type RunOptions,
} from './options.js';
