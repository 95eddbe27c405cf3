import type { AgentResult, AgentTask } from '../../machines/agent.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { Budget } from '../router/budget.js';

const EPSILON = 1e-9;

/** What a run's cost owner is made from: its caps, what an earlier run of it spent, and the router's estimate. */
export interface RunCostOptions {
  /** Hard cap for the whole run, USD (absent: the run only keeps accounts). */
  maxCost?: number;
  /** Cap on one prompt's estimate, USD. */
  maxCostPerTask?: number;
  /** Booked by an earlier run of the same flow (a resumed flow). */
  spent?: number;
  /** The router's estimate of one prompt on `model` (USD); the owner decides with it. */
  estimate?: (model: string, task: AgentTask) => number;
}

/** What the owner holds at one moment, for events, serve's records and the dashboard. */
export interface RunCostSnapshot {
  /** Booked plus live, USD. */
  total: number;
  /** Booked (finished tasks, earlier runs included). */
  spent: number;
  /** Booked plus live, per agent. */
  byAgent: Record<string, number>;
  maxCost?: number;
}

/**
 * A run's money, in one place: what finished agents booked, what running agents' messages
 * cost so far (OpenCode's `message.updated`, per session and message), and what prompts about
 * to start reserved. It is the **only** place that enforces `maxCost` and `maxCostPerTask`,
 * for every kind of run: `reserve` refuses a prompt (throws `budget_exceeded`) that the budget
 * cannot hold, and when booked plus live cost passes the cap it calls `onExceeded` once and
 * the run stops its agents. The router only estimates; the supervisor, serve's records and
 * the dashboard read this owner (`snapshot()`, the run's `flow.cost` events).
 *
 * @example
 * ```ts
 * const cost = new RunCost({ maxCost: 0.5, estimate }, (reason) => run.stop('budget_exceeded', reason));
 * cost.reserve({ agent: 'coder', model: 'openai/gpt-5', task });
 * cost.live({ sessionID, messageID, agent: 'coder', cost: 0.01 });
 * cost.book(result);
 * ```
 */
export class RunCost {
  readonly #budget: Budget;
  readonly #estimate?: RunCostOptions['estimate'];
  /** Live message costs: session → message → USD, and which agent the session is. */
  readonly #live = new Map<string, { agent?: string; messages: Map<string, number> }>();
  /** Booked per agent. */
  readonly #booked = new Map<string, number>();
  /** Reservations held by agents' prompts now starting or running. */
  readonly #held = new Map<string, string>();
  #seq = 0;
  #exceeded = false;
  #reason?: string;
  readonly #listeners = new Set<(s: RunCostSnapshot) => void>();

  constructor(
    options: RunCostOptions,
    private readonly onExceeded: (reason: string) => void,
  ) {
    this.#budget = new Budget({
      maxCost: options.maxCost,
      maxCostPerTask: options.maxCostPerTask,
      spent: options.spent,
    });
    this.#estimate = options.estimate;
  }

  /** The hard cap, USD (absent: the run only keeps accounts). */
  get maxCost(): number | undefined {
    return this.#budget.maxCost;
  }

  /** Booked so far (finished tasks, earlier runs of a resumed flow included). */
  get spent(): number {
    return this.#budget.spent;
  }

  /** Held by prompts now starting or running (their estimates), USD. */
  get inFlight(): number {
    return this.#budget.inFlight;
  }

  /** Booked plus what running agents' messages cost so far. */
  get total(): number {
    let running = 0;
    for (const s of this.#live.values()) for (const c of s.messages.values()) running += c;
    return this.#budget.spent + running;
  }

  /** True once the run went over its budget. */
  get exceeded(): boolean {
    return this.#exceeded;
  }

  /** Why the run went over its budget, once it did. */
  get reason(): string | undefined {
    return this.#reason;
  }

  /** Total, booked, per agent and the cap, now. */
  snapshot(): RunCostSnapshot {
    const byAgent: Record<string, number> = Object.fromEntries(this.#booked);
    for (const s of this.#live.values()) {
      if (!s.agent) continue;
      let n = 0;
      for (const c of s.messages.values()) n += c;
      byAgent[s.agent] = (byAgent[s.agent] ?? 0) + n;
    }
    return {
      total: this.total,
      spent: this.spent,
      byAgent,
      ...(this.maxCost !== undefined ? { maxCost: this.maxCost } : {}),
    };
  }

  /** Told every change (a live message cost, a booked result). Returns the unsubscribe. */
  onChange(listener: (s: RunCostSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Before a prompt: hold its estimate against the budget (the agent's previous hold is let
   * go). Throws `budget_exceeded` when the prompt must not start: the agent then fails with
   * kind `budget`, and booking that result stops the run.
   */
  reserve(o: { agent: string; model: string; task: AgentTask }): void {
    if (this.#budget.maxCost === undefined && this.#budget.maxCostPerTask === undefined) return;
    const estimate = o.model && this.#estimate ? this.#estimate(o.model, o.task) : 0;
    const prev = this.#held.get(o.agent);
    if (prev) this.#budget.release(prev);
    const r = this.#budget.reserve(estimate, `${o.agent}#${++this.#seq}`);
    if (!r.ok) {
      this.#held.delete(o.agent);
      throw new FlowError(FlowErrorCode.BudgetExceeded, `budget: ${r.reason}`);
    }
    this.#held.set(o.agent, r.id);
  }

  /** A running agent's message cost as OpenCode reports it (the same message again as it grows). */
  live(e: { sessionID: string; messageID: string; cost: number; agent?: string }): void {
    let s = this.#live.get(e.sessionID);
    if (!s) this.#live.set(e.sessionID, (s = { messages: new Map(), ...(e.agent ? { agent: e.agent } : {}) }));
    if (s.messages.get(e.messageID) === e.cost) return;
    s.messages.set(e.messageID, e.cost);
    this.#changed();
    this.#check('mid-prompt', '(running agents stopped)');
  }

  /** A finished task (done or failed): booked, its messages no longer count as live. */
  book(result: AgentResult): void {
    const id = this.#held.get(result.agent);
    this.#held.delete(result.agent);
    this.#budget.commit(result.cost, id);
    this.#booked.set(result.agent, (this.#booked.get(result.agent) ?? 0) + result.cost);
    this.#live.delete(result.sessionID);
    this.#changed();
    if (result.attempts.at(-1)?.errorKind === 'budget') {
      this.#trip(`${result.agent}: ${result.error ?? 'the budget refused the prompt'}`);
      return;
    }
    this.#check('', '');
  }

  #changed() {
    if (this.#listeners.size === 0) return;
    const s = this.snapshot();
    for (const l of this.#listeners) l(s);
  }

  #check(when: string, after: string) {
    const cap = this.maxCost;
    if (cap === undefined || this.#exceeded) return;
    const total = this.total;
    if (total > cap + EPSILON) {
      this.#trip(
        `budget exceeded${when ? ` ${when}` : ''}: spent $${total.toFixed(6)} of max $${cap}${after ? ` ${after}` : ''}`,
      );
    }
  }

  #trip(reason: string) {
    if (this.#exceeded) return;
    this.#exceeded = true;
    this.#reason = reason;
    this.onExceeded(reason);
  }
}
