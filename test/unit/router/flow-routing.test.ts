import { describe, expect, it } from 'vitest';
import { FlowErrorCode } from '../../../src/errors.js';
import { buildCatalog } from '../../../src/router/index.js';
import { createFlowRouting, type RoutedAgentSpec } from '../../../src/runtime/routing.js';
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
    const model = r.beforePrompt({ agent: 'writer', model: first, task: { id: 'writer', text: TASK } });
    expect(model).not.toBe(first);
    expect(catalog.get(model)?.quality).toBeGreaterThanOrEqual(90);
  });

  it('the floor has no say over an explicit model', () => {
    const r = createFlowRouting({ catalog, config: { mode: 'cost' }, routing: true, task: TASK, specs: [{ ...writer(90), model: 'ollama/llama3.1:8b' }] });
    expect(r.specs[0]!.model).toBe('ollama/llama3.1:8b');
  });

  it('no served model meets the floor → invalid_config naming the agent', () => {
    expect(() => createFlowRouting({ catalog, config: {}, routing: true, task: TASK, specs: [writer(99)] })).toThrow(
      expect.objectContaining({ code: FlowErrorCode.InvalidConfig, message: expect.stringContaining('agent "writer"\'s quality floor 99') }),
    );
  });
});
