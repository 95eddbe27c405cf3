import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ServeMetrics } from '../../src/serve/index.js';
import { lintExposition } from './exposition-lint.js';
import { parseMetrics, sample } from './helpers.js';

const flowId = 'flow_x';
const done = (agent: string, model = 'p/m') => ({
  type: 'agent.done' as const,
  flowId,
  agent,
  result: { agent, model, status: 'completed', output: '', tokens: { input: 10, output: 5 }, cost: 0.01 },
});

/** Metrics with every instrument holding a sample, as after a real flow. */
async function busyExposition(): Promise<string> {
  const m = new ServeMetrics(() => []);
  m.onAgentEvent('agent.state', {
    type: 'agent.state',
    flowId,
    agent: 'coder',
    state: 'prompting',
    model: 'p/m',
  } as never);
  m.onAgentEvent('agent.fallback', { type: 'agent.fallback', flowId, agent: 'coder', from: 'p/m', to: 'p/n' } as never);
  m.onAgentEvent('agent.state', { type: 'agent.state', flowId, agent: 'coder', state: 'done', model: 'p/n' } as never);
  m.onAgentEvent('agent.done', done('coder', 'p/n') as never);
  m.onFlowFinished({ status: 'completed' });
  return m.registry.metrics();
}

/** `promtool` from PROMTOOL, else PATH (Debian: the `prometheus` package). */
function promtool(): string | undefined {
  const bin = process.env.PROMTOOL ?? 'promtool';
  return spawnSync(bin, ['--version']).status === 0 ? bin : undefined;
}

describe('/metrics text for Prometheus tooling', () => {
  it('follows the exposition rules: names, HELP and TYPE, _total only on counters', async () => {
    const text = await busyExposition();
    expect(lintExposition(text)).toEqual([]);
    // The linter does catch what promtool rejects.
    const bad =
      '# HELP nodejs_active_handles_total x\n# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 3\n# TYPE c counter\nc 1\n';
    expect(lintExposition(bad)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/gauge must not end in _total/),
        expect.stringMatching(/counter's name should end in _total/),
        expect.stringMatching(/without a HELP/),
      ]),
    );
    // The per-type gauges stay (their sum is what the dropped `_total` gauges said).
    expect(text).toContain('# TYPE nodejs_active_handles gauge');
  });

  const bin = promtool();
  it.skipIf(!bin)('passes `promtool check metrics`', async () => {
    const text = await busyExposition();
    const r = spawnSync(bin!, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
  if (!bin)
    console.warn(
      'promtool not found (set PROMTOOL or install Debian package `prometheus`): the promtool check is skipped',
    );

  it('keeps at most maxAgentLabels agent names and counts the rest as "other"', async () => {
    const m = new ServeMetrics(() => [], { maxAgentLabels: 3 });
    for (let i = 0; i < 50; i++) m.onAgentEvent('agent.done', done(`client-named-${i}`) as never);
    m.onAgentEvent('agent.done', done('client-named-1') as never); // a name seen before keeps its own series
    const s = parseMetrics(await m.registry.metrics());
    const agents = new Set(
      [...s.keys()]
        .filter((k) => k.startsWith('opencode_flow_cost_usd_total'))
        .map((k) => /agent="([^"]*)"/.exec(k)![1]),
    );
    expect(agents).toEqual(new Set(['client-named-0', 'client-named-1', 'client-named-2', 'other']));
    expect(sample(s, 'opencode_flow_tokens_total', { agent: 'other', model: 'p/m', direction: 'input' })).toBe(470);
    expect(sample(s, 'opencode_flow_tokens_total', { agent: 'client-named-1', model: 'p/m', direction: 'input' })).toBe(
      20,
    );
  });

  it('bounds the agent label by default too', async () => {
    const m = new ServeMetrics(() => []);
    for (let i = 0; i < 1000; i++) m.onAgentEvent('agent.done', done(`n${i}`) as never);
    const series = [...parseMetrics(await m.registry.metrics()).keys()].filter((k) =>
      k.startsWith('opencode_flow_cost_usd_total'),
    );
    expect(series.length).toBe(101);
  });
});
