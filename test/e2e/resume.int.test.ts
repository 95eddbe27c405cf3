import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { OpencodeClient } from '../../src/opencode/client.js';
import { checkHealth } from '../../src/opencode/server.js';
import { openFlowStore } from '../../src/store/uri.js';
import {
  isolatedOpencodeEnv,
  startScriptedLLM,
  startTestOpencode,
  type ScriptedLLM,
  type TestOpencode,
} from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';
import { createTestDatabase, needPostgres } from '../helpers/services.js';

const postgres = await needPostgres();

/**
 * Crash and resume: a flow runs in a child process that is killed with SIGKILL; another
 * process resumes it from the persisted snapshot.
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
// Hosts on this file's server; no host-wide model: the stored runs say theirs.
const env = useFlowHosts({ server: () => ({ url: oc.url, llm }), defaults: { model: undefined } });

const bySystem = (task: string, who: string) =>
  llm.promptRequests().filter((r) => r.allText.includes(task) && r.system.includes(`You are the **${who}**`));
const who = (task: string, agent: string) => ({ allText: task, system: `You are the **${agent}**` });

/** The three agents' replies; the tester's first request hangs when `testerHangs`. */
function scriptAgents(task: string, testerHangs: boolean) {
  llm.script([
    { match: who(task, 'researcher'), reply: { text: 'research result' } },
    { match: who(task, 'coder'), reply: { text: 'code result' } },
    ...(testerHangs ? [{ match: who(task, 'tester'), times: 1, reply: { hang: true } }] : []),
    {
      match: who(task, 'tester'),
      reply: testerHangs ? { text: 're-prompted test result' } : { text: 'test result', delayMs: 2500 },
    },
  ]);
}

/**
 * Run `test/e2e/fixtures/crash-flow.ts` until `killWhen(out)` holds and its store holds the
 * snapshot with the tester mid-prompt, then SIGKILL it: with `group`, its whole process
 * group (it and the OpenCode it embeds, as a container kill would).
 */
function runUntilKilled(env: Record<string, string>, killWhen: (out: string) => boolean, group = false) {
  return new Promise<{ signal: NodeJS.Signals | null; out: string }>((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/e2e/fixtures/crash-flow.ts')], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: group,
    });
    let out = '';
    let exited = false;
    const kill = () => {
      try {
        if (group) process.kill(-child.pid!, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        /* gone already */
      }
    };
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (_code, signal) => {
      exited = true;
      if (group) kill(); // never leave its OpenCode behind, whatever happened
      done({ signal, out });
    });
    // Checked on output and on a clock: the LLM request it may wait for arrives elsewhere.
    // Then die hard once the snapshot with the tester streaming is in the store.
    const store = openFlowStore(env.FLOW_STORE ?? { backend: 'file', dir: env.FLOWS_DIR! });
    const storedMidPrompt = async () => {
      const session = sessionOf(out, 'tester');
      const stored = await store.load(env.FLOW_ID!).catch(() => undefined);
      const text = JSON.stringify(stored?.snapshot ?? null);
      return !!session && text.includes(session) && text.includes('"streaming"');
    };
    void (async () => {
      while (!exited && !(killWhen(out) && (await storedMidPrompt()))) await new Promise((r) => setTimeout(r, 20));
      kill();
      await store.close();
    })();
  });
}

const sessionOf = (out: string, agent: string) => new RegExp(`state ${agent} streaming (ses_\\w+)`).exec(out)?.[1];

async function sessionCosts(flow: OpencodeFlow, sessionIDs: string[]) {
  let sum = 0;
  for (const id of sessionIDs)
    for (const m of await flow.opencode.messages(id)) if (m.info.role === 'assistant') sum += m.info.cost ?? 0;
  return sum;
}

/**
 * Run the crash fixture on the shared server with the tester's model request hanging, and
 * `kill -9` it while the tester waits on it. Returns where the flow is stored and the
 * tester's session.
 */
async function killWhileTesterWaits(task: string, flowId: string) {
  scriptAgents(task, true);
  const flowsDir = join(dir, `flows-${flowId}`);
  const killed = await runUntilKilled(
    { SERVER_URL: oc.url, FLOWS_DIR: flowsDir, FLOW_ID: flowId, TASK: task },
    (out) => out.includes('state tester streaming') && bySystem(task, 'tester').length === 1,
  );
  expect(killed.signal, killed.out).toBe('SIGKILL');
  return { flowsDir, testerSession: sessionOf(killed.out, 'tester')!, client: new OpencodeClient({ url: oc.url }) };
}

/**
 * Resume a flow whose tester was cut off mid-prompt and check the outcome: done well within
 * the 10-minute prompt timeout, researcher and coder not asked again, the tester asked again
 * (the interrupted attempt recorded with `why`) and its new answer taken.
 */
