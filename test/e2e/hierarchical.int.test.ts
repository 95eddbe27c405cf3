import { describe, expect, it } from 'vitest';
import { planExecuteInput, planExecuteMachine } from '../../machines/flows/plan-execute.js';
import { OpencodeFlow } from '../../src/flow.js';
import type { ScriptedRequest } from '../../src/testing/index.js';
import { useScriptedOpencode } from '../helpers/scripted-opencode.js';

/**
 * Hierarchical flows against real OpenCode: the planner's JSON plan (12 subtasks with
 * dependencies) runs in dependency order, independent subtasks overlapping, as child
 * sessions of the planner's session; the planner aggregates every output.
 */
const PLAN = {
  subtasks: [
    { id: 's1', title: 'schema', description: 'design the schema', agent: 'coder', dependsOn: [] },
    { id: 's2', title: 'routes', description: 'list the routes', agent: 'coder', dependsOn: [] },
    { id: 's3', title: 'threats', description: 'threat model', agent: 'reviewer', dependsOn: [] },
    { id: 's4', title: 'models', description: 'write models', agent: 'coder', dependsOn: ['s1'] },
    { id: 's5', title: 'handlers', description: 'write handlers', agent: 'coder', dependsOn: ['s2', 's4'] },
    { id: 's6', title: 'model tests', description: 'test models', agent: 'tester', dependsOn: ['s4'] },
    { id: 's7', title: 'handler tests', description: 'test handlers', agent: 'tester', dependsOn: ['s5'] },
    { id: 's8', title: 'auth', description: 'add auth', agent: 'coder', dependsOn: ['s3', 's5'] },
    { id: 's9', title: 'auth tests', description: 'test auth', agent: 'tester', dependsOn: ['s8'] },
    { id: 's10', title: 'review', description: 'review it all', agent: 'reviewer', dependsOn: ['s6', 's7', 's9'] },
    { id: 's11', title: 'docs', description: 'write docs', agent: 'coder', dependsOn: ['s5'] },
    { id: 's12', title: 'final check', description: 'check docs', agent: 'reviewer', dependsOn: ['s10', 's11'] },
  ],
};

const subtaskId = (r: ScriptedRequest) => /# Your subtask \((s\d+)\)/.exec(r.lastUser)?.[1];

const env = useScriptedOpencode();

