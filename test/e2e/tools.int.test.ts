import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OpencodeFlow, type RunEvent } from '../../src/flow/index.js';
import { tool, type FlowToolCall, type FlowToolContext } from '../../src/flow/tools.js';
import { type ScriptedRequest } from '../../src/testing/index.js';
import { useFlowHosts } from '../helpers/host.js';

/**
 * The app's own TypeScript functions as agents' tools: OpenCode (the real binary) calls them
 * as `flow_<name>` through the flow's MCP endpoint, on the scripted model's behalf. Memory is
 * off here: the endpoint runs for the tools alone.
 */
const env = useFlowHosts({ shared: false });
let flow: OpencodeFlow;
const calls: Array<{ tool: string; args: unknown; ctx: FlowToolContext }> = [];
const finished: FlowToolCall[] = [];
let slowAbort: unknown;

const lookup = tool({
  name: 'lookup',
  description: 'Find a customer by id',
  input: z.object({ id: z.string(), limit: z.number().int().max(10).optional() }),
  execute: (args, ctx) => {
    calls.push({ tool: 'lookup', args, ctx });
    return { id: args.id, name: `customer ${args.id}`, plan: 'gold' };
  },
});
const weather = tool({
  name: 'weather',
  description: 'Weather for a city',
  input: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['city'],
  },
  execute: (args, ctx) => {
    calls.push({ tool: 'weather', args, ctx });
    return `sunny in ${String(args.city)} for ${String(args.days ?? 1)} days`;
  },
});
const explode = tool({
  name: 'explode',
  description: 'Always fails',
  input: z.object({}),
  execute: (args, ctx) => {
    calls.push({ tool: 'explode', args, ctx });
    throw new Error('database is down');
  },
});
const slow = tool({
  name: 'slow',
  description: 'Takes too long',
  input: z.object({}),
  timeoutMs: 300,
  execute: (args, ctx) => {
    calls.push({ tool: 'slow', args, ctx });
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve('too late'), 10_000);
      ctx.signal.addEventListener('abort', () => {
        slowAbort = ctx.signal.reason;
        clearTimeout(t);
      });
    });
  },
});
const secret = tool({
  name: 'secret',
  description: 'Only for trusted agents',
  input: z.object({}),
  execute: (args, ctx) => {
    calls.push({ tool: 'secret', args, ctx });
    return 'TOP-SECRET';
  },
});

/** An inline agent that may use every app tool but `secret`. */
const clerk = {
  name: 'clerk',
  systemPrompt: 'You are the CLERK agent.',
  flowTools: ['lookup', 'weather', 'explode', 'slow'],
};

beforeAll(async () => {
  flow = env.host({
    persist: false,
    tools: [lookup, weather, explode, slow, secret],
  });
  flow.on('tool.call', (c) => finished.push(c));
  await flow.start();
});

beforeEach(() => {
  calls.length = 0;
  finished.length = 0;
});

const results = (r: ScriptedRequest) => r.toolResults.map((t) => t.content);
/** The first request of a task after its tool calls: what the model read back. */
const readBack = (marker: string) =>
  env.llm.promptRequests().find((r) => r.allText.includes(marker) && r.toolResults.length > 0)!;

