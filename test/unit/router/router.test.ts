import { describe, expect, it } from 'vitest';
import { FlowError, FlowErrorCode } from '../../../src/errors.js';
import { ModelRouter, buildCatalog } from '../../../src/router/index.js';
import type { ModelRouterConfigInput, SelectInput } from '../../../src/router/index.js';
import { PROMPT_TOKENS, PROVIDERS } from './fixtures.js';

const catalog = buildCatalog(PROVIDERS);
const T0 = 1_700_000_000_000;

function router(config: ModelRouterConfigInput = {}): ModelRouter {
  return new ModelRouter(catalog, config);
}

function task(input: Partial<SelectInput> & { agent: string }): SelectInput {
  return { task: 'do the work', promptTokens: PROMPT_TOKENS, now: T0, ...input };
}

const code = (agent = 'coder') => task({ agent, task: 'Build a REST API with authentication' });

describe('ModelRouter.select — modes on a fixed catalog', () => {
  it('cost → the cheapest model meeting the code floor', () => {
    const s = router({ mode: 'cost' }).select(code());
    expect(s).toMatchObject({ model: 'deepseek/deepseek-chat', taskType: 'code', source: 'score', floor: 85 });
    expect(s.estimate).toBeCloseTo(0.0038, 10);
    expect(s.reason).toContain('cheapest');
  });

  it('quality → the best model', () => {
    expect(router({ mode: 'quality' }).select(code()).model).toBe('anthropic/claude-opus-4-1-20250805');
  });

  it('speed → the fastest model meeting the floor', () => {
    expect(router({ mode: 'speed' }).select(code()).model).toBe('openai/gpt-5-mini');
    expect(router({ mode: 'speed' }).select(task({ agent: 'general', task: 'Say hello' })).model).toBe(
      'ollama/llama3.1:8b',
    );
  });

  it('balanced (the default) → the best weighted score, with the ranking as the chain', () => {
    const s = router().select(code());
    expect(s.model).toBe('openai/gpt-5-mini');
    expect(s.chain).toEqual([
      'deepseek/deepseek-chat',
      'openrouter/deepseek/deepseek-r1',
      'deepseek/deepseek-reasoner',
      'openai/gpt-5',
    ]);
    expect(s.reason).toMatch(/^balanced: .*score 0\.88/);
  });

  it('is deterministic', () => {
    const a = router().select(code());
    const b = router().select(code());
    expect(a).toEqual(b);
  });
});

describe('ModelRouter.select — floors', () => {
  it('never gives a code task a model under its floor, in any mode', () => {
    for (const mode of ['cost', 'quality', 'speed', 'balanced'] as const) {
      const s = router({ mode }).select(code());
      expect(catalog.get(s.model)?.quality).toBeGreaterThanOrEqual(85);
      for (const id of s.chain) expect(catalog.get(id)?.quality).toBeGreaterThanOrEqual(85);
    }
  });

  it('lets a low-floor task go to a cheaper model', () => {
    expect(router({ mode: 'cost' }).select(task({ agent: 'tester', task: 'Write tests' })).model).toBe(
      'ollama/llama3.1:8b',
    );
  });

  it('throws invalid_config when no served model meets the floor, naming the fixes', () => {
    const local = buildCatalog({ providers: [PROVIDERS.providers[6]!, { id: 'scripted', models: { small: {} } }] });
    const r = new ModelRouter(local, { mode: 'cost' });
    let error: unknown;
    try {
      r.select(code());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FlowError);
    expect((error as FlowError).code).toBe(FlowErrorCode.InvalidConfig);
    expect((error as FlowError).message).toMatch(
      /code quality floor 85; the best served model is ollama\/llama3\.1:8b at quality 75/,
    );
    expect((error as FlowError).message).toContain('modelRouter.floors.code');
    // The way out, quick fix first.
    expect((error as FlowError).message).toContain('Quick fix: name a model with --model provider/model');
    expect((error as FlowError).message).toContain('modelRouter.models');
  });

  it('follows floor overrides and score overrides', () => {
    const local = buildCatalog({ providers: [PROVIDERS.providers[6]!, { id: 'scripted', models: { small: {} } }] });
    expect(new ModelRouter(local, { mode: 'cost', floors: { code: 70 } }).select(code()).model).toBe(
      'ollama/llama3.1:8b',
    );
    expect(
      new ModelRouter(local, { mode: 'cost', models: { 'scripted/small': { quality: 90 } } }).select(code()).model,
    ).toBe('scripted/small');
  });
});

