import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlowConfig } from '../../src/config/flow-config.js';
import {
  startScriptedLLM,
  startTestOpencode,
  type ScriptedLLM,
  type ScriptedRequest,
  type TestOpencode,
} from '../../src/testing/index.js';
import { cli, removeMemoryFiles, root, tempDir } from './helpers.js';

/**
 * The bundled example flows, run as their READMEs say (`opencode-flow run <flow>`) against
 * real OpenCode. The scripted provider serves models under ids the router's quality table
 * knows, so the flows' own routing (cost, balanced, quality) makes real choices.
 */

let llm: ScriptedLLM;
let oc: TestOpencode;
let cwd: string;
let cleanup: () => Promise<void>;

const MODELS = [
  { id: 'gemini-2.5-flash', cost: { input: 0.1, output: 0.4 } }, // quality 78
  { id: 'deepseek-chat', cost: { input: 0.27, output: 1.1 } }, // quality 85
  { id: 'claude-sonnet-4', cost: { input: 3, output: 15 } }, // quality 95
];

/** Which agent a request is for, from its system prompt. */
function agentOf(q: ScriptedRequest): string {
  if (q.system.includes('You are the dependency auditor')) return 'dependency-auditor';
  const m = /You are the \*\*(\w[\w ]*)\*\*/.exec(q.system);
  return m ? m[1]!.replace(' ', '-') : 'unknown';
}

beforeAll(async () => {
  llm = await startScriptedLLM({
    fallback: (q) => ({ text: `${agentOf(q).toUpperCase()}-OUTPUT for: ${q.lastUser.slice(0, 40)}` }),
  });
  oc = await startTestOpencode({ baseURL: llm.baseURL, models: MODELS, defaultModel: 'gemini-2.5-flash' });
  ({ dir: cwd, cleanup } = await tempDir('ocf-examples-'));
});

afterAll(async () => {
  await oc?.stop();
  await llm?.close();
  await cleanup?.();
  await removeMemoryFiles();
});

interface Report {
  status: string;
  mode: string;
  results: Array<{ agent: string; model: string; status: string; output: string }>;
}

