import type { MemoryBackend } from './backend.js';
import type { JsonValue } from './json.js';
import { assertNamespace } from './limits.js';
import { flowNamespace, SHARED_NAMESPACE } from './namespace.js';
import type { MemoryChange, MemoryClient, MemoryScope } from './ops.js';
import { compileWatchPattern } from './watch-pattern.js';

/** Options of {@link createBackendMemoryOps}. */
export interface BackendMemoryOpsOptions {
  /** The flow's namespace (`flow:<id>`); `shared: true` calls use `shared` instead. */
  namespace: string;
  /** Who writes when a call names no `by` (default `'flow'`). */
  by?: string;
}

/**
 * Memory operations straight over a backend, without the memory actor: for the stdio MCP
 * server and for scripts. Watchers see the changes made through this object only.
 *
 * @example
 * ```ts
 * const backend = await createMemoryBackend('sqlite:./flow.db');
 * const memory = createBackendMemoryOps(backend, { namespace: flowNamespace('nightly') });
 * await memory.set('status', 'running', { by: 'cron' });
 * ```
 */
export function createBackendMemoryOps(backend: MemoryBackend, options: BackendMemoryOpsOptions): MemoryClient {
  assertNamespace(options.namespace);
  const defaultBy = options.by ?? 'flow';
  const watchers = new Set<{ namespace: string; matches: (key: string) => boolean; fn: (c: MemoryChange) => void }>();
  const ns = (scope?: MemoryScope) =>
    scope?.shared ? SHARED_NAMESPACE : scope?.flowId !== undefined ? flowNamespace(scope.flowId) : options.namespace;
  const changed = (
    namespace: string,
    key: string,
    value: JsonValue | null,
    by: string | undefined,
    op: MemoryChange['op'],
  ) => {
    const change: MemoryChange = { namespace, key, value, by: by ?? defaultBy, op };
    for (const w of [...watchers]) {
      if (w.namespace === namespace && w.matches(key)) {
        try {
          w.fn(change);
        } catch {
          // A watcher's failure is its own; the write has happened.
        }
      }
    }
  };

  return {
    async get(key, opts) {
      return (await backend.get(ns(opts), key))?.value ?? null;
    },
    async set(key, value, opts) {
      await backend.set(ns(opts), key, value, opts?.ttlMs === undefined ? undefined : { ttlMs: opts.ttlMs });
      changed(ns(opts), key, value, opts?.by, 'set');
    },
    async delete(key, opts) {
      const removed = await backend.delete(ns(opts), key);
      if (removed) changed(ns(opts), key, null, opts?.by, 'delete');
      return removed;
    },
    list(prefix, opts) {
      return backend.list(ns(opts), prefix);
    },
    async cas(key, expected, next, opts) {
      const result = await backend.cas(
        ns(opts),
        key,
        expected,
        next,
        opts?.ttlMs === undefined ? undefined : { ttlMs: opts.ttlMs },
      );
      if (result.ok) changed(ns(opts), key, result.current, opts?.by, 'cas');
      return result;
    },
    async incr(key, amount = 1, opts) {
      const value = await backend.incr(ns(opts), key, amount);
      changed(ns(opts), key, value, opts?.by, 'incr');
      return value;
    },
    watch(pattern, fn, opts) {
      const watcher = { namespace: ns(opts), matches: compileWatchPattern(pattern), fn };
      watchers.add(watcher);
      return () => {
        watchers.delete(watcher);
      };
    },
  };
}
