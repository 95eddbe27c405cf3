import { describe, expect, it } from 'vitest';
import {
  FINAL_ERROR_KINDS,
  RETRY_DEFAULTS,
  fallbackInput,
  nextInChain,
  onPromptFailure,
  providerRetriesExhausted,
  shouldRetryTask,
  thrownErrorKind,
  type AgentErrorKind,
} from '../../../machines/retry.js';

/** The one retry and fallback policy: every default and every verdict, in one place. */
describe('machines/retry.ts', () => {
  it('defaults: one OpenCode provider retry before falling back, three task retries', () => {
    expect(RETRY_DEFAULTS).toEqual({ providerRetries: 1, taskRetries: 3 });
    expect(providerRetriesExhausted(1)).toBe(false);
    expect(providerRetriesExhausted(2)).toBe(true);
    expect(providerRetriesExhausted(3, 3)).toBe(false);
  });

  it('a failed prompt falls back unless no model can help (budget, abort)', () => {
    const kinds: AgentErrorKind[] = [
      'rate_limit',
      'server',
      'timeout',
      'context_overflow',
      'auth',
      'input',
      'structured_output',
      'other',
    ];
    for (const k of kinds) expect(onPromptFailure(k)).toBe('fallback');
    expect(onPromptFailure('budget')).toBe('fail');
    expect(onPromptFailure('aborted')).toBe('fail');
  });

  it('a task is run again up to max, never for a final kind', () => {
    expect(shouldRetryTask({ kind: 'server', retried: 0, max: 3 })).toBe(true);
    expect(shouldRetryTask({ kind: 'server', retried: 3, max: 3 })).toBe(false);
    expect(shouldRetryTask({ kind: undefined, retried: 0, max: 1 })).toBe(true);
    for (const k of FINAL_ERROR_KINDS) expect(shouldRetryTask({ kind: k, retried: 0, max: 3 })).toBe(false);
    expect([...FINAL_ERROR_KINDS].sort()).toEqual(['aborted', 'auth', 'budget', 'input']);
  });

  it("the budget's refusal is told apart from any other thrown error", () => {
    expect(thrownErrorKind({ code: 'budget_exceeded' })).toBe('budget');
    expect(thrownErrorKind(new Error('ECONNREFUSED'))).toBe('other');
    expect(thrownErrorKind(undefined)).toBe('other');
  });

  it('fallbackInput is the one input: every field from the agent state, the chain in order', () => {
    const input = fallbackInput({
      spec: { name: 'coder', role: 'coder', model: 'a/1', fallback: ['b/2', 'c/3'] },
      flowId: 'flow_1',
      task: { text: 'do it' },
      model: 'a/1',
      pendingError: { kind: 'rate_limit' },
      attempts: [{ model: 'a/1', errorKind: 'rate_limit' }],
    });
    expect(input).toEqual({
      agent: 'coder',
      role: 'coder',
      flowId: 'flow_1',
      task: { text: 'do it' },
      failed: 'a/1',
      errorKind: 'rate_limit',
      attempts: [{ model: 'a/1', errorKind: 'rate_limit' }],
      chain: ['a/1', 'b/2', 'c/3'],
    });
    expect(fallbackInput({ spec: { name: 'x' }, model: '', attempts: [] })).toEqual({
      agent: 'x',
      failed: '',
      errorKind: 'other',
      attempts: [],
      chain: [],
    });
  });

  it('the default fallback walks the chain, skipping what was tried', () => {
    const base = { agent: 'a', failed: 'a/1', errorKind: 'server' as const, chain: ['a/1', 'b/2', 'c/3'] };
    expect(nextInChain({ ...base, attempts: [{ model: 'a/1' }] })).toBe('b/2');
    expect(nextInChain({ ...base, attempts: [{ model: 'a/1' }, { model: 'b/2' }] })).toBe('c/3');
    expect(nextInChain({ ...base, attempts: [{ model: 'a/1' }, { model: 'b/2' }, { model: 'c/3' }] })).toBeNull();
  });
});
