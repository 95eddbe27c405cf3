import type { AgentResult } from '../../machines/agent.js';
import type { FlowRouting } from './routing.js';

const EPSILON = 1e-9;

/**
 * A run's money, in one place: what finished agents booked, what running agents' messages
 * cost so far (OpenCode's `message.updated`, per session and message), and what prompts
 * about to start reserved (the routing budget). It is the only place that enforces
 * `maxCost` and `maxCostPerTask`, for every kind of run: when the booked plus live cost
 * passes the cap, or the budget refuses a prompt, it calls `onExceeded` once and the run
 * stops its agents.
 *
 * @example
 * ```ts
 * const cost = new RunCost(routing, (reason) => run.stop('budget_exceeded', reason));
 * cost.live({ sessionID, messageID, cost: 0.01 });
 * cost.book(result);
 * ```
 */
export class RunCost {
  readonly #live = new Map<string, Map<string, number>>();
  #exceeded = false;
  #reason?: string;

  constructor(
    private readonly routing: FlowRouting,
    private readonly onExceeded: (reason: string) => void,
  ) {}

  /** The hard cap, USD (absent: the run only keeps accounts). */
  get maxCost(): number | undefined {
    return this.routing.budget.maxCost;
  }

  /** Booked so far (finished tasks, earlier runs of a resumed flow included). */
  get spent(): number {
    return this.routing.budget.spent;
  }

  /** Booked plus what running agents' messages cost so far. */
  get total(): number {
    let running = 0;
    for (const m of this.#live.values()) for (const c of m.values()) running += c;
    return this.routing.budget.spent + running;
  }

  /** True once the run went over its budget. */
  get exceeded(): boolean {
    return this.#exceeded;
  }

  /** Why the run went over its budget, once it did. */
  get reason(): string | undefined {
    return this.#reason;
  }

  /** A running agent's message cost as OpenCode reports it (the same message again as it grows). */
  live(e: { sessionID: string; messageID: string; cost: number }): void {
    let costs = this.#live.get(e.sessionID);
    if (!costs) this.#live.set(e.sessionID, (costs = new Map()));
    costs.set(e.messageID, e.cost);
    this.check('mid-prompt', '(running agents stopped)');
  }

  /** A finished task (done or failed): booked, its messages no longer count as live. */
  book(result: AgentResult): void {
    this.routing.onResult(result);
    this.#live.delete(result.sessionID);
    if (result.attempts.at(-1)?.errorKind === 'budget') {
      this.trip(`${result.agent}: ${result.error ?? 'the budget refused the prompt'}`);
      return;
    }
    this.check('', '');
  }

  private check(when: string, after: string) {
    const cap = this.maxCost;
    if (cap === undefined || this.#exceeded) return;
    const total = this.total;
    if (total > cap + EPSILON) {
      this.trip(
        `budget exceeded${when ? ` ${when}` : ''}: spent $${total.toFixed(6)} of max $${cap}${after ? ` ${after}` : ''}`,
      );
    }
  }

  private trip(reason: string) {
    if (this.#exceeded) return;
    this.#exceeded = true;
    this.#reason = reason;
    this.onExceeded(reason);
  }
}
