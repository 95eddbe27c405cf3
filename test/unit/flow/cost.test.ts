import { describe, expect, it } from 'vitest';
import type { AgentResult } from '../../../machines/agent.js';
import { RunCost } from '../../../src/flow/cost.js';
import { buildCatalog } from '../../../src/router/catalog.js';
import { createFlowRouting } from '../../../src/flow/routing.js';

const catalog = buildCatalog({
  providers: [{ id: 'p', models: { m: { id: 'm', cost: { input: 1, output: 1 } } } }],
} as never);
const routing = (maxCost?: number) => {
  const r = createFlowRouting({ catalog, config: {}, routing: false, task: 't', specs: [{ name: 'a', model: 'p/m' }] });
  return { maxCost, estimate: r.estimate };
};
const result = (agent: string, cost: number, extra: Partial<AgentResult> = {}): AgentResult => ({
  agent,
  taskId: agent,
  sessionID: `ses_${agent}`,
  model: 'p/m',
  status: 'done',
  output: '',
  cost,
  tokens: { input: 0, output: 0 },
  attempts: [{ model: 'p/m' }],
  startedAt: 0,
  finishedAt: 0,
  ...extra,
});

describe('RunCost: the one place a run keeps and enforces its budget', () => {
  it('stops once when booked results pass the cap, with what was spent', () => {
    const reasons: string[] = [];
    const cost = new RunCost(routing(0.015), (r) => reasons.push(r));
    cost.book(result('a', 0.01));
    expect(reasons).toEqual([]);
    cost.book(result('b', 0.01));
    cost.book(result('c', 0.01));
    expect(reasons).toEqual(['budget exceeded: spent $0.020000 of max $0.015']);
    expect(cost.exceeded).toBe(true);
    expect(cost.spent).toBeCloseTo(0.03, 12);
  });

  it("counts running agents' message costs mid-prompt, and not twice once booked", () => {
    const reasons: string[] = [];
    const cost = new RunCost(routing(0.05), (r) => reasons.push(r));
    cost.live({ sessionID: 'ses_a', messageID: 'm1', cost: 0.02 });
    cost.live({ sessionID: 'ses_a', messageID: 'm1', cost: 0.03 });
    expect(cost.total).toBeCloseTo(0.03, 12);
    cost.book(result('a', 0.03));
    expect(cost.total).toBeCloseTo(0.03, 12);
    cost.live({ sessionID: 'ses_b', messageID: 'm2', cost: 0.03 });
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(
      /^budget exceeded mid-prompt: spent \$0\.060000 of max \$0\.05 \(running agents stopped\)$/,
    );
  });

  it('a prompt the budget refused stops the run, naming the agent', () => {
    const reasons: string[] = [];
    const cost = new RunCost(routing(1), (r) => reasons.push(r));
    cost.book(
      result('a', 0, {
        status: 'failed',
        error: 'budget: too dear',
        attempts: [{ model: 'p/m', errorKind: 'budget' }],
      }),
    );
    expect(reasons).toEqual(['a: budget: too dear']);
  });

  it('without a cap it only keeps accounts', () => {
    const cost = new RunCost(routing(), () => expect.unreachable());
    cost.book(result('a', 5));
    cost.live({ sessionID: 'x', messageID: 'y', cost: 7 });
    expect(cost.total).toBe(12);
  });
});
