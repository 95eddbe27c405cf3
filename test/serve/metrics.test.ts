import { describe, expect, it } from 'vitest';
import { FlowRecord, ServeMetrics } from '../../src/serve/index.js';
import { parseMetrics, sample } from './helpers.js';

const flowId = 'flow_m';
const st = (agent: string, state: string, model = 'p/a') => ({
  type: 'agent.state' as const,
  flowId,
  agent,
  state,
  model,
});

describe('ServeMetrics', () => {
  it('uses a registry of its own and starts every flow status at 0', async () => {
    const m = new ServeMetrics(() => []);
    const text = await m.registry.metrics();
    const s = parseMetrics(text);
    for (const status of ['completed', 'failed', 'cancelled', 'budget_exceeded'])
      expect(s.has(`opencode_flow_flows_total{status="${status}"}`)).toBe(true);
    const other = new ServeMetrics(() => []);
    m.onFlowFinished({ status: 'failed' });
    expect(sample(parseMetrics(await m.registry.metrics()), 'opencode_flow_flows_total', { status: 'failed' })).toBe(1);
    expect(
      sample(parseMetrics(await other.registry.metrics()), 'opencode_flow_flows_total', { status: 'failed' }),
    ).toBe(0);
  });

  it('gauges agents of running flows by state, and times each attempt with its outcome', async () => {
    const rec = new FlowRecord({ id: flowId, task: 't', mode: 'parallel', agents: ['a', 'b'] });
    const m = new ServeMetrics(() => [rec]);
    const feed = (e: ReturnType<typeof st>) => m.onAgentEvent('agent.state', rec.onAgentEvent('agent.state', e));
    feed(st('a', 'prompting'));
    feed(st('b', 'prompting'));
    feed(st('b', 'streaming'));
    let s = parseMetrics(await m.registry.metrics());
    expect(sample(s, 'opencode_flow_agents', { state: 'prompting' })).toBe(1);
    expect(sample(s, 'opencode_flow_agents', { state: 'streaming' })).toBe(1);
    expect(sample(s, 'opencode_flow_flows_running')).toBe(1);
    feed(st('a', 'fallback'));
    feed(st('a', 'prompting', 'p/b'));
    feed(st('a', 'done', 'p/b'));
    feed(st('b', 'cleanup')); // cancelled mid-prompt: no outcome to time
    s = parseMetrics(await m.registry.metrics());
    expect(sample(s, 'opencode_flow_prompts_total', { agent: 'a', model: 'p/a' })).toBe(1);
    expect(sample(s, 'opencode_flow_prompts_total', { agent: 'a', model: 'p/b' })).toBe(1);
    expect(sample(s, 'opencode_flow_prompt_duration_seconds_count', { model: 'p/a', outcome: 'fallback' })).toBe(1);
    expect(sample(s, 'opencode_flow_prompt_duration_seconds_count', { model: 'p/b', outcome: 'done' })).toBe(1);
    expect([...s.keys()].filter((k) => k.startsWith('opencode_flow_prompt_duration_seconds_count'))).toHaveLength(2);
    expect(sample(s, 'opencode_flow_agents', { state: 'done' })).toBe(1);
    expect(sample(s, 'opencode_flow_agents', { state: 'cleanup' })).toBe(1);
  });

  it("labels a prompt on OpenCode's default model with the model that answered, like its tokens and cost", async () => {
    const rec = new FlowRecord({ id: flowId, task: 't', mode: 'parallel', agents: ['a', 'b', 'c'] });
    const m = new ServeMetrics(() => [rec]);
    const feed = (e: ReturnType<typeof st>) => m.onAgentEvent('agent.state', rec.onAgentEvent('agent.state', e));
    // a: its first prompt goes out with no model (OpenCode's default), OpenCode answers with hid/cheap.
    feed(st('a', 'prompting', ''));
    feed(st('a', 'streaming', ''));
    let s = parseMetrics(await m.registry.metrics());
    expect([...s.keys()].filter((k) => k.startsWith('opencode_flow_prompts_total'))).toEqual([]);
    feed(st('a', 'done', 'hid/cheap'));
    const result = {
      agent: 'a',
      taskId: 't1',
      sessionID: 'ses_a',
      model: 'hid/cheap',
      status: 'done' as const,
      output: 'ok',
      cost: 0.25,
      tokens: { input: 10, output: 5 },
      attempts: [{ model: 'hid/cheap' }],
      startedAt: 0,
      finishedAt: 1,
    };
    m.onAgentEvent('agent.done', { type: 'agent.done', flowId, agent: 'a', result });
    // b: cancelled mid-prompt before anything answered; c: a second prompt, model known by then.
    feed(st('b', 'prompting', ''));
    feed(st('b', 'cleanup', ''));
    feed(st('c', 'prompting', ''));
    feed(st('c', 'fallback', 'hid/cheap'));
    feed(st('c', 'prompting', 'hid/good'));
    feed(st('c', 'done', 'hid/good'));
    s = parseMetrics(await m.registry.metrics());
    expect(sample(s, 'opencode_flow_prompts_total', { agent: 'a', model: 'hid/cheap' })).toBe(1);
    expect(sample(s, 'opencode_flow_tokens_total', { agent: 'a', model: 'hid/cheap', direction: 'input' })).toBe(10);
    expect(sample(s, 'opencode_flow_cost_usd_total', { agent: 'a', model: 'hid/cheap' })).toBe(0.25);
    expect(sample(s, 'opencode_flow_prompt_duration_seconds_count', { model: 'hid/cheap', outcome: 'done' })).toBe(1);
    expect(sample(s, 'opencode_flow_prompts_total', { agent: 'b', model: 'default' })).toBe(1);
    expect(sample(s, 'opencode_flow_prompts_total', { agent: 'c', model: 'hid/cheap' })).toBe(1);
    expect(sample(s, 'opencode_flow_prompts_total', { agent: 'c', model: 'hid/good' })).toBe(1);
    expect([...s.keys()].filter((k) => k.startsWith('opencode_flow_prompts_total'))).toHaveLength(4);
    expect(s.has('opencode_flow_prompts_total{agent="a",model="default"}')).toBe(false);
  });
});