describe('hierarchical flows', () => {
  it('runs a 12-subtask plan in dependency order as child sessions and aggregates it', async () => {
    env.llm.script([
      { match: { allText: 'HIER-TASK', lastUser: '# Plan this task for the team' }, reply: { text: `Here is the plan:\n\`\`\`json\n${JSON.stringify(PLAN)}\n\`\`\`` } },
      { match: { allText: 'HIER-TASK', lastUser: 'All subtasks of your plan have finished' }, reply: (req) => ({ text: `FINAL: ${(req.lastUser.match(/OUT-s\d+/g) ?? []).join(' ')}` }) },
      { match: { allText: 'HIER-TASK', lastUser: '# Your subtask' }, reply: (req) => ({ text: `OUT-${subtaskId(req)}`, delayMs: 400 }) },
    ]);
    const flow = new OpencodeFlow({ serverUrl: env.oc.url, model: 'scripted/small', memory: false, keepSessions: true, maxConcurrent: 4 });
    const doneAt: Record<string, number> = {};
    flow.on('agent.done', (e) => (doneAt[e.agent.split(':')[1] ?? e.agent] = e.result.finishedAt));
    try {
      const report = await flow.execute({ task: 'HIER-TASK: build a todo API', agents: ['coder', 'tester', 'reviewer'], mode: 'hierarchical' });
      expect(report.status, JSON.stringify({ reason: report.reason, r: report.results.map((r) => [r.agent, r.status, r.error]) })).toBe('completed');
      expect(report.plan?.subtasks).toHaveLength(12);
      // planner, 12 subtasks, aggregation
      expect(report.results).toHaveLength(14);
      expect(report.results.every((r) => r.status === 'done')).toBe(true);
      // Dependency order: every subtask's request came after its dependencies' answers.
      const reqs = env.llm.promptRequests().filter((r) => r.allText.includes('HIER-TASK') && subtaskId(r));
      expect(reqs).toHaveLength(12);
      const byId = new Map(reqs.map((r) => [subtaskId(r)!, r]));
      for (const t of PLAN.subtasks) {
        for (const d of t.dependsOn) {
          expect(byId.get(t.id)!.at).toBeGreaterThanOrEqual(doneAt[d]! - 5);
          // The dependency's output is in the subtask's instructions.
          expect(byId.get(t.id)!.lastUser).toContain(`OUT-${d}`);
        }
      }
      // Independent subtasks overlapped: s1, s2, s3 were all asked before any answered.
      const firstEnd = Math.min(...['s1', 's2', 's3'].map((id) => doneAt[id]!));
      for (const id of ['s1', 's2', 's3']) expect(byId.get(id)!.at).toBeLessThan(firstEnd);
      // Child sessions of the planner's session.
      const planner = report.results[0]!;
      expect(planner.agent).toBe('planner');
      const children = await flow.opencode.children(planner.sessionID);
      const childIds = new Set(children.map((c: { id: string }) => c.id));
      for (const r of report.results.slice(1, 13)) expect(childIds.has(r.sessionID)).toBe(true);
      // The aggregate mentions every subtask's output.
      for (const t of PLAN.subtasks) expect(report.output).toMatch(new RegExp(`OUT-${t.id}\\b`));
      // Cost: the sum of every session's own cost.
      const sessionCosts = await Promise.all(
        [...new Set(report.results.map((r) => r.sessionID))].map(async (id) =>
          (await flow.opencode.messages(id)).reduce((s, m) => s + (m.info.role === 'assistant' ? (m.info.cost ?? 0) : 0), 0),
        ),
      );
      expect(report.cost.total).toBeCloseTo(sessionCosts.reduce((a, b) => a + b, 0), 12);
    } finally {
      await flow.shutdown();
    }
  });

  it('asks the planner again after a malformed plan, then fails clearly', async () => {
    env.llm.script({ match: { allText: 'BADPLAN-TASK' }, reply: [{ text: 'I think we should just do it.' }, { text: '{"subtasks":[{"id":"a","title":"x","description":"y","agent":"wizard"}]}' }] });
    const flow = new OpencodeFlow({ serverUrl: env.oc.url, model: 'scripted/small', memory: false });
    try {
      const report = await flow.execute({ task: 'BADPLAN-TASK', agents: ['coder'], mode: 'hierarchical' });
      expect(report.status).toBe('failed');
      expect(report.reason).toMatch(/no usable plan after 2 answers: subtask "a": agent "wizard" is not one of coder/);
      const asks = env.llm.promptRequests().filter((r) => r.allText.includes('BADPLAN-TASK'));
      expect(asks).toHaveLength(2);
      expect(asks[1]!.lastUser).toContain('Your plan could not be used: the answer is not JSON');
    } finally {
      await flow.shutdown();
    }
  });

  it('plan-execute runs as a machine through flow.run', async () => {
    env.llm.script([
      { match: { allText: 'PE-TASK', lastUser: '# Plan this task for the team' }, reply: { text: JSON.stringify({ subtasks: [{ id: 'a', title: 'one', description: 'first', agent: 'coder' }, { id: 'b', title: 'two', description: 'second', agent: 'tester', dependsOn: ['a'] }] }) } },
      { match: { allText: 'PE-TASK', lastUser: 'All subtasks of your plan have finished' }, reply: { text: 'combined' } },
      { match: { allText: 'PE-TASK', lastUser: '# Your subtask' }, reply: (req) => ({ text: `did ${subtaskId(req)}` }) },
    ]);
    const flow = new OpencodeFlow({ serverUrl: env.oc.url, model: 'scripted/small', memory: false });
    try {
      const { output, cost } = await flow.run(
        planExecuteMachine,
        planExecuteInput({ task: 'PE-TASK', planner: await flow.agentSpec('planner'), agents: [await flow.agentSpec('coder'), await flow.agentSpec('tester')] }),
      );
      expect(output.status).toBe('completed');
      expect(output.output).toBe('combined');
      expect(output.results.map((r) => r.agent)).toEqual(['planner', 'coder:a', 'tester:b', 'planner']);
      expect(cost.total).toBeCloseTo(output.results.reduce((s, r) => s + r.cost, 0), 12);
    } finally {
      await flow.shutdown();
    }
  });
});
