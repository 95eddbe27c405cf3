/**
 * The host's concurrency caps and provider cooldowns: how many prompts of a provider (`anthropic`)
 * or of one model (`openai/gpt-5`) may run at once across every run of a host, and until when a
 * provider that answered 429 with a retry time is left alone. Prompts past a cap wait in one
 * first-in, first-out queue; a waiting prompt never lets a later one overtake it on a key it
 * waits for, so none starves (a later prompt may go ahead on keys with room: another model
 * of the provider, while the first waits for its model's cap). In memory and pure of I/O: its only clock is the timer that wakes the
 * queue when a cooldown ends.
 */

/** A prompt's hold on its slots: `release()` gives them back (idempotent). */
export interface SlotLease {
  /** The keys it holds a slot of (`provider`, `provider/model`: only those with a cap). */
  readonly keys: readonly string[];
  release(): void;
}

/** Why a prompt waits: the first cap (or cooldown) in its way, and its place in that key's queue (1 = next). */
export interface SlotWait {
  key: string;
  position: number;
  /** Set when the provider is cooling down (a 429's retry time, epoch ms). */
  until?: number;
}

interface Waiter {
  model: string;
  keys: string[];
  provider: string;
  grant: (lease: SlotLease) => void;
  fail: (e: unknown) => void;
}

/** The provider part of `provider/model` (the whole string when it has no `/`). */
export function providerOf(model: string): string {
  const i = model.indexOf('/');
  return i > 0 ? model.slice(0, i) : model;
}

/**
 * Caps keyed by provider id or `provider/model` (positive integers); a prompt takes one slot of
 * each key that applies to its model. A model without a cap and a provider not cooling down
 * start at once.
 *
 * @example
 * ```ts
 * const limiter = new ConcurrencyLimiter({ anthropic: 4, 'openai/gpt-5': 2 });
 * const lease = await limiter.acquire('openai/gpt-5', { signal, onWait: (w) => console.log('waiting for', w.key) });
 * try { ... } finally { lease.release(); }
 * ```
 */
export class ConcurrencyLimiter {
  readonly #caps: ReadonlyMap<string, number>;
  readonly #running = new Map<string, number>();
  readonly #queue: Waiter[] = [];
  readonly #cooling = new Map<string, { until: number; timer: ReturnType<typeof setTimeout> }>();

  constructor(caps: Record<string, number> = {}) {
    this.#caps = new Map(Object.entries(caps));
  }

  /** The caps, as configured. */
  get caps(): Record<string, number> {
    return Object.fromEntries(this.#caps);
  }

  /** Prompts waiting for a slot (or a cooldown), host-wide. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Prompts holding a slot of `key` now. */
  running(key: string): number {
    return this.#running.get(key) ?? 0;
  }

  /** Until when (epoch ms) `provider` is left alone, if it is cooling down. */
  coolingUntil(provider: string): number | undefined {
    return this.#cooling.get(provider)?.until;
  }

  /**
   * Wait for a slot of every cap of `model` (and for its provider's cooldown to end). `onWait`
   * is told once, when the prompt has to wait; an aborted `signal` takes it out of the queue
   * (the promise rejects with the signal's reason).
   */
  acquire(model: string, opts: { signal?: AbortSignal; onWait?: (w: SlotWait) => void } = {}): Promise<SlotLease> {
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const provider = providerOf(model);
    const keys = [provider, model].filter((k, i, a) => this.#caps.has(k) && a.indexOf(k) === i);
    return new Promise<SlotLease>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) {
          this.#queue.splice(i, 1);
          reject(signal!.reason);
          // A prompt leaving may unblock the ones behind it.
          this.#pump();
        }
      };
      const waiter: Waiter = {
        model,
        keys,
        provider,
        grant: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(lease);
        },
        fail: reject,
      };
      this.#queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pump();
      if (this.#queue.includes(waiter)) opts.onWait?.(this.#waitOf(waiter));
    });
  }

  /**
   * `provider` asked to be left alone until `until` (epoch ms; OpenCode's retry time after a
   * 429): prompts to it start after then. A later time extends the cooldown, an earlier one
   * does not shorten it.
   */
  cooldown(provider: string, until: number): void {
    const now = Date.now();
    const current = this.#cooling.get(provider);
    if (until <= now || (current && current.until >= until)) return;
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => {
      this.#cooling.delete(provider);
      this.#pump();
    }, until - now);
    timer.unref?.();
    this.#cooling.set(provider, { until, timer });
  }

  /** Every waiting prompt is refused (the host shut down); cooldown timers are cleared. */
  close(reason: unknown = new Error('the host shut down')): void {
    for (const w of this.#queue.splice(0)) w.fail(reason);
    for (const c of this.#cooling.values()) clearTimeout(c.timer);
    this.#cooling.clear();
  }

  #free(key: string): boolean {
    return this.running(key) < (this.#caps.get(key) ?? Infinity);
  }

  #isCooling(provider: string): boolean {
    const c = this.#cooling.get(provider);
    return c !== undefined && c.until > Date.now();
  }

  /** Start every waiter that can start, in order; one that cannot holds the keys it waits on against later ones. */
  #pump(): void {
    const held = new Set<string>();
    for (let i = 0; i < this.#queue.length;) {
      const w = this.#queue[i]!;
      const blocked = this.#isCooling(w.provider) || w.keys.some((k) => held.has(k) || !this.#free(k));
      if (blocked) {
        // It keeps the keys it waits on: no later prompt takes the next slot of those.
        for (const k of w.keys) if (held.has(k) || !this.#free(k)) held.add(k);
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      w.grant(this.#lease(w.keys));
    }
  }

  #lease(keys: string[]): SlotLease {
    for (const k of keys) this.#running.set(k, this.running(k) + 1);
    let released = false;
    return {
      keys,
      release: () => {
        if (released) return;
        released = true;
        for (const k of keys) this.#running.set(k, Math.max(0, this.running(k) - 1));
        this.#pump();
      },
    };
  }

  #waitOf(w: Waiter): SlotWait {
    const until = this.#isCooling(w.provider) ? this.#cooling.get(w.provider)!.until : undefined;
    const key = until !== undefined ? w.provider : (w.keys.find((k) => !this.#free(k)) ?? w.keys[0] ?? w.provider);
    const position = this.#queue.filter((q) => q.keys.includes(key) || q.provider === key).indexOf(w) + 1;
    return { key, position, ...(until !== undefined ? { until } : {}) };
  }
}
