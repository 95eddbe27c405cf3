import { describe, expect, it } from 'vitest';
import {
  BALANCED_WEIGHTS,
  ModelCatalog,
  buildCatalog,
  estimateCost,
  estimatePromptTokens,
  rankModels,
} from '../../../src/router/index.js';
import type { ModelInfo } from '../../../src/router/index.js';
import { PROMPT_TOKENS, PROVIDERS } from './fixtures.js';

const models = buildCatalog(PROVIDERS).list();

/** A model priced like every other one here, differing only in the given scores. */
function info(id: string, scores: { quality: number; speed: number }): ModelInfo {
  const [providerID = '', modelID = ''] = id.split('/');
  return { id, providerID, modelID, name: id, cost: { input: 1, output: 2 }, scored: true, toolcall: true, ...scores };
}
const base = { promptTokens: PROMPT_TOKENS, outputTokens: 1000 };

describe('estimateCost', () => {
  it('is (prompt·input + output·output) / 1e6 with prices per 1M tokens', () => {
    expect(estimateCost({ cost: { input: 3, output: 15 } }, 10_000, 1_000)).toBeCloseTo(0.045, 12);
    expect(estimateCost({ cost: { input: 0, output: 0 } }, 10_000, 1_000)).toBe(0);
  });
  it('estimates prompt tokens from the text plus an overhead', () => {
    expect(estimatePromptTokens('x'.repeat(400))).toBe(3100);
  });
});

describe('rankModels', () => {
  it('cost: cheapest meeting the floor; equal prices → higher quality', () => {
    expect(rankModels(models, { ...base, mode: 'cost', floor: 85 })[0]?.model.id).toBe('deepseek/deepseek-chat');
    // two free local models (quality 74 and 75): the better one first
    const ranked = rankModels(models, { ...base, mode: 'cost', floor: 70 }).map((r) => r.model.id);
    expect(ranked.slice(0, 2)).toEqual(['ollama/llama3.1:8b', 'ollama/qwen2.5-coder:7b']);
  });

  it('cost ties go to quality, then speed, before the id', () => {
    const twins = new ModelCatalog([
      info('a/low', { quality: 80, speed: 99 }),
      info('m/fast', { quality: 90, speed: 90 }),
      info('z/high', { quality: 90, speed: 50 }),
    ]).list();
    expect(rankModels(twins, { ...base, mode: 'cost' }).map((r) => r.model.id)).toEqual(['m/fast', 'z/high', 'a/low']);
  });

  it('quality: highest quality; equal quality → cheaper', () => {
    expect(rankModels(models, { ...base, mode: 'quality', floor: 85 })[0]?.model.id).toBe(
      'anthropic/claude-opus-4-1-20250805',
    );
    // without opus, four models share 95: gpt-5 is the cheapest of them, then sonnet (id order breaks the sonnet tie)
    const ranked = rankModels(models, { ...base, mode: 'quality', floor: 85, maxCostPerTask: 0.1 }).map(
      (r) => r.model.id,
    );
    expect(ranked.slice(0, 3)).toEqual([
      'openai/gpt-5',
      'anthropic/claude-sonnet-4-20250514',
      'openrouter/anthropic/claude-sonnet-4',
    ]);
  });

  it('speed: fastest meeting the floor', () => {
    expect(rankModels(models, { ...base, mode: 'speed', floor: 85 })[0]?.model.id).toBe('openai/gpt-5-mini');
    // groq's llama-3.1-8b-instant and the local llama3.1:8b tie on speed and quality: the free one wins
    const ids = rankModels(models, { ...base, mode: 'speed', floor: 60 }).map((r) => r.model.id);
    expect(ids.slice(0, 2)).toEqual(['ollama/llama3.1:8b', 'groq/llama-3.1-8b-instant']);
  });

  it('balanced: the documented weighted score, worked by hand', () => {
    const ranked = rankModels(models, { ...base, mode: 'balanced', floor: 85 });
    expect(ranked.map((r) => r.model.id).slice(0, 5)).toEqual([
      'openai/gpt-5-mini',
      'deepseek/deepseek-chat',
      'openrouter/deepseek/deepseek-r1',
      'deepseek/deepseek-reasoner',
      'openai/gpt-5',
    ]);
    // gpt-5-mini: q 88, s 70, e 0.0045; cheapest candidate 0.0038 (deepseek-chat), dearest 0.225 (opus)
    const ln = (e: number) => Math.log(e + 1e-6);
    const c = (ln(0.225) - ln(0.0045)) / (ln(0.225) - ln(0.0038));
    const expected = BALANCED_WEIGHTS.quality * 0.88 + BALANCED_WEIGHTS.cost * c + BALANCED_WEIGHTS.speed * 0.7;
    expect(ranked[0]?.score).toBeCloseTo(expected, 12);
    expect(ranked[0]?.score).toBeCloseTo(0.8805, 4);
  });

  it('leaves out models under the floor, over the cap, excluded, or without tool calling', () => {
    const ranked = rankModels(models, {
      ...base,
      mode: 'cost',
      floor: 0,
      maxCostPerTask: 0.005,
      exclude: new Set(['ollama/llama3.1:8b']),
    });
    const ids = ranked.map((r) => r.model.id);
    expect(ids).not.toContain('openai/text-embedding-3-small');
    expect(ids).not.toContain('ollama/llama3.1:8b');
    expect(ranked.every((r) => r.estimate <= 0.005)).toBe(true);
    expect(rankModels(models, { ...base, mode: 'cost', floor: 85 }).every((r) => r.model.quality >= 85)).toBe(true);
  });

  it('partial selection equals the head of the full ranking', () => {
    for (const mode of ['cost', 'quality', 'speed', 'balanced'] as const) {
      const full = rankModels(models, { ...base, mode }).map((r) => r.model.id);
      const top = rankModels(models, { ...base, mode, limit: 3 }).map((r) => r.model.id);
      expect(top).toEqual(full.slice(0, 3));
    }
  });
});
