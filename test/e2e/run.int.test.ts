import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { agentMachine, type AgentNotification, type AgentSpec } from '../../machines/agent.js';
import { spawnAgent } from '../../machines/flows/helpers.js';
import { planExecuteInput, planExecuteMachine } from '../../machines/flows/plan-execute.js';
import { reviewLoopMachine } from '../../machines/flows/review-loop.js';
import { FlowError } from '../../src/errors.js';
import { OpencodeFlow, type FlowReport, type RunEvent } from '../../src/flow/index.js';
import { OpencodeClient } from '../../src/opencode/client.js';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { unpackSnapshot } from '../../src/store/pack.js';
import {
  isolatedOpencodeEnv,
  scriptedOpencodeConfig,
  startScriptedLLM,
  structuredReply,
  type ScriptedLLM,
  type ScriptedRequest,
} from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';
import { call, TOKEN } from '../serve/helpers.js';

/**
 * One run path (issue 11): every numbered problem of the issue as a test against the real
 * OpenCode server with a scripted model. Each would have failed on the code before FlowRun.
 */
const root = resolve(import.meta.dirname, '../..');
const env = useFlowHosts();

const lastToolResult = (r: ScriptedRequest) => r.toolResults[r.toolResults.length - 1]?.content ?? '(none)';
const withMarker = (llm: ScriptedLLM, marker: string) => llm.promptRequests().filter((r) => r.allText.includes(marker));

/** Ids of every session the OpenCode server lists now. */
async function sessionIds(flow: OpencodeFlow): Promise<Set<string>> {
  const { data } = await flow.opencode.sdk.session.list({ limit: 10_000 });
  return new Set((data ?? []).map((s) => s.id));
}

/** Sessions the server gained since `before`. */
async function createdSince(flow: OpencodeFlow, before: Set<string>): Promise<string[]> {
  return [...(await sessionIds(flow))].filter((id) => !before.has(id));
}

/** A promise and the function that resolves it; never waits past `ms` (then rejects). */
function signal<T = void>(what: string, ms = 60_000) {
  let fire!: (v: T) => void;
  const p = new Promise<T>((res, rej) => {
    fire = res;
    setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms).unref();
  });
  p.catch(() => undefined);
  return { p, fire };
}

interface SoloInput {
  spec: AgentSpec;
  task: string;
}
interface SoloOutput {
  outcome: 'done' | 'failed';
  output: string;
  error?: string;
}

/**
 * The smallest custom machine: one agent spawned with a task; `agent.done` and
 * `agent.failed` both lead to the final state. It never stops its agent itself.
 */
const soloMachine = setup({
  types: {
    input: {} as SoloInput,
    context: {} as SoloInput & Partial<SoloOutput>,
    events: {} as AgentNotification,
    output: {} as SoloOutput,
  },
  actors: { agent: agentMachine },
}).createMachine({
  id: 'solo',
  context: ({ input }) => ({ ...input }),
  entry: spawnAgent(
    'solo',
    ({ context }) => context.spec,
    ({ context }) => ({ id: 'solo-1', text: context.task }),
  ),
  initial: 'working',
  states: {
    working: {
      on: {
        'agent.done': {
          target: 'finished',
          actions: assign(({ event }) =>
            event.type === 'agent.done' ? { outcome: 'done' as const, output: event.result.output } : {},
          ),
        },
        'agent.failed': {
          target: 'finished',
          actions: assign(({ event }) =>
            event.type === 'agent.failed'
              ? { outcome: 'failed' as const, output: event.result.output, error: event.error }
              : {},
          ),
        },
      },
    },
    finished: { type: 'final' },
  },
  output: ({ context }) => ({
    outcome: context.outcome ?? 'failed',
    output: context.output ?? '',
    ...(context.error ? { error: context.error } : {}),
  }),
});

