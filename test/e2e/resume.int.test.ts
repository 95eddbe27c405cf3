import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';

/**
 * Crash and resume: a flow runs in a child process that is killed with SIGKILL once the
 * first agents finished; another process resumes it from the persisted snapshot.
 */
const root = resolve(import.meta.dirname, '../..');
let llm: ScriptedLLM;
let oc: TestOpencode;
let dir: string;

beforeAll(async () => {
  llm = await startScriptedLLM();
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  dir = await mkdtemp(join(tmpdir(), 'ocf-resume-'));
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

const bySystem = (who: string) => llm.promptRequests().filter((r) => r.allText.includes('CRASH-TASK') && r.system.includes(who));

describe('crash resume', () => {
  it('kill -9 mid-flow, resume: finished agents are not re-run, the flow completes, cost adds up', async () => {
    llm.script([
      { match: { allText: 'CRASH-TASK', system: 'You are the **researcher**' }, reply: { text: 'research result' } },
      { match: { allText: 'CRASH-TASK', system: 'You are the **coder**' }, reply: { text: 'code result' } },
      // The tester is slow: the process dies while it works; OpenCode finishes it anyway.
      { match: { allText: 'CRASH-TASK', system: 'You are the **tester**' }, reply: { text: 'test result', delayMs: 2500 } },
    ]);
    const flowId = 'flow_crash_test';
    const flowsDir = join(dir, 'flows');
    const killed = await new Promise<{ signal: NodeJS.Signals | null; out: string }>((done) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/e2e/fixtures/crash-flow.ts')], {
        cwd: root,
        env: { ...process.env, SERVER_URL: oc.url, FLOWS_DIR: flowsDir, FLOW_ID: flowId },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('done coder') && out.includes('state tester streaming')) {
          // Let the snapshot with the tester streaming reach the disk, then die hard.
          setTimeout(() => child.kill('SIGKILL'), 300);
        }
      });
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (_code, signal) => done({ signal, out }));
    });
    expect(killed.signal, killed.out).toBe('SIGKILL');
    expect(killed.out).not.toContain('finished');

    const flow = new OpencodeFlow({ serverUrl: oc.url, memory: false, keepSessions: true, flowsDir });
    try {
      const listed = await flow.listFlows();
      expect(listed.map((f) => [f.flowId, f.status])).toEqual([[flowId, 'running']]);
      const report = await flow.resume(flowId);
      expect(report.status).toBe('completed');
      expect(report.results.map((r) => [r.agent, r.status, r.output])).toEqual([
        ['researcher', 'done', 'research result'],
        ['coder', 'done', 'code result'],
        ['tester', 'done', 'test result'],
      ]);
      // Finished agents got no new prompt; the tester's answer was taken from its session.
      expect(bySystem('You are the **researcher**')).toHaveLength(1);
      expect(bySystem('You are the **coder**')).toHaveLength(1);
      expect(bySystem('You are the **tester**')).toHaveLength(1);
      // Total cost = what OpenCode says all three sessions cost.
      let sum = 0;
      for (const r of report.results) for (const m of await flow.opencode.messages(r.sessionID)) if (m.info.role === 'assistant') sum += m.info.cost ?? 0;
      expect(report.cost.total).toBeCloseTo(sum, 12);
      expect(sum).toBeGreaterThan(0);
      expect((await flow.listFlows())[0]!.status).toBe('completed');
      // Resuming a finished flow just returns its report.
      expect((await flow.resume(flowId)).results).toHaveLength(3);
    } finally {
      await flow.shutdown();
    }
  });

  it('resuming an unknown flow is a clear error', async () => {
    const flow = new OpencodeFlow({ serverUrl: oc.url, memory: false, flowsDir: join(dir, 'flows') });
    try {
      await expect(flow.resume('flow_nope')).rejects.toThrow(/no stored flow "flow_nope"/);
    } finally {
      await flow.shutdown();
    }
  });
});
