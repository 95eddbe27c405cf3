import type { Pool, PoolClient } from 'pg';

/**
 * LISTEN on a dedicated connection: wake-ups and messages between serve replicas through
 * PostgreSQL's `LISTEN/NOTIFY`. A lost connection is opened again (after 1 s, then up to
 * 5 s apart) and every listener is told `reconnected` so it can catch up with what it may
 * have missed: notifications are wake-ups, never the only copy of anything.
 *
 * @example
 * ```ts
 * const bus = new PoolBus(pool, ['opencode_flow_queue']);
 * await bus.start();
 * bus.on('opencode_flow_queue', () => void worker.tick());
 * ```
 */
export class PoolBus {
  readonly #listeners = new Map<string, Set<(payload: string) => void>>();
  readonly #reconnected = new Set<() => void>();
  #client?: PoolClient;
  #closed = false;
  #retryMs = 1000;
  #timer?: NodeJS.Timeout;

  constructor(
    private readonly pool: Pool,
    private readonly channels: string[],
  ) {}

  /** Connect and LISTEN; rejects when the first connection fails. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async #connect(): Promise<void> {
    // One connection of the pool, kept for LISTEN until it breaks (then it is discarded).
    const client = await this.pool.connect();
    client.on('error', (e) => this.#lost(client, e));
    client.on('end', () => this.#lost(client, new Error('connection ended')));
    client.on('notification', (n) => {
      for (const fn of this.#listeners.get(n.channel) ?? []) fn(n.payload ?? '');
    });
    try {
      for (const ch of this.channels) await client.query(`LISTEN ${ch}`);
    } catch (e) {
      client.release(e as Error);
      throw e;
    }
    if (this.#closed) {
      client.release(true);
      return;
    }
    this.#client = client;
    this.#retryMs = 1000;
  }

  #lost(client: PoolClient, e: Error) {
    if (this.#client !== client || this.#closed) return;
    this.#client = undefined;
    client.release(e);
    const retry = () => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#connect().then(
        () => {
          for (const fn of this.#reconnected) fn();
        },
        () => {
          this.#retryMs = Math.min(this.#retryMs * 2, 5000);
          this.#timer = setTimeout(retry, this.#retryMs);
        },
      );
    };
    this.#timer = setTimeout(retry, this.#retryMs);
  }

  /** Call `fn` with each notification's payload on `channel`; returns how to stop. */
  on(channel: string, fn: (payload: string) => void): () => void {
    let set = this.#listeners.get(channel);
    if (!set) this.#listeners.set(channel, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Call `fn` after the connection was lost and made again. */
  onReconnect(fn: () => void): () => void {
    this.#reconnected.add(fn);
    return () => this.#reconnected.delete(fn);
  }

  /**
   * Resolves on the next notification on `channel` whose payload is `payload`, after
   * `timeoutMs`, or when `signal` aborts: whichever comes first (a poll that a NOTIFY cuts short).
   */
  wait(channel: string, payload: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const off = this.on(channel, (p) => p === payload && done());
      signal?.addEventListener('abort', done);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    client?.release(true);
  }
}
