/**
 * `opencode-flow serve`: the HTTP API over one `OpencodeFlow`, with bearer auth, health
 * and readiness probes, Prometheus metrics and a live dashboard.
 *
 * @example
 * ```ts
 * import { startServe } from './serve/index.js';
 * const serve = await startServe({ port: 5000, token: process.env.OPENCODE_FLOW_TOKEN });
 * ```
 */
export { createServeApp, CANCEL_WAIT_MS, type ServeHandle } from './app.js';
export { startServe, type RunningServe, type StartServeRuntime } from './start.js';
export { createNodeServer, type FetchHandler } from './node-server.js';
export {
  ServeAppOptionsSchema,
  ServeOptionsSchema,
  ON_SHUTDOWN,
  DEFAULT_MAX_BODY_BYTES,
  MIN_TOKEN_LENGTH,
  type ServeAppOptions,
  type ServeOptions,
  type ResolvedServeAppOptions,
  type ResolvedServeOptions,
} from './options.js';
export { CreateFlowBodySchema, MAX_INLINE_AGENT_NAME, type CreateFlowBody } from './flow-request.js';
export {
  FlowRecord,
  type AgentView,
  type FlowCost,
  type FlowSummary,
  type RunningFlowView,
  type ServeEvent,
  type ServeFlowStatus,
} from './flow-record.js';
export { FlowRegistry, type CancelOutcome, type AdoptOptions } from './flow-registry.js';
export {
  PoolReplica,
  DEFAULT_POOL_TIMING,
  CANCELS_CHANNEL,
  newReplicaId,
  type PoolTiming,
  type PoolFlowView,
} from './pool/replica.js';
export { FlowQueue, QUEUE_CHANNEL, type ClaimedRun, type QueueRow, type QueueCancel } from './pool/queue.js';
export { EventLog, EVENTS_CHANNEL } from './pool/event-log.js';
export { RequestBoard, REPLIES_CHANNEL, type PendingRequest } from './pool/requests.js';
export { PoolBus } from './pool/bus.js';
export { ServeMetrics, PROMPT_SECONDS_BUCKETS } from './metrics.js';
export { checkReadiness, READYZ_MEMORY_KEY, type Readiness, type ReadinessCheck } from './readiness.js';
export { requireToken, tokenMatches } from './auth.js';
export {
  apiError,
  errorResponse,
  zodIssues,
  statusOfFlowError,
  type ApiErrorBody,
  type ApiIssue,
} from './api-error.js';
export { dashboardHtml, dashboardCsp } from './dashboard.js';
export { isLoopbackHost } from './loopback.js';