describe("ModelRouter.select — an agent's own quality floor", () => {
  const docs = (qualityFloor?: number) =>
    task({
      agent: 'writer',
      task: 'Write the README',
      taskType: 'docs',
      ...(qualityFloor !== undefined ? { qualityFloor } : {}),
    });

  it('an agent with floor 90 never gets a model under 90, even when its task type floor is lower', () => {
    for (const mode of ['cost', 'quality', 'speed', 'balanced'] as const) {
      // Without the agent's floor the docs floor (60) lets cost, speed and balanced go lower.
      if (mode !== 'quality') expect(catalog.get(router({ mode }).select(docs()).model)?.quality).toBeLessThan(90);
      const s = router({ mode }).select(docs(90));
      expect(s.floor).toBe(90);
      expect(catalog.get(s.model)?.quality).toBeGreaterThanOrEqual(90);
      for (const id of s.chain) expect(catalog.get(id)?.quality).toBeGreaterThanOrEqual(90);
    }
    const s = router({ mode: 'cost' }).select(docs(90));
    expect(s.model).toBe('openrouter/deepseek/deepseek-r1'); // the cheapest at 90 or more
    expect(s.reason).toContain("quality ≥ 90 (agent writer's floor)");
  });

  it('a lower agent floor does not lower the task type floor', () => {
    const s = router({ mode: 'cost' }).select({ ...code(), qualityFloor: 50 });
    expect(s).toMatchObject({ model: 'deepseek/deepseek-chat', floor: 85 });
    expect(s.reason).toContain('(code floor)');
  });

  it('a fallback beyond the chain keeps the agent floor', () => {
    const r = router({ mode: 'cost' });
    const s = r.select(docs(90)); // deepseek-r1, 163k window
    const next = r.next({
      agent: 'writer',
      failed: s.model,
      errorKind: 'context_overflow',
      tried: [s.model, ...s.chain],
      now: T0,
    });
    expect(next).toBeDefined();
    expect(catalog.get(next!)?.quality).toBeGreaterThanOrEqual(90);
  });

  it('throws invalid_config naming the agent when no served model meets its floor', () => {
    let error: unknown;
    try {
      router().select(docs(99));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FlowError);
    expect((error as FlowError).code).toBe(FlowErrorCode.InvalidConfig);
    expect((error as FlowError).message).toMatch(
      /agent "writer"'s quality floor 99 .*best served model is anthropic\/claude-opus-4-1-20250805 at quality 97/,
    );
    expect((error as FlowError).message).toContain("lower the agent's qualityFloor");
    expect((error as FlowError).message).toContain('Quick fix: name a model with --model provider/model');
  });

  it('explicit choices still win over it: the agent model and rules', () => {
    expect(router().select({ ...docs(90), preferred: 'ollama/llama3.1:8b' }).model).toBe('ollama/llama3.1:8b');
    expect(router({ rules: [{ agent: 'writer', model: 'openai/gpt-4o-mini' }] }).select(docs(90)).model).toBe(
      'openai/gpt-4o-mini',
    );
  });

  it('rejects a floor outside 0–100', () => {
    for (const bad of [Number.NaN, -1, 101]) {
      expect(() => router().select(docs(bad))).toThrow(expect.objectContaining({ code: FlowErrorCode.InvalidConfig }));
    }
  });
});

describe('ModelRouter.estimate', () => {
  it('uses expectedOutputTokens like select does', () => {
    const r = router({ expectedOutputTokens: 5000 });
    const s = r.select({ ...code(), preferred: 'openai/gpt-5' });
    // 10k in at $1.25/M + 5k out at $10/M
    expect(r.estimate('openai/gpt-5', PROMPT_TOKENS)).toBeCloseTo(0.0625, 12);
    expect(s.estimate).toBe(r.estimate('openai/gpt-5', PROMPT_TOKENS));
    expect(router().estimate('openai/gpt-5', PROMPT_TOKENS)).toBeCloseTo(0.0225, 12);
    expect(r.estimate('nowhere/model', PROMPT_TOKENS)).toBeUndefined();
  });
});

