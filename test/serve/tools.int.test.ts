import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { tool } from '../../src/flow/tools.js';
import { startServe, type RunningServe } from '../../src/serve/index.js';
import { startScriptedLLM, startTestOpencode, type ScriptedLLM, type TestOpencode } from '../../src/testing/index.js';
import { call, parseMetrics, readEvents, sample, TOKEN, waitFor } from './helpers.js';

/**
 * The app's own tools behind `serve`, attached to a remote `opencode serve` (the MCP endpoint
 * registered live with `mcp.add`, memory off): each call an agent makes is counted in
 * `/metrics` by tool, and failures apart, and shows in the flow's event stream.
 */
let llm: ScriptedLLM;
let oc: TestOpencode;
let serve: RunningServe;
const pinged: Array<{ n: number; agent: string | undefined }> = [];

beforeAll(async () => {
  llm = await startScriptedLLM({ fallback: { text: 'scripted default answer' } });
  oc = await startTestOpencode({ baseURL: llm.baseURL });
  serve = await startServe({
    port: 0,
    token: TOKEN,
    server: oc.url,
    flowOptions: {
      model: 'scripted/small',
      memory: false,
      persist: false,
      tools: [
        tool({
          name: 'ping',
          description: 'Answers pong',
          input: z.object({ n: z.number() }),
          execute: ({ n }, ctx) => {
            pinged.push({ n, agent: ctx.agent });
            return { pong: n };
          },
        }),
        tool({
          name: 'boom',
          description: 'Always fails',
          input: z.object({}),
          execute: () => {
            throw new Error('boom failed');
          },
        }),
        tool({ name: 'idle', description: 'Never called', input: z.object({}), execute: () => 'idle' }),
      ],
    },
  });
});

afterAll(async () => {
  await serve?.close();
  await oc?.stop();
  await llm?.close();
});

describe('app tools under serve', () => {
  it('counts calls and errors per tool in /metrics, and the event stream shows each call', async () => {
    let s = parseMetrics((await call(serve.url, 'GET', '/metrics')).text);
    for (const name of ['ping', 'boom', 'idle']) {
      expect(sample(s, 'opencode_flow_tool_calls_total', { tool: name })).toBe(0);
      expect(sample(s, 'opencode_flow_tool_errors_total', { tool: name })).toBe(0);
    }
    llm.script([
      {
        match: { allText: 'T-METRICS', hasToolResult: false },
        reply: {
          toolCalls: [
            { name: 'flow_ping', arguments: { n: 7 } },
            { name: 'flow_boom', arguments: {} },
          ],
        },
      },
      { match: { allText: 'T-METRICS', hasToolResult: true }, reply: { text: 'pinged' } },
    ]);
    const started = await call<{ id: string }>(serve.url, 'POST', '/flows', {
      body: { task: 'T-METRICS: ping and boom', agents: ['tester'] },
    });
    expect(started.status).toBe(202);
    const id = started.body.id;
    const { events } = await readEvents(serve.url, id);
    expect(events.at(-1)).toMatchObject({ event: 'flow.done', data: { flowId: id, status: 'completed' } });
    const tools = events.filter((e) => e.event === 'agent.tool').map((e) => e.data as { tool: string; status: string });
    expect(tools.some((t) => t.tool === 'flow_ping' && t.status === 'completed')).toBe(true);
    expect(tools.some((t) => t.tool === 'flow_boom' && t.status === 'error')).toBe(true);
    expect(pinged).toEqual([{ n: 7, agent: 'tester' }]);
    s = await waitFor(
      async () => {
        const m = parseMetrics((await call(serve.url, 'GET', '/metrics')).text);
        return sample(m, 'opencode_flow_tool_calls_total', { tool: 'boom' }) === 1 ? m : undefined;
      },
      { what: 'the tool calls to be counted' },
    );
    expect(sample(s, 'opencode_flow_tool_calls_total', { tool: 'ping' })).toBe(1);
    expect(sample(s, 'opencode_flow_tool_errors_total', { tool: 'ping' })).toBe(0);
    expect(sample(s, 'opencode_flow_tool_errors_total', { tool: 'boom' })).toBe(1);
    expect(sample(s, 'opencode_flow_tool_calls_total', { tool: 'idle' })).toBe(0);
  });
});