describe('app tools called by agents through OpenCode', () => {
  it('runs a zod-typed tool with its arguments and the calling agent, run and session; the stream shows the call', async () => {
    env.llm.script([
      {
        match: { allText: 'T-CALL', hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_lookup', arguments: { id: 'c-42', limit: 3 } }] },
      },
      {
        match: { allText: 'T-CALL', hasToolResult: true },
        reply: (req) => ({ text: `found: ${results(req).join(' | ')}` }),
      },
    ]);
    const events: RunEvent[] = [];
    for await (const ev of flow.stream({ task: 'T-CALL: who is c-42?', agents: [clerk] })) events.push(ev);
    const done = events.at(-1);
    expect(done?.type).toBe('flow.done');
    const report = (done as Extract<RunEvent, { type: 'flow.done' }>).report;
    expect(report.status).toBe('completed');
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.args).toEqual({ id: 'c-42', limit: 3 });
    expect(call.ctx.agent).toBe('clerk');
    expect(call.ctx.flowId).toBe(report.flowId);
    expect(call.ctx.sessionID).toBe(report.results[0]!.sessionID);
    expect(call.ctx.signal.aborted).toBe(false);
    // What the model read back, and what the agent answered with it.
    expect(results(readBack('T-CALL'))).toEqual([JSON.stringify({ id: 'c-42', name: 'customer c-42', plan: 'gold' })]);
    expect(report.results[0]!.output).toContain('"name":"customer c-42"');
    // OpenCode's tool parts come through as agent.tool events of the run's stream.
    const toolEvents = events.filter((e) => e.type === 'agent.tool');
    expect(toolEvents.map((e) => `${e.agent}:${e.tool}`)).toContain('clerk:flow_lookup');
    expect(toolEvents.some((e) => e.tool === 'flow_lookup' && e.status === 'completed')).toBe(true);
    expect(finished).toEqual([
      expect.objectContaining({ tool: 'lookup', agent: 'clerk', flowId: report.flowId, sessionID: call.ctx.sessionID }),
    ]);
    expect(finished[0]!.error).toBeUndefined();
    // Memory is off: only the app tools are offered, under OpenCode's server_tool names.
    const offered = env.llm.promptRequests().find((r) => r.allText.includes('T-CALL'))!.tools;
    expect(offered).toEqual(expect.arrayContaining(['flow_lookup', 'flow_weather', 'flow_explode', 'flow_slow']));
    expect(offered.some((t) => t.startsWith('flow_memory_'))).toBe(false);
  });

  it('runs a tool whose input is a JSON Schema', async () => {
    env.llm.script([
      {
        match: { allText: 'T-JSON', hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_weather', arguments: { city: 'Oslo', days: 3 } }] },
      },
      { match: { allText: 'T-JSON', hasToolResult: true }, reply: (req) => ({ text: results(req).join(' | ') }) },
    ]);
    const report = await flow.execute({ task: 'T-JSON: weather?', agents: [clerk] });
    expect(report.status).toBe('completed');
    expect(calls.map((c) => [c.tool, c.args])).toEqual([['weather', { city: 'Oslo', days: 3 }]]);
    expect(results(readBack('T-JSON'))).toEqual(['sunny in Oslo for 3 days']);
    expect(report.results[0]!.output).toBe('sunny in Oslo for 3 days');
  });

  it('arguments the schema rejects never reach execute; the model gets errors naming what was wrong', async () => {
    env.llm.script([
      {
        match: { allText: 'T-BAD', hasToolResult: false },
        reply: {
          toolCalls: [
            { name: 'flow_lookup', arguments: { id: 42 } },
            { name: 'flow_weather', arguments: { days: 9 } },
          ],
        },
      },
      { match: { allText: 'T-BAD', hasToolResult: true }, reply: { text: 'gave up' } },
    ]);
    const report = await flow.execute({ task: 'T-BAD: try bad arguments', agents: [clerk] });
    expect(report.status).toBe('completed');
    expect(calls).toEqual([]);
    const back = results(readBack('T-BAD'));
    expect(back).toHaveLength(2);
    const [forLookup, forWeather] = [back.find((t) => t.includes('lookup')), back.find((t) => t.includes('weather'))];
    expect(forLookup).toMatch(/Invalid arguments for tool lookup/);
    expect(forLookup).toMatch(/id/);
    expect(forWeather).toMatch(/Invalid arguments for tool weather/);
    expect(forWeather).toMatch(/city/);
    expect(forWeather).toMatch(/days/);
  });

  it('a throwing tool and one past its timeout come back to the model as errors, and the flow completes', async () => {
    env.llm.script([
      {
        match: { allText: 'T-FAIL', hasToolResult: false },
        reply: {
          toolCalls: [
            { name: 'flow_explode', arguments: {} },
            { name: 'flow_slow', arguments: {} },
          ],
        },
      },
      { match: { allText: 'T-FAIL', hasToolResult: true }, reply: { text: 'tools failed, reporting anyway' } },
    ]);
    slowAbort = undefined;
    const report = await flow.execute({ task: 'T-FAIL: use the failing tools', agents: [clerk] });
    expect(report.status).toBe('completed');
    expect(report.results[0]!.output).toBe('tools failed, reporting anyway');
    expect(calls.map((c) => c.tool).sort()).toEqual(['explode', 'slow']);
    const back = results(readBack('T-FAIL'));
    expect(back).toHaveLength(2);
    expect(back.some((t) => t.includes('Error: database is down'))).toBe(true);
    expect(back.some((t) => t.includes('Error: flow_slow timed out after 300 ms'))).toBe(true);
    // The slow tool's signal was aborted, with the reason.
    expect(String(slowAbort)).toContain('timed out after 300 ms');
    expect(finished.map((c) => [c.tool, c.error]).sort()).toEqual([
      ['explode', 'database is down'],
      ['slow', 'flow_slow timed out after 300 ms'],
    ]);
  });

  it('an agent not allowed a tool is never offered it, and a forced call of it is refused', async () => {
    env.llm.script([
      {
        match: { allText: 'T-DENY', hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_secret', arguments: {} }] },
      },
      { match: { allText: 'T-DENY', hasToolResult: true }, reply: (req) => ({ text: results(req).join(' | ') }) },
    ]);
    const report = await flow.execute({ task: 'T-DENY: read the secret', agents: [clerk] });
    expect(report.status).toBe('completed');
    const first = env.llm.promptRequests().find((r) => r.allText.includes('T-DENY'))!;
    expect(first.tools).toContain('flow_lookup');
    expect(first.tools).not.toContain('flow_secret');
    expect(calls).toEqual([]);
    const back = results(readBack('T-DENY'));
    expect(back).toHaveLength(1);
    expect(back[0]).not.toContain('TOP-SECRET');
    expect(back[0]).toMatch(/flow_secret/);
    // An agent with no flowTools gets all of them, secret included.
    env.llm.script([
      {
        match: { allText: 'T-ALLOW', hasToolResult: false },
        reply: { toolCalls: [{ name: 'flow_secret', arguments: {} }] },
      },
      { match: { allText: 'T-ALLOW', hasToolResult: true }, reply: (req) => ({ text: results(req).join(' | ') }) },
    ]);
    const trusted = await flow.execute({
      task: 'T-ALLOW: read the secret',
      agents: [{ name: 'boss', systemPrompt: 'You are the BOSS agent.' }],
    });
    expect(trusted.results[0]!.output).toBe('TOP-SECRET');
    expect(calls.map((c) => [c.tool, c.ctx.agent])).toEqual([['secret', 'boss']]);
  });

  it('an unknown name in an agent’s flowTools is a clear error', async () => {
    await expect(
      flow.execute({ task: 'T-UNKNOWN', agents: [{ name: 'x', flowTools: ['lookup', 'nope'] }] }),
    ).rejects.toThrow(/agent "x": flowTools: unknown tool "nope" \(tools: lookup, weather, explode, slow, secret\)/);
  });
});
