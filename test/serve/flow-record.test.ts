import { describe, expect, it } from 'vitest';
import type { AgentResult } from '../../machines/agent.js';
import type { FlowReport } from '../../src/flow/index.js';
import { FlowRecord, type ServeEvent } from '../../src/serve/index.js';

const flowId = 'flow_test';

function result(agent: string, over: Partial<AgentResult> = {}): AgentResult {
  return {
    agent,
    taskId: agent,
    sessionID: `ses_${agent}`,
    model: 'p/m',
    status: 'done',
    output: 'out',
    cost: 0.5,
    tokens: { input: 10, output: 2 },
    attempts: [{ model: 'p/m' }],
    startedAt: 1,
    finishedAt: 2,
    ...over,
  };
}

function reportOf(results: AgentResult[], status: FlowReport['status'] = 'completed'): FlowReport {
  const byAgent: Record<string, number> = {};
  for (const r of results) byAgent[r.agent] = r.cost;
  return {
    flowId,
    status,
    mode: 'parallel',
    results: results.map((r) => ({
      agent: r.agent,
      sessionID: r.sessionID,
      model: r.model,
      status: r.status,
      output: r.output,
      cost: r.cost,
      tokens: r.tokens,
      attempts: r.attempts,
    })),
    cost: {
      total: results.reduce((s, r) => s + r.cost, 0),
      byAgent,
      byModel: { 'p/m': results.reduce((s, r) => s + r.cost, 0) },
      byTask: { ...byAgent },
    },
    durationMs: 5,
  };
}

const state = (agent: string, s: string, model = 'p/m') => ({
  type: 'agent.state' as const,
  flowId,
  agent,
  state: s,
  model,
  sessionID: `ses_${agent}`,
});
const delta = (agent: string, text: string) => ({
  type: 'agent.delta' as const,
  flowId,
  agent,
  sessionID: `ses_${agent}`,
  text,
});

