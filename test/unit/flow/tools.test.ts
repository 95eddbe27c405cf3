import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StructuredChecks } from '../../../machines/structured.js';
import { FlowError } from '../../../src/errors.js';
import { AgentRegistry } from '../../../src/flow/agents.js';
import { OpencodeFlow } from '../../../src/flow/host.js';
import { FlowTools, tool, type FlowToolCall, type FlowToolContext } from '../../../src/flow/tools.js';
import { SESSION_ARGUMENT } from '../../../src/memory/mcp/identity.js';
import { startMemoryMcpHttp, type MemoryMcpHttpServer } from '../../../src/memory/mcp/index.js';

const noop = tool({ name: 'noop', description: 'does nothing', input: z.object({}), execute: () => 'ok' });

function configError(tools: unknown[]): string {
  try {
    new OpencodeFlow({ tools: tools as never });
  } catch (e) {
    expect(e).toBeInstanceOf(FlowError);
    expect((e as FlowError).code).toBe('invalid_config');
    return (e as Error).message;
  }
  throw new Error('no error');
}

describe('checking the app tools given to OpencodeFlow', () => {
  it('refuses bad names, memory_* clashes, duplicates, non-object schemas and bad timeouts, naming the field', () => {
    expect(configError([{ ...noop, name: '9lives' }])).toMatch(/options\.tools\[0\]\.name: expected a letter/);
    expect(configError([{ ...noop, name: 'a'.repeat(49) }])).toMatch(/tools\[0\]\.name/);
    expect(configError([noop, { ...noop, name: 'memory_set' }])).toMatch(
      /tools\[1\]\.name: "memory_set" clashes with the memory tools/,
    );
    expect(configError([noop, noop])).toMatch(/tools\[1\]\.name: "noop" is given twice/);
    expect(configError([{ ...noop, input: z.string() }])).toMatch(/tools\[0\]\.input: expected an object schema/);
    expect(configError([{ ...noop, input: { type: 'string' } }])).toMatch(/tools\[0\]\.input: expected a JSON Schema/);
    expect(configError([{ ...noop, timeoutMs: 0 }])).toMatch(/tools\[0\]\.timeoutMs/);
    expect(configError([{ ...noop, execute: 'x' }])).toMatch(/tools\[0\]\.execute/);
    expect(() => new OpencodeFlow({ tools: [noop] })).not.toThrow();
  });

  it("an agent's flowTools switches the other app tools off, and an unknown name is a clear error", () => {
    const registry = new AgentRegistry({
      presets: new Map(),
      models: new Set(),
      remote: false,
      flowTools: ['a', 'b'],
      structured: new StructuredChecks(),
    });
    expect(registry.toSpec({ name: 'x', flowTools: ['a'] }).tools).toEqual({ flow_b: false });
    expect(registry.toSpec({ name: 'x' }).tools).toBeUndefined();
    expect(registry.toSpec({ name: 'x', flowTools: ['a'], tools: { bash: false } }).tools).toEqual({
      bash: false,
      flow_b: false,
    });
    expect(() => registry.toSpec({ name: 'x', flowTools: ['c'] })).toThrow(
      /agent "x": flowTools: unknown tool "c" \(tools: a, b\)/,
    );
  });
});

