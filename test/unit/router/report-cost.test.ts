import { describe, expect, it } from 'vitest';
import type { AgentResult } from '../../../machines/agent.js';
import type { SupervisorOutput } from '../../../machines/supervisor.js';
import { toReport } from '../../../src/flow/index.js';
import type { CostSummary } from '../../../src/router/index.js';

/**
 * A report's `cost` is the cost ledger's summary, built from the flow's persisted results
 * alone: a stored flow (`opencode-flow cost`, serve) reports what the live one did.
 */
function result(agent: string, taskId: string, model: string, cost: number): AgentResult {
  return {
    agent,
    taskId,
    sessionID: `ses_${agent}_${taskId}`,
    model,
    status: 'done',
    output: '',
    cost,
    tokens: { input: 1000, output: 100 },
    attempts: [{ model }],
    startedAt: 0,
    finishedAt: 1,
  };
}

const base = { flowId: 'flow_t', status: 'completed' as const, startedAt: 0, finishedAt: 10 };
const costOf = (out: SupervisorOutput) => toReport(out).cost as CostSummary;

describe('toReport cost', () => {
  it('parallel: per agent, per model, per task (an agent’s task), and the total', () => {
    const cost = costOf({
      ...base,
      mode: 'parallel',
      results: [
        result('coder', 'coder', 'openai/gpt-5', 0.02),
        result('reviewer', 'reviewer', 'deepseek/deepseek-chat', 0.003),
        result('tester', 'tester', '', 0.001),
      ],
    });
    expect(cost.total).toBeCloseTo(0.024, 12);
    expect(cost.byAgent).toEqual({ coder: 0.02, reviewer: 0.003, tester: 0.001 });
    // A result on the server's default model has no model id.
    expect(cost.byModel).toEqual({ 'openai/gpt-5': 0.02, 'deepseek/deepseek-chat': 0.003, default: 0.001 });
    expect(cost.byTask).toEqual({ coder: 0.02, reviewer: 0.003, tester: 0.001 });
  });

  it('hierarchical: subtasks by their plan id, the planner by plan and aggregation', () => {
    const out: SupervisorOutput = {
      ...base,
      mode: 'hierarchical',
      plan: {
        subtasks: [
          { id: 's1', title: 'schema', description: 'd', agent: 'coder', dependsOn: [] },
          { id: 's2', title: 'tests', description: 'd', agent: 'tester', dependsOn: ['s1'] },
          { id: 's3', title: 'more code', description: 'd', agent: 'coder', dependsOn: ['s1'] },
        ],
      },
      results: [
        result('planner', 'plan', 'openai/gpt-5', 0.01),
        result('coder:s1', 'coder:s1', 'deepseek/deepseek-chat', 0.004),
        result('tester:s2', 'tester:s2', 'deepseek/deepseek-chat', 0.002),
        result('coder:s3', 'coder:s3', 'openai/gpt-5', 0.006),
        result('planner', 'aggregate', 'openai/gpt-5', 0.005),
      ],
    };
    const cost = costOf(out);
    expect(cost.byTask).toEqual({ plan: 0.01, s1: 0.004, s2: 0.002, s3: 0.006, aggregate: 0.005 });
    // The --json contract: byAgent by result agent, byModel by model, total over all.
    expect(cost.byAgent).toEqual({
      planner: expect.closeTo(0.015, 12),
      'coder:s1': 0.004,
      'tester:s2': 0.002,
      'coder:s3': 0.006,
    });
    expect(cost.byModel).toEqual({
      'openai/gpt-5': expect.closeTo(0.021, 12),
      'deepseek/deepseek-chat': expect.closeTo(0.006, 12),
    });
    expect(cost.total).toBeCloseTo(0.027, 12);
    // Built from the output alone: a JSON round trip (a stored flow) gives the same figures.
    expect(costOf(JSON.parse(JSON.stringify(out)) as SupervisorOutput)).toEqual(cost);
  });

  it('a flow that spent nothing reports zeros', () => {
    expect(costOf({ ...base, mode: 'sequential', results: [] })).toEqual({
      total: 0,
      byAgent: {},
      byModel: {},
      byTask: {},
    });
  });
});
