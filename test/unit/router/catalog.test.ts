import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../../../src/router/index.js';
import { PROVIDERS } from './fixtures.js';

describe('buildCatalog', () => {
  const catalog = buildCatalog(PROVIDERS);

  it('lists every served model as provider/model with its price and limits', () => {
    expect(catalog.size).toBe(16);
    const sonnet = catalog.get('anthropic/claude-sonnet-4-20250514');
    expect(sonnet).toMatchObject({
      providerID: 'anthropic',
      modelID: 'claude-sonnet-4-20250514',
      cost: { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
      contextLimit: 200_000,
      quality: 95,
      scored: true,
      toolcall: true,
    });
    expect(catalog.get('openai/gpt-5')).toMatchObject({ contextLimit: 400_000, inputLimit: 272_000 });
    // OpenRouter keeps the full model key as modelID
    expect(catalog.get('openrouter/deepseek/deepseek-r1')).toMatchObject({
      providerID: 'openrouter',
      modelID: 'deepseek/deepseek-r1',
      quality: 90,
    });
    expect(catalog.defaults).toEqual({ anthropic: 'claude-sonnet-4-20250514', openai: 'gpt-5' });
  });

  it('takes a model without a price as free and flags a model without tool calling', () => {
    expect(catalog.get('ollama/llama3.1:8b')?.cost).toEqual({ input: 0, output: 0 });
    expect(catalog.get('openai/text-embedding-3-small')?.toolcall).toBe(false);
  });

  it('answers has() only for exact served ids', () => {
    expect(catalog.has('google/gemini-2.5-flash')).toBe(true);
    expect(catalog.has('anthropic/claude-sonnet-4')).toBe(false);
    expect(catalog.has('mistral/mistral-large-latest')).toBe(false);
    expect(catalog.list().map((m) => m.id)).toContain('groq/llama-3.1-8b-instant');
  });

  it('resolves what a user meant to a served id, never to an unserved one', () => {
    expect(catalog.resolve('anthropic/claude-sonnet-4')?.id).toBe('anthropic/claude-sonnet-4-20250514');
    expect(catalog.resolve('anthropic/claude-sonnet-4-latest')?.id).toBe('anthropic/claude-sonnet-4-20250514');
    expect(catalog.resolve('gemini-2.5-flash')?.id).toBe('google/gemini-2.5-flash');
    expect(catalog.resolve('deepseek/r1')).toBeUndefined();
    expect(catalog.resolve('mistral/mistral-large')).toBeUndefined();
    // an alias never crosses providers
    expect(catalog.resolve('vertex/claude-sonnet-4')).toBeUndefined();
  });

  it('applies user overrides, which count as scored', () => {
    const withScripted = buildCatalog(
      {
        providers: [
          ...PROVIDERS.providers,
          { id: 'scripted', models: { small: { cost: { input: 0.1, output: 0.4 } } } },
        ],
      },
      { 'scripted/small': { quality: 91 }, 'openai/gpt-5': { speed: 99 } },
    );
    expect(withScripted.get('scripted/small')).toMatchObject({ quality: 91, speed: 60, scored: true });
    expect(withScripted.get('openai/gpt-5')).toMatchObject({ quality: 95, speed: 99 });
    expect(
      buildCatalog({ providers: [{ id: 'scripted', models: { small: {} } }] }).get('scripted/small'),
    ).toMatchObject({
      quality: 60,
      scored: false,
    });
  });

  it('withOverrides returns a new catalog and leaves the original alone', () => {
    const over = catalog.withOverrides({ 'ollama/llama3.1:8b': { quality: 99 } });
    expect(over.get('ollama/llama3.1:8b')?.quality).toBe(99);
    expect(catalog.get('ollama/llama3.1:8b')?.quality).toBe(75);
  });
});
