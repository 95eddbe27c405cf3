import { describe, expect, it } from 'vitest';
import { FlowError, FlowErrorCode } from '../../../src/errors.js';
import { CostLedger } from '../../../src/router/index.js';
import type { LedgerRecordInput } from '../../../src/router/index.js';

const tokens = (input: number, output: number) => ({ input, output, reasoning: 10, cache: { read: 100, write: 5 } });

function sample(): CostLedger {
  const ledger = new CostLedger();
  const rec = (r: LedgerRecordInput) => ledger.record(r);
  rec({
    agent: 'lead',
    task: 'plan',
    model: 'anthropic/claude-sonnet-4',
    sessionID: 's-lead',
    messageID: 'm1',
    cost: 0.05,
    tokens: tokens(5000, 800),
  });
  rec({
    agent: 'worker-1',
    parentAgent: 'lead',
    task: 'build',
    model: 'deepseek/deepseek-chat',
    sessionID: 's-w1',
    messageID: 'm1',
    cost: 0.004,
    tokens: tokens(4000, 900),
  });
  rec({
    agent: 'worker-1',
    parentAgent: 'lead',
    task: 'build',
    model: 'deepseek/deepseek-chat',
    sessionID: 's-w1',
    messageID: 'm2',
    cost: 0.002,
    tokens: tokens(2000, 300),
  });
  rec({
    agent: 'worker-2',
    parentAgent: 'lead',
    task: 'test',
    model: 'openai/gpt-5-mini',
    sessionID: 's-w2',
    messageID: 'm1',
    cost: 0.003,
    tokens: tokens(3000, 500),
  });
  rec({
    agent: 'sub-1',
    parentAgent: 'worker-2',
    task: 'test',
    model: 'openai/gpt-5-mini',
    sessionID: 's-sub',
    messageID: 'm1',
    cost: 0.001,
    tokens: tokens(1000, 100),
  });
  rec({ agent: 'solo', model: 'openai/gpt-5-mini', sessionID: 's-solo', cost: 0.01, tokens: { input: 10, output: 1 } });
  return ledger;
}

