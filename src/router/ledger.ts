import { z } from 'zod';
import { FlowError, FlowErrorCode } from '../errors.js';

/**
 * One assistant message's cost, as read from its `info` (`cost`, `tokens`).
 *
 * @example
 * ```ts
 * const rec: LedgerRecordInput = {
 *   agent: 'coder', model: 'anthropic/claude-sonnet-4', sessionID: info.sessionID, messageID: info.id,
 *   cost: info.cost, tokens: info.tokens,
 * };
 * ```
 */
export interface LedgerRecordInput {
  agent: string;
  task?: string;
  model: string;
  sessionID: string;
  /** With it, recording the same message again replaces the earlier figures instead of adding. */
  messageID?: string;
  /** USD. */
  cost: number;
  tokens: { input: number; output: number; reasoning?: number; cache?: { read: number; write: number } };
  /** The agent that spawned this one (hierarchical flows); its roll-up includes this agent's. */
  parentAgent?: string;
}

const EntrySchema = z.object({
  agent: z.string(),
  task: z.string().optional(),
  model: z.string(),
  sessionID: z.string(),
  messageID: z.string().optional(),
  parentAgent: z.string().optional(),
  cost: z.number().nonnegative(),
  input: z.number().nonnegative(),
  output: z.number().nonnegative(),
  reasoning: z.number().nonnegative(),
  cacheRead: z.number().nonnegative(),
  cacheWrite: z.number().nonnegative(),
});

/**
 * One stored ledger entry (flat, JSON-friendly).
 *
 * @example
 * ```ts
 * const entries: LedgerEntry[] = ledger.toJSON().entries;
 * ```
 */
export type LedgerEntry = z.output<typeof EntrySchema>;

const LedgerJSONSchema = z.object({ version: z.literal(1), entries: z.array(EntrySchema) });

/**
 * The persisted form of a {@link CostLedger}.
 *
 * @example
 * ```ts
 * fs.writeFileSync('ledger.json', JSON.stringify(ledger.toJSON()));
 * ```
 */
export type LedgerJSON = z.output<typeof LedgerJSONSchema>;

/**
 * Sums over some entries. Token counts are tokens; `cost` is USD.
 *
 * @example
 * ```ts
 * const t: Totals = ledger.total();
 * console.log(`$${t.cost.toFixed(4)} over ${t.messages} messages`);
 * ```
 */
export interface Totals {
  cost: number;
  input: number;
  output: number;
  reasoning: number;
  cacheRead: number;
  cacheWrite: number;
  /** Entries (assistant messages) summed. */
  messages: number;
}

/**
 * One agent's own totals plus its subtree's (itself and every agent below it).
 *
 * @example
 * ```ts
 * ledger.byAgent().lead?.subtree.cost; // lead + every worker it spawned
 * ```
 */
export interface AgentTotals extends Totals {
  parentAgent?: string;
  children: string[];
  subtree: Totals;
}

/**
 * Per-session totals, with the agent the session belongs to.
 *
 * @example
 * ```ts
 * ledger.bySession()['ses_123']?.agent;
 * ```
 */
export interface SessionTotals extends Totals {
  agent: string;
}

/**
 * What a flow report shows of the ledger (USD): the total, and each agent's own cost, each
 * model's and each task's.
 *
 * @example
 * ```ts
 * const { total, byAgent, byModel, byTask } = ledger.summary();
 * ```
 */
export interface CostSummary {
  total: number;
  byAgent: Record<string, number>;
  byModel: Record<string, number>;
  byTask: Record<string, number>;
}

/**
 * One printable row of {@link CostLedger.table}: agents in tree order (each parent before its
 * children, `depth` for indenting), then one `total` row.
 *
 * @example
 * ```ts
 * for (const r of ledger.table()) console.log(`${'  '.repeat(r.depth)}${r.agent}\t$${r.cost.toFixed(4)}`);
 * ```
 */
export interface LedgerRow {
  kind: 'agent' | 'total';
  agent: string;
  depth: number;
  /** Models the agent used, comma-separated. */
  models: string;
  messages: number;
  input: number;
  output: number;
  reasoning: number;
  /** Cache read + write tokens. */
  cache: number;
  /** The agent's own cost (USD). */
  cost: number;
  /** The agent's cost including its descendants (USD). */
  subtreeCost: number;
}