describe('ModelRouter.select — explicit choices', () => {
  it('an agent model that is served always wins, even under the floor', () => {
    const s = router({ mode: 'quality' }).select({ ...code(), preferred: 'ollama/qwen2.5-coder:7b' });
    expect(s).toMatchObject({ model: 'ollama/qwen2.5-coder:7b', source: 'preferred', estimate: 0 });
    expect(s.chain).not.toContain('ollama/qwen2.5-coder:7b');
  });

  it('an agent model wins even while cooling down, and says so', () => {
    const r = router();
    r.cooldown('openai/gpt-5', 60_000, T0);
    const s = r.select({ ...code(), preferred: 'openai/gpt-5' });
    expect(s.model).toBe('openai/gpt-5');
    expect(s.reason).toContain('cooling down');
    expect(r.cooldowns(T0)).toEqual({ 'openai/gpt-5': T0 + 60_000 });
    expect(r.cooldowns(T0 + 60_000)).toEqual({});
  });

  it('rejects a nonsense prompt size', () => {
    expect(() => router().select({ ...code(), promptTokens: Number.NaN })).toThrow(
      expect.objectContaining({ code: FlowErrorCode.InvalidConfig }),
    );
  });

  it('resolves a preferred alias to the served id, and ignores an unserved one', () => {
    expect(router().select({ ...code(), preferred: 'anthropic/claude-sonnet-4' }).model).toBe(
      'anthropic/claude-sonnet-4-20250514',
    );
    const s = router().select({ ...code(), preferred: 'mistral/mistral-large' });
    expect(s).toMatchObject({ model: 'openai/gpt-5-mini', source: 'score' });
    expect(s.reason).toContain('mistral/mistral-large is not served');
  });

  it('rules beat scoring: first matching rule wins', () => {
    const r = router({
      mode: 'balanced',
      rules: [
        { agent: 'reviewer', match: 'security', model: 'anthropic/claude-opus-4-1-20250805' },
        { taskType: 'review', model: 'deepseek/deepseek-reasoner' },
        { taskType: 'review', model: 'openai/gpt-5' },
      ],
    });
    const review = r.select(task({ agent: 'reviewer', task: 'Review PR #12' }));
    expect(review).toMatchObject({ model: 'deepseek/deepseek-reasoner', source: 'rule' });
    expect(review.reason).toContain('rule #1 (taskType=review)');
    expect(r.select(task({ agent: 'reviewer', task: 'Review the SECURITY of PR #12' })).model).toBe(
      'anthropic/claude-opus-4-1-20250805',
    );
    // no rule matches: scoring
    expect(r.select(code()).source).toBe('score');
  });

  it('a rule matches on the role too', () => {
    const r = router({ rules: [{ agent: 'coder', model: 'openai/gpt-5' }] });
    expect(r.select(task({ agent: 'bob', role: 'coder', task: 'x' })).model).toBe('openai/gpt-5');
  });

  it('never picks a model the server lacks, even if a rule or the fallback chain names it', () => {
    const r = router({
      mode: 'cost',
      rules: [{ taskType: 'code', model: 'mistral/mistral-large-latest' }],
      fallbackChain: ['mistral/mistral-large-latest', 'deepseek/r1', 'anthropic/claude-sonnet-4', 'openai/gpt-5'],
    });
    const s = r.select(code());
    expect(s.model).toBe('deepseek/deepseek-chat');
    expect(s.source).toBe('score');
    expect(s.reason).toContain('not served');
    expect(s.chain).toEqual(['anthropic/claude-sonnet-4-20250514', 'openai/gpt-5']);
    const tried = [s.model];
    let next: string | undefined;
    // bounded, so a regression that stops skipping tried models fails instead of looping
    for (
      let i = 0;
      i < 10 && (next = r.next({ agent: 'coder', failed: tried.at(-1)!, errorKind: 'server', tried, now: T0 }));
      i++
    ) {
      expect(catalog.has(next)).toBe(true);
      tried.push(next);
    }
    expect(tried).toEqual(['deepseek/deepseek-chat', 'anthropic/claude-sonnet-4-20250514', 'openai/gpt-5']);
  });
});

describe('ModelRouter.select — maxCostPerTask', () => {
  it('filters models whose estimate is over the cap', () => {
    const s = router({ mode: 'quality', maxCostPerTask: 0.03 }).select(code());
    expect(s.model).toBe('openai/gpt-5'); // opus (0.225) and sonnet (0.045) are over
    expect(s.estimate).toBeLessThanOrEqual(0.03);
  });

  it('only estimates: with none under the cap it names the cheapest meeting the floor (the run refuses the prompt)', () => {
    const s = router({ mode: 'quality', maxCostPerTask: 0.001 }).select(code());
    expect(s.estimate).toBeGreaterThan(0.001);
    expect(s.reason).toContain('no served model fits maxCostPerTask $0.001');
  });
});

