import type { CasResult, MemoryEntry } from './backend.js';
import type { JsonValue } from './json.js';

/** Which namespace an operation uses: the flow's own (default) or the `shared` one. */
export interface MemoryScope {
  /** Use the namespace shared by all flows instead of this flow's. */
  shared?: boolean;
  /**
   * Another flow's memory (`flow:<flowId>`) instead of this one's: a host reads any of its
   * runs' memory this way. Ignored with `shared: true`.
   */
  flowId?: string;
}

/** Options of reads. */
export interface MemoryReadOptions extends MemoryScope {
  /** Who asks (an agent name, an MCP session); informational. */
  by?: string;
}

/** Options of writes. */
export interface MemoryWriteOptions extends MemoryScope {
  /** Who writes: an agent name, `mcp:<session>`, ... Carried to `memory.changed` events. */
  by?: string;
  /** Time to live in milliseconds. */
  ttlMs?: number;
}

/** A change of one entry, as watchers and `memory.changed` events see it. */
export interface MemoryChange {
  /** The namespace changed (`flow:<id>` or `shared`). */
  namespace: string;
  key: string;
  /** The new value; `null` when the entry was deleted. */
  value: JsonValue | null;
  /** Who made the change. */
  by: string;
  op: 'set' | 'delete' | 'cas' | 'incr';
}

/**
 * Memory operations bound to one flow's namespace (plus `shared`): what the MCP tools call and
 * what `flow.memory` offers. Implemented over the memory actor by `createMemoryClient`, and
 * directly over a backend by `createBackendMemoryOps`.
 *
 * @example
 * ```ts
 * async function claim(ops: MemoryOps, task: string, agent: string) {
 *   const { ok } = await ops.cas(`claims/${task}`, null, agent, { by: agent });
 *   return ok;
 * }
 * ```
 */
export interface MemoryOps {
  /** The value under `key`, or `null` when absent or expired. */
  get(key: string, opts?: MemoryReadOptions): Promise<JsonValue | null>;
  /** Stores `value` (JSON, not `null`) under `key`, replacing what was there. */
  set(key: string, value: JsonValue, opts?: MemoryWriteOptions): Promise<void>;
  /** Removes `key`; true when something was removed. */
  delete(key: string, opts?: MemoryWriteOptions): Promise<boolean>;
  /** Entries whose key starts with `prefix` (all when absent), sorted by key. */
  list(prefix?: string, opts?: MemoryReadOptions): Promise<MemoryEntry[]>;
  /** Writes `next` only if the value deep-equals `expected` (`null` = only if absent). */
  cas(key: string, expected: JsonValue | null, next: JsonValue, opts?: MemoryWriteOptions): Promise<CasResult>;
  /** Adds `amount` (default 1) to the number under `key` (absent = 0); returns the new value. */
  incr(key: string, amount?: number, opts?: MemoryWriteOptions): Promise<number>;
}

/**
 * {@link MemoryOps} plus `watch`: the `flow.memory` API.
 *
 * @example
 * ```ts
 * const stop = flow.memory.watch('tasks/*', (change) => console.log(change.key, change.value, change.by));
 * await flow.memory.set('tasks/1', { status: 'done' });
 * stop();
 * ```
 */
export interface MemoryClient extends MemoryOps {
  /**
   * Calls `fn` after each change made through this memory: `pattern` is an exact key, or a
   * prefix ending in `*` (`'tasks/*'`; `'*'` for every key). Returns the unsubscribe function.
   * Sees changes made in this process only.
   */
  watch(pattern: string, fn: (change: MemoryChange) => void, opts?: MemoryScope): () => void;
}