async function collect(it: AsyncIterable<ServeEvent>): Promise<ServeEvent[]> {
  const out: ServeEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('FlowRecord', () => {
  it('maps inline agents back to their given names in events, views and the report', () => {
    const rec = new FlowRecord({
      id: flowId,
      task: 't',
      mode: 'parallel',
      agents: ['coder', 'scout'],
      alias: new Map([['scout.abc123', 'scout']]),
    });
    rec.markStarted();
    const shown = rec.onAgentEvent('agent.state', state('scout.abc123', 'prompting'));
    expect(shown.agent).toBe('scout');
    const done = rec.onAgentEvent('agent.done', {
      type: 'agent.done',
      flowId,
      agent: 'scout.abc123',
      result: result('scout.abc123'),
    });
    expect(done.agent).toBe('scout');
    expect(done.result.agent).toBe('scout');
    const view = rec.view();
    expect(view.status).toBe('running');
    if (view.status !== 'running') return;
    expect(view.agents.map((a) => [a.agent, a.status, a.state])).toEqual([
      ['coder', 'pending', 'pending'],
      ['scout', 'done', 'prompting'],
    ]);
    expect(view.cost).toEqual({ total: 0.5, byAgent: { coder: 0, scout: 0.5 }, byModel: { 'p/m': 0.5 } });
    const report = rec.finish(reportOf([result('coder'), result('scout.abc123')]));
    expect(report.results.map((r) => r.agent)).toEqual(['coder', 'scout']);
    expect(report.cost.byAgent).toEqual({ coder: 0.5, scout: 0.5 });
    expect(report.cost.byTask).toEqual({ coder: 0.5, scout: 0.5 });
    expect(rec.summary()).toMatchObject({ id: flowId, status: 'completed', agents: ['coder', 'scout'], cost: 1 });
  });

  it('a hierarchical flow shows the planner and each subtask run as it appears, inline ones by their given name', () => {
    const rec = new FlowRecord({
      id: flowId,
      task: 't',
      mode: 'hierarchical',
      agents: ['coder', 'scout'],
      alias: new Map([['scout.abc123', 'scout']]),
    });
    rec.markStarted();
    const first = rec.view();
    if (first.status !== 'running') throw new Error('expected a running view');
    expect(first.agents).toEqual([]);
    rec.onAgentEvent('agent.state', state('planner', 'streaming'));
    rec.onAgentEvent('agent.done', { type: 'agent.done', flowId, agent: 'planner', result: result('planner') });
    expect(rec.onAgentEvent('agent.state', state('scout.abc123:s1', 'prompting')).agent).toBe('scout:s1');
    rec.onAgentEvent('agent.state', state('coder:s2', 'prompting'));
    const view = rec.view();
    if (view.status !== 'running') throw new Error('expected a running view');
    expect(view.agents.map((a) => [a.agent, a.status])).toEqual([
      ['planner', 'done'],
      ['scout:s1', 'running'],
      ['coder:s2', 'running'],
    ]);
    const report = rec.finish(reportOf([result('planner'), result('scout.abc123:s1'), result('coder:s2')]));
    expect(report.results.map((r) => r.agent)).toEqual(['planner', 'scout:s1', 'coder:s2']);
  });

  it('replays the backlog then live events, with no gap or repeat, and ends after flow.done', async () => {
    const rec = new FlowRecord({ id: flowId, task: 't', mode: 'parallel', agents: ['a'] });
    rec.markStarted();
    rec.onAgentEvent('agent.state', state('a', 'prompting'));
    const early = collect(rec.subscribe());
    const resumed = collect(rec.subscribe(2));
    rec.onAgentEvent('agent.delta', delta('a', 'x'));
    await Promise.resolve();
    rec.onAgentEvent('agent.delta', delta('a', 'y'));
    rec.finish(reportOf([result('a')]));
    const all = await early;
    expect(all.map((e) => e.type)).toEqual(['flow.started', 'agent.state', 'agent.delta', 'agent.delta', 'flow.done']);
    expect(all.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect((await resumed).map((e) => e.id)).toEqual([3, 4, 5]);
    // After the end: a full replay, then the iterator ends by itself.
    expect((await collect(rec.subscribe())).map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('stops recording text deltas past its cap but keeps every other event and streams deltas live', async () => {
    const rec = new FlowRecord({ id: flowId, task: 't', mode: 'parallel', agents: ['a'], maxEvents: 3 });
    rec.markStarted();
    const live = collect(rec.subscribe());
    for (const t of ['1', '2', '3', '4']) rec.onAgentEvent('agent.delta', delta('a', t));
    rec.onAgentEvent('agent.state', state('a', 'done'));
    rec.finish(reportOf([result('a')]));
    const seenLive = await live;
    expect(seenLive.filter((e) => e.type === 'agent.delta').map((e) => e.data.text)).toEqual(['1', '2', '3', '4']);
    const replay = await collect(rec.subscribe());
    expect(replay.filter((e) => e.type === 'agent.delta').map((e) => e.data.text)).toEqual(['1', '2']);
    expect(replay.map((e) => e.type).filter((t) => t !== 'agent.delta')).toEqual([
      'flow.started',
      'agent.state',
      'flow.done',
    ]);
  });

  it('lets a subscriber go when its signal aborts', async () => {
    const rec = new FlowRecord({ id: flowId, task: 't', mode: 'parallel', agents: ['a'] });
    const ac = new AbortController();
    const it = collect(rec.subscribe(0, ac.signal));
    rec.markStarted();
    await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    expect((await it).map((e) => e.type)).toEqual(['flow.started']);
    expect(rec.finished).toBe(false);
  });
});

describe('FlowRecord plan and times', () => {
  it('shows pending agents with their planned model, streams the plan, and keeps the budget', async () => {
    const rec = new FlowRecord({
      id: flowId,
      task: 't',
      mode: 'sequential',
      agents: ['coder', 'scout'],
      alias: new Map([['scout.abc123', 'scout']]),
    });
    rec.markStarted();
    expect(rec.runName('scout')).toBe('scout.abc123');
    expect(rec.runName('coder')).toBe('coder');
    rec.onAgentEvent('agent.state', state('coder', 'prompting', 'p/routed'));
    rec.setPlan({ models: { coder: 'p/given', scout: 'p/scout' }, maxCost: 0.5 });
    const view = rec.view();
    if (view.status !== 'running') throw new Error('expected a running view');
    // The running agent's own event wins over the plan; the pending one shows the plan.
    expect(view.agents.map((a) => [a.agent, a.status, a.model])).toEqual([
      ['coder', 'running', 'p/routed'],
      ['scout', 'pending', 'p/scout'],
    ]);
    expect(view.maxCost).toBe(0.5);
    expect(rec.summary().maxCost).toBe(0.5);
    rec.finish(reportOf([]));
    const events = await collect(rec.subscribe());
    expect(events.find((e) => e.type === 'flow.plan')?.data).toEqual({
      flowId,
      models: { coder: 'p/given', scout: 'p/scout' },
      maxCost: 0.5,
    });
  });

  it("gives subtasks of a hierarchical flow their agent's planned model", () => {
    const rec = new FlowRecord({ id: flowId, task: 't', mode: 'hierarchical', agents: ['coder'] });
    rec.markStarted();
    rec.setPlan({ models: { coder: 'p/c' } });
    rec.onAgentEvent('agent.state', state('coder:s1', 'spawning', ''));
    expect(rec.agentViews().find((a) => a.agent === 'coder:s1')?.model).toBe('p/c');
  });

  it("puts each agent's start and end into the API's report", () => {
    const rec = new FlowRecord({
      id: flowId,
      task: 't',
      mode: 'parallel',
      agents: ['coder', 'scout'],
      alias: new Map([['scout.abc123', 'scout']]),
    });
    rec.markStarted();
    rec.onAgentEvent('agent.done', {
      type: 'agent.done',
      flowId,
      agent: 'scout.abc123',
      result: result('scout.abc123', { startedAt: 100, finishedAt: 250 }),
    });
    rec.onAgentEvent('agent.done', {
      type: 'agent.done',
      flowId,
      agent: 'coder',
      result: result('coder', { startedAt: 120, finishedAt: 300 }),
    });
    const report = rec.finish(reportOf([result('coder'), result('scout.abc123')]));
    expect(
      report.results.map((r) => [
        r.agent,
        (r as { startedAt?: number }).startedAt,
        (r as { finishedAt?: number }).finishedAt,
      ]),
    ).toEqual([
      ['coder', 120, 300],
      ['scout', 100, 250],
    ]);
  });
});
