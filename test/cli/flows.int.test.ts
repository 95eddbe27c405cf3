import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FlowReport } from '../../src/flow/index.js';
import { useFlowHosts } from '../helpers/host.js';

/** `opencode-flow flows`, `cost` and `resume` over a real stored flow. */
const root = resolve(import.meta.dirname, '../..');
const env = useFlowHosts({
  llm: { fallback: { text: 'stored answer', usage: { prompt_tokens: 5000, completion_tokens: 100 } } },
});
let dir: string;
let report: FlowReport;

function cli(
  args: string[],
  extraEnv: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(root, 'src/cli/index.ts'), ...args], {
      cwd: root,
      env: {
        ...process.env,
        OPENCODE_SERVER_URL: '',
        OPENCODE_FLOW_STORE: '',
        OPENCODE_FLOW_MEMORY: `file:${join(dir, 'mem.json')}`,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocf-flows-'));
  const flow = env.host({ flowsDir: join(dir, 'flows') });
  try {
    report = await flow.execute({ task: 'stored task', agents: ['researcher', 'reviewer'], flowId: 'flow_stored_1' });
  } finally {
    await flow.shutdown();
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('stored flows on the command line', () => {
  it('flows lists it with status and cost', async () => {
    const r = await cli(['flows', '--dir', join(dir, 'flows'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const flows = JSON.parse(r.stdout);
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      flowId: 'flow_stored_1',
      status: 'completed',
      agents: ['researcher', 'reviewer'],
      task: 'stored task',
    });
    expect(flows[0].cost).toBeCloseTo(report.cost.total, 12);
    const table = await cli(['flows', '--dir', join(dir, 'flows')]);
    expect(table.stdout).toMatch(/flow_stored_1.*completed/);
  });

  it('cost shows per agent and per model, the latest flow by default', async () => {
    const r = await cli(['cost', '--dir', join(dir, 'flows'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.flowId).toBe('flow_stored_1');
    expect(out.cost.total).toBeCloseTo(report.cost.total, 12);
    expect(out.cost.byAgent).toEqual(report.cost.byAgent);
    expect(out.cost.byModel).toEqual({ 'scripted/small': report.cost.total });
    const human = await cli(['cost', 'flow_stored_1', '--dir', join(dir, 'flows')]);
    expect(human.stdout).toMatch(/researcher .*scripted\/small/);
    expect(human.stdout).toMatch(/by model: scripted\/small \$/);
  });

  it('resume of a finished flow prints its report; unknown ids and bad ids exit 2', async () => {
    const r = await cli(['resume', 'flow_stored_1', '--dir', join(dir, 'flows'), '--server', env.oc.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).results.map((x: { agent: string }) => x.agent)).toEqual(['researcher', 'reviewer']);
    const missing = await cli(['resume', 'flow_missing', '--dir', join(dir, 'flows'), '--server', env.oc.url]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no stored flow "flow_missing"/);
    const badMemory = await cli([
      'resume',
      'flow_stored_1',
      '--dir',
      join(dir, 'flows'),
      '--server',
      env.oc.url,
      '--memory',
      'ftp://x',
    ]);
    expect(badMemory.code).toBe(2);
    expect(badMemory.stderr).toMatch(/--memory/);
    expect(badMemory.stderr).not.toMatch(/\n\s+at /);
    const bad = await cli(['cost', '../etc', '--dir', join(dir, 'flows')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/flowId.*expected a flow id/);
  });
});

describe('--store on the command line', () => {
  let sqliteUri: string;
  let sqliteReport: FlowReport;
  beforeAll(async () => {
    sqliteUri = `sqlite:${join(dir, 'store', 'flows.db')}`;
    const flow = env.host({ store: sqliteUri });
    try {
      sqliteReport = await flow.execute({ task: 'sqlite task', agents: ['researcher'], flowId: 'flow_in_sqlite' });
    } finally {
      await flow.shutdown();
    }
  });

  it('flows and cost read the SQLite store --store (or OPENCODE_FLOW_STORE) names', async () => {
    const r = await cli(['flows', '--store', sqliteUri, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const flows = JSON.parse(r.stdout);
    expect(flows.map((f: { flowId: string; status: string }) => [f.flowId, f.status])).toEqual([
      ['flow_in_sqlite', 'completed'],
    ]);
    const table = await cli(['flows'], { OPENCODE_FLOW_STORE: sqliteUri });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/flow_in_sqlite.*completed/);
    expect(table.stdout).not.toContain('flow_stored_1');
    const cost = await cli(['cost', '--store', sqliteUri, '--json']);
    expect(cost.code, cost.stderr).toBe(0);
    expect(JSON.parse(cost.stdout).cost.total).toBeCloseTo(sqliteReport.cost.total, 12);
    const resumed = await cli(['resume', 'flow_in_sqlite', '--store', sqliteUri, '--server', env.oc.url, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).results.map((x: { output: string }) => x.output)).toEqual(['stored answer']);
  });

  it('a bad --store exits 2 naming the flag and what it takes, without a stack trace or a password', async () => {
    for (const args of [
      ['flows', '--store', 'redis://127.0.0.1:6379/0'],
      ['cost', '--store', 'sqlite:'],
      ['resume', 'flow_in_sqlite', '--store', 'postgres://flows:hunter2@/db', '--server', env.oc.url],
      ['--agents', 'coder', '--task', 'x', '--store', 'ftp://x'],
      ['serve', '--store', 'mysql://x'],
    ]) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/--store/);
      expect(r.stderr).toMatch(/file:DIR|sqlite:|postgres:\/\/|e\.g\./);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr).not.toContain('hunter2');
    }
    const fromEnv = await cli(['flows'], { OPENCODE_FLOW_STORE: 'sqlite::memory:' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(/OPENCODE_FLOW_STORE.*name a file/);
    const both = await cli(['flows', '--store', sqliteUri, '--dir', join(dir, 'flows')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--store or --dir, not both/);
  });
});

describe('database drivers load lazily', () => {
  it('--help loads neither pg nor better-sqlite3; a command that uses the store loads its own driver', async () => {
    // A module hook that says which driver is imported (seen by the probe, not changed).
    const hooks = join(dir, 'driver-hooks.mjs');
    await writeFile(
      hooks,
      `export async function resolve(s, c, next) {
        if (s === 'pg' || s === 'better-sqlite3') process.stderr.write('DRIVER ' + s + '\\n');
        return next(s, c);
      }`,
    );
    const register = join(dir, 'driver-register.mjs');
    await writeFile(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    const probe = ['--import', pathToFileURL(register).href];
    for (const args of [['--help'], ['flows', '--help'], ['resume', '--help'], ['serve', '--help']]) {
      const r = await cli(args, {}, probe);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr, args.join(' ')).not.toContain('DRIVER');
    }
    const sqlite = await cli(['flows', '--store', `sqlite:${join(dir, 'lazy.db')}`], {}, probe);
    expect(sqlite.code, sqlite.stderr).toBe(0);
    expect(sqlite.stderr).toContain('DRIVER better-sqlite3');
    expect(sqlite.stderr).not.toContain('DRIVER pg');
    // Nothing listens on port 1: pg is loaded, the connection refused (exit 1), no password shown.
    const pg = await cli(['flows', '--store', 'postgres://u:hunter2@127.0.0.1:1/x'], {}, probe);
    expect(pg.code).toBe(1);
    expect(pg.stderr).toContain('DRIVER pg');
    expect(pg.stderr).toMatch(/postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x/);
    expect(pg.stderr).not.toContain('hunter2');
  });
});
