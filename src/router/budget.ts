import { FlowError, FlowErrorCode } from '../errors.js';

/**
 * Budget limits, in USD. Both optional: without `maxCost` the budget only keeps accounts.
 *
 * @example
 * ```ts
 * const opts: BudgetOptions = { maxCost: 1, maxCostPerTask: 0.1 };
 * ```
 */
export interface BudgetOptions {
  /** Hard cap per flow. */
  maxCost?: number;
  /** Cap on one task's estimate. */
  maxCostPerTask?: number;
  /** Already spent (a resumed flow passes its ledger's total). */
  spent?: number;
}

/**
 * A budget's answer to "may this task start?".
 *
 * @example
 * ```ts
 * const { ok, reason } = budget.canStart(0.05);
 * ```
 */
export interface BudgetCheck {
  ok: boolean;
  /** Why not, or a one-line account of why yes. */
  reason: string;
}

/**
 * Held money for one started task, returned by {@link Budget.reserve}.
 *
 * @example
 * ```ts
 * const r = budget.reserve(est);
 * if (r.ok) { ...; budget.commit(actual, r.id); }
 * ```
 */
export type Reservation = (BudgetCheck & { ok: true; id: string }) | (BudgetCheck & { ok: false; id?: undefined });

/** Float slack, so $0.1 + $0.2 fits a $0.3 cap. */
const EPSILON = 1e-9;

/**
 * A flow's budget, safe for concurrent agents: a task reserves its estimate before it starts
 * and the reservation is held until it commits its actual cost. A start is refused when
 * `spent + inFlight + estimate > maxCost`, so agents starting together cannot all pass the
 * cap, and when `estimate > maxCostPerTask`. The actual cost of a run can still come out
 * above its estimate; then `exceeded` turns true and every later start is refused — the
 * budget is never silently over. JavaScript runs one callback at a time, so `reserve` is
 * atomic without locks.
 *
 * @example
 * ```ts
 * const budget = new Budget({ maxCost: 0.10 });
 * const r = budget.reserve(0.04);                  // { ok: true, id: 'r1', ... }
 * budget.reserve(0.07).ok;                          // false: 0.04 in flight + 0.07 > 0.10
 * budget.commit(0.03, r.id);                        // spent 0.03, nothing in flight
 * ```
 */
export class Budget {
  readonly maxCost: number | undefined;
  readonly maxCostPerTask: number | undefined;
  #spent: number;
  readonly #held = new Map<string, number>();
  #inFlight = 0;
  #nextId = 1;

  constructor(options: BudgetOptions = {}) {
    this.maxCost = usd('maxCost', options.maxCost);
    this.maxCostPerTask = usd('maxCostPerTask', options.maxCostPerTask);
    this.#spent = usd('spent', options.spent) ?? 0;
  }

  /**
   * A budget from a router config's `maxCost` and `maxCostPerTask`.
   *
   * @example
   * ```ts
   * const budget = Budget.fromConfig(router.config, ledger.total().cost);
   * ```
   */
  static fromConfig(
    config: { maxCost?: number | undefined; maxCostPerTask?: number | undefined },
    spent?: number,
  ): Budget {
    return new Budget({
      ...(config.maxCost !== undefined ? { maxCost: config.maxCost } : {}),
      ...(config.maxCostPerTask !== undefined ? { maxCostPerTask: config.maxCostPerTask } : {}),
      ...(spent !== undefined ? { spent } : {}),
    });
  }

  /** USD committed so far. */
  get spent(): number {
    return this.#spent;
  }

  /** USD held by started, uncommitted tasks. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** USD still free to reserve (`Infinity` without a cap; never negative). */
  get remaining(): number {
    if (this.maxCost === undefined) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.maxCost - this.#spent - this.#inFlight);
  }

  /** True once actual spending went past `maxCost`. */
  get exceeded(): boolean {
    return this.maxCost !== undefined && this.#spent > this.maxCost + EPSILON;
  }