describe('CostLedger', () => {
  it('totals everything', () => {
    const t = sample().total();
    expect(t.cost).toBeCloseTo(0.07, 12);
    expect(t.input).toBe(15_010);
    expect(t.output).toBe(2_601);
    expect(t.reasoning).toBe(50);
    expect(t.cacheRead).toBe(500);
    expect(t.messages).toBe(6);
  });

  it('is idempotent per (sessionID, messageID): a re-read replaces, never adds', () => {
    const ledger = sample();
    const again = ledger.record({
      agent: 'worker-1',
      parentAgent: 'lead',
      task: 'build',
      model: 'deepseek/deepseek-chat',
      sessionID: 's-w1',
      messageID: 'm2',
      cost: 0.002,
      tokens: tokens(2000, 300),
    });
    expect(again).toEqual({ added: false, delta: 0 });
    expect(ledger.total().cost).toBeCloseTo(0.07, 12);
    expect(ledger.size).toBe(6);
    // the final read of a message that was still streaming moves the total by the difference only
    const grown = ledger.record({
      agent: 'worker-1',
      model: 'deepseek/deepseek-chat',
      sessionID: 's-w1',
      messageID: 'm2',
      cost: 0.0035,
      tokens: tokens(2000, 600),
    });
    expect(grown.added).toBe(false);
    expect(grown.delta).toBeCloseTo(0.0015, 12);
    expect(ledger.total().cost).toBeCloseTo(0.0715, 12);
    // the same messageID in another session is another message
    expect(
      ledger.record({ agent: 'x', model: 'a/b', sessionID: 'other', messageID: 'm2', cost: 0, tokens: tokens(1, 1) })
        .added,
    ).toBe(true);
    // without a messageID every record counts
    expect(
      ledger.record({ agent: 'solo', model: 'a/b', sessionID: 's-solo', cost: 0.01, tokens: tokens(1, 1) }).added,
    ).toBe(true);
  });

  it('rolls agents up through their children', () => {
    const by = sample().byAgent();
    expect(by.lead?.cost).toBeCloseTo(0.05, 12);
    expect(by.lead?.children).toEqual(['worker-1', 'worker-2']);
    expect(by.lead?.subtree.cost).toBeCloseTo(0.06, 12);
    expect(by.lead?.subtree.messages).toBe(5);
    expect(by['worker-2']?.subtree.cost).toBeCloseTo(0.004, 12);
    expect(by['sub-1']).toMatchObject({ parentAgent: 'worker-2', children: [] });
    expect(by.solo?.subtree.cost).toBeCloseTo(0.01, 12);
  });

  it('rolls up by model, task and session', () => {
    const ledger = sample();
    const byModel = ledger.byModel();
    expect(Object.keys(byModel).sort()).toEqual([
      'anthropic/claude-sonnet-4',
      'deepseek/deepseek-chat',
      'openai/gpt-5-mini',
    ]);
    expect(byModel['openai/gpt-5-mini']?.cost).toBeCloseTo(0.014, 12);
    expect(byModel['deepseek/deepseek-chat']?.messages).toBe(2);
    const byTask = ledger.byTask();
    expect(byTask.test?.cost).toBeCloseTo(0.004, 12);
    expect(byTask.build?.output).toBe(1200);
    expect(Object.keys(byTask)).not.toContain('undefined');
    const bySession = ledger.bySession();
    expect(bySession['s-w1']).toMatchObject({ agent: 'worker-1', messages: 2 });
  });

  it("summarises in USD for a report: total, each agent's own cost, per model and per task", () => {
    const s = sample().summary();
    expect(s.total).toBeCloseTo(0.07, 12);
    expect(Object.keys(s.byAgent).sort()).toEqual(['lead', 'solo', 'sub-1', 'worker-1', 'worker-2']);
    expect(s.byAgent.lead).toBeCloseTo(0.05, 12); // own cost, not the subtree's
    expect(s.byAgent['worker-1']).toBeCloseTo(0.006, 12);
    expect(s.byModel['openai/gpt-5-mini']).toBeCloseTo(0.014, 12);
    expect(s.byTask).toEqual({
      plan: expect.closeTo(0.05, 12),
      build: expect.closeTo(0.006, 12),
      test: expect.closeTo(0.004, 12),
    });
    expect(new CostLedger().summary()).toEqual({ total: 0, byAgent: {}, byModel: {}, byTask: {} });
  });

  it('prints the tree in order with a total row', () => {
    const rows = sample().table();
    expect(rows.map((r) => [r.agent, r.depth])).toEqual([
      ['lead', 0],
      ['worker-1', 1],
      ['worker-2', 1],
      ['sub-1', 2],
      ['solo', 0],
      ['total', 0],
    ]);
    expect(rows.at(-1)).toMatchObject({ kind: 'total' });
    expect(rows.at(-1)?.cost).toBeCloseTo(0.07, 12);
    expect(rows[0]?.subtreeCost).toBeCloseTo(0.06, 12);
    expect(rows[1]).toMatchObject({ models: 'deepseek/deepseek-chat', messages: 2, cache: 210 });
  });

  it('survives a cycle in bad parent data without looping or double counting', () => {
    const ledger = new CostLedger();
    ledger.record({ agent: 'a', parentAgent: 'b', model: 'x/y', sessionID: '1', cost: 1, tokens: tokens(1, 1) });
    ledger.record({ agent: 'b', parentAgent: 'a', model: 'x/y', sessionID: '2', cost: 2, tokens: tokens(1, 1) });
    expect(ledger.byAgent().a?.subtree.cost).toBe(3);
    expect(ledger.table().filter((r) => r.kind === 'agent')).toHaveLength(2);
  });

  it('round-trips through JSON and stays idempotent afterwards', () => {
    const ledger = sample();
    const restored = CostLedger.fromJSON(JSON.parse(JSON.stringify(ledger.toJSON())));
    expect(restored.total()).toEqual(ledger.total());
    expect(restored.byAgent()).toEqual(ledger.byAgent());
    expect(
      restored.record({
        agent: 'lead',
        model: 'anthropic/claude-sonnet-4',
        sessionID: 's-lead',
        messageID: 'm1',
        cost: 0.05,
        tokens: tokens(5000, 800),
      }).delta,
    ).toBe(0);
  });

  it('refuses a malformed stored ledger and a negative cost', () => {
    expect(() => CostLedger.fromJSON({ version: 2, entries: [] })).toThrow(FlowError);
    expect(() => CostLedger.fromJSON({ version: 1, entries: [{ agent: 'a' }] })).toThrow(
      expect.objectContaining({ code: FlowErrorCode.FlowNotFound }),
    );
    expect(() =>
      new CostLedger().record({ agent: 'a', model: 'x/y', sessionID: 's', cost: -1, tokens: tokens(1, 1) }),
    ).toThrow(expect.objectContaining({ code: FlowErrorCode.InvalidConfig }));
  });
});
