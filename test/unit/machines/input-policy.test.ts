import { describe, expect, it } from 'vitest';
import { decideInput, type InputPolicy, type InputRequest } from '../../../machines/input-policy.js';

const permission = (perm: string, ...patterns: string[]): InputRequest => ({
  kind: 'permission',
  id: 'per_1',
  sessionID: 'ses_1',
  permission: perm,
  patterns,
});
const question: InputRequest = {
  kind: 'question',
  id: 'que_1',
  sessionID: 'ses_1',
  questions: [
    { question: 'Which database?', options: [{ label: 'Postgres' }, { label: 'Redis' }] },
    { question: 'Anything else?', options: [] },
  ],
};

const rules: InputPolicy = {
  onPermission: [
    { permission: 'bash', pattern: 'rm -rf*', action: 'reject' },
    { permission: 'bash', pattern: 'git push*', action: 'ask' },
    { permission: 'bash', action: 'allow' },
    { permission: 'edit', pattern: 'src/**', action: 'allow' },
  ],
};

const verdict = (a: ReturnType<typeof decideInput>) => (a === 'ask' ? 'ask' : 'reply' in a ? a.reply : 'answers');

describe('decideInput', () => {
  it('rejects permissions and questions by default', () => {
    expect(decideInput(permission('bash', 'ls'))).toMatchObject({ reply: 'reject' });
    expect(decideInput(question)).toEqual({ reply: 'reject' });
  });

  it('allow, reject and ask apply to every permission', () => {
    expect(decideInput(permission('edit', '/etc/passwd'), { onPermission: 'allow' })).toEqual({ reply: 'once' });
    expect(decideInput(permission('edit', 'a'), { onPermission: 'reject' })).toMatchObject({ reply: 'reject' });
    expect(decideInput(permission('edit', 'a'), { onPermission: 'ask' })).toBe('ask');
  });

  it('rules: the first rule matching a subject decides it', () => {
    expect(verdict(decideInput(permission('bash', 'echo hi'), rules))).toBe('once');
    expect(verdict(decideInput(permission('bash', 'rm -rf /'), rules))).toBe('reject');
    expect(verdict(decideInput(permission('bash', 'git push origin main'), rules))).toBe('ask');
    expect(verdict(decideInput(permission('edit', 'src/a/b.ts'), rules))).toBe('once');
    // No rule for it: rejected, and the message says why.
    const outside = decideInput(permission('edit', '/etc/hosts'), rules);
    expect(outside).toMatchObject({
      reply: 'reject',
      message: expect.stringMatching(/no rule allows edit \/etc\/hosts/),
    });
    expect(verdict(decideInput(permission('webfetch', 'https://example.com'), rules))).toBe('reject');
  });

  it('rules: one rejected part of a compound command rejects all of it', () => {
    // OpenCode asks once for `rm -rf x && echo ok` with one pattern per command.
    const compound = decideInput(permission('bash', 'rm -rf ./build', 'echo ok'), rules);
    expect(compound).toMatchObject({
      reply: 'reject',
      message: expect.stringMatching(/rm -rf\* rejects rm -rf \.\/build/),
    });
    expect(verdict(decideInput(permission('bash', 'echo ok', 'rm -rf ./build'), rules))).toBe('reject');
    // An "ask" part makes the whole request wait for a person; all-allowed parts pass.
    expect(verdict(decideInput(permission('bash', 'echo ok', 'git push'), rules))).toBe('ask');
    expect(verdict(decideInput(permission('bash', 'echo a', 'ls -la'), rules))).toBe('once');
  });

  it('a "*" permission rule matches any permission; "?" matches one character', () => {
    const p: InputPolicy = { onPermission: [{ permission: '*', pattern: 'fil?.txt', action: 'allow' }] };
    expect(verdict(decideInput(permission('edit', 'file.txt'), p))).toBe('once');
    expect(verdict(decideInput(permission('read', 'file.txt'), p))).toBe('once');
    expect(verdict(decideInput(permission('edit', 'files.txt'), p))).toBe('reject');
  });

  it('questions: first-option answers each question with its first choice', () => {
    expect(decideInput(question, { onQuestion: 'first-option' })).toEqual({ answers: [['Postgres'], []] });
    expect(decideInput(question, { onQuestion: 'ask' })).toBe('ask');
  });
});
