import { describe, expect, it } from 'vitest';
import { planExecuteInput, planExecuteMachine } from '../../machines/flows/plan-execute.js';
import { OpencodeFlow } from '../../src/flow/index.js';
import { DEFAULT_SCRIPTED_MODELS, structuredReply, type ScriptedRequest } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

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

/** Ids of every session the OpenCode server lists now. */
async function sessionIds(flow: OpencodeFlow): Promise<Set<string>> {
  const { data } = await flow.opencode.sdk.session.list({ limit: 10_000 });
  return new Set((data ?? []).map((s) => s.id));
}

/**
 * What OpenCode itself says a flow cost, found without the flow's report: the sessions the
 * server gained since `before` must form one tree (the planner's session and its children,
 * walked with `session.children`); the figure is the sum of their assistant messages'
 * `info.cost`. Needs `keepSessions`.
 */
async function opencodeCost(
  flow: OpencodeFlow,
  before: Set<string>,
): Promise<{ root: string; sessions: Set<string>; cost: number }> {
  const created = [...(await sessionIds(flow))].filter((id) => !before.has(id));
  const roots = await Promise.all(created.map((id) => flow.opencode.getSession(id)));
  const top = roots.filter((s) => !s.parentID).map((s) => s.id);
  expect(top, 'one root session per flow').toHaveLength(1);
  const sessions = new Set<string>();
  const walk = async (id: string): Promise<void> => {
    sessions.add(id);
    for (const c of await flow.opencode.children(id)) await walk(c.id);
  };
  await walk(top[0]!);
  // Every session the flow made hangs under the root: none can be left out of the sum.
  expect([...sessions].sort()).toEqual([...created].sort());
  let cost = 0;
  for (const id of sessions) {
    for (const m of await flow.opencode.messages(id)) if (m.info.role === 'assistant') cost += m.info.cost ?? 0;
  }
  return { root: top[0]!, sessions, cost };
}

// `notools`: a model OpenCode is told cannot call tools (so it cannot give structured output).
const env = useFlowHosts({
  opencode: { models: [...DEFAULT_SCRIPTED_MODELS, { id: 'notools', toolCall: false }] },
});

