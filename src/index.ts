/**
 * opencode-flow: programmable multi-agent flows on OpenCode. Node-only helpers sit behind
 * subpath exports: `opencode-flow/testing` (scripted LLM + real OpenCode for tests) and
 * `opencode-flow/mcp` (the memory MCP server).
 */
export {
  OpencodeFlow,
  FlowRun,
  RunCost,
  FlowOptionsSchema,
  ExecuteOptionsSchema,
  RunOptionsSchema,
  FlowIdSchema,
  MAX_TIMER_MS,
  toReport,
  tool,
  DEFAULT_TOOL_TIMEOUT_MS,
  type AnyFlowTool,
  type FlowTool,
  type FlowToolArgs,
  type FlowToolCall,
  type FlowToolContext,
  type JsonSchemaObject,
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
export {
  AgentConfigSchema,
  ModelIdSchema,
  PermissionConfigSchema,
  BUILTIN_TOOLS,
  fullModelId,
  toolSwitches,
  toPermissionRuleset,
  type AgentConfig,
  type PermissionConfig,
} from './config/agent.js';
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
} from '../machines/agent.js';
export {
  supervisorMachine,
  agentActorId,
  taskFor,
  type FlowMode,
  type FlowStatus,
  type SupervisorActorRef,
  type SupervisorEvent,
  type SupervisorInput,
  type SupervisorOutput,
  type SupervisorSnapshot,
} from '../machines/supervisor.js';
export { createAgentActors, parseModelRef, type AgentRuntime } from './agent/effects.js';
export type { FlowStore, StoredFlow, StoredFlowMeta } from './store/store.js';
export { FileFlowStore } from './store/file.js';
export { SqliteFlowStore } from './store/sqlite.js';
export { PostgresFlowStore } from './store/postgres.js';
export { FlowStoreUriSchema, openFlowStore, parseFlowStoreUri, type FlowStoreConfig } from './store/uri.js';
export { PLANNER, AGGREGATE } from '../machines/supervisor.js';
export { PlanSchema, parsePlan, planPrompt, PLAN_FORMAT, type Plan, type Subtask } from '../machines/plan.js';
export {
  outputFormat,
  structuredOf,
  toOutputJsonSchema,
  OutputSchemaError,
  type OutputSchema,
  type OutputFormat,
  type StructuredOf,
} from '../machines/structured.js';
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
} from '../machines/flows/helpers.js';
export { reviewLoopMachine, type ReviewLoopInput, type ReviewLoopOutput } from '../machines/flows/review-loop.js';
export { planExecuteMachine, planExecuteInput, type PlanExecuteOptions } from '../machines/flows/plan-execute.js';
export {
  decideInput,
  DEFAULT_INPUT_POLICY,
  type InputAnswer,
  type InputPolicy,
  type InputRecord,
  type InputRequest,
} from '../machines/input-policy.js';
export { memoryMachine, createMemoryClient, type MemoryActorRef } from '../machines/memory.js';
export { createMemoryBackend, parseMemoryUri, type MemoryConfig, type MemoryConfigInput } from './memory/config.js';
export type { MemoryBackend, MemoryEntry } from './memory/backend.js';
export type { MemoryChange, MemoryClient, MemoryOps } from './memory/ops.js';
export {
  ModelRouter,
  CostLedger,
  Budget,
  buildCatalog,
  classifyTask,
  classifyError,
  rankModels,
  ModelRouterConfigSchema,
  type ModelRouterConfig,
  type ModelRouterConfigInput,
  type ModelInfo,
  type RoutingMode,
  type TaskType,
} from './router/index.js';
export {
  OpencodeClient,
  outcomeOf,
  type ModelRef,
  type OpencodeClientOptions,
  type PromptOutcome,
} from './opencode/client.js';
export { EventHub, type EventHubOptions } from './opencode/events.js';
export {
  attachOpencodeServer,
  startOpencodeServer,
  checkHealth,
  resolveOpencodeBinary,
  type OpencodeServer,
  type ServerEndpoint,
  type StartServerOptions,
} from './opencode/server.js';
export { loadPresets, toOpencodeAgentConfig, type PresetAgent } from './presets/index.js';