describe('app tools on the MCP endpoint', () => {
  const calls: Array<{ tool: string; args: unknown; ctx: FlowToolContext }> = [];
  const done: FlowToolCall[] = [];
  const callers = new Map<string, { flowId: string; agent: string; tools?: Record<string, boolean> }>();
  let server: MemoryMcpHttpServer;
  let client: Client;
  const tools = new FlowTools(
    [
      tool({
        name: 'lookup',
        description: 'Find a customer',
        input: z.object({ id: z.string() }),
        execute: (args, ctx) => {
          calls.push({ tool: 'lookup', args, ctx });
          return { id: args.id, name: `customer ${args.id}` };
        },
      }),
      tool({
        name: 'secret',
        description: 'Not for everyone',
        input: { type: 'object', properties: {} },
        execute: (args, ctx) => {
          calls.push({ tool: 'secret', args, ctx });
          return 'TOP-SECRET';
        },
      }),
    ],
    {
      // As the host knows callers: from the sessions its runs' agents opened.
      callerOf: (session) => (session ? callers.get(session) : undefined),
      onCall: (c) => done.push(c),
    },
  );

  beforeAll(async () => {
    server = await startMemoryMcpHttp({ register: tools.register });
    client = new Client({ name: 'tools-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
      }),
    );
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('serves only the app tools when there is no memory', async () => {
    const listed = await client.listTools();
    expect(listed.tools.map((t) => t.name).sort()).toEqual(['lookup', 'secret']);
    expect(listed.tools.find((t) => t.name === 'lookup')?.inputSchema).toMatchObject({
      type: 'object',
      properties: { id: { type: 'string' } },
      required: ['id'],
    });
  });

  it("refuses a call from an agent whose spec switches the tool off, and names the caller's agent otherwise", async () => {
    // What a run tells its host when the agent "guard" (flow_secret off) opens its session.
    callers.set('ses_guard', { flowId: 'run-of-ses_guard', agent: 'guard', tools: { flow_secret: false } });
    calls.length = 0;
    done.length = 0;
    const refused = (await client.callTool({
      name: 'secret',
      arguments: { [SESSION_ARGUMENT]: 'ses_guard' },
    })) as CallToolResult;
    expect(refused.isError).toBe(true);
    expect((refused.content[0] as { text: string }).text).toContain(
      'agent "guard" is not allowed the tool flow_secret',
    );
    const allowed = (await client.callTool({
      name: 'lookup',
      arguments: { id: 'c-1', [SESSION_ARGUMENT]: 'ses_guard' },
    })) as CallToolResult;
    expect(allowed.isError).toBeFalsy();
    expect(JSON.parse((allowed.content[0] as { text: string }).text)).toEqual({ id: 'c-1', name: 'customer c-1' });
    expect(calls.map((c) => c.tool)).toEqual(['lookup']);
    expect(calls[0]).toMatchObject({
      args: { id: 'c-1' },
      ctx: { agent: 'guard', flowId: 'run-of-ses_guard', sessionID: 'ses_guard' },
    });
    expect(done.map((c) => [c.tool, c.agent, c.error !== undefined])).toEqual([
      ['secret', 'guard', true],
      ['lookup', 'guard', false],
    ]);
    // Without a session (no plugin) the agent is unknown and nothing is refused by agent.
    const anon = (await client.callTool({ name: 'secret', arguments: {} })) as CallToolResult;
    expect((anon.content[0] as { text: string }).text).toBe('TOP-SECRET');
    expect(calls.at(-1)?.ctx).toMatchObject({ agent: undefined, flowId: undefined, sessionID: undefined });
  });

  it('a run that ends aborts its calls in progress', async () => {
    let seen: AbortSignal | undefined;
    const slow = new FlowTools(
      [
        tool({
          name: 'wait',
          description: 'waits',
          input: z.object({}),
          execute: (_args, ctx) =>
            new Promise((resolve) => {
              seen = ctx.signal;
              ctx.signal.addEventListener('abort', () => resolve('aborted'));
            }),
        }),
      ],
      { callerOf: () => ({ flowId: 'f1' }) },
    );
    const s = await startMemoryMcpHttp({ register: slow.register });
    const c = new Client({ name: 'tools-test', version: '1.0.0' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(s.url), {
        requestInit: { headers: { Authorization: `Bearer ${s.token}` } },
      }),
    );
    const pending = c.callTool({ name: 'wait', arguments: {} }) as Promise<CallToolResult>;
    while (!seen) await new Promise((r) => setTimeout(r, 10));
    slow.abort('other-run');
    expect(seen.aborted).toBe(false);
    slow.abort('f1', 'the flow ended');
    const r = await pending;
    expect(r.isError).toBe(true);
    expect((r.content[0] as { text: string }).text).toBe('Error: the flow ended');
    await c.close();
    await s.close();
  });
});
