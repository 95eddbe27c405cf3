import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlowError, FlowErrorCode } from '../../../src/errors.js';
import { PROJECT_AGENTS_DIR, bundledAgentsDir, loadPresets } from '../../../src/presets/index.js';

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'presets-load-'));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

async function put(dir: string, file: string, text: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, file);
  await writeFile(path, text);
  return path;
}

const md = (description: string, body: string, extra = '') =>
  `---\ndescription: ${description}\n${extra}---\n${body}\n`;

describe('loadPresets', () => {
  it('loads the bundled presets when the project has no agents directory', async () => {
    const presets = await loadPresets({ cwd });
    expect(presets.size).toBe(7);
    expect(presets.get('reviewer')?.source).toBe(join(bundledAgentsDir(), 'reviewer.md'));
  });

  it("lets the project's .opencode-flow/agents override a preset and add new agents", async () => {
    const dir = join(cwd, PROJECT_AGENTS_DIR);
    const mine = await put(
      dir,
      'reviewer.md',
      md('Our reviewer', 'Review against our house rules.', 'permission:\n  edit: deny\n'),
    );
    await put(dir, 'docs-writer.md', md('Writes docs', 'You write docs.'));
    await put(dir, 'notes.txt', 'not an agent');

    const presets = await loadPresets({ cwd });
    expect([...presets.keys()].sort()).toEqual([
      'architect',
      'coder',
      'docs-writer',
      'planner',
      'researcher',
      'reviewer',
      'security-auditor',
      'tester',
    ]);
    const reviewer = presets.get('reviewer');
    expect(reviewer).toMatchObject({
      description: 'Our reviewer',
      systemPrompt: 'Review against our house rules.',
      source: mine,
    });
    // Replaced whole: nothing of the bundled reviewer (its flow policy, its tools) leaks in.
    expect(reviewer?.taskType).toBeUndefined();
    expect(reviewer?.tools).toEqual({});
    expect(presets.get('docs-writer')?.systemPrompt).toBe('You write docs.');
    expect(presets.get('coder')?.source).toBe(join(bundledAgentsDir(), 'coder.md'));
  });

  it('reads extraDirs last, relative to cwd, so they win over the project directory', async () => {
    await put(join(cwd, PROJECT_AGENTS_DIR), 'coder.md', md('project coder', 'P'));
    const team = await put(join(cwd, 'team-agents'), 'coder.md', md('team coder', 'T'));
    const presets = await loadPresets({ cwd, extraDirs: ['team-agents'] });
    expect(presets.get('coder')).toMatchObject({ description: 'team coder', source: team });
  });

  it('fails on an extraDir that does not exist, naming it', async () => {
    const err = await loadPresets({ cwd, extraDirs: ['nope'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).code).toBe(FlowErrorCode.InvalidConfig);
    expect((err as FlowError).message).toContain(join(cwd, 'nope'));
  });

  it('fails on a malformed user file, naming the file and the field', async () => {
    const bad = await put(
      join(cwd, PROJECT_AGENTS_DIR),
      'coder.md',
      md('c', 'P', 'permission:\n  bash:\n    "rm -rf*": never\n'),
    );
    const err = await loadPresets({ cwd }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlowError);
    expect((err as FlowError).code).toBe(FlowErrorCode.InvalidConfig);
    expect((err as FlowError).message).toContain(bad);
    expect((err as FlowError).message).toContain('permission.bash["rm -rf*"]');
  });

  it('fails when two files of one directory claim the same name', async () => {
    const dir = join(cwd, PROJECT_AGENTS_DIR);
    await put(dir, 'a.md', md('a', 'A', 'name: helper\n'));
    await put(dir, 'b.md', md('b', 'B', 'name: helper\n'));
    await expect(loadPresets({ cwd })).rejects.toThrow(/b\.md: agent "helper" is also defined by .*a\.md/);
  });
});
