/**
 * Shared memory: the backend interface, its file, SQLite and Redis backends, config, and the
 * operations the memory actor and MCP server build on. The MCP server is `./mcp/index.ts`
 * (`opencode-flow/mcp`). This file is the `opencode-flow/memory` entry: every export of it is
 * public API, and test/package/surface.test.ts fails until its list says so when one is
 * added or removed.
 *
 * @example
 * ```ts
 * import { createMemoryBackend, flowNamespace } from 'opencode-flow/memory';
 * const memory = await createMemoryBackend({ backend: 'file' });
 * await memory.set(flowNamespace('demo'), 'plan', { steps: 2 });
 * ```
 */
export type { CasResult, MemoryBackend, MemoryBackendKind, MemoryEntry, MemorySetOptions } from './backend.js';
export { canonicalJson, MAX_JSON_DEPTH, type JsonValue } from './json.js';
export {
  assertKey,
  assertNamespace,
  assertPrefix,
  DEFAULT_MAX_VALUE_BYTES,
  KEY_PATTERN,
  MAX_TTL_MS,
  NAMESPACE_PATTERN,
} from './limits.js';
export { flowNamespace, SHARED_NAMESPACE } from './namespace.js';
export { FileMemoryBackend, type FileMemoryBackendOptions } from './file.js';
export { SqliteMemoryBackend, type SqliteMemoryBackendOptions } from './sqlite.js';
export { DEFAULT_REDIS_PREFIX, RedisMemoryBackend, type RedisMemoryBackendOptions } from './redis.js';
export {
  createMemoryBackend,
  DEFAULT_MEMORY_PATH,
  MemoryConfigSchema,
  parseMemoryUri,
  resolveMemoryConfig,
  type CreateMemoryBackendOptions,
  type MemoryConfig,
  type MemoryConfigInput,
} from './config.js';
export type {
  MemoryChange,
  MemoryClient,
  MemoryOps,
  MemoryReadOptions,
  MemoryScope,
  MemoryWriteOptions,
} from './ops.js';
export { createBackendMemoryOps, type BackendMemoryOpsOptions } from './backend-ops.js';
export { compileWatchPattern } from './watch-pattern.js';
