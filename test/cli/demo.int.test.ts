import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, root, tempDir, type Run, removeMemoryFiles } from './helpers.js';

/**
 * `opencode-flow demo` end to end, as a user on a fresh machine runs it: no provider keys,
 * no server URL, an empty HOME. It starts the real OpenCode binary with a scripted model.
 */

let home: string;
let cleanup: () => Promise<void>;
let memoryFile: string;
let run: Run;
let demoDirsBefore: string[];

const demoDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('opencode-flow-demo-'));
const noKeys = {
  ANTHROPIC_API_KEY: undefined,
  OPENAI_API_KEY: undefined,
  OPENROUTER_API_KEY: undefined,
  GEMINI_API_KEY: undefined,
};

beforeAll(async () => {
  ({ dir: home, cleanup } = await tempDir('ocf-demo-home-'));
  memoryFile = join(home, '..', `ocf-demo-memory-${process.pid}.json`);
  demoDirsBefore = demoDirs();
  run = await cli(['demo'], {
    cwd: home,
    env: { ...noKeys, HOME: home, OPENCODE_FLOW_MEMORY: `file:${memoryFile}` },
    timeoutMs: 180_000,
  });
}, 200_000);

afterAll(async () => {
  await cleanup?.();
  await removeMemoryFiles();
  const { rm } = await import('node:fs/promises');
  await rm(memoryFile, { force: true });
});

describe('opencode-flow demo', () => {
  it('completes with exit 0 and says, on both streams, that the model is scripted and no key was used', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe('opencode-flow demo · scripted model — no API key used');
    expect(run.stdout.trimEnd().split('\n').at(-1)).toMatch(
      /^\(opencode-flow demo · scripted model — no API key used\. Run a real flow: opencode-flow run code-review/,
    );
    expect(run.stderr).toContain('scripted model — no API key used');
    expect(run.stderr).toContain('Starting an embedded OpenCode server (temporary HOME, scripted provider only)');
  });

  it('says, a line per phase with its elapsed time, what the start of OpenCode waits for, then that it is ready', () => {
    const phases = [
      'connecting memory',
      'starting the OpenCode binary',
      'waiting for the OpenCode server to listen',
      'waiting for the OpenCode server to answer',
      'booting the project in OpenCode',
      'checking providers',
    ];
    const lines = run.stderr.split('\n');
    const at = phases.map((p) => lines.findIndex((l) => new RegExp(`^${p}… \\(\\d+\\.\\ds\\)$`).test(l)));
    expect(
      at.every((i) => i >= 0),
      run.stderr,
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    const ready = lines.findIndex((l) => /^OpenCode is ready \(\d+\.\ds\)$/.test(l));
    expect(ready).toBeGreaterThan(at.at(-1)!);
  });

  it('runs the code-review flow: researcher then reviewer, routed by cost to different models', () => {
    expect(run.stdout).toContain('── researcher · scripted/small · done');
    expect(run.stdout).toContain('── reviewer · scripted/medium · done');
    expect(run.stdout.indexOf('── researcher')).toBeLessThan(run.stdout.indexOf('── reviewer'));
    expect(run.stdout).toMatch(/│ researcher\s+│ scripted\/small\s+│ done/);
    expect(run.stdout).toMatch(/│ total\s+│\s+│ completed/);
    expect(run.stdout).toMatch(/flow flow_\S+ completed/);
  });

  it("the review quotes the sample's real lines: the agents read it through OpenCode's read tool", () => {
    const source = readFileSync(join(root, 'examples/code-review/sample/src/users.ts'), 'utf8').split('\n');
    const line = (needle: string) => source.findIndex((l) => l.includes(needle)) + 1;
    expect(run.stdout).toContain('**request changes**');
    expect(run.stdout).toContain(`[blocker] src/users.ts:${line('SELECT * FROM users')} — SQL injection`);
    expect(run.stdout).toContain(`[major] src/users.ts:${line('items.slice(start')} — off-by-one`);
    expect(run.stdout).toContain(`\`src/users.ts\` (${source.length - 1} lines) is the user service`);
  });

  it("the reviewer's verdict went through the flow_memory_set MCP tool into shared memory", () => {
    const memory = readFileSync(memoryFile, 'utf8');
    expect(memory).toContain('review/verdict');
    expect(memory).toContain('request changes');
    expect(memory).toContain('review/findings');
  });

  it("touches neither the user's HOME nor leaves its temporary directory behind", () => {
    expect(readdirSync(home)).toEqual([]);
    expect(demoDirs().filter((d) => !demoDirsBefore.includes(d))).toEqual([]);
  });

  it('--json prints one report object (the label goes to stderr)', async () => {
    const r = await cli(['demo', '--json'], { cwd: home, env: { ...noKeys, HOME: home }, timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('scripted model — no API key used');
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ status: 'completed', mode: 'sequential' });
    expect(report.results.map((x: { agent: string; model: string }) => [x.agent, x.model])).toEqual([
      ['researcher', 'scripted/small'],
      ['reviewer', 'scripted/medium'],
    ]);
    // OpenCode's own cost accounting at the scripted prices.
    expect(report.cost.total).toBeGreaterThan(0);
    expect(report.cost.byModel['scripted/medium']).toBeGreaterThan(report.cost.byModel['scripted/small']);
  }, 200_000);
});