describe('cooldowns', () => {
  it('a model that gave a 429 is skipped by a second agent, until the cooldown ends', () => {
    const r = router({ cooldownMs: 10_000 });
    const first = r.select(code('coder-1'));
    expect(first.model).toBe('openai/gpt-5-mini');
    r.cooldown(first.model, undefined, T0);
    expect(r.isCoolingDown('openai/gpt-5-mini', T0 + 9_999)).toBe(true);

    const second = r.select({ ...code('coder-2'), now: T0 + 1_000 });
    expect(second.model).toBe('deepseek/deepseek-chat');
    expect(second.reason).toContain('skipped 1 cooling model');

    expect(r.select({ ...code('coder-3'), now: T0 + 10_000 }).model).toBe('openai/gpt-5-mini');
  });

  it('next() with rate_limit cools the failed model down for every agent', () => {
    const r = router();
    const a = r.select(code('a'));
    const b = r.select(code('b'));
    expect(b.model).toBe(a.model);
    const nextA = r.next({ agent: 'a', failed: a.model, errorKind: 'rate_limit', tried: [a.model], now: T0 + 10 });
    expect(nextA).toBe('deepseek/deepseek-chat');
    // agent b, still on gpt-5-mini, now routes around it, as does a new agent
    expect(r.select(code('c')).model).not.toBe('openai/gpt-5-mini');
    expect(r.isCoolingDown('openai/gpt-5-mini', T0 + 10)).toBe(true);
  });

  it("next() skips another agent's cooling model in the chain", () => {
    const r = router();
    const s = r.select(code('a')); // chain: deepseek-chat, openrouter r1, reasoner, gpt-5
    r.cooldown('deepseek/deepseek-chat', 60_000, T0); // agent b got a 429 there
    expect(r.next({ agent: 'a', failed: s.model, errorKind: 'timeout', tried: [s.model], now: T0 + 1 })).toBe(
      'openrouter/deepseek/deepseek-r1',
    );
  });

  it('uses a cooling model when nothing else is left', () => {
    const r = router({ fallbackChain: ['openai/gpt-5', 'deepseek/deepseek-chat'] });
    for (const m of catalog.list()) r.cooldown(m.id, 5_000, T0);
    const s = r.select(code());
    expect(s.model).toBe('openai/gpt-5-mini');
    expect(s.reason).toContain('every candidate is cooling down');
    r.cooldown('deepseek/deepseek-chat', 1_000, T0); // no shortening: stays at T0+5000
    expect(r.isCoolingDown('deepseek/deepseek-chat', T0 + 2_000)).toBe(true);
    r.cooldown('openai/gpt-5', 60_000, T0);
    // both chain models cooling: the one free soonest
    expect(r.next({ agent: 'coder', failed: s.model, errorKind: 'other', tried: [s.model], now: T0 + 1 })).toBe(
      'deepseek/deepseek-chat',
    );
  });
});

describe('ModelRouter.next', () => {
  it('walks the chain, skipping tried models, then returns undefined', () => {
    const r = router();
    const s = r.select(code());
    const tried = [s.model, 'openrouter/deepseek/deepseek-r1'];
    expect(r.next({ agent: 'coder', failed: s.model, errorKind: 'timeout', tried, now: T0 })).toBe(
      'deepseek/deepseek-chat',
    );
    const all = [s.model, ...s.chain];
    expect(
      r.next({ agent: 'coder', failed: 'openai/gpt-5', errorKind: 'timeout', tried: all, now: T0 }),
    ).toBeUndefined();
  });

  it('uses an explicitly given chain (a restored flow)', () => {
    const fresh = router();
    expect(
      fresh.next({
        agent: 'coder',
        failed: 'openai/gpt-5',
        errorKind: 'server',
        tried: [],
        chain: ['openai/gpt-5', 'google/gemini-2.5-pro'],
        now: T0,
      }),
    ).toBe('google/gemini-2.5-pro');
  });

  it('context_overflow prefers a larger window, beyond the chain if need be', () => {
    const r = router();
    const s = r.select(code()); // gpt-5-mini, 272k input
    // nothing in the chain has more than 272k: the best-ranked larger model meeting the floor
    expect(r.next({ agent: 'coder', failed: s.model, errorKind: 'context_overflow', tried: [s.model], now: T0 })).toBe(
      'google/gemini-2.5-pro',
    );
    // deepseek-chat (128k) overflowed: openrouter r1 (163k) is the first larger one in the chain
    expect(
      r.next({
        agent: 'coder',
        failed: 'deepseek/deepseek-chat',
        errorKind: 'context_overflow',
        tried: [s.model, 'deepseek/deepseek-chat'],
        now: T0,
      }),
    ).toBe('openrouter/deepseek/deepseek-r1');
  });

  it('auth skips every model of the failed provider and cools them for other agents', () => {
    const r = router({ fallbackChain: ['openai/gpt-5', 'openai/gpt-4o-mini', 'google/gemini-2.5-pro'] });
    const s = r.select(code());
    expect(s.model).toBe('openai/gpt-5-mini');
    expect(r.next({ agent: 'coder', failed: s.model, errorKind: 'auth', tried: [s.model], now: T0 })).toBe(
      'google/gemini-2.5-pro',
    );
    expect(r.isCoolingDown('openai/gpt-5', T0)).toBe(true);
    expect(r.select(code('other')).model).toBe('deepseek/deepseek-chat');
  });
});