async function resumeReprompted(flow: OpencodeFlow, flowId: string, task: string, why: string) {
  const t0 = Date.now();
  const report = await flow.resume(flowId);
  expect(Date.now() - t0).toBeLessThan(30_000);
  expect(report.status).toBe('completed');
  expect(report.results.map((r) => [r.agent, r.status, r.output])).toEqual([
    ['researcher', 'done', 'research result'],
    ['coder', 'done', 'code result'],
    ['tester', 'done', 're-prompted test result'],
  ]);
  expect(bySystem(task, 'researcher')).toHaveLength(1);
  expect(bySystem(task, 'coder')).toHaveLength(1);
  expect(bySystem(task, 'tester')).toHaveLength(2);
  expect(report.results[2]!.attempts).toEqual([
    { model: 'scripted/small', error: `interrupted: re-prompted after resume (${why})`, errorKind: 'aborted' },
    { model: 'scripted/small' },
  ]);
  return report;
}

describe('crash resume', () => {
  it('kill -9 mid-flow, resume: finished agents are not re-run, the flow completes, cost adds up', async () => {
    const task = 'CRASH-TASK';
    // The tester is slow: the process dies while it works; OpenCode finishes it anyway.
    scriptAgents(task, false);
    const flowId = 'flow_crash_test';
    const flowsDir = join(dir, 'flows');
    const killed = await runUntilKilled(
      { SERVER_URL: oc.url, FLOWS_DIR: flowsDir, FLOW_ID: flowId, TASK: task },
      (out) => out.includes('done coder') && out.includes('state tester streaming'),
    );
    expect(killed.signal, killed.out).toBe('SIGKILL');
    expect(killed.out).not.toContain('finished');

    const flow = env.host({ keepSessions: true, flowsDir });
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
      expect(bySystem(task, 'researcher')).toHaveLength(1);
      expect(bySystem(task, 'coder')).toHaveLength(1);
      expect(bySystem(task, 'tester')).toHaveLength(1);
      expect(report.results[2]!.attempts).toEqual([{ model: 'scripted/small' }]);
      // Total cost = what OpenCode says all three sessions cost.
      const sum = await sessionCosts(
        flow,
        report.results.map((r) => r.sessionID),
      );
      expect(report.cost.total).toBeCloseTo(sum, 12);
      expect(sum).toBeGreaterThan(0);
      expect((await flow.listFlows())[0]!.status).toBe('completed');
      // Resuming a finished flow just returns its report.
      expect((await flow.resume(flowId)).results).toHaveLength(3);
    } finally {
      await flow.shutdown();
    }
  });

  it('kill -9 while an agent waits on the model, its prompt aborted: resume prompts it again and finishes', async () => {
    const task = 'ABORT-TASK';
    const flowId = 'flow_abort_test';
    const { flowsDir, testerSession, client } = await killWhileTesterWaits(task, flowId);
    // The prompt is cut off, as when its OpenCode is stopped: its answer ends aborted.
    await client.abort(testerSession);
    await expect.poll(async () => testerSession in (await client.status()), { timeout: 10_000 }).toBe(false);

    const flow = env.host({ keepSessions: true, flowsDir });
    try {
      await flow.start();
      const report = await resumeReprompted(flow, flowId, task, 'its answer was aborted');
      expect(report.results[2]!.sessionID).toBe(testerSession);
      const msgs = await flow.opencode.messages(testerSession);
      expect(msgs.map((m) => [m.info.role, (m.info as { error?: { name: string } }).error?.name])).toEqual([
        ['user', undefined],
        ['assistant', 'MessageAbortedError'],
        ['user', undefined],
        ['assistant', undefined],
      ]);
      const sum = await sessionCosts(
        flow,
        report.results.map((r) => r.sessionID),
      );
      expect(report.cost.total).toBeCloseTo(sum, 12);
    } finally {
      await flow.shutdown();
    }
  });

  it('kill -9 mid-prompt, then the session is deleted: resume fails that agent at once, keeps the others', async () => {
    const task = 'GONE-TASK';
    const flowId = 'flow_gone_test';
    const { flowsDir, testerSession, client } = await killWhileTesterWaits(task, flowId);
    await client.abort(testerSession);
    await client.deleteSession(testerSession);

    const flow = env.host({ keepSessions: true, flowsDir });
    try {
      await flow.start();
      const t0 = Date.now();
      const report = await flow.resume(flowId);
      // Not the 10-minute prompt timeout: the session's absence is an answer.
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(report.status).toBe('completed');
      expect(report.results.map((r) => [r.agent, r.status])).toEqual([
        ['researcher', 'done'],
        ['coder', 'done'],
        ['tester', 'failed'],
      ]);
      expect(report.results[2]!.error).toMatch(
        new RegExp(`session ${testerSession} no longer exists on the OpenCode server`),
      );
      // Nothing was asked again: the finished agents keep their answers; the tester's session is gone.
      expect(bySystem(task, 'researcher')).toHaveLength(1);
      expect(bySystem(task, 'coder')).toHaveLength(1);
      expect(bySystem(task, 'tester')).toHaveLength(1);
    } finally {
      await flow.shutdown();
    }
  });

  it('kill -9 of the process and its embedded OpenCode mid-prompt: resume on a new OpenCode prompts again', async () => {
    const task = 'LOST-TASK';
    scriptAgents(task, true);
    const flowId = 'flow_lost_test';
    const flowsDir = join(dir, 'flows-lost');
    const project = join(dir, 'lost-project');
    const home = join(dir, 'lost-home');
    await mkdir(project, { recursive: true });
    await mkdir(home, { recursive: true });
    const killed = await runUntilKilled(
      { EMBED_DIR: project, EMBED_HOME: home, LLM_URL: llm.baseURL, FLOWS_DIR: flowsDir, FLOW_ID: flowId, TASK: task },
      (out) => out.includes('state tester streaming') && bySystem(task, 'tester').length === 1,
      true,
    );
    expect(killed.signal, killed.out).toBe('SIGKILL');
    const deadUrl = /server (http:\/\/\S+)/.exec(killed.out)?.[1];
    expect(deadUrl, killed.out).toBeDefined();
    // Its OpenCode died with it.
    await expect
      .poll(
        () =>
          checkHealth({ url: deadUrl! }, { timeoutMs: 1000, attempts: 1 }).then(
            () => 'up',
            () => 'down',
          ),
        { timeout: 10_000 },
      )
      .toBe('down');
    const testerSession = sessionOf(killed.out, 'tester')!;

    // A new process, a new embedded OpenCode on the same data: the session is idle, its
    // answer cut off with neither completion nor error.
    const flow = env.host({
      embedded: true,
      directory: project,
      serverEnv: isolatedOpencodeEnv(home),
      keepSessions: true,
      flowsDir,
    });
    try {
      await flow.start();
      const cut = (await flow.opencode.messages(testerSession)).at(-1)!.info as {
        role: string;
        time: { completed?: number };
        error?: unknown;
      };
      expect([cut.role, cut.time.completed, cut.error]).toEqual(['assistant', undefined, undefined]);
      const report = await resumeReprompted(flow, flowId, task, 'the session was idle with no answer');
      const sum = await sessionCosts(
        flow,
        report.results.map((r) => r.sessionID),
      );
      expect(report.cost.total).toBeCloseTo(sum, 12);
    } finally {
      await flow.shutdown();
    }
  }, 240_000);

  it('resuming an unknown flow is a clear error', async () => {
    const flow = env.host();
    try {
      await expect(flow.resume('flow_nope')).rejects.toThrow(/no stored flow "flow_nope"/);
    } finally {
      await flow.shutdown();
    }
  });
});

