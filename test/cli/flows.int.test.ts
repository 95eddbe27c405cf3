import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow, type FlowReport } from '../../src/flow/index.js';
import { useScriptedOpencode } from '../helpers/scripted-opencode.js';

/** `opencode-flow flows`, `cost` and `resume` over a real stored flow. */
const root = resolve(import.meta.dirname, '../..');
const env = useScriptedOpencode({
  llm: { fallback: { text: 'stored answer', usage: { prompt_tokens: 5000, completion_tokens: 100 } } },
});
let dir: string;
let report: FlowReport;

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/index.ts'), ...args], {
      cwd: root,
      env: { ...process.env, OPENCODE_SERVER_URL: '', OPENCODE_FLOW_MEMORY: `file:${join(dir, 'mem.json')}` },
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
  const flow = new OpencodeFlow({
    serverUrl: env.oc.url,
    model: 'scripted/small',
    memory: false,
    flowsDir: join(dir, 'flows'),
  });
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