describe('problem 1: a custom machine that reaches its final state', () => {
  it('leaves none of its OpenCode sessions behind (its agents were never stopped by the machine)', async () => {
    env.llm.script({ match: { allText: 'P1-CLEAN' }, reply: { text: 'solo answer' } });
    const flow = env.host({ persist: false });
    try {
      await flow.start();
      const before = await sessionIds(flow);
      const opened: string[] = [];
      flow.on('agent.state', (e) => {
        if (e.sessionID && !opened.includes(e.sessionID)) opened.push(e.sessionID);
      });
      const report = await flow.run(soloMachine, { spec: await flow.agentSpec('coder'), task: 'P1-CLEAN: write it' });
      expect(report.status).toBe('completed');
      expect(report.output).toEqual({ outcome: 'done', output: 'solo answer' });
      expect(opened).toHaveLength(1);
      expect(await createdSince(flow, before)).toEqual([]);
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });

  it('with keepSessions: true its session stays', async () => {
    env.llm.script({ match: { allText: 'P1-KEEP' }, reply: { text: 'kept answer' } });
    const flow = env.host({ persist: false });
    try {
      await flow.start();
      const before = await sessionIds(flow);
      const report = await flow.run(
        soloMachine,
        { spec: await flow.agentSpec('coder'), task: 'P1-KEEP: write it' },
        { keepSessions: true },
      );
      expect(report.status).toBe('completed');
      const created = await createdSince(flow, before);
      expect(created).toEqual([report.results[0]!.sessionID]);
      const msgs = await flow.opencode.messages(created[0]!);
      expect(msgs.map((m) => m.info.role)).toEqual(['user', 'assistant']);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('problem 2: cancel of a custom machine that turns agent.failed into a final state', () => {
  it('run() resolves with status cancelled, not completed', async () => {
    const asked = signal('the model request of P2-CANCEL');
    env.llm.script({
      match: { allText: 'P2-CANCEL' },
      reply: () => {
        asked.fire();
        return { hang: true };
      },
    });
    const flow = env.host({ persist: false });
    const done: FlowReport[] = [];
    flow.on('flow.done', (r) => done.push(r));
    try {
      await flow.start();
      const before = await sessionIds(flow);
      const flowId = 'flow_p2_cancel';
      const running = flow.run(
        soloMachine,
        { spec: await flow.agentSpec('coder'), task: 'P2-CANCEL: never answered' },
        { flowId },
      );
      await asked.p;
      const t0 = Date.now();
      flow.cancel(flowId, 'test cancel');
      const report = await running;
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(report.status).toBe('cancelled');
      expect(report.reason).toBe('test cancel');
      expect(report.results.map((r) => [r.agent, r.status])).toEqual([['solo', 'failed']]);
      expect(done.map((r) => [r.flowId, r.status])).toEqual([[flowId, 'cancelled']]);
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
      expect(await createdSince(flow, before)).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('problem 3: maxCost stops a custom machine mid-prompt', () => {
  it('a tool step past the cap, then a model that hangs: budget_exceeded at once, nothing left busy', async () => {
    // The first step costs $0.01 (100k input tokens at $0.1/M) and calls a tool, so the prompt goes on; the next step never answers.
    env.llm.script([
      {
        match: { allText: 'P3-BUDGET', hasToolResult: false },
        reply: {
          toolCalls: [{ name: 'bash', arguments: { command: 'echo P3-STEP', description: 'a step' } }],
          usage: { prompt_tokens: 100_000, completion_tokens: 10 },
        },
      },
      { match: { allText: 'P3-BUDGET', hasToolResult: true }, reply: { hang: true } },
    ]);
    const flow = env.host({ persist: false });
    try {
      await flow.spawn({ name: 'spender', agent: 'build', permissions: { bash: 'allow' } });
      const t0 = Date.now();
      const report = await flow.run(
        soloMachine,
        { spec: await flow.agentSpec('spender'), task: 'P3-BUDGET: run the step' },
        { maxCost: 0.005 },
      );
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(report.status).toBe('budget_exceeded');
      expect(report.reason).toMatch(/budget exceeded mid-prompt: spent \$0\.01/);
      expect(report.cost.total).toBeGreaterThan(0.005);
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('problem 4: flow.reply() reaches an agent of flow.run()', () => {
  it('the permission request is pending for the run, answered, and the run completes', async () => {
    env.llm.script([
      {
        match: { allText: 'P4-ASK', hasToolResult: false },
        reply: {
          toolCalls: [{ name: 'bash', arguments: { command: 'echo P4-ASK-RAN', description: 'print a marker' } }],
        },
      },
      {
        match: { allText: 'P4-ASK', hasToolResult: true },
        reply: (req) => ({ text: `tool said: ${lastToolResult(req)}` }),
      },
    ]);
    const flow = env.host({ persist: false });
    const flowId = 'flow_p4_reply';
    const asked: string[] = [];
    const pending: unknown[] = [];
    flow.on('agent.input_required', (e) => {
      asked.push(`${e.flowId}:${e.agent}:${e.request.kind}`);
      pending.push(...flow.pendingRequests(flowId).map((p) => [p.flowId, p.agent, p.request.id === e.request.id]));
      flow.reply(e.request.id, 'once');
    });
    try {
      await flow.spawn({
        name: 'asker',
        agent: 'build',
        permissions: { bash: 'ask' },
        inputPolicy: { onPermission: 'ask' },
      });
      const report = await flow.run(
        soloMachine,
        { spec: await flow.agentSpec('asker'), task: 'P4-ASK: run it' },
        { flowId },
      );
      expect(asked).toEqual([`${flowId}:solo:permission`]);
      expect(pending).toEqual([[flowId, 'solo', true]]);
      expect(report.status).toBe('completed');
      expect(report.output?.outcome).toBe('done');
      expect(report.output?.output).toContain('P4-ASK-RAN');
      expect(flow.pendingRequests()).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('problem 7: planExecuteMachine under flow.run with a decomposed subtask', () => {
  it('the sub-supervisor plans again and the run completes', async () => {
    const top = {
      subtasks: [
        { id: 'big', title: 'backend', description: 'too big for one agent', agent: 'coder', decompose: true },
        { id: 'check', title: 'check', description: 'review the backend', agent: 'reviewer', dependsOn: ['big'] },
      ],
    };
    const sub = { subtasks: [{ id: 'b1', title: 'models', description: 'write models', agent: 'coder' }] };
    const own = (r: ScriptedRequest) => [...r.lastUser.matchAll(/# Your subtask \((\w+)\)/g)].at(-1)?.[1];
    env.llm.script([
      {
        match: { allText: 'P7-NEST', lastUser: /# Your subtask \(big\)[\s\S]*# Plan this task for the team/ },
        reply: structuredReply(sub),
      },
      {
        match: { allText: 'P7-NEST', lastUser: '# Plan this task for the team' },
        reply: structuredReply(top),
      },
      {
        match: { allText: 'P7-NEST', lastUser: 'All subtasks of your plan have finished' },
        reply: (req) => ({ text: `COMBINED[${(req.lastUser.match(/OUT-\w+|COMBINED\[[^\]]*\]/g) ?? []).join(' ')}]` }),
      },
      { match: { allText: 'P7-NEST', lastUser: '# Your subtask' }, reply: (req) => ({ text: `OUT-${own(req)}` }) },
    ]);
    const flow = env.host({ persist: false });
    try {
      const report = await flow.run(
        planExecuteMachine,
        planExecuteInput({
          task: 'P7-NEST: build it',
          planner: await flow.agentSpec('planner'),
          agents: [await flow.agentSpec('coder'), await flow.agentSpec('reviewer')],
        }),
      );
      expect(
        report.status,
        JSON.stringify({ reason: report.reason, r: report.results.map((r) => [r.agent, r.status, r.error]) }),
      ).toBe('completed');
      expect(report.output?.status).toBe('completed');
      // The top planner and the sub-supervisor's planner were both asked for a plan.
      const planAsks = withMarker(env.llm, 'P7-NEST').filter((r) =>
        r.lastUser.includes('# Plan this task for the team'),
      );
      expect(planAsks).toHaveLength(2);
      expect(report.output?.output).toBe('COMBINED[COMBINED[OUT-b1] OUT-check]');
      expect(report.output?.results.map((r) => r.agent)).toEqual([
        'planner',
        'coder:big/planner',
        'coder:big/coder:b1',
        'coder:big/planner',
        'reviewer:check',
        'planner',
      ]);
      // The run's report names its agents as the machine's own output (and execute's report) does:
      // a sub-supervisor's planner is not the top planner.
      expect(report.results.map((r) => r.agent)).toEqual(report.output?.results.map((r) => r.agent));
    } finally {
      await flow.shutdown();
    }
  });
});

describe('problem 8: timeouts (library)', () => {
  it('execute({ timeout }) is refused: it was renamed to timeoutMs', async () => {
    const flow = env.host({ persist: false });
    try {
      const err = await flow.execute({ task: 'P8-RENAMED', agents: ['coder'], timeout: 5 } as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FlowError);
      expect((err as FlowError).code).toBe('invalid_config');
      expect((err as Error).message).toMatch(/timeout: renamed to timeoutMs/);
      expect(withMarker(env.llm, 'P8-RENAMED')).toHaveLength(0);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('flow.stream (problem 9 of the brief)', () => {
  it('breaking out after the first delta cancels the run: no busy session, the report says cancelled', async () => {
    // 40 chunks, 300 ms apart: 12 s of streaming unless the run is cut off.
    env.llm.script({
      match: { allText: 'P9-BREAK' },
      reply: { text: 'word '.repeat(40), chunks: 40, chunkDelayMs: 300 },
    });
    const flow = env.host({ persist: false });
    const done: FlowReport[] = [];
    flow.on('flow.done', (r) => done.push(r));
    try {
      await flow.start();
      const before = await sessionIds(flow);
      const seen: string[] = [];
      const t0 = Date.now();
      for await (const ev of flow.stream({ task: 'P9-BREAK: talk slowly', agents: ['coder'] })) {
        seen.push(ev.type);
        if (ev.type === 'agent.delta') break;
      }
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(seen[0]).toBe('flow.started');
      expect(seen.at(-1)).toBe('agent.delta');
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
      expect(done.map((r) => r.status)).toEqual(['cancelled']);
      expect(flow.runningFlows()).toEqual([]);
      expect(await createdSince(flow, before)).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });

  it('read to the end: flow.started first, flow.done last with the report', async () => {
    env.llm.script({ match: { allText: 'P9-FULL' }, reply: { text: 'streamed in full', chunks: 4 } });
    const flow = env.host({ persist: false });
    try {
      const events: RunEvent[] = [];
      for await (const ev of flow.stream({ task: 'P9-FULL: answer', agents: ['coder'] })) events.push(ev);
      expect(events[0]).toMatchObject({ type: 'flow.started', mode: 'parallel', agents: ['coder'] });
      const last = events.at(-1)!;
      expect(last.type).toBe('flow.done');
      const report = (last as Extract<RunEvent, { type: 'flow.done' }>).report;
      expect(report).toMatchObject({
        status: 'completed',
        results: [{ agent: 'coder', status: 'done', output: 'streamed in full' }],
      });
      expect(events.filter((e) => e.type === 'flow.done')).toHaveLength(1);
      const text = events
        .filter((e): e is Extract<RunEvent, { type: 'agent.delta' }> => e.type === 'agent.delta')
        .map((e) => e.text)
        .join('');
      expect(text).toBe('streamed in full');
      for (const e of events) expect(e.flowId).toBe(report.flowId);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('a custom machine resumed after kill -9 (problem 10 of the brief)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocf-run-crash-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The stored review loop's reviewer is mid-prompt (its persisted child is working). */
  async function reviewerStoredWorking(flowsDir: string, flowId: string): Promise<boolean> {
    try {
      // Stored packed (src/store/pack.ts): read as a store loads it.
      const snap = unpackSnapshot(JSON.parse(await readFile(join(flowsDir, flowId, 'snapshot.json'), 'utf8'))) as {
        actor?: { children?: Record<string, { snapshot?: { value?: unknown } }> };
        snapshot?: { actor?: { children?: Record<string, { snapshot?: { value?: unknown } }> } };
      };
      const actor = snap.actor ?? snap.snapshot?.actor;
      const value = JSON.stringify(actor?.children?.['agent:reviewer']?.snapshot?.value ?? '');
      return /prompting|streaming/.test(value);
    } catch {
      return false;
    }
  }

  it("the review loop goes on from its stored state: the coder's finished round is not run again", async () => {
    const task = 'P10-CRASH: add validation';
    const reviewerAsks = () =>
      withMarker(env.llm, 'P10-CRASH').filter((r) => r.system.includes('You are the **reviewer**'));
    const coderAsks = () => withMarker(env.llm, 'P10-CRASH').filter((r) => r.system.includes('You are the **coder**'));
    env.llm.script([
      { match: { allText: 'P10-CRASH', system: 'You are the **coder**' }, reply: { text: 'code v1' } },
      { match: { allText: 'P10-CRASH', system: 'You are the **reviewer**' }, times: 1, reply: { hang: true } },
      {
        match: { allText: 'P10-CRASH', system: 'You are the **reviewer**' },
        reply: { text: 'Good.\nVERDICT: APPROVE' },
      },
    ]);
    const flowId = 'flow_p10_custom_crash';
    const flowsDir = join(dir, 'flows');
    // The child runs the loop; it is killed (SIGKILL) once the reviewer waits on the model and the store says so.
    const killed = await new Promise<{ signal: NodeJS.Signals | null; out: string }>((done) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/e2e/fixtures/crash-custom-flow.ts')], {
        cwd: root,
        env: { ...process.env, SERVER_URL: env.oc.url, FLOWS_DIR: flowsDir, FLOW_ID: flowId, TASK: task },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let killing = false;
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const poll = setInterval(() => {
        if (killing || !out.includes('state reviewer streaming') || reviewerAsks().length !== 1) return;
        void reviewerStoredWorking(flowsDir, flowId).then((ok) => {
          if (!ok || killing) return;
          killing = true;
          child.kill('SIGKILL');
        });
      }, 50);
      child.on('exit', (_code, sig) => {
        clearInterval(poll);
        done({ signal: sig, out });
      });
    });
    expect(killed.signal, killed.out).toBe('SIGKILL');
    expect(killed.out).toContain('done coder');
    expect(killed.out).not.toContain('finished');
    const reviewerSession = /state reviewer streaming (ses_\w+)/.exec(killed.out)?.[1];
    expect(reviewerSession, killed.out).toBeDefined();
    // Its prompt is cut off, as when the process that sent it is gone for good.
    const client = new OpencodeClient({ url: env.oc.url });
    await client.abort(reviewerSession!);
    await expect.poll(async () => reviewerSession! in (await client.status()), { timeout: 10_000 }).toBe(false);

    const flow = env.host({ flowsDir });
    try {
      expect((await flow.listFlows()).map((f) => [f.flowId, f.status, f.mode])).toEqual([
        [flowId, 'running', 'custom'],
      ]);
      const input = {
        task,
        coder: await flow.agentSpec('coder'),
        reviewer: await flow.agentSpec('reviewer'),
        maxRounds: 2,
      };
      const t0 = Date.now();
      const report = await flow.run(reviewLoopMachine, input, { flowId, resume: true });
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(report.status, JSON.stringify(report)).toBe('completed');
      expect(report.output).toMatchObject({ approved: true, rounds: 1, code: 'code v1' });
      // The coder's round was not run again; the reviewer was asked again.
      expect(coderAsks()).toHaveLength(1);
      expect(reviewerAsks()).toHaveLength(2);
      expect(report.results.map((r) => [r.agent, r.status])).toEqual([
        ['coder', 'done'],
        ['reviewer', 'done'],
      ]);
      expect((await flow.listFlows()).find((f) => f.flowId === flowId)?.status).toBe('completed');
      expect(Object.keys(await flow.opencode.status())).toEqual([]);
    } finally {
      await flow.shutdown();
    }
  });
});

/**
 * Problems 5 and 6 on one embedded host: `serve` with no server URL starts its own OpenCode
 * with our session plugin, so memory tool calls name the session that made them.
 */
describe('on an embedded host (serve)', () => {
  let llm: ScriptedLLM;
  let dir: string;
  let serve: RunningServe;

  beforeAll(async () => {
    llm = await startScriptedLLM();
    dir = await mkdtemp(join(tmpdir(), 'ocf-run-embedded-'));
    await mkdir(join(dir, 'home'));
    await mkdir(join(dir, 'project'));
    serve = await startServe({
      port: 0,
      token: TOKEN,
      maxFlows: 8,
      flowOptions: {
        directory: join(dir, 'project'),
        model: 'scripted/small',
        opencodeConfig: scriptedOpencodeConfig({ baseURL: llm.baseURL }),
        serverEnv: isolatedOpencodeEnv(join(dir, 'home')),
        memory: `file:${join(dir, 'memory.json')}`,
        flowsDir: join(dir, 'flows'),
      },
    });
    await serve.flow.start();
  });

  afterAll(async () => {
    await serve?.close();
    await llm?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * Run A's agent writes `key` and waits; run B's agent, started meanwhile, reads `key` once
   * A wrote it; A finishes after B read. Both runs are going at once throughout.
   */
  function scriptWriterAndReader(a: string, b: string, key: string) {
    const wrote = signal(`${a} to write ${key}`);
    const read = signal(`${b} to read ${key}`);
    llm.script([
      {
        match: { allText: a, hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_memory_set', arguments: { key, value: 'A' } }] },
      },
      {
        match: { allText: a, hasToolResult: true },
        reply: async (req) => {
          wrote.fire();
          await read.p;
          return { text: `A wrote: ${lastToolResult(req)}` };
        },
      },
      {
        match: { allText: b, hasToolResult: false },
        reply: async () => {
          await wrote.p;
          return { toolCalls: [{ name: 'flow_memory_get', arguments: { key } }] };
        },
      },
      {
        match: { allText: b, hasToolResult: true },
        reply: (req) => {
          read.fire();
          return { text: `B read: ${lastToolResult(req)}` };
        },
      },
    ]);
  }

  describe('problem 5: memory is per run', () => {
    it("two runs at once on one host: B cannot read the key A wrote; the library reads A's", async () => {
      scriptWriterAndReader('P5-LIB-A', 'P5-LIB-B', 'secret');
      const flow = serve.flow;
      const [ra, rb] = await Promise.all([
        flow.execute({ task: 'P5-LIB-A: remember the secret', agents: ['researcher'], flowId: 'flow_p5_lib_a' }),
        flow.execute({ task: 'P5-LIB-B: look the secret up', agents: ['coder'], flowId: 'flow_p5_lib_b' }),
      ]);
      expect([ra.status, rb.status]).toEqual(['completed', 'completed']);
      expect(ra.results[0]!.output).toContain('A wrote:');
      const bOut = rb.results[0]!.output;
      expect(bOut).toContain('B read:');
      expect(bOut).toMatch(/"found":\s*false/);
      expect(bOut).not.toMatch(/"value":\s*"A"/);
      expect(await flow.memory.get('secret', { flowId: 'flow_p5_lib_a' })).toBe('A');
      expect((await flow.memory.get('secret', { flowId: 'flow_p5_lib_b' })) ?? null).toBeNull();
      // Nor did it land in the host's own namespace or the shared one.
      expect((await flow.memory.get('secret')) ?? null).toBeNull();
      expect((await flow.memory.get('secret', { shared: true })) ?? null).toBeNull();
    });

    it("two POST /flows at once: one client's agent cannot read the other's key", async () => {
      scriptWriterAndReader('P5-HTTP-A', 'P5-HTTP-B', 'token');
      const finished = new Map<string, FlowReport>();
      const waiting = new Map<string, (r: FlowReport) => void>();
      const onDone = (r: FlowReport) => {
        finished.set(r.flowId, r);
        waiting.get(r.flowId)?.(r);
      };
      serve.flow.on('flow.done', onDone);
      const report = (id: string) =>
        new Promise<FlowReport>((res) => (finished.has(id) ? res(finished.get(id)!) : waiting.set(id, res)));
      try {
        const [pa, pb] = await Promise.all([
          call(serve.url, 'POST', '/flows', {
            body: { task: 'P5-HTTP-A: remember the token', agents: ['researcher'] },
          }),
          call(serve.url, 'POST', '/flows', { body: { task: 'P5-HTTP-B: look the token up', agents: ['coder'] } }),
        ]);
        expect([pa.status, pb.status], pa.text + pb.text).toEqual([202, 202]);
        const [ra, rb] = await Promise.all([report(pa.body.id), report(pb.body.id)]);
        expect([ra.status, rb.status]).toEqual(['completed', 'completed']);
        expect(rb.results[0]!.output).toMatch(/"found":\s*false/);
        expect(await serve.flow.memory.get('token', { flowId: pa.body.id })).toBe('A');
        expect((await serve.flow.memory.get('token', { flowId: pb.body.id })) ?? null).toBeNull();
      } finally {
        serve.flow.off('flow.done', onDone);
      }
    });
  });

  describe('problem 6: inline agents die with their run', () => {
    it('100 serve flows with a 900 KB inline system prompt each leave the heap within 20 MB', async () => {
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      const heapAfterGc = async () => {
        for (let i = 0; i < 4; i++) {
          gc();
          await new Promise((r) => setImmediate(r));
        }
        return process.memoryUsage().heapUsed;
      };
      llm.script({
        match: { allText: 'P6-BULK' },
        reply: { text: 'bulk ok', usage: { prompt_tokens: 50, completion_tokens: 5 } },
      });
      const statuses = new Map<string, string>();
      const waiting = new Map<string, () => void>();
      const onDone = (r: FlowReport) => {
        statuses.set(r.flowId, r.status);
        waiting.get(r.flowId)?.();
        waiting.delete(r.flowId);
      };
      serve.flow.on('flow.done', onDone);
      const filler = 'x'.repeat(900 * 1024 - 64);
      /** One flow through the API, to its end; the body is built and dropped here. */
      const one = async (i: number) => {
        const body = JSON.stringify({
          task: `P6-BULK flow ${i}`,
          agents: [{ name: 'bulky', systemPrompt: `You are bulky number ${i}. ${filler}` }],
        });
        const r = await call(serve.url, 'POST', '/flows', { body });
        if (r.status !== 202) throw new Error(`POST /flows #${i}: HTTP ${r.status} ${r.text}`);
        const id = r.body.id as string;
        if (!statuses.has(id)) await new Promise<void>((res) => waiting.set(id, res));
        return statuses.get(id);
      };
      const batch = async (from: number, count: number, parallel: number) => {
        let next = from;
        const out: Array<string | undefined> = [];
        await Promise.all(
          Array.from({ length: parallel }, async () => {
            while (next < from + count) out.push(await one(next++));
          }),
        );
        return out;
      };
      // The scripted model's request log holds every system prompt: keep it out of the measure.
      const dropLog = () => (llm.requests as ScriptedRequest[]).splice(0);
      try {
        expect(await batch(0, 5, 4)).toEqual(Array(5).fill('completed'));
        dropLog();
        const start = await heapAfterGc();
        const t0 = Date.now();
        const results = await batch(5, 100, 4);
        const took = Date.now() - t0;
        expect(results.filter((s) => s === 'completed')).toHaveLength(100);
        dropLog();
        const end = await heapAfterGc();
        const grewMb = (end - start) / 1024 / 1024;
        console.info(
          `heap after GC: ${(start / 1048576).toFixed(1)} MB before, ${(end / 1048576).toFixed(1)} MB after 100 flows (${took} ms)`,
        );
        expect(grewMb, `heap grew ${grewMb.toFixed(1)} MB over 100 flows (${took} ms)`).toBeLessThan(20);
        expect(serve.flow.runningFlows()).toEqual([]);
      } finally {
        serve.flow.off('flow.done', onDone);
      }
    }, 600_000);
  });
});