async function runExample(args: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const r = await cli(['run', ...args, '--server', oc.url, '--json'], { cwd });
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`no JSON report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

const since = (seq: number) => llm.promptRequests().filter((q) => q.seq > seq);
const last = () => llm.requests.at(-1)?.seq ?? -1;
const picks = (report: Report) => Object.fromEntries(report.results.map((x) => [x.agent, x.model]));

describe('example flows', () => {
  it('every example ships a README, a valid flow.config.json and a sample project', async () => {
    for (const name of ['code-review', 'api-generation', 'security-audit']) {
      const { config } = await loadFlowConfig(join(root, 'examples', name, 'flow.config.json'));
      expect(config.task, name).toBeTruthy();
      expect(config.agents?.length, name).toBeGreaterThan(1);
      const { readFileSync, existsSync } = await import('node:fs');
      expect(readFileSync(join(root, 'examples', name, 'README.md'), 'utf8')).toContain(`opencode-flow run ${name}`);
      expect(existsSync(join(root, 'examples', name, 'sample', 'package.json')), name).toBe(true);
    }
  });

  it('code-review: `run code-review --task "Review src/"` — researcher then reviewer, each on the cheapest model meeting its floor', async () => {
    const from = last();
    const { code, report } = await runExample(['code-review', '--task', 'Review src/']);
    expect(code).toBe(0);
    expect(report).toMatchObject({ status: 'completed', mode: 'sequential' });
    expect(report.results.map((x) => x.agent)).toEqual(['researcher', 'reviewer']);
    // cost mode: research floor 70 → gemini-2.5-flash (78, cheapest); review floor 80 → deepseek-chat (85).
    expect(picks(report)).toEqual({ researcher: 'scripted/gemini-2.5-flash', reviewer: 'scripted/deepseek-chat' });
    const reqs = since(from);
    const reviewer = reqs.find((q) => agentOf(q) === 'reviewer')!;
    expect(reviewer.lastUser).toContain('Review src/');
    // Sequential: the reviewer is given the researcher's output.
    expect(reviewer.allText).toContain(report.results[0]!.output);
    expect(reqs.find((q) => agentOf(q) === 'researcher')!.model).toBe('gemini-2.5-flash');
  });

  it("code-review without --task uses the flow's own task", async () => {
    const from = last();
    const { code } = await runExample(['code-review', '--agents', 'reviewer']);
    expect(code).toBe(0);
    const reqs = since(from);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]!.lastUser).toContain('Review the code in src/ for correctness, security and test coverage');
  });

  it('api-generation: planner → api-coder (the coder preset) → tester → reviewer, routed balanced', async () => {
    const from = last();
    const { code, report } = await runExample(['api-generation']);
    expect(code).toBe(0);
    expect(report.results.map((x) => [x.agent, x.status])).toEqual([
      ['planner', 'done'],
      ['api-coder', 'done'],
      ['tester', 'done'],
      ['reviewer', 'done'],
    ]);
    const p = picks(report);
    // Code (floor 85) never goes to a model under its floor; the test task may use the cheap one.
    expect(p['api-coder']).toBe('scripted/deepseek-chat');
    expect(p.tester).toBe('scripted/gemini-2.5-flash');
    const reqs = since(from);
    // The inline agent kept the coder preset's prompt, and saw the plan.
    const coder = reqs.find((q) => agentOf(q) === 'coder')!;
    expect(coder.lastUser).toContain('GET /todos');
    expect(coder.allText).toContain(report.results[0]!.output);
    expect(reqs.map(agentOf).filter((a, i, all) => all.indexOf(a) === i)).toEqual([
      'planner',
      'coder',
      'tester',
      'reviewer',
    ]);
  });

  it('api-generation stops at the first failed step (onAgentFailure: fail); exit 1', async () => {
    llm.script({
      name: 'planner fails',
      match: { system: 'You are the **planner**', allText: 'CLI-EX-FAIL' },
      reply: { status: 401, errorMessage: 'invalid api key' },
    });
    const from = last();
    const { code, report } = await runExample(['api-generation', '--task', 'CLI-EX-FAIL add an endpoint']);
    expect(code).toBe(1);
    expect(report.status).not.toBe('completed');
    expect(report.results.find((x) => x.agent === 'planner')?.status).toBe('failed');
    expect(since(from).filter((q) => agentOf(q) !== 'planner')).toHaveLength(0);
  });

  it('security-audit: two auditors at once on the best model; one failing does not stop the other', async () => {
    const from = last();
    const { code, report } = await runExample(['security-audit']);
    expect(code).toBe(0);
    expect(report.mode).toBe('parallel');
    expect(picks(report)).toEqual({
      'security-auditor': 'scripted/claude-sonnet-4',
      'dependency-auditor': 'scripted/claude-sonnet-4',
    });
    const reqs = since(from);
    expect(reqs.map(agentOf).sort()).toEqual(['dependency-auditor', 'security-auditor']);
    // Inline agent: its own prompt replaced the preset's.
    const dep = reqs.find((q) => agentOf(q) === 'dependency-auditor')!;
    expect(dep.system).not.toContain('You are the **security auditor**');

    llm.script({
      name: 'dependency auditor fails',
      match: { system: 'You are the dependency auditor', allText: 'CLI-EX-CONT' },
      reply: { status: 401 },
    });
    const again = await runExample(['security-audit', '--task', 'CLI-EX-CONT audit']);
    const statuses = Object.fromEntries(again.report.results.map((x) => [x.agent, x.status]));
    expect(statuses).toEqual({ 'security-auditor': 'done', 'dependency-auditor': 'failed' });
  });

  it('flags override a flow: --mode, --optimize', async () => {
    const { code, report } = await runExample(['security-audit', '--mode', 'sequential', '--optimize', 'cost']);
    expect(code).toBe(0);
    expect(report.mode).toBe('sequential');
    // Cost mode at the security floor (85): deepseek-chat, not the flagship.
    expect(picks(report)).toEqual({
      'security-auditor': 'scripted/deepseek-chat',
      'dependency-auditor': 'scripted/deepseek-chat',
    });
  });
});
