import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { reviewLoopMachine } from '../../machines/flows/review-loop.js';
import { OpencodeFlow, type FlowReport } from '../../src/flow/index.js';
import { FlowError } from '../../src/errors.js';
import { useFlowHosts } from '../helpers/host.js';

/** Custom machines run as flows: the prebuilt review loop and the example in examples/custom-machine. */
const root = resolve(import.meta.dirname, '../..');
const CODER = 'You are the **coder**';
const REVIEWER = 'You are the **reviewer**';

const env = useFlowHosts();

describe('a custom machine is a flow', () => {
  it('is persisted and cancelled like any flow: agents stopped, sessions aborted, the report and the store say cancelled', async () => {
    env.llm.script([
      { match: { allText: 'LOOP-C', system: CODER }, reply: [{ text: 'code v1' }, { hang: true }] },
      {
        match: { allText: 'LOOP-C', system: REVIEWER },
        reply: [{ text: 'Needs work.\nVERDICT: CHANGES_REQUESTED' }, { text: 'Fine.\nVERDICT: APPROVE' }],
      },
    ]);
    const flow = env.host();
    const done: FlowReport[] = [];
    flow.on('flow.done', (r) => done.push(r));
    let coderPrompts = 0;
    const coderAsks = () =>
      env.llm.promptRequests().filter((r) => r.allText.includes('LOOP-C') && r.system.includes(CODER));
    flow.on('agent.state', (e) => {
      // The coder's second round hangs at the model: cancel the flow once the model has it.
      if (e.agent === 'coder' && e.state === 'streaming' && ++coderPrompts === 2)
        void vi
          .waitFor(() => expect(coderAsks()).toHaveLength(2), { timeout: 60_000, interval: 20 })
          .then(() => flow.cancel('flow_custom_c', 'test cancel'));
    });
    try {
      const input = {
        task: 'LOOP-C: add validation',
        coder: await flow.agentSpec('coder'),
        reviewer: await flow.agentSpec('reviewer'),
        maxRounds: 3,
      };
      const t0 = Date.now();
      const report = await flow.run(reviewLoopMachine, input, { flowId: 'flow_custom_c' });
      expect(report).toMatchObject({
        flowId: 'flow_custom_c',
        status: 'cancelled',
        mode: 'custom',
        reason: 'test cancel',
      });
      expect(report.output).toBeUndefined();
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(flow.runningFlows()).toEqual([]);
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
      expect(done.at(-1)).toMatchObject({ flowId: 'flow_custom_c', status: 'cancelled' });
      // The store has the run: the machine and the results so far (coder and reviewer of round
      // 1, and the coder stopped in round 2, with what it cost until then).
      const stored = await flow.store.load('flow_custom_c');
      expect(stored.meta).toMatchObject({
        flowId: 'flow_custom_c',
        mode: 'custom',
        task: reviewLoopMachine.id,
        status: 'cancelled',
      });
      const saved = stored.snapshot as {
        kind: string;
        results: Array<{ agent: string; status: string; error?: string; cost: number }>;
      };
      expect(saved.kind).toBe('custom');
      expect(saved.results.map((r) => [r.agent, r.status, r.error])).toEqual([
        ['coder', 'done', undefined],
        ['reviewer', 'done', undefined],
        ['coder', 'failed', 'stopped while prompting'],
      ]);
      expect(done.at(-1)!.cost.total).toBeCloseTo(
        saved.results.reduce((n, r) => n + r.cost, 0),
        12,
      );
      // The supervisor's resume points at run(…, { resume: true }).
      await expect(flow.resume('flow_custom_c')).rejects.toThrow(
        /continue it with run\(machine, input, \{ flowId: "flow_custom_c", resume: true \}\)/,
      );
    } finally {
      await flow.shutdown();
    }
  });
});

describe('review loop', () => {
  it('converges when the reviewer approves in round 2', async () => {
    env.llm.script([
      {
        match: { allText: 'LOOP-A', system: CODER },
        reply: [{ text: 'code v1' }, { text: 'code v2 with validation' }],
      },
      {
        match: { allText: 'LOOP-A', system: REVIEWER },
        reply: [{ text: 'Missing validation.\nVERDICT: CHANGES_REQUESTED' }, { text: 'Good.\nVERDICT: APPROVE' }],
      },
    ]);
    const flow = env.host();
    const states: string[] = [];
    flow.on('agent.done', (e) => states.push(`${e.agent}:done`));
    try {
      const { output, cost } = await flow.run(reviewLoopMachine, {
        task: 'LOOP-A: add validation',
        coder: await flow.agentSpec('coder'),
        reviewer: await flow.agentSpec('reviewer'),
        maxRounds: 4,
      });
      expect(output).toMatchObject({ approved: true, rounds: 2, code: 'code v2 with validation' });
      expect(states).toEqual(['coder:done', 'reviewer:done', 'coder:done', 'reviewer:done']);
      const coderAsks = env.llm
        .promptRequests()
        .filter((r) => r.allText.includes('LOOP-A') && r.system.includes(CODER));
      expect(coderAsks).toHaveLength(2);
      expect(coderAsks[1]!.lastUser).toContain('Missing validation.');
      expect(cost.total).toBeCloseTo(
        output!.results.reduce((s, r) => s + r.cost, 0),
        12,
      );
      expect(cost.total).toBeGreaterThan(0);
    } finally {
      await flow.shutdown();
    }
  });

  it('stops after maxRounds without approval', async () => {
    env.llm.script([
      { match: { allText: 'LOOP-B', system: CODER }, reply: { text: 'some code' } },
      { match: { allText: 'LOOP-B', system: REVIEWER }, reply: { text: 'No.\nVERDICT: CHANGES_REQUESTED' } },
    ]);
    const flow = env.host();
    try {
      const { output } = await flow.run(reviewLoopMachine, {
        task: 'LOOP-B',
        coder: await flow.agentSpec('coder'),
        reviewer: await flow.agentSpec('reviewer'),
        maxRounds: 2,
      });
      expect(output).toMatchObject({ approved: false, rounds: 2 });
      expect(
        env.llm.promptRequests().filter((r) => r.allText.includes('LOOP-B') && r.system.includes(REVIEWER)),
      ).toHaveLength(2);
      expect(
        env.llm.promptRequests().filter((r) => r.allText.includes('LOOP-B') && r.system.includes(CODER)),
      ).toHaveLength(2);
      // Both agents cleaned up: no session left busy.
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('examples/custom-machine', () => {
  it('runs as documented; a disagreement goes to the architect', async () => {
    let reviews = 0;
    env.llm.script([
      {
        match: { allText: 'bcrypt', system: REVIEWER },
        reply: () => ({ text: ++reviews === 1 ? 'VERDICT: APPROVE' : 'VERDICT: REJECT' }),
      },
      {
        match: { allText: 'bcrypt', system: 'You are the **architect**' },
        reply: { text: 'bcrypt is right.\nVERDICT: APPROVE' },
      },
    ]);
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'examples/custom-machine/run.ts',
          '--change',
          'Replace MD5 password hashing with bcrypt',
          '--server',
          env.oc.url,
          '--model',
          'scripted/small',
        ],
        { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => done({ code, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ verdict: 'approve', unanimous: false, tieBreak: true });
    expect(out.cost).toBeGreaterThan(0);
    expect(r.stderr).toContain('[architect] done');
  });
});
