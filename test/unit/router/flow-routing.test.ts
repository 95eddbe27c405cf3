import { describe, expect, it } from 'vitest';
import type { AgentResult } from '../../../machines/agent.js';
import { FlowErrorCode } from '../../../src/errors.js';
import { buildCatalog, estimatePromptTokens } from '../../../src/router/index.js';
import { RunCost } from '../../../src/flow/cost.js';
import { createFlowRouting, type RoutedAgentSpec } from '../../../src/flow/routing.js';
import { PROVIDERS } from './fixtures.js';

/** `createFlowRouting`: how a flow's agents get their models and prompts their budget holds. */
const catalog = buildCatalog(PROVIDERS);
const TASK = 'Write the README for the CLI';
const writer = (qualityFloor?: number): RoutedAgentSpec => ({
  name: 'writer',
  role: 'writer',
  taskType: 'docs',
  ...(qualityFloor !== undefined ? { qualityFloor } : {}),
});

function result(agent: string, cost: number): AgentResult {
  return {
    agent,
    taskId: agent,
    sessionID: `ses_${agent}`,
    model: '',
    status: 'done',
    output: '',
    cost,
    tokens: { input: 0, output: 0 },
    attempts: [],
    startedAt: 0,
    finishedAt: 0,
  };
}

describe("createFlowRouting — an agent's quality floor", () => {
  it('an agent with floor 90 gets a model of quality ≥ 90 though its docs task type allows 60', () => {
    const low = createFlowRouting({ catalog, config: { mode: 'cost' }, routing: true, task: TASK, specs: [writer()] });
    expect(catalog.get(low.specs[0]!.model!)?.quality).toBeLessThan(90);
    const r = createFlowRouting({ catalog, config: { mode: 'cost' }, routing: true, task: TASK, specs: [writer(90)] });
    expect(catalog.get(r.specs[0]!.model!)?.quality).toBeGreaterThanOrEqual(90);
    expect(r.specs[0]!.qualityFloor).toBe(90);
  });

  it('a re-pick before a prompt (the model is cooling down) keeps the floor', () => {
    const r = createFlowRouting({ catalog, config: { mode: 'cost' }, routing: true, task: TASK, specs: [writer(90)] });
    const first = r.specs[0]!.model!;
    r.router.cooldown(first);
    const model = r.pickModel({ agent: 'writer', model: first });
    expect(model).not.toBe(first);
    expect(catalog.get(model)?.quality).toBeGreaterThanOrEqual(90);
  });

  it('the floor has no say over an explicit model', () => {
    const r = createFlowRouting({
      catalog,
      config: { mode: 'cost' },
      routing: true,
      task: TASK,
      specs: [{ ...writer(90), model: 'ollama/llama3.1:8b' }],
    });
    expect(r.specs[0]!.model).toBe('ollama/llama3.1:8b');
  });

  it('no served model meets the floor → invalid_config naming the agent', () => {
    expect(() => createFlowRouting({ catalog, config: {}, routing: true, task: TASK, specs: [writer(99)] })).toThrow(
      expect.objectContaining({
        code: FlowErrorCode.InvalidConfig,
        message: expect.stringContaining('agent "writer"\'s quality floor 99'),
      }),
    );
  });
});

describe('the budget hold before a prompt: routing estimates, RunCost holds and refuses', () => {
  const gpt5 = { ...writer(), model: 'openai/gpt-5' };
  const task = { id: 'writer', text: TASK };
  // gpt-5: $1.25/M in, $10/M out.
  const estimate = (outputTokens: number) => (estimatePromptTokens(TASK) * 1.25 + outputTokens * 10) / 1e6;
  const owner = (config: { expectedOutputTokens?: number }, maxCost: number) => {
    const r = createFlowRouting({ catalog, config, routing: false, task: TASK, specs: [gpt5] });
    return new RunCost({ maxCost, estimate: r.estimate }, () => {});
  };

  it('holds the estimate with the default 1000 output tokens', () => {
    const cost = owner({}, 1);
    cost.reserve({ agent: 'writer', model: 'openai/gpt-5', task });
    expect(cost.inFlight).toBeCloseTo(estimate(1000), 12);
  });

  it('holds the estimate with the configured expectedOutputTokens', () => {
    const cost = owner({ expectedOutputTokens: 50_000 }, 1);
    cost.reserve({ agent: 'writer', model: 'openai/gpt-5', task });
    expect(cost.inFlight).toBeCloseTo(estimate(50_000), 12);
  });

  it('refuses a prompt whose estimate with expectedOutputTokens is over the cap', () => {
    // $0.1 is room for 1000 output tokens ($0.0138) but not for 50 000 ($0.5038).
    expect(() => owner({}, 0.1).reserve({ agent: 'writer', model: 'openai/gpt-5', task })).not.toThrow();
    expect(() =>
      owner({ expectedOutputTokens: 50_000 }, 0.1).reserve({ agent: 'writer', model: 'openai/gpt-5', task }),
    ).toThrow(expect.objectContaining({ code: FlowErrorCode.BudgetExceeded }));
  });

  it('a finished task turns its hold into spending', () => {
    const cost = owner({}, 1);
    cost.reserve({ agent: 'writer', model: 'openai/gpt-5', task });
    cost.book(result('writer', 0.004));
    expect(cost.inFlight).toBe(0);
    expect(cost.spent).toBeCloseTo(0.004, 12);
  });
});

describe('createFlowRouting — fallback of a hierarchical subtask agent (`<agent>:<id>`)', () => {
  const coder: RoutedAgentSpec = { name: 'coder', role: 'coder', taskType: 'code', qualityFloor: 90 };

  it("walks its worker's ranking, so the worker's floor holds", () => {
    const r = createFlowRouting({
      catalog,
      config: { mode: 'cost' },
      routing: true,
      task: 'Build the API',
      specs: [coder],
    });
    const first = r.specs[0]!.model!;
    const seen: string[] = [first];
    for (let i = 0; i < 4; i++) {
      const next = r.chooseFallback({
        agent: 'coder:s1',
        failed: seen.at(-1)!,
        errorKind: 'server',
        attempts: seen.map((model) => ({ model })),
        chain: [],
      });
      expect(next).not.toBeNull();
      expect(catalog.get(next!)?.quality).toBeGreaterThanOrEqual(90);
      seen.push(next!);
    }
  });

  it('is re-picked before a prompt as its worker when its model is cooling down', () => {
    const r = createFlowRouting({
      catalog,
      config: { mode: 'cost' },
      routing: true,
      task: 'Build the API',
      specs: [coder],
    });
    const first = r.specs[0]!.model!;
    r.router.cooldown(first);
    const model = r.pickModel({ agent: 'coder:s1', model: first });
    expect(model).not.toBe(first);
    expect(catalog.get(model)?.quality).toBeGreaterThanOrEqual(90);
  });

  it("walks its worker's explicit chain", () => {
    // Not the ranking's order: the cheapest general model (ollama) would come first.
    const chain = ['openai/gpt-4o-mini', 'ollama/llama3.1:8b'];
    const r = createFlowRouting({
      catalog,
      config: { mode: 'cost' },
      routing: true,
      task: 'Build the API',
      specs: [{ ...coder, fallback: chain }],
    });
    const first = r.specs[0]!.model!;
    expect(
      r.chooseFallback({ agent: 'coder:s1', failed: first, errorKind: 'server', attempts: [{ model: first }], chain }),
    ).toBe('openai/gpt-4o-mini');
  });
});