/**
 * The flow's record of what every assistant message cost, with roll-ups by agent (nested
 * agents included in their parents' subtree), model, task and session. Idempotent per
 * `(sessionID, messageID)`: re-reading a message replaces its figures, never adds them twice.
 *
 * @example
 * ```ts
 * const ledger = new CostLedger();
 * ledger.record({ agent: 'coder', model: 'openai/gpt-5', sessionID: 's1', messageID: 'm1', cost: 0.02, tokens: { input: 4000, output: 900 } });
 * ledger.record({ agent: 'coder', model: 'openai/gpt-5', sessionID: 's1', messageID: 'm1', cost: 0.02, tokens: { input: 4000, output: 900 } }); // re-read: no change
 * ledger.total().cost; // 0.02
 * ```
 */
export class CostLedger {
  readonly #entries = new Map<string, LedgerEntry>();
  #anonymous = 0;

  /**
   * Records one message's cost. Returns whether it was new and how much the flow's total
   * moved (`delta`, USD): a repeat of a known message moves it by the difference only (0
   * for an identical re-read), which is what a budget should be charged.
   */
  record(input: LedgerRecordInput): { added: boolean; delta: number } {
    const entry: LedgerEntry = {
      agent: input.agent,
      ...(input.task !== undefined ? { task: input.task } : {}),
      model: input.model,
      sessionID: input.sessionID,
      ...(input.messageID !== undefined ? { messageID: input.messageID } : {}),
      ...(input.parentAgent !== undefined ? { parentAgent: input.parentAgent } : {}),
      cost: amount('cost', input.cost),
      input: amount('tokens.input', input.tokens.input),
      output: amount('tokens.output', input.tokens.output),
      reasoning: amount('tokens.reasoning', input.tokens.reasoning ?? 0),
      cacheRead: amount('tokens.cache.read', input.tokens.cache?.read ?? 0),
      cacheWrite: amount('tokens.cache.write', input.tokens.cache?.write ?? 0),
    };
    const key =
      entry.messageID !== undefined ? `${entry.sessionID}\u0000${entry.messageID}` : `\u0001${this.#anonymous++}`;
    const previous = this.#entries.get(key);
    this.#entries.set(key, entry);
    return { added: previous === undefined, delta: entry.cost - (previous?.cost ?? 0) };
  }

