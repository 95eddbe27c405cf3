import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { createMemoryClient, memoryMachine, type MemoryActorRef } from '../../machines/memory.js';
import type { MemoryBackend } from '../../src/memory/backend.js';
import { callerSession, SESSION_ARGUMENT, SESSION_HEADER, liftSessionArgument } from '../../src/memory/mcp/identity.js';
import { startMemoryMcpHttp, type MemoryMcpHttpServer } from '../../src/memory/mcp/index.js';
import { fileKit } from './helpers.js';

/** What OpenCode's session plugin adds to a call reaches `route`, and never the tool's strict schema. */
let backend: MemoryBackend;
let actor: MemoryActorRef;
let server: MemoryMcpHttpServer;
const kit = fileKit();
const routed: Array<string | undefined> = [];

beforeAll(async () => {
  backend = await kit.open();
  actor = createActor(memoryMachine, { input: { backend, namespace: 'flow:host' } }).start();
  const ops = createMemoryClient(actor, { by: 'agent' });
  server = await startMemoryMcpHttp({
    ops,
    namespace: 'flow:host',
    route: (extra) => {
      const session = callerSession(extra);
      routed.push(session);
      const flowId = session ? `run-of-${session}` : 'host';
      return {
        namespace: `flow:${flowId}`,
        ops: { ...ops, set: (k, v, o) => ops.set(k, v, { ...o, flowId }), get: (k, o) => ops.get(k, { ...o, flowId }) },
      };
    },
  });
});
afterAll(async () => {
  await server?.close();
  actor?.stop();
  await kit.cleanup();
});

async function connect() {
  const client = new Client({ name: 'session-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.url), {
      requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
    }),
  );
  return client;
}

const body = (r: CallToolResult) => JSON.parse((r.content[0] as { text: string }).text) as Record<string, unknown>;

describe('the OpenCode session behind a tool call', () => {
  it('routes each call by the session argument, which the strict schema never sees', async () => {
    const client = await connect();
    routed.length = 0;
    const a = (await client.callTool({
      name: 'memory_set',
      arguments: { key: 'k', value: 'A', [SESSION_ARGUMENT]: 'ses_a' },
    })) as CallToolResult;
    expect(a.isError).toBeFalsy();
    expect(body(a)).toMatchObject({ namespace: 'flow:run-of-ses_a' });
    const b = (await client.callTool({
      name: 'memory_get',
      arguments: { key: 'k', [SESSION_ARGUMENT]: 'ses_b' },
    })) as CallToolResult;
    expect(body(b)).toMatchObject({ namespace: 'flow:run-of-ses_b', found: false });
    const again = (await client.callTool({
      name: 'memory_get',
      arguments: { key: 'k', [SESSION_ARGUMENT]: 'ses_a' },
    })) as CallToolResult;
    expect(body(again)).toMatchObject({ found: true, value: 'A' });
    expect(routed).toEqual(['ses_a', 'ses_b', 'ses_a']);
    expect(await backend.get('flow:run-of-ses_a', 'k')).toMatchObject({ value: 'A' });
    expect(await backend.get('flow:host', 'k')).toBeNull();
    await client.close();
  });

  it('a call without it, or with a header of that name from the client, is not routed to a session', async () => {
    const client = new Client({ name: 'spoof', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { Authorization: `Bearer ${server.token}`, [SESSION_HEADER]: 'ses_spoof' } },
      }),
    );
    routed.length = 0;
    const r = (await client.callTool({ name: 'memory_get', arguments: { key: 'k' } })) as CallToolResult;
    expect(body(r)).toMatchObject({ namespace: 'flow:host' });
    expect(routed).toEqual([undefined]);
    await client.close();
  });

  it('liftSessionArgument keeps a malformed session out and leaves other arguments alone', () => {
    const req = { headers: {} as Record<string, string | string[] | undefined>, rawHeaders: [] as string[] };
    const msg = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'memory_get', arguments: { key: 'k', [SESSION_ARGUMENT]: 'bad id!' } },
    };
    liftSessionArgument(msg, req);
    expect(msg.params.arguments).toEqual({ key: 'k' });
    expect(callerSession({ requestInfo: { headers: req.headers } })).toBeUndefined();
  });
});
