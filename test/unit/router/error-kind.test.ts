import { describe, expect, it } from 'vitest';
import { classifyError } from '../../../src/router/index.js';

/** Shapes as OpenCode 1.18.33 reports them (OpenAPI AssistantMessage.error, SessionStatus, events). */
describe('classifyError', () => {
  it.each([
    [
      'APIError 429',
      {
        name: 'APIError',
        data: {
          message: 'Too Many Requests',
          statusCode: 429,
          isRetryable: true,
          responseHeaders: { 'retry-after': '0' },
        },
      },
      'rate_limit',
    ],
    [
      'APIError 529 overloaded (Anthropic)',
      {
        name: 'APIError',
        data: {
          message: 'Overloaded',
          statusCode: 529,
          isRetryable: true,
          responseBody: '{"type":"error","error":{"type":"overloaded_error"}}',
        },
      },
      'server',
    ],
    [
      'APIError 429, bare message',
      { name: 'APIError', data: { message: 'Error', statusCode: 429, isRetryable: true } },
      'rate_limit',
    ],
    [
      'APIError 500',
      { name: 'APIError', data: { message: 'Internal Server Error', statusCode: 500, isRetryable: true } },
      'server',
    ],
    [
      'APIError 401',
      { name: 'APIError', data: { message: 'invalid x-api-key', statusCode: 401, isRetryable: false } },
      'auth',
    ],
    [
      'APIError 402 billing',
      { name: 'APIError', data: { message: 'Insufficient credits', statusCode: 402, isRetryable: false } },
      'auth',
    ],
    [
      'APIError 504',
      { name: 'APIError', data: { message: 'Gateway Timeout', statusCode: 504, isRetryable: true } },
      'timeout',
    ],
    [
      'APIError 400 context length (OpenAI)',
      {
        name: 'APIError',
        data: {
          message:
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 140000 tokens.",
          statusCode: 400,
          isRetryable: false,
          responseBody: '{"error":{"code":"context_length_exceeded"}}',
        },
      },
      'context_overflow',
    ],
    [
      'APIError without status, quota text',
      { name: 'APIError', data: { message: 'Resource has been exhausted (e.g. check quota).', isRetryable: true } },
      'rate_limit',
    ],
    [
      'APIError 400 plain',
      {
        name: 'APIError',
        data: { message: 'Unsupported parameter: temperature', statusCode: 400, isRetryable: false },
      },
      'other',
    ],
    [
      'APIError retryable, unknown text',
      { name: 'APIError', data: { message: 'Something odd', isRetryable: true } },
      'server',
    ],
    [
      'ProviderAuthError',
      { name: 'ProviderAuthError', data: { providerID: 'anthropic', message: 'No API key found' } },
      'auth',
    ],
    [
      'ContextOverflowError',
      { name: 'ContextOverflowError', data: { message: 'prompt is too long: 210000 tokens > 200000 maximum' } },
      'context_overflow',
    ],
    ['MessageAbortedError', { name: 'MessageAbortedError', data: { message: 'The operation was aborted.' } }, 'other'],
    ['MessageOutputLengthError', { name: 'MessageOutputLengthError', data: {} }, 'other'],
    [
      'UnknownError with network text',
      { name: 'UnknownError', data: { message: 'TypeError: fetch failed' } },
      'server',
    ],
    ['UnknownError opaque', { name: 'UnknownError', data: { message: 'boom' } }, 'other'],
    [
      'retry: Too Many Requests',
      { type: 'retry', attempt: 1, message: 'Too Many Requests', next: 1_700_000_002_000 },
      'rate_limit',
    ],
    [
      'retry: Provider is overloaded',
      { type: 'retry', attempt: 2, message: 'Provider is overloaded', next: 0 },
      'server',
    ],
    [
      'retry: Free usage exceeded',
      { type: 'retry', attempt: 1, message: 'Free usage exceeded, subscribe to Go', next: 0 },
      'rate_limit',
    ],
    [
      'retry: Go usage limit',
      {
        type: 'retry',
        attempt: 1,
        message: 'Daily usage limit reached. It will reset in 3 hours. To continue...',
        next: 0,
      },
      'rate_limit',
    ],
    ['retry: unknown text is transient', { type: 'retry', attempt: 1, message: 'Upstream hiccup', next: 0 }, 'server'],
    [
      'session.error event',
      {
        type: 'session.error',
        properties: {
          sessionID: 'ses_1',
          error: { name: 'ProviderAuthError', data: { providerID: 'openai', message: 'x' } },
        },
      },
      'auth',
    ],
    [
      'session.status event',
      {
        type: 'session.status',
        properties: {
          sessionID: 'ses_1',
          status: { type: 'retry', attempt: 1, message: '429 status code (no body)', next: 0 },
        },
      },
      'rate_limit',
    ],
    ['AbortSignal.timeout()', new DOMException('The operation timed out.', 'TimeoutError'), 'timeout'],
    ['plain string', 'Request timed out', 'timeout'],
    ['nothing', undefined, 'other'],
  ] as const)('%s', (_, error, kind) => {
    expect(classifyError(error)).toBe(kind);
  });
});
