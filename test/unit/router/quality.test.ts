import { describe, expect, it } from 'vitest';
import { DEFAULT_QUALITY, DEFAULT_SPEED, lookupModelScore, tokenizeModelName } from '../../../src/router/index.js';

describe('lookupModelScore', () => {
  it('keeps the spec seed scores', () => {
    expect(lookupModelScore('anthropic/claude-sonnet-4').quality).toBe(95);
    expect(lookupModelScore('deepseek/deepseek-reasoner').quality).toBe(90);
    expect(lookupModelScore('deepseek/deepseek-r1').quality).toBe(90);
    expect(lookupModelScore('google/gemini-2.5-flash').quality).toBe(78);
    expect(lookupModelScore('groq/llama-3.1-8b-instant').quality).toBe(75);
  });

  it.each([
    // dated suffixes, `.` vs `-`, tags
    ['anthropic/claude-sonnet-4-20250514', 'claude-sonnet-4'],
    ['anthropic/claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['anthropic/claude-opus-4-1-20250805', 'claude-opus-4-1'],
    ['anthropic/claude-opus-4-20250514', 'claude-opus-4'],
    ['anthropic/claude-3-5-haiku-20241022', 'claude-3-5-haiku'],
    ['anthropic/claude-3.5-haiku', 'claude-3-5-haiku'],
    ['anthropic/claude-haiku-4-5', 'claude-haiku-4-5'],
    ['amazon-bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0', 'claude-sonnet-4'],
    // OpenAI: the longest pattern wins
    ['openai/gpt-5', 'gpt-5'],
    ['openai/gpt-5-2025-08-07', 'gpt-5'],
    ['openai/gpt-5-mini', 'gpt-5-mini'],
    ['openai/gpt-4.1', 'gpt-4.1'],
    ['openai/gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['openai/gpt-4o', 'gpt-4o'],
    ['openai/gpt-4o-mini', 'gpt-4o-mini'],
    ['openai/o3', 'o3'],
    ['openai/o3-mini', 'o3-mini'],
    ['openai/o4-mini', 'o4-mini'],
    // OpenRouter: match on the model part
    ['openrouter/anthropic/claude-sonnet-4', 'claude-sonnet-4'],
    ['openrouter/deepseek/deepseek-r1:free', 'deepseek-r1'],
    ['openrouter/deepseek/deepseek-chat-v3-0324', 'deepseek-chat'],
    ['openrouter/meta-llama/llama-3.1-8b-instruct', 'llama-3.1-8b'],
    // Google
    ['google/gemini-2.5-pro', 'gemini-2.5-pro'],
    ['google/gemini-2.5-flash-preview-05-20', 'gemini-2.5-flash'],
    ['google/gemini-2.5-flash-lite', 'gemini-2.5-flash-lite'],
    // local, Ollama-style tags
    ['ollama/llama3.1:8b', 'llama-3.1-8b'],
    ['ollama/llama3.1', 'llama-3.1'],
    ['ollama/llama3.1:70b', 'llama-3.1-70b'],
    ['ollama/qwen2.5-coder:7b', 'qwen2.5-coder'],
    ['ollama/qwen2.5-coder:32b', 'qwen2.5-coder-32b'],
    ['lmstudio/qwen3-coder-30b-a3b-instruct', 'qwen3-coder-30b'],
  ])('%s matches %s', (id, pattern) => {
    const score = lookupModelScore(id);
    expect(score.scored).toBe(true);
    expect(score.matched).toBe(pattern);
  });

  it('does not let a shorter family swallow a different model', () => {
    // `gpt-4` must not match `gpt-4o`, nor `o3` match `o3-mini`'s scores.
    expect(lookupModelScore('openai/gpt-4o').quality).not.toBe(lookupModelScore('openai/gpt-4').quality);
    expect(lookupModelScore('openai/o3-mini').quality).toBeLessThan(lookupModelScore('openai/o3').quality);
  });

  it('gives unknown models the documented default, marked unscored', () => {
    expect(lookupModelScore('scripted/small')).toEqual({
      quality: DEFAULT_QUALITY,
      speed: DEFAULT_SPEED,
      scored: false,
    });
    expect(lookupModelScore('acme/claudette-9')).toMatchObject({ scored: false, quality: 60, speed: 60 });
    // a vendor prefix may be skipped, an arbitrary one may not
    expect(lookupModelScore('x/foo-claude-sonnet-4').scored).toBe(false);
  });
});

describe('tokenizeModelName', () => {
  it('unifies separators and letter/digit boundaries', () => {
    expect(tokenizeModelName('ollama/llama3.1:8b')).toEqual(tokenizeModelName('groq/llama-3.1-8b'));
    expect(tokenizeModelName('openrouter/meta-llama/Llama-3.1-8B')).toEqual(['llama', '3', '1', '8', 'b']);
  });
});
