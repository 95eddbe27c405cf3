import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startScriptedLLM, startTestOpencode } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * Routing, fallback chains with a flow-wide cooldown, and hard budgets, against real
 * OpenCode. Four scripted models; the router's quality table is overridden so the
 * ranking is a > b > c > d.
 */
const models = ['a', 'b', 'c', 'd'].map((id) => ({ id, cost: { input: 0.1, output: 0.4 } }));
const modelRouter = {
  mode: 'quality' as const,
  floors: { general: 50, code: 50, review: 50, research: 50, test: 50, plan: 50, security: 50, docs: 50 },
  models: {
    'scripted/a': { quality: 95 },
    'scripted/b': { quality: 90 },
    'scripted/c': { quality: 85 },
    'scripted/d': { quality: 80 },
  },
};

// No host-wide model: the router (or the agent) picks it.
const env = useFlowHosts({ opencode: { models, defaultModel: 'd' }, defaults: { model: undefined } });

describe('model router in a real flow', () => {
  it('walks the chain past 429, 500 and a hang; a second agent skips the cooling models', async () => {
    env.llm.script([
      { match: { allText: 'ROUTE-TASK', model: /^a$/ }, reply: { status: 429 } },
      { match: { allText: 'ROUTE-TASK', model: /^b$/ }, reply: { status: 500, errorMessage: 'upstream broke' } },
      { match: { allText: 'ROUTE-TASK', model: /^c$/ }, reply: { hang: true }, times: 1 },
      { match: { allText: 'ROUTE-TASK' }, reply: (req) => ({ text: `answered by ${req.model}` }) },
    ]);
    // Long enough for a 429 and a 500 on a loaded machine (CI ran one past 8 s), short for the hang.
    const flow = env.host({ modelRouter, promptTimeoutMs: 12_000 });
    try {
      const report = await flow.execute({
        task: 'ROUTE-TASK: summarise',
        agents: ['researcher', 'reviewer'],
        mode: 'sequential',
      });
      expect(report.status).toBe('completed');
      const [first, second] = report.results;
      // The router picked the best model; the chain then came from its ranking.
      expect(first!.attempts.map((a) => a.model)).toEqual(['scripted/a', 'scripted/b', 'scripted/c', 'scripted/d']);
      expect(first!.attempts[0]!.error).toMatch(/rate|429/i);
      expect(first!.attempts[1]!.error).toBeTruthy();
      expect(first!.attempts[2]!.error).toMatch(/no answer within 12000 ms/);
      expect(first!.model).toBe('scripted/d');
      expect(first!.output).toBe('answered by d');
      // a and b just failed with 429/500: cooling down for every agent of the flow.
      expect(second!.attempts).toEqual([{ model: 'scripted/c' }]);
      expect(second!.output).toBe('answered by c');
      const reviewerRequests = env.llm
        .promptRequests()
        .filter((r) => r.allText.includes('ROUTE-TASK') && r.system.includes('You are the **reviewer**'));
      expect(reviewerRequests.map((r) => r.model)).toEqual(['c']);
    } finally {
      await flow.shutdown();
    }
  });

  it('optimize=cost picks the cheapest model meeting the floor', async () => {
    const priced = await startScriptedLLM({ fallback: { text: 'cheap answer' } });
    const oc2 = await startTestOpencode({
      baseURL: priced.baseURL,
      models: [
        { id: 'flagship', cost: { input: 3, output: 15 } },
        { id: 'mid', cost: { input: 1, output: 4 } },
        { id: 'cheap', cost: { input: 0.1, output: 0.4 } },
      ],
    });
    const flow = env.host({
      serverUrl: oc2.url,
      modelRouter: {
        floors: { code: 85 },
        models: {
          'scripted/flagship': { quality: 95 },
          'scripted/mid': { quality: 88 },
          'scripted/cheap': { quality: 70 },
        },
      },
    });
    try {
      const report = await flow.execute({ task: 'Implement the endpoint', agents: ['coder'], optimize: 'cost' });
      // cheap is under the code floor (85): the cheapest model that meets it is mid.
      expect(report.results[0]!.model).toBe('scripted/mid');
      expect(priced.promptRequests().map((r) => r.model)).toEqual(['mid']);
    } finally {
      await flow.shutdown();
      await oc2.stop();
      await priced.close();
    }
  });

  it("an agent file's qualityFloor holds above its task type's floor", async () => {
    // Two docs agents (docs floor 50 here); one says `qualityFloor: 90` in its front matter.
    const dir = mkdtempSync(join(tmpdir(), 'flow-floor-'));
    const agentFile = (name: string, floor?: number) =>
      writeFileSync(
        join(dir, `${name}.md`),
        [
          '---',
          `description: Writes docs (${name}).`,
          'flow:',
          '  taskType: docs',
          ...(floor !== undefined ? [`  qualityFloor: ${floor}`] : []),
          '---',
          `You are ${name}.`,
          '',
        ].join('\n'),
      );
    agentFile('careful-writer', 90);
    agentFile('quick-writer');
    env.llm.script({ match: { allText: 'FLOOR-TASK' }, reply: (req) => ({ text: `written by ${req.model}` }) });
    const flow = env.host({
      agentDirs: [dir],
      // speed mode: the fastest model wins, and the fastest are the weakest.
      modelRouter: {
        mode: 'speed',
        floors: { docs: 50 },
        models: {
          'scripted/a': { quality: 95, speed: 10 },
          'scripted/b': { quality: 90, speed: 20 },
          'scripted/c': { quality: 85, speed: 90 },
          'scripted/d': { quality: 80, speed: 95 },
        },
      },
    });
    try {
      const report = await flow.execute({
        task: 'FLOOR-TASK: document the API',
        agents: ['careful-writer', 'quick-writer'],
      });
      expect(report.status).toBe('completed');
      const byAgent = Object.fromEntries(report.results.map((r) => [r.agent, r.model]));
      expect(byAgent).toEqual({ 'careful-writer': 'scripted/b', 'quick-writer': 'scripted/d' });
      const served = env.llm.promptRequests().filter((r) => r.allText.includes('FLOOR-TASK'));
      expect(served.find((r) => r.system.includes('You are careful-writer.'))?.model).toBe('b');
    } finally {
      await flow.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a hard budget stops the flow: budget_exceeded, never more than cap + in-flight', async () => {
    // Each prompt reports 100k input tokens on $0.1/M: $0.01 per agent, by OpenCode's own accounting.
    env.llm.script({
      match: { allText: 'BUDGET-TASK' },
      reply: { text: 'expensive answer', usage: { prompt_tokens: 100_000, completion_tokens: 10 } },
    });
    const flow = env.host({ model: 'scripted/d' });
    try {
      const cap = 0.015;
      const report = await flow.execute({
        task: 'BUDGET-TASK',
        agents: ['researcher', 'coder', 'tester'],
        mode: 'sequential',
        maxCost: cap,
      });
      expect(report.status).toBe('budget_exceeded');
      // The second prompt's own cost (reported mid-prompt) takes the flow past the cap.
      expect(report.reason).toMatch(/budget exceeded( mid-prompt)?: spent \$0\.02/);
      // Two prompts ran (the second started while $0.005 was left); the third never started.
      const prompted = env.llm.promptRequests().filter((r) => r.allText.includes('BUDGET-TASK'));
      expect(prompted).toHaveLength(2);
      expect(report.results.map((r) => r.agent)).toEqual(['researcher', 'coder']);
      expect(report.cost.total).toBeCloseTo(0.020008, 9);
      const maxSingle = Math.max(...report.results.map((r) => r.cost));
      expect(report.cost.total).toBeLessThanOrEqual(cap + maxSingle);
      expect(report.cost.byModel).toEqual({ 'scripted/d': report.cost.total });
    } finally {
      await flow.shutdown();
    }
  });

  it('the budget stops running agents mid-prompt: a tool loop past the cap is cut off, a slow agent aborted', async () => {
    // Every step of the loop costs $0.01 (100k input tokens at $0.1/M): five tool calls, then an answer.
    const step = { usage: { prompt_tokens: 100_000, completion_tokens: 10 } };
    const call = (i: number) => ({
      ...step,
      toolCalls: [{ name: 'bash', arguments: { command: `echo LOOP-STEP-${i}`, description: 'a step' } }],
    });
    env.llm.script([
      { match: { allText: 'MIDFLIGHT', system: 'SLOW-AGENT' }, reply: { text: 'slow answer', delayMs: 45_000 } },
      {
        match: { allText: 'MIDFLIGHT' },
        reply: [call(1), call(2), call(3), call(4), call(5), { ...step, text: 'loop finished' }],
      },
    ]);
    const flow = env.host({ model: 'scripted/d', persist: false });
    try {
      await flow.spawn({ name: 'looper', agent: 'build', permissions: { bash: 'allow' } });
      await flow.spawn({ name: 'slow', agent: 'build', systemPrompt: 'SLOW-AGENT' });
      const cap = 0.025;
      const t0 = Date.now();
      const report = await flow.execute({
        task: 'MIDFLIGHT: run the loop',
        agents: ['looper', 'slow'],
        maxCost: cap,
        retries: 0,
      });
      expect(Date.now() - t0).toBeLessThan(40_000); // long before the slow agent would answer
      expect(report.status).toBe('budget_exceeded');
      expect(report.reason).toMatch(/budget exceeded mid-prompt: spent \$0\.03/);
      // The loop was cut off after the step that crossed the cap (at most one more had started).
      const steps = env.llm
        .promptRequests()
        .filter((r) => r.allText.includes('MIDFLIGHT') && !r.system.includes('SLOW-AGENT'));
      expect(steps.length).toBeGreaterThanOrEqual(3);
      expect(steps.length).toBeLessThanOrEqual(4);
      expect(report.results.find((r) => r.agent === 'looper')?.output ?? '').not.toContain('loop finished');
      // Never more than the cap plus the steps in flight when it was crossed.
      expect(report.cost.total).toBeLessThanOrEqual(cap + 0.02 + 1e-6);
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });

  it("a budget smaller than one prompt's estimate refuses the first prompt", async () => {
    const flow = env.host({ model: 'scripted/d' });
    const before = env.llm.promptRequests().length;
    try {
      const report = await flow.execute({ task: 'TINY-BUDGET', agents: ['coder'], maxCost: 0.000001 });
      expect(report.status).toBe('budget_exceeded');
      expect(report.results[0]!.status).toBe('failed');
      expect(report.results[0]!.error).toMatch(/would exceed the flow budget/);
      expect(report.cost.total).toBe(0);
      expect(env.llm.promptRequests().length).toBe(before);
    } finally {
      await flow.shutdown();
    }
  });
});
