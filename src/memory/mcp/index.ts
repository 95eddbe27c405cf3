/**
 * `opencode-flow/mcp`: the memory MCP server (Node only).
 *
 * @example
 * ```ts
 * import { startMemoryMcpHttp, createBackendMemoryOps, createMemoryBackend } from 'opencode-flow/mcp';
 * const backend = await createMemoryBackend('sqlite:./flow.db');
 * const mcp = await startMemoryMcpHttp({ ops: createBackendMemoryOps(backend, { namespace: 'flow:x' }), namespace: 'flow:x' });
 * ```
 */
export {
  startMemoryMcpHttp,
  type MemoryMcpHttpOptions,
  type MemoryMcpHttpServer,
  type MemoryMcpRequestInfo,
  type OpencodeRemoteMcpConfig,
} from './http.js';
export {
  memoryMcpStdioOptionsFromEnv,
  runMemoryMcpStdio,
  type MemoryMcpStdioOptions,
  type MemoryMcpStdioServer,
} from './stdio.js';
export {
  createMemoryMcpServer,
  MEMORY_MCP_SERVER_NAME,
  MEMORY_MCP_SERVER_VERSION,
  type MemoryMcpServerOptions,
} from './server.js';
export { MEMORY_TOOL_NAMES, registerMemoryTools, type MemoryToolsOptions } from './tools.js';
export { AGENT_HEADER, callerIdentity, type McpCallContext } from './identity.js';
export { createBackendMemoryOps, type BackendMemoryOpsOptions } from '../backend-ops.js';
export { createMemoryBackend, parseMemoryUri, type MemoryConfig, type MemoryConfigInput } from '../config.js';
export { flowNamespace, SHARED_NAMESPACE } from '../namespace.js';
export type {
  MemoryChange,
  MemoryClient,
  MemoryOps,
  MemoryReadOptions,
  MemoryScope,
  MemoryWriteOptions,
} from '../ops.js';
