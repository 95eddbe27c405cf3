import { FlowError, FlowErrorCode } from '../errors.js';
import { packSnapshot, unpackSnapshot } from './pack.js';

/** What is known about a stored flow without loading its snapshot. */
export interface StoredFlowMeta {
  flowId: string;
  task: string;
  mode: string;
  agents: string[];
  /** `running` until the flow finishes (a dead process leaves it `running`: resumable). */
  status: string;
  cost: number;
  /** The run's hard budget (USD), when it had one: a resumed run keeps it. */
  maxCost?: number;
  startedAt: number;
  updatedAt: number;
  reason?: string;
  /**
   * The W3C `traceparent` of the run's `invoke_workflow` span, when it was traced: a run that
   * continues this one (`resume`, a replica taking it over) links its own span to it.
   */
  traceparent?: string;
}

export interface StoredFlow {
  meta: StoredFlowMeta;
  /** The supervisor's persisted snapshot (children included). */
  snapshot: unknown;
  /** The run's report (JSON), once it has finished; absent while it runs. */
  report?: unknown;
}

/**
 * Where runs are persisted: each run's snapshot, its meta (status, cost, …) and, once it has
 * finished, its report. Three backends, chosen by URI ({@link openFlowStore}): a directory of
 * files (the default), a SQLite file, a PostgreSQL database. Saves of one flow coalesce:
 * while one write runs, only the newest state waits behind it.
 *
 * @example
 * ```ts
 * const store = openFlowStore('sqlite:./flows.db');
 * for (const f of await store.list()) console.log(f.flowId, f.status, f.cost);
 * await store.close();
 * ```
 */
export interface FlowStore {
  /** `file`, `sqlite` or `postgres`. */
  readonly kind: 'file' | 'sqlite' | 'postgres';
  /** Where it is, printable: a directory, a database file, a URL with its password masked. */
  readonly location: string;
  /**
   * Make sure flows can be stored here (the directory created and writable, the database
   * reachable and migrated): a run calls it before it starts, so a store that cannot be used
   * fails the run up front, with the store named, instead of losing its state quietly.
   */
  open(): Promise<void>;
  /** Save the latest state of a flow; resolves when that state (or a newer one) is stored. */
  save(flow: StoredFlow): Promise<void>;
  /** Wait for every pending save. */
  flush(): Promise<void>;
  /** A stored flow; a `FlowError` (`flow_not_found`) when there is none. */
  load(flowId: string): Promise<StoredFlow>;
  /** Every stored flow's meta, newest first. */
  list(): Promise<StoredFlowMeta[]>;
  /** Forget a stored flow; false when there was none. */
  delete(flowId: string): Promise<boolean>;
  /** Wait for pending saves, then release the database (a later call fails). */
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Refuses a flow id that could not be a file name (or that no run would have made). */
export function assertFlowId(flowId: string): void {
  if (typeof flowId !== 'string' || !ID.test(flowId))
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `flow id "${String(flowId).slice(0, 80)}" is not valid (1 to 64 letters, digits, "_" or "-")`,
    );
}

/** The `flow_not_found` error of a flow a store does not hold. */
export function notFound(flowId: string, location: string): FlowError {
  return new FlowError(FlowErrorCode.FlowNotFound, `no stored flow "${flowId}" in ${location}`);
}

/** Newest first, as every backend lists. */
export const newestFirst = (a: StoredFlowMeta, b: StoredFlowMeta) => b.startedAt - a.startedAt;

/**
 * The part every backend shares: coalesced saves per flow, `flush`, and refusing work after
 * `close`. A backend writes one complete state in `write` and releases itself in `release`.
 */
export abstract class CoalescingFlowStore implements FlowStore {
  abstract readonly kind: FlowStore['kind'];
  abstract readonly location: string;
  readonly #pending = new Map<string, StoredFlow>();
  readonly #writing = new Map<string, Promise<void>>();
  #closed = false;

  /** Store this state of the flow (the whole of it: meta, snapshot, report). */
  protected abstract write(flow: StoredFlow): Promise<void>;
  protected abstract read(flowId: string): Promise<StoredFlow | undefined>;
  protected abstract readAll(): Promise<StoredFlowMeta[]>;
  protected abstract remove(flowId: string): Promise<boolean>;
  protected abstract release(): Promise<void>;
  /** Connect, create or migrate: what {@link FlowStore.open} checks. */
  protected abstract prepare(): Promise<void>;

  protected assertOpen(): void {
    if (this.#closed) throw new FlowError(FlowErrorCode.Internal, `the flow store ${this.location} is closed`);
  }

  async open(): Promise<void> {
    this.assertOpen();
    await this.prepare();
  }

  save(flow: StoredFlow): Promise<void> {
    const id = flow.meta.flowId;
    try {
      assertFlowId(id);
      this.assertOpen();
    } catch (e) {
      return Promise.reject(e as Error);
    }
    this.#pending.set(id, flow);
    const prev = this.#writing.get(id) ?? Promise.resolve();
    const next = prev.then(async () => {
      const latest = this.#pending.get(id);
      if (!latest) return;
      this.#pending.delete(id);
      await this.write({ ...latest, snapshot: packSnapshot(latest.snapshot) });
    });
    const settled = next.catch(() => {});
    this.#writing.set(id, settled);
    void settled.then(() => {
      if (this.#writing.get(id) === settled) this.#writing.delete(id);
    });
    return next;
  }

  async flush(): Promise<void> {
    await Promise.all([...this.#writing.values()]);
  }

  async load(flowId: string): Promise<StoredFlow> {
    assertFlowId(flowId);
    this.assertOpen();
    const flow = await this.read(flowId);
    if (!flow) throw notFound(flowId, this.location);
    return { ...flow, snapshot: unpackSnapshot(flow.snapshot) };
  }

  async list(): Promise<StoredFlowMeta[]> {
    this.assertOpen();
    return (await this.readAll()).sort(newestFirst);
  }

  async delete(flowId: string): Promise<boolean> {
    assertFlowId(flowId);
    this.assertOpen();
    await this.#writing.get(flowId);
    return this.remove(flowId);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    await this.release();
  }
}
