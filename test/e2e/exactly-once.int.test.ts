import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpencodeFlow } from '../../src/flow/index.js';
import { FileFlowStore } from '../../src/store/file.js';
import type { StoredFlow } from '../../src/store/store.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';

/**
 * A prompt is sent once. An agent whose state was stored while `prompting` (the moment its
 * prompt goes out) and is restored from it — after a crash, a takeover, a resume — must find
 * the prompt in its session by our id and take the answer, not send it again. Here the state
 * stored just before the coder's prompt went out is captured; the first host then lets go of
 * the flow (its sessions go on, as they do when a process dies) and a second host resumes the
 * captured state. Also: one model request per prompt, and the report's cost is OpenCode's bill.
 */
let llm: ScriptedLLM;
let oc: TestOpencode;
let dir: string;

beforeAll(async () => {
  llm = await startScriptedLLM();
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  dir = await mkdtemp(join(tmpdir(), 'ocf-once-'));
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

const requestsOf = (task: string, agent: string) =>
  llm.promptRequests().filter((r) => r.allText.includes(task) && r.system.includes(`You are the **${agent}**`));

type Child = { snapshot?: { value?: unknown; context?: { promptID?: string } } };
/** The coder's stored state when it is `prompting` with its prompt's id. */
const coderPrompting = (f: StoredFlow) => {
  const child = (f.snapshot as { children?: Record<string, Child> }).children?.['agent:coder'];
  const v = child?.snapshot?.value as { working?: string } | undefined;
  return v?.working === 'prompting' && child?.snapshot?.context?.promptID !== undefined;
};

describe('exactly once', () => {
  it('an agent restored while prompting finds its prompt by id: one model request per prompt, the report is the bill', async () => {
    const task = 'ONCE-TASK';
    llm.script([
      { match: { allText: task, system: 'You are the **researcher**' }, reply: { text: 'research result' } },
      { match: { allText: task, system: 'You are the **coder**' }, reply: { text: 'code result', delayMs: 800 } },
      { match: { allText: task, system: 'You are the **tester**' }, reply: { text: 'test result' } },
    ]);
    const flowId = 'flow_once_test';
    const first = new OpencodeFlow({ serverUrl: oc.url, memory: false, keepSessions: true, flowsDir: join(dir, 'a') });
    let captured: StoredFlow | undefined;
    const save = first.store.save.bind(first.store);
    first.store.save = (f) => {
      if (!captured && coderPrompting(f)) captured = structuredClone(f);
      return save(f);
    };
    const running = first.execute({
      task,
      agents: ['researcher', 'coder', 'tester'],
      mode: 'sequential',
      model: 'scripted/small',
      flowId,
    });
    running.catch(() => {});
    await expect.poll(() => requestsOf(task, 'coder').length, { timeout: 60_000 }).toBe(1);
    // The state stored before the prompt went out: what a crash right after the send leaves.
    expect(captured).toBeDefined();
    await first.detach(flowId);
    await first.shutdown();

    const store = new FileFlowStore(join(dir, 'b'));
    await store.save(captured!);
    await store.close();
    const second = new OpencodeFlow({ serverUrl: oc.url, memory: false, keepSessions: true, flowsDir: join(dir, 'b') });
    try {
      const report = await second.resume(flowId);
      expect(report.status).toBe('completed');
      expect(report.results.map((r) => [r.agent, r.status, r.output])).toEqual([
        ['researcher', 'done', 'research result'],
        ['coder', 'done', 'code result'],
        ['tester', 'done', 'test result'],
      ]);
      // One request per prompt: the coder's prompt was found in its session, not sent again.
      expect(requestsOf(task, 'researcher')).toHaveLength(1);
      expect(requestsOf(task, 'coder')).toHaveLength(1);
      expect(requestsOf(task, 'tester')).toHaveLength(1);
      expect(report.results[1]!.attempts).toEqual([{ model: 'scripted/small' }]);
      // The report is the bill: per agent and in total, OpenCode's info.cost of its sessions.
      let billed = 0;
      for (const r of report.results) {
        let session = 0;
        for (const m of await second.opencode.messages(r.sessionID))
          if (m.info.role === 'assistant') session += m.info.cost ?? 0;
        expect(r.cost).toBeCloseTo(session, 12);
        expect(session).toBeGreaterThan(0);
        billed += session;
      }
      expect(report.cost.total).toBeCloseTo(billed, 12);
    } finally {
      await second.shutdown();
    }
  });
});