  /** Number of entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** Everything. */
  total(): Totals {
    const t = zero();
    for (const e of this.#entries.values()) add(t, e);
    return t;
  }

  /** Per agent: own totals, parent, children, and the subtree's totals. */
  byAgent(): Record<string, AgentTotals> {
    const own = this.#group((e) => e.agent);
    const parents = new Map<string, string>();
    for (const e of this.#entries.values())
      if (e.parentAgent !== undefined && e.parentAgent !== e.agent) parents.set(e.agent, e.parentAgent);
    // A parent that never spent anything itself still gets a row, so the tree is whole.
    for (const parent of parents.values()) if (!own.has(parent)) own.set(parent, zero());

    const children = new Map<string, string[]>();
    for (const [child, parent] of parents) {
      const list = children.get(parent) ?? [];
      list.push(child);
      children.set(parent, list);
    }
    const out: Record<string, AgentTotals> = {};
    for (const [agent, totals] of own) {
      const subtree = zero();
      const seen = new Set<string>();
      const stack = [agent];
      while (stack.length > 0) {
        const a = stack.pop() as string;
        if (seen.has(a)) continue; // a cycle in bad data must not loop or double count
        seen.add(a);
        const t = own.get(a);
        if (t) addTotals(subtree, t);
        stack.push(...(children.get(a) ?? []));
      }
      const parentAgent = parents.get(agent);
      out[agent] = {
        ...totals,
        ...(parentAgent !== undefined ? { parentAgent } : {}),
        children: children.get(agent) ?? [],
        subtree,
      };
    }
    return out;
  }

  /** Per model id. */
  byModel(): Record<string, Totals> {
    return Object.fromEntries(this.#group((e) => e.model));
  }

  /** Per task text; entries recorded without a task are left out. */
  byTask(): Record<string, Totals> {
    return Object.fromEntries(this.#group((e) => e.task));
  }

  /** Per OpenCode session. */
  bySession(): Record<string, SessionTotals> {
    const agents = new Map<string, string>();
    for (const e of this.#entries.values()) agents.set(e.sessionID, e.agent);
    const out: Record<string, SessionTotals> = {};
    for (const [sessionID, totals] of this.#group((e) => e.sessionID)) {
      out[sessionID] = { ...totals, agent: agents.get(sessionID) ?? '' };
    }
    return out;
  }

  /** USD per agent (own cost, not the subtree), model and task, and the total: a report's `cost`. */
  summary(): CostSummary {
    const usd = (groups: Map<string, Totals>): Record<string, number> =>
      Object.fromEntries([...groups].map(([key, t]) => [key, t.cost]));
    return {
      total: this.total().cost,
      byAgent: usd(this.#group((e) => e.agent)),
      byModel: usd(this.#group((e) => e.model)),
      byTask: usd(this.#group((e) => e.task)),
    };
  }

  /** Rows for printing: agents in tree order, then a total row. */
  table(): LedgerRow[] {
    const agents = this.byAgent();
    const models = new Map<string, Set<string>>();
    for (const e of this.#entries.values()) {
      const set = models.get(e.agent) ?? new Set<string>();
      set.add(e.model);
      models.set(e.agent, set);
    }
    const rows: LedgerRow[] = [];
    const visited = new Set<string>();
    const visit = (agent: string, depth: number): void => {
      if (visited.has(agent)) return;
      visited.add(agent);
      const a = agents[agent];
      if (!a) return;
      rows.push({
        kind: 'agent',
        agent,
        depth,
        models: [...(models.get(agent) ?? [])].join(', '),
        ...rowFigures(a),
        subtreeCost: a.subtree.cost,
      });
      for (const child of a.children) visit(child, depth + 1);
    };
    for (const [agent, a] of Object.entries(agents))
      if (a.parentAgent === undefined || !agents[a.parentAgent]) visit(agent, 0);
    // Agents only reachable through a cycle.
    for (const agent of Object.keys(agents)) visit(agent, 0);
    const total = this.total();
    rows.push({ kind: 'total', agent: 'total', depth: 0, models: '', ...rowFigures(total), subtreeCost: total.cost });
    return rows;
  }

  /** The persisted form. */
  toJSON(): LedgerJSON {
    return { version: 1, entries: [...this.#entries.values()].map((e) => ({ ...e })) };
  }

  /**
   * Restores a ledger from {@link CostLedger.toJSON}'s output; a malformed one throws a
   * `FlowError` `flow_not_found` (the stored flow cannot be read).
   *
   * @example
   * ```ts
   * const ledger = CostLedger.fromJSON(JSON.parse(fs.readFileSync('ledger.json', 'utf8')));
   * ```
   */
  static fromJSON(json: unknown): CostLedger {
    const parsed = LedgerJSONSchema.safeParse(json);
    if (!parsed.success) {
      throw new FlowError(FlowErrorCode.FlowNotFound, `stored cost ledger cannot be read: ${parsed.error.message}`, {
        cause: parsed.error,
      });
    }
    const ledger = new CostLedger();
    for (const e of parsed.data.entries) {
      ledger.record({
        agent: e.agent,
        model: e.model,
        sessionID: e.sessionID,
        cost: e.cost,
        tokens: {
          input: e.input,
          output: e.output,
          reasoning: e.reasoning,
          cache: { read: e.cacheRead, write: e.cacheWrite },
        },
        ...(e.task !== undefined ? { task: e.task } : {}),
        ...(e.messageID !== undefined ? { messageID: e.messageID } : {}),
        ...(e.parentAgent !== undefined ? { parentAgent: e.parentAgent } : {}),
      });
    }
    return ledger;
  }

  #group(keyOf: (e: LedgerEntry) => string | undefined): Map<string, Totals> {
    const groups = new Map<string, Totals>();
    for (const e of this.#entries.values()) {
      const key = keyOf(e);
      if (key === undefined) continue;
      let t = groups.get(key);
      if (!t) {
        t = zero();
        groups.set(key, t);
      }
      add(t, e);
    }
    return groups;
  }
}

function zero(): Totals {
  return { cost: 0, input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0, messages: 0 };
}

function add(t: Totals, e: LedgerEntry): void {
  t.cost += e.cost;
  t.input += e.input;
  t.output += e.output;
  t.reasoning += e.reasoning;
  t.cacheRead += e.cacheRead;
  t.cacheWrite += e.cacheWrite;
  t.messages += 1;
}

function addTotals(t: Totals, o: Totals): void {
  t.cost += o.cost;
  t.input += o.input;
  t.output += o.output;
  t.reasoning += o.reasoning;
  t.cacheRead += o.cacheRead;
  t.cacheWrite += o.cacheWrite;
  t.messages += o.messages;
}

function rowFigures(t: Totals): Pick<LedgerRow, 'messages' | 'input' | 'output' | 'reasoning' | 'cache' | 'cost'> {
  return {
    messages: t.messages,
    input: t.input,
    output: t.output,
    reasoning: t.reasoning,
    cache: t.cacheRead + t.cacheWrite,
    cost: t.cost,
  };
}

function amount(field: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new FlowError(FlowErrorCode.InvalidConfig, `cost ledger: ${field} must be a finite number ≥ 0, got ${value}`);
  }
  return value;
}
