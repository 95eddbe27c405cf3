import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TASK_TYPES } from '../../../src/router/index.js';
import { bundledAgentsDir, loadPresets, type PresetAgent } from '../../../src/presets/index.js';
import { decide } from './opencode-rules.js';

const PRESETS = ['architect', 'coder', 'planner', 'researcher', 'reviewer', 'security-auditor', 'tester'];
const READ_ONLY = ['architect', 'planner', 'researcher', 'reviewer', 'security-auditor'];

// Loaded from an empty-of-agents cwd, so only the bundled files count.
const presets = await loadPresets({ cwd: '/' });
const get = (name: string): PresetAgent => {
  const p = presets.get(name);
  if (!p) throw new Error(`no preset ${name}`);
  return p;
};

describe('bundled presets', () => {
  it('are exactly the seven files in agents/, found from the package root', () => {
    expect(
      readdirSync(bundledAgentsDir())
        .filter((f) => f.endsWith('.md'))
        .sort(),
    ).toEqual(PRESETS.map((p) => `${p}.md`));
    expect([...presets.keys()].sort()).toEqual(PRESETS);
    for (const p of presets.values()) expect(p.source.startsWith(bundledAgentsDir())).toBe(true);
  });

  it.each(PRESETS)('%s has a description, a real prompt that uses shared memory, and a model policy', (name) => {
    const p = get(name);
    expect(p.description.length).toBeGreaterThan(40);
    expect(p.systemPrompt.length).toBeGreaterThan(2000);
    expect(p.systemPrompt).toContain(`**${name.replace('-', ' ')}**`);
    expect(p.systemPrompt).toMatch(/## Method/);
    expect(p.systemPrompt).toMatch(/## Output/);
    expect(p.systemPrompt).toContain('flow_memory_get');
    expect(p.systemPrompt).toContain('flow_memory_set');
    expect(p.tools['flow_memory_*']).toBe(true);
    // A policy, not a model: users have different providers.
    expect(p.model).toBeUndefined();
    expect(TASK_TYPES).toContain(p.taskType);
    expect(p.qualityFloor).toBeGreaterThanOrEqual(60);
    expect(p.qualityFloor).toBeLessThanOrEqual(100);
    expect(p.mode).toBe('subagent');
    expect(p.temperature).toBeLessThanOrEqual(0.3);
  });

  it.each(READ_ONLY)('%s cannot edit any file, and its edit tools are off', (name) => {
    const p = get(name);
    expect(p.permission.edit).toBe('deny');
    expect(decide(p.permission, 'edit', 'src/index.ts')).toBe('deny');
    expect(decide(p.permission, 'edit', 'test/a.test.ts')).toBe('deny');
    expect(p.tools).toMatchObject({ write: false, edit: false, patch: false });
  });

  it.each(READ_ONLY)('%s runs only read-only shell commands', (name) => {
    const p = get(name);
    expect(decide(p.permission, 'bash', 'git log --oneline -5')).toBe('allow');
    expect(decide(p.permission, 'bash', 'ls -la src')).toBe('allow');
    for (const cmd of [
      'rm -rf src',
      'touch x',
      'npm install left-pad',
      'git commit -m x',
      'git push',
      'curl https://example.com',
    ]) {
      expect(decide(p.permission, 'bash', cmd), cmd).toBe('deny');
    }
  });

  it('reviewer may run git diff, log, show, status and blame', () => {
    const { permission } = get('reviewer');
    for (const cmd of [
      'git diff',
      'git diff --staged',
      'git log -p -n 5',
      'git show HEAD~1',
      'git status',
      'git blame src/a.ts',
    ]) {
      expect(decide(permission, 'bash', cmd), cmd).toBe('allow');
    }
    expect(permission.webfetch).toBe('deny');
  });

  it('researcher and security-auditor may fetch the web; the auditor may audit but not auto-fix dependencies', () => {
    expect(get('researcher').permission.webfetch).toBe('allow');
    const auditor = get('security-auditor').permission;
    expect(auditor.webfetch).toBe('allow');
    expect(decide(auditor, 'bash', 'npm audit --json')).toBe('allow');
    expect(decide(auditor, 'bash', 'npm audit fix --force')).toBe('deny');
    expect(decide(auditor, 'bash', 'pip-audit --fix')).toBe('deny');
  });

  it('coder edits and runs commands, but rm -rf and other destructive commands are denied', () => {
    const { permission } = get('coder');
    expect(permission.edit).toBe('allow');
    expect(permission.bash).toMatchObject({ '*': 'allow', 'rm -rf*': 'deny' });
    for (const cmd of ['npm test', 'npx tsc --noEmit -p .', 'mkdir -p src/api', 'rm old.txt', 'git status']) {
      expect(decide(permission, 'bash', cmd), cmd).toBe('allow');
    }
    for (const cmd of [
      'rm -rf /',
      'rm -rf node_modules',
      'rm -fr dist',
      'rm -r build',
      'sudo apt-get install x',
      'git push origin main',
      'git reset --hard HEAD~3',
      'git clean -fdx',
    ]) {
      expect(decide(permission, 'bash', cmd), cmd).toBe('deny');
    }
  });

  it('tester edits test files only and runs test commands only', () => {
    const { permission } = get('tester');
    for (const file of [
      'test/unit/a.test.ts',
      'tests/test_api.py',
      'src/__tests__/b.ts',
      'src/util.spec.js',
      'pkg/x/y_test.go',
      'conftest.py',
    ]) {
      expect(decide(permission, 'edit', file), file).toBe('allow');
    }
    for (const file of ['src/index.ts', 'package.json', 'README.md', 'src/latest.py']) {
      expect(decide(permission, 'edit', file), file).toBe('deny');
    }
    for (const cmd of [
      'npm test',
      'npx vitest run test/unit',
      'pytest -q',
      'go test ./...',
      'cargo test',
      'git diff',
    ]) {
      expect(decide(permission, 'bash', cmd), cmd).toBe('allow');
    }
    for (const cmd of ['rm -rf test', 'npm install', 'node -e "1"', 'git commit -am x']) {
      expect(decide(permission, 'bash', cmd), cmd).toBe('deny');
    }
  });

  it.each(PRESETS)(
    '%s never waits for a human: no "ask" rules, and OpenCode\'s asking defaults are overridden',
    (name) => {
      const { permission } = get(name);
      // A headless flow has nobody to answer `permission.asked`: an "ask" would stall the agent.
      expect(JSON.stringify(permission)).not.toContain('"ask"');
      expect(permission).toMatchObject({
        question: 'deny',
        doom_loop: 'deny',
        external_directory: 'deny',
        task: 'deny',
      });
      expect(decide(permission, 'read', 'src/index.ts')).toBe('allow');
      expect(decide(permission, 'read', '.env')).toBe('deny');
      expect(decide(permission, 'read', 'config/.env.production')).toBe('deny');
      expect(decide(permission, 'read', '.env.example')).toBe('allow');
    },
  );
});