describe('hierarchical flows', () => {
  it('runs a 12-subtask plan in dependency order as child sessions and aggregates it', async () => {
    env.llm.script([
      {
        match: { allText: 'HIER-TASK', lastUser: '# Plan this task for the team' },
        reply: structuredReply(PLAN),
      },
      {
        match: { allText: 'HIER-TASK', lastUser: 'All subtasks of your plan have finished' },
        reply: (req) => ({ text: `FINAL: ${(req.lastUser.match(/OUT-s\d+/g) ?? []).join(' ')}` }),
      },
      {
        match: { allText: 'HIER-TASK', lastUser: '# Your subtask' },
        reply: (req) => ({ text: `OUT-${subtaskId(req)}`, delayMs: 400 }),
      },
    ]);
    const flow = env.host({
      keepSessions: true,
      maxConcurrent: 4,
    });
    const doneAt: Record<string, number> = {};
    flow.on('agent.done', (e) => (doneAt[e.agent.split(':')[1] ?? e.agent] = e.result.finishedAt));
    try {
      await flow.start();
      const before = await sessionIds(flow);
      const report = await flow.execute({
        task: 'HIER-TASK: build a todo API',
        agents: ['coder', 'tester', 'reviewer'],
        mode: 'hierarchical',
      });
      expect(
        report.status,
        JSON.stringify({ reason: report.reason, r: report.results.map((r) => [r.agent, r.status, r.error]) }),
      ).toBe('completed');
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
      // Cost: what OpenCode's own sessions cost, found on the server rather than in the report.
      const oc = await opencodeCost(flow, before);
      expect(oc.root).toBe(planner.sessionID);
      expect(oc.sessions.size).toBe(13); // the planner's session and one per subtask
      expect(oc.cost).toBeGreaterThan(0);
      expect(report.cost.total).toBeCloseTo(oc.cost, 12);
      // The same money per task: every subtask by its id, the planner's plan and aggregation.
      const byTask = (report.cost as typeof report.cost & { byTask: Record<string, number> }).byTask;
      expect(Object.keys(byTask).sort()).toEqual([...PLAN.subtasks.map((t) => t.id), 'aggregate', 'plan'].sort());
      expect(byTask.s5).toBe(report.results.find((r) => r.agent === 'coder:s5')!.cost);
      expect(Object.values(byTask).reduce((a, b) => a + b, 0)).toBeCloseTo(oc.cost, 12);
    } finally {
      await flow.shutdown();
    }
  });

  it("a subtask marked decompose is planned again by a sub-supervisor: nested child sessions, costs still OpenCode's", async () => {
    const top = {
      subtasks: [
        { id: 'big', title: 'backend', description: 'too big for one agent', agent: 'coder', decompose: true },
        { id: 'check', title: 'check', description: 'review the backend', agent: 'reviewer', dependsOn: ['big'] },
      ],
    };
    const sub = {
      subtasks: [
        { id: 'b1', title: 'models', description: 'write models', agent: 'coder' },
        { id: 'b2', title: 'tests', description: 'test models', agent: 'tester', dependsOn: ['b1'] },
      ],
    };
    const own = (r: ScriptedRequest) => [...r.lastUser.matchAll(/# Your subtask \((\w+)\)/g)].at(-1)?.[1];
    env.llm.script([
      {
        match: { allText: 'NEST-TASK', lastUser: /# Your subtask \(big\)[\s\S]*# Plan this task for the team/ },
        reply: structuredReply(sub),
      },
      {
        match: { allText: 'NEST-TASK', lastUser: '# Plan this task for the team' },
        reply: structuredReply(top),
      },
      {
        match: { allText: 'NEST-TASK', lastUser: 'All subtasks of your plan have finished' },
        reply: (req) => ({ text: `COMBINED[${(req.lastUser.match(/OUT-\w+|COMBINED\[[^\]]*\]/g) ?? []).join(' ')}]` }),
      },
      { match: { allText: 'NEST-TASK', lastUser: '# Your subtask' }, reply: (req) => ({ text: `OUT-${own(req)}` }) },
    ]);
    const flow = env.host({
      keepSessions: true,
    });
    try {
      await flow.start();
      const before = await sessionIds(flow);
      const report = await flow.execute({
        task: 'NEST-TASK: build it',
        agents: ['coder', 'tester', 'reviewer'],
        mode: 'hierarchical',
      });
      expect(
        report.status,
        JSON.stringify({ reason: report.reason, r: report.results.map((r) => [r.agent, r.status, r.error]) }),
      ).toBe('completed');
      expect(report.results.map((r) => r.agent)).toEqual([
        'planner',
        'coder:big/planner',
        'coder:big/coder:b1',
        'coder:big/tester:b2',
        'coder:big/planner',
        'reviewer:check',
        'planner',
      ]);
      // The reviewer got the sub-plan's combined output; the final answer holds all of it.
      const check = env.llm.promptRequests().find((r) => r.allText.includes('NEST-TASK') && own(r) === 'check')!;
      expect(check.lastUser).toContain('## Output of coder:big\n\nCOMBINED[OUT-b1 OUT-b2]');
      expect(report.output).toBe('COMBINED[COMBINED[OUT-b1 OUT-b2] OUT-check]');
      // Sessions: planner → (sub-planner → b1, b2), check.
      const oc = await opencodeCost(flow, before);
      const [planner, subPlanner] = report.results;
      expect(oc.root).toBe(planner!.sessionID);
      expect(oc.sessions.size).toBe(5);
      const kids = (id: string) => flow.opencode.children(id).then((cs) => cs.map((c: { id: string }) => c.id).sort());
      const of = (agent: string) => report.results.find((r) => r.agent === agent)!.sessionID;
      expect(await kids(planner!.sessionID)).toEqual([subPlanner!.sessionID, of('reviewer:check')].sort());
      expect(await kids(subPlanner!.sessionID)).toEqual([of('coder:big/coder:b1'), of('coder:big/tester:b2')].sort());
      expect(report.cost.total).toBeCloseTo(oc.cost, 12);
    } finally {
      await flow.shutdown();
    }
  });

  // A planner model that cannot call tools gives its plan as JSON text instead of structured output.
  it('a planner without tool calls plans in text: asked again after a malformed plan, then fails clearly', async () => {
    env.llm.script({
      match: { allText: 'BADPLAN-TASK' },
      reply: [
        { text: 'I think we should just do it.' },
        { text: '{"subtasks":[{"id":"a","title":"x","description":"y","agent":"wizard"}]}' },
      ],
    });
    const flow = env.host({ model: 'scripted/notools' });
    try {
      const report = await flow.execute({ task: 'BADPLAN-TASK', agents: ['coder'], mode: 'hierarchical' });
      expect(report.status).toBe('failed');
      expect(report.reason).toMatch(/no usable plan after 2 answers: subtask "a": agent "wizard" is not one of coder/);
      const asks = env.llm.promptRequests().filter((r) => r.allText.includes('BADPLAN-TASK'));
      expect(asks).toHaveLength(2);
      expect(asks[0]!.lastUser).toContain('Answer with only one JSON object');
      // No structured output was asked for: OpenCode offered no StructuredOutput tool.
      expect(asks[0]!.tools).not.toContain('StructuredOutput');
      expect(asks[1]!.lastUser).toContain('Your plan could not be used: the answer is not JSON');
    } finally {
      await flow.shutdown();
    }
  });

  // A rejected plan answer is paid for: its cost goes into the planner's result and the budget.
  it("a rejected plan answer's cost is in the report", async () => {
    env.llm.script([
      {
        match: { allText: 'REPLAN-TASK', lastUser: '# Plan this task for the team' },
        reply: {
          ...structuredReply({ subtasks: [{ id: 'a', title: 'one', description: 'first', agent: 'wizard' }] }),
          usage: { prompt_tokens: 100_000, completion_tokens: 10 },
        },
      },
      {
        match: { allText: 'REPLAN-TASK', lastUser: 'Your plan could not be used' },
        reply: structuredReply({ subtasks: [{ id: 'a', title: 'one', description: 'first', agent: 'coder' }] }),
      },
      {
        match: { allText: 'REPLAN-TASK', lastUser: 'All subtasks of your plan have finished' },
        reply: { text: 'combined' },
      },
      { match: { allText: 'REPLAN-TASK', lastUser: '# Your subtask' }, reply: { text: 'did a' } },
    ]);
    const flow = env.host({
      keepSessions: true,
    });
    try {
      await flow.start();
      const before = await sessionIds(flow);
      const report = await flow.execute({ task: 'REPLAN-TASK', agents: ['coder'], mode: 'hierarchical' });
      expect(report.status).toBe('completed');
      const oc = await opencodeCost(flow, before);
      expect(report.cost.total).toBeCloseTo(oc.cost, 12);
    } finally {
      await flow.shutdown();
    }
  });

  it('plan-execute runs as a machine through flow.run', async () => {
    env.llm.script([
      {
        match: { allText: 'PE-TASK', lastUser: '# Plan this task for the team' },
        reply: structuredReply({
          subtasks: [
            { id: 'a', title: 'one', description: 'first', agent: 'coder' },
            { id: 'b', title: 'two', description: 'second', agent: 'tester', dependsOn: ['a'] },
          ],
        }),
      },
      {
        match: { allText: 'PE-TASK', lastUser: 'All subtasks of your plan have finished' },
        reply: { text: 'combined' },
      },
      {
        match: { allText: 'PE-TASK', lastUser: '# Your subtask' },
        reply: (req) => ({ text: `did ${subtaskId(req)}` }),
      },
    ]);
    const flow = env.host();
    try {
      await flow.start();
      const before = await sessionIds(flow);
      const { output, cost } = await flow.run(
        planExecuteMachine,
        planExecuteInput({
          task: 'PE-TASK',
          planner: await flow.agentSpec('planner'),
          agents: [await flow.agentSpec('coder'), await flow.agentSpec('tester')],
          keepSessions: true,
        }),
      );
      expect(output!.status).toBe('completed');
      expect(output!.output).toBe('combined');
      expect(output!.results.map((r) => r.agent)).toEqual(['planner', 'coder:a', 'tester:b', 'planner']);
      const oc = await opencodeCost(flow, before);
      expect(oc.sessions.size).toBe(3);
      expect(oc.cost).toBeGreaterThan(0);
      expect(cost.total).toBeCloseTo(oc.cost, 12);
    } finally {
      await flow.shutdown();
    }
  });
});