  /** Whether a task with this estimate may start now. Reserves nothing: use {@link Budget.reserve} to start. */
  canStart(estimate: number): BudgetCheck {
    const e = usd('estimate', estimate) ?? 0;
    if (this.exceeded) {
      return {
        ok: false,
        reason: `flow budget exceeded: spent $${fmt(this.#spent)} of max $${fmt(this.maxCost ?? 0)}`,
      };
    }
    if (this.maxCostPerTask !== undefined && e > this.maxCostPerTask + EPSILON) {
      return { ok: false, reason: `estimate $${fmt(e)} is over maxCostPerTask $${fmt(this.maxCostPerTask)}` };
    }
    if (this.maxCost !== undefined && this.#spent + this.#inFlight + e > this.maxCost + EPSILON) {
      return {
        ok: false,
        reason:
          `would exceed the flow budget: spent $${fmt(this.#spent)} + in flight $${fmt(this.#inFlight)} + ` +
          `estimate $${fmt(e)} > max $${fmt(this.maxCost)}`,
      };
    }
    const cap = this.maxCost === undefined ? 'no cap' : `$${fmt(this.remaining - e)} left after it`;
    return { ok: true, reason: `estimate $${fmt(e)} fits (${cap})` };
  }

  /**
   * Checks and, when allowed, holds `estimate` for a starting task, in one step. Pass your own
   * `id` (say `agent#attempt`) or use the one returned.
   */
  reserve(estimate: number, id?: string): Reservation {
    const check = this.canStart(estimate);
    if (!check.ok) return { ...check, ok: false };
    const key = id ?? `r${this.#nextId++}`;
    if (this.#held.has(key)) throw new FlowError(FlowErrorCode.Internal, `budget reservation ${key} is already held`);
    const e = estimate;
    this.#held.set(key, e);
    this.#inFlight += e;
    return { ...check, ok: true, id: key };
  }

  /**
   * Raises a running task's hold to the cost it has reached (streamed `message.updated`
   * costs), so other agents see it. Returns `ok: false` when the flow as a whole is now over
   * its cap: the caller should stop the task.
   */
  update(id: string, costSoFar: number): BudgetCheck {
    const held = this.#hold(id);
    const c = usd('costSoFar', costSoFar) ?? 0;
    if (c > held) {
      this.#held.set(id, c);
      this.#inFlight += c - held;
    }
    if (this.maxCost !== undefined && this.#spent + this.#inFlight > this.maxCost + EPSILON) {
      return {
        ok: false,
        reason: `flow budget overrun: spent $${fmt(this.#spent)} + in flight $${fmt(this.#inFlight)} > max $${fmt(this.maxCost)}`,
      };
    }
    return { ok: true, reason: `in flight $${fmt(this.#inFlight)}` };
  }

  /**
   * Adds a task's actual cost to `spent` and, given its reservation id, releases the hold.
   * Without an id it just charges (costs no task reserved, such as session-title calls).
   * Committing an id twice throws `internal`: that would charge one task twice.
   */
  commit(actual: number, id?: string): void {
    const a = usd('actual', actual) ?? 0;
    if (id !== undefined) this.release(id);
    this.#spent += a;
  }

  /** Drops a hold without charging (the task never ran). */
  release(id: string): void {
    const held = this.#hold(id);
    this.#held.delete(id);
    this.#inFlight -= held;
    if (this.#held.size === 0) this.#inFlight = 0; // no float residue once nothing is held
  }

  /**
   * A plain snapshot for dashboards and persistence (`spent` is what a resumed flow needs).
   *
   * @example
   * ```ts
   * budget.toJSON(); // { maxCost: 1, spent: 0.12, inFlight: 0.05, exceeded: false }
   * ```
   */
  toJSON(): { maxCost?: number; maxCostPerTask?: number; spent: number; inFlight: number; exceeded: boolean } {
    return {
      ...(this.maxCost !== undefined ? { maxCost: this.maxCost } : {}),
      ...(this.maxCostPerTask !== undefined ? { maxCostPerTask: this.maxCostPerTask } : {}),
      spent: this.#spent,
      inFlight: this.#inFlight,
      exceeded: this.exceeded,
    };
  }

  #hold(id: string): number {
    const held = this.#held.get(id);
    if (held === undefined)
      throw new FlowError(FlowErrorCode.Internal, `budget reservation ${id} is not held (already committed?)`);
    return held;
  }
}

function usd(field: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `budget: ${field} must be a finite number of USD ≥ 0, got ${value}`,
    );
  }
  return value;
}

function fmt(n: number): string {
  return n.toFixed(4);
}
