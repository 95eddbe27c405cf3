import { describe, expect, it } from 'vitest';
import { FlowError, FlowErrorCode } from '../../../src/errors.js';
import { parseModelRouterConfig } from '../../../src/router/index.js';

describe('parseModelRouterConfig', () => {
  it('applies defaults', () => {
    expect(parseModelRouterConfig({})).toEqual({ mode: 'balanced', cooldownMs: 30_000 });
    expect(parseModelRouterConfig(undefined).mode).toBe('balanced');
  });

  it('names the bad field and shows the bad model id', () => {
    const err = catchError(() =>
      parseModelRouterConfig({ rules: [{ taskType: 'review', model: 'deepseek-reasoner' }] }),
    );
    expect(err).toBeInstanceOf(FlowError);
    expect(err.code).toBe(FlowErrorCode.InvalidConfig);
    expect(err.message).toContain('modelRouter.rules.0.model');
    expect(err.message).toContain('provider/model');
    expect(err.message).toContain('"deepseek-reasoner"');
  });

  it('rejects a bad fallback chain entry, regex, floor, mode and unknown keys', () => {
    expect(catchError(() => parseModelRouterConfig({ fallbackChain: ['openai/gpt-5', 'gpt-5'] })).message).toContain(
      'modelRouter.fallbackChain.1',
    );
    expect(catchError(() => parseModelRouterConfig({ rules: [{ match: '(', model: 'a/b' }] })).message).toContain(
      'not a valid regular expression',
    );
    expect(catchError(() => parseModelRouterConfig({ floors: { code: 120 } })).message).toContain(
      'modelRouter.floors.code',
    );
    expect(catchError(() => parseModelRouterConfig({ floors: { coding: 80 } })).message).toContain('coding');
    expect(catchError(() => parseModelRouterConfig({ mode: 'cheap' })).message).toContain('modelRouter.mode');
    expect(catchError(() => parseModelRouterConfig({ maxCost: -1 })).message).toContain('modelRouter.maxCost');
    expect(catchError(() => parseModelRouterConfig({ optimise: 'cost' })).message).toContain('optimise');
    expect(catchError(() => parseModelRouterConfig({ models: { 'gpt-5': { quality: 90 } } })).message).toContain(
      'modelRouter.models.gpt-5',
    );
  });

  it('accepts OpenRouter and Ollama ids', () => {
    const cfg = parseModelRouterConfig({
      fallbackChain: ['openrouter/deepseek/deepseek-r1:free', 'ollama/qwen2.5-coder:7b'],
      models: { 'ollama/qwen2.5-coder:7b': { quality: 80 } },
    });
    expect(cfg.fallbackChain).toHaveLength(2);
  });
});

function catchError(fn: () => unknown): FlowError {
  try {
    fn();
  } catch (e) {
    return e as FlowError;
  }
  throw new Error('expected a throw');
}
