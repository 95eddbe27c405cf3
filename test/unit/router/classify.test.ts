import { describe, expect, it } from 'vitest';
import { DEFAULT_FLOORS, classifyTask, floorFor } from '../../../src/router/index.js';

describe('classifyTask', () => {
  it.each([
    ['reviewer', 'review'],
    ['code-reviewer', 'review'],
    ['coder', 'code'],
    ['build', 'code'],
    ['backend-developer', 'code'],
    ['tester', 'test'],
    ['test-writer', 'test'],
    ['planner', 'plan'],
    ['architect', 'plan'],
    ['security-auditor', 'security'],
    ['security-reviewer', 'security'],
    ['researcher', 'research'],
    ['explore', 'research'],
    ['docs-writer', 'docs'],
  ] as const)('agent %s → %s, whatever the text says', (agent, type) => {
    expect(classifyTask({ agent, task: 'Write unit tests and fix the bug in the API' })).toBe(type);
  });

  it('reads the role before the name', () => {
    expect(classifyTask({ agent: 'alice', role: 'reviewer', task: 'Build it' })).toBe('review');
    expect(classifyTask({ agent: 'reviewer', role: 'coder', task: 'x' })).toBe('code');
  });

  it.each([
    ['Build a REST API with authentication', 'code'],
    ['Fix the bug in the login function', 'code'],
    ['Write unit tests for the parser and raise coverage', 'test'],
    ['Review PR #123', 'review'],
    ['Security audit: look for SQL injection and XSS', 'security'],
    ['Research AI trends and summarize findings', 'research'],
    ['Design the architecture and a roadmap for v2', 'plan'],
    ['Update the README and write a tutorial', 'docs'],
    ['Say hello', 'general'],
  ] as const)('text %j → %s for a general agent', (task, type) => {
    expect(classifyTask({ agent: 'general', task })).toBe(type);
  });

  it('breaks keyword ties by the documented priority (security before code)', () => {
    // one security keyword, one code keyword
    expect(classifyTask({ task: 'exploit in the api' })).toBe('security');
  });
});

describe('floors', () => {
  it('has the documented defaults and takes overrides', () => {
    expect(DEFAULT_FLOORS).toEqual({
      code: 85,
      security: 85,
      review: 80,
      plan: 80,
      research: 70,
      test: 70,
      docs: 60,
      general: 60,
    });
    expect(floorFor('code')).toBe(85);
    expect(floorFor('code', { code: 70 })).toBe(70);
    expect(floorFor('review', { code: 70 })).toBe(80);
  });
});
