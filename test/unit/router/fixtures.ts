import type { ProvidersAnswer } from '../../../src/router/index.js';

/** A tool-capable model as `GET /config/providers` returns it (only the fields that matter here). */
function model(id: string, input: number, output: number, context: number, extra: { input?: number } = {}) {
  return {
    id,
    name: id,
    cost: { input, output, cache: { read: input / 10, write: input * 1.25 } },
    limit: { context, output: 32_000, ...(extra.input !== undefined ? { input: extra.input } : {}) },
    capabilities: { toolcall: true },
  };
}

/**
 * Seven providers, real list prices (USD per 1M tokens) as of late 2025. With 10k prompt and
 * 1k output tokens the estimates are:
 *   anthropic sonnet-4 0.045, opus-4.1 0.225, haiku-3.5 0.012
 *   openai gpt-5 0.0225, gpt-5-mini 0.0045, gpt-4o-mini 0.0021
 *   google gemini-2.5-pro 0.0225, gemini-2.5-flash 0.0055
 *   deepseek reasoner 0.00769, chat 0.0038
 *   openrouter sonnet-4 0.045, deepseek-r1 0.006
 *   groq llama-3.1-8b-instant 0.00058
 *   ollama qwen2.5-coder:7b 0, llama3.1:8b 0 (no price: free)
 */
export const PROVIDERS: ProvidersAnswer = {
  providers: [
    {
      id: 'anthropic',
      name: 'Anthropic',
      models: {
        'claude-sonnet-4-20250514': model('claude-sonnet-4-20250514', 3, 15, 200_000),
        'claude-opus-4-1-20250805': model('claude-opus-4-1-20250805', 15, 75, 200_000),
        'claude-3-5-haiku-20241022': model('claude-3-5-haiku-20241022', 0.8, 4, 200_000),
      },
    },
    {
      id: 'openai',
      name: 'OpenAI',
      models: {
        'gpt-5': model('gpt-5', 1.25, 10, 400_000, { input: 272_000 }),
        'gpt-5-mini': model('gpt-5-mini', 0.25, 2, 400_000, { input: 272_000 }),
        'gpt-4o-mini': model('gpt-4o-mini', 0.15, 0.6, 128_000),
        'text-embedding-3-small': {
          id: 'text-embedding-3-small',
          cost: { input: 0.02, output: 0 },
          limit: { context: 8191, output: 0 },
          capabilities: { toolcall: false },
        },
      },
    },
    {
      id: 'google',
      name: 'Google',
      models: {
        'gemini-2.5-pro': model('gemini-2.5-pro', 1.25, 10, 1_048_576),
        'gemini-2.5-flash': model('gemini-2.5-flash', 0.3, 2.5, 1_048_576),
      },
    },
    {
      id: 'deepseek',
      name: 'DeepSeek',
      models: {
        'deepseek-reasoner': model('deepseek-reasoner', 0.55, 2.19, 128_000),
        'deepseek-chat': model('deepseek-chat', 0.27, 1.1, 128_000),
      },
    },
    {
      id: 'openrouter',
      name: 'OpenRouter',
      models: {
        'anthropic/claude-sonnet-4': model('anthropic/claude-sonnet-4', 3, 15, 200_000),
        'deepseek/deepseek-r1': model('deepseek/deepseek-r1', 0.4, 2, 163_840),
      },
    },
    {
      id: 'groq',
      name: 'Groq',
      models: { 'llama-3.1-8b-instant': model('llama-3.1-8b-instant', 0.05, 0.08, 131_072) },
    },
    {
      id: 'ollama',
      name: 'Ollama (local)',
      models: {
        'qwen2.5-coder:7b': {
          id: 'qwen2.5-coder:7b',
          name: 'Qwen2.5 Coder 7B',
          limit: { context: 32_768, output: 8192 },
        },
        'llama3.1:8b': { id: 'llama3.1:8b', name: 'Llama 3.1 8B', limit: { context: 131_072, output: 8192 } },
      },
    },
  ],
  default: { anthropic: 'claude-sonnet-4-20250514', openai: 'gpt-5' },
};

/** Prompt size used by the routing tests, so estimates match the table above. */
export const PROMPT_TOKENS = 10_000;
