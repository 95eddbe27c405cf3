import type { FlowStore, StoredFlowMeta } from '../store/store.js';

/** Saves one run's state to the flow store. */
export interface RunPersister {
  /** Save within 50 ms, coalescing bursts (20 agents changing state at once) into one write. */
  soon(): void;
  /**
   * Save now; with the run's report when it has finished (the final state, after which nothing
   * more is saved). Resolves once written or its failure reported.
   */
  now(report?: unknown): Promise<void>;
  /** Save now, then never again: a detached run is resumed from this state. */
  freeze(): void;
  /**
   * Resolves once the state as of now is stored (a failed write rejects). Calls in the same
   * turn share one write: 20 agents sending their prompts at once wait on one save.
   */
  durable(): Promise<void>;
}

/**
 * A persister for one run: `read` gives the run's meta and snapshot at the time of writing.
 * A failed write is reported through `onError` and the run goes on.
 *
 * @example
 * ```ts
 * const persist = createPersister({ store, flowId, enabled: true, read, onError });
 * actor.subscribe(() => persist.soon());
 * ```
 */
export function createPersister(o: {
  store: FlowStore;
  flowId: string;
  enabled: boolean;
  read: () => { meta: Omit<StoredFlowMeta, 'flowId' | 'updatedAt'>; snapshot: unknown };
  onError: (message: string) => void;
}): RunPersister {
  let timer: NodeJS.Timeout | undefined;
  let frozen = false;
  let shared: Promise<void> | undefined;
  const write = (report?: unknown): Promise<void> | undefined => {
    clearTimeout(timer);
    timer = undefined;
    if (!o.enabled || frozen) return undefined;
    const { meta, snapshot } = o.read();
    return o.store.save({
      meta: { ...meta, flowId: o.flowId, updatedAt: Date.now() },
      snapshot,
      ...(report !== undefined ? { report } : {}),
    });
  };
  const now = (report?: unknown): Promise<void> =>
    write(report)?.catch((e: unknown) => o.onError(e instanceof Error ? e.message : String(e))) ?? Promise.resolve();
  return {
    soon: () => {
      if (!o.enabled || timer || frozen) return;
      timer = setTimeout(() => void now(), 50);
    },
    now: (report) => {
      const written = now(report);
      // The final state is stored with its report: nothing the run does after it (its agents'
      // last states, the sweep) may write over it (a later save without the report cleared it).
      if (report !== undefined) frozen = true;
      return written;
    },
    freeze: () => {
      void now();
      frozen = true;
    },
    durable: () =>
      (shared ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        shared = undefined;
        const p = write();
        p?.catch((e: unknown) => o.onError(e instanceof Error ? e.message : String(e)));
        return p;
      })),
  };
}