describe('crash resume through a database store', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  afterAll(async () => db?.drop());

  const stores: Array<{ name: string; skip: boolean; uri: () => Promise<string> }> = [
    { name: 'sqlite', skip: false, uri: async () => `sqlite:${join(dir, 'flows.db')}` },
    {
      name: 'postgres',
      skip: !postgres.up,
      uri: async () => (db ??= await createTestDatabase(postgres.url)).url,
    },
  ];
  for (const s of stores) {
    it.skipIf(s.skip)(
      `${s.name}: kill -9 mid-flow, another process resumes from the store; the report is stored`,
      async () => {
        const task = `STORE-${s.name.toUpperCase()}-TASK`;
        const flowId = `flow_store_${s.name}`;
        const store = await s.uri();
        scriptAgents(task, false);
        const killed = await runUntilKilled(
          { SERVER_URL: oc.url, FLOW_STORE: store, FLOW_ID: flowId, TASK: task },
          (out) => out.includes('done coder') && out.includes('state tester streaming'),
        );
        expect(killed.signal, killed.out).toBe('SIGKILL');
        expect(killed.out).not.toContain('finished');

        const flow = env.host({ keepSessions: true, store });
        try {
          expect(flow.store.kind).toBe(s.name);
          expect((await flow.listFlows()).map((f) => [f.flowId, f.status])).toEqual([[flowId, 'running']]);
          expect((await flow.store.load(flowId)).report).toBeUndefined();
          const report = await flow.resume(flowId);
          expect(report.status).toBe('completed');
          expect(report.results.map((r) => [r.agent, r.status, r.output])).toEqual([
            ['researcher', 'done', 'research result'],
            ['coder', 'done', 'code result'],
            ['tester', 'done', 'test result'],
          ]);
          expect(bySystem(task, 'researcher')).toHaveLength(1);
          expect(bySystem(task, 'coder')).toHaveLength(1);
          expect(bySystem(task, 'tester')).toHaveLength(1);
          const stored = await flow.store.load(flowId);
          expect(stored.meta.status).toBe('completed');
          expect(stored.report).toEqual(JSON.parse(JSON.stringify(report)));
        } finally {
          await flow.shutdown();
        }
        // The report outlives what the run does after it (its agents' last states, the
        // sessions swept): read by a new store once the host is gone.
        const after = openFlowStore(store);
        try {
          expect((await after.load(flowId)).report).toMatchObject({ flowId, status: 'completed' });
        } finally {
          await after.close();
        }
      },
    );
  }
});
