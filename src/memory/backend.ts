import type { JsonValue } from './json.js';

/** One stored entry, as `get` and `list` return it. */
export interface MemoryEntry {
  key: string;
  value: JsonValue;
  /** When the entry was last written, epoch milliseconds. */
  updatedAt: number;
  /** When the entry stops being visible, epoch milliseconds; absent means never. */
  expiresAt?: number;
}

/** Options of a write. */
export interface MemorySetOptions {
  /** Time to live in milliseconds; the entry is invisible once it has passed. */
  ttlMs?: number;
}

/** The answer of {@link MemoryBackend.cas}. */
export interface CasResult {
  /** True when the value matched `expected` and `next` was written. */
  ok: boolean;
  /** The value now stored: `next` on success, the value that did not match on failure; `null` if absent. */
  current: JsonValue | null;
}

/** Which kind of store a backend is. */
export type MemoryBackendKind = 'file' | 'sqlite' | 'redis';

/**
 * A key-value store of JSON values in namespaces, the shape every backend (file, SQLite,
 * Redis) implements and the memory actor drives.
 *
 * Rules every backend keeps:
 * - keys and namespaces are checked (`assertKey`, `assertNamespace`); values are JSON no larger
 *   than the backend's `maxValueBytes` (default 1 MiB serialised); a violation rejects with a
 *   `FlowError` of code `memory` and changes nothing;
 * - a top-level `null` is not a storable value: `null` means absent (`get`, `cas`);
 * - an entry past its TTL is invisible to every operation;
 * - `cas` and `incr` are atomic: on the file backend within the process, on SQLite across the
 *   processes of one machine, on Redis across machines.
 *
 * @example
 * ```ts
 * const memory = await createMemoryBackend({ backend: 'sqlite', path: './flow.db' });
 * await memory.set('flow:abc', 'plan', { steps: 3 }, { ttlMs: 60_000 });
 * const entry = await memory.get('flow:abc', 'plan'); // { key: 'plan', value: { steps: 3 }, ... }
 * const { ok } = await memory.cas('flow:abc', 'lock', null, 'coder'); // take a lock if free
 * await memory.incr('shared', 'runs');
 * await memory.close();
 * ```
 */
export interface MemoryBackend {
  readonly kind: MemoryBackendKind;
  /** The largest serialised value accepted, in bytes. */
  readonly maxValueBytes: number;
  /** The entry under `key`, or `null` when absent or expired. */
  get(namespace: string, key: string): Promise<MemoryEntry | null>;
  /** Writes `value`, replacing any entry (and its TTL). */
  set(namespace: string, key: string, value: JsonValue, opts?: MemorySetOptions): Promise<void>;
  /** Removes the entry; true when a visible entry was removed. */
  delete(namespace: string, key: string): Promise<boolean>;
  /** The visible entries whose key starts with `prefix` (all when absent), sorted by key. */
  list(namespace: string, prefix?: string): Promise<MemoryEntry[]>;
  /**
   * Compare-and-set: writes `next` only if the stored value deep-equals `expected`
   * (`null` = only if absent). Atomic.
   */
  cas(
    namespace: string,
    key: string,
    expected: JsonValue | null,
    next: JsonValue,
    opts?: MemorySetOptions,
  ): Promise<CasResult>;
  /**
   * Adds `amount` (default 1) to the number stored under `key` (absent counts as 0) and returns
   * the new value. Keeps the entry's TTL. Rejects when the stored value is not a number. Atomic.
   */
  incr(namespace: string, key: string, amount?: number): Promise<number>;
  /** Releases files, connections and locks. Further calls reject. */
  close(): Promise<void>;
}
