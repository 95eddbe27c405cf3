import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import {
  createMemoryClient,
  memoryMachine,
  type MemoryActorRef,
  type MemoryChangedEvent,
} from '../../machines/memory.js';
import type { MemoryBackend } from '../../src/memory/backend.js';
import {
  MEMORY_TOOL_NAMES,
  startMemoryMcpHttp,
  type MemoryMcpHttpServer,
  type MemoryMcpRequestInfo,
} from '../../src/memory/mcp/index.js';
import { fileKit } from './helpers.js';

const NS = 'flow:mcp-http';

let backend: MemoryBackend;
let actor: MemoryActorRef;
let server: MemoryMcpHttpServer;
const kit = fileKit();
const clients: Client[] = [];
const changes: MemoryChangedEvent[] = [];

async function connect(headers: Record<string, string> = { Authorization: `Bearer ${server.token}` }) {
  const client = new Client({ name: 'memory-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers } });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function json(result: CallToolResult): Record<string, unknown> {
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  const first = result.content[0];
  if (first?.type !== 'text') throw new Error('expected text content');
  const parsed = JSON.parse(first.text) as Record<string, unknown>;
  expect(result.structuredContent).toEqual(parsed);
  return parsed;
}

function errorText(result: CallToolResult): string {
  expect(result.isError).toBe(true);
  const first = result.content[0];
  return first?.type === 'text' ? first.text : '';
}

async function snapshotStore() {
  const strip = (entries: Awaited<ReturnType<MemoryBackend['list']>>) => entries.map(({ key, value }) => [key, value]);
  return {
    own: strip(await backend.list(NS)),
    shared: strip(await backend.list('shared')),
    other: strip(await backend.list('flow:other')),
  };
}

beforeAll(async () => {
  backend = await kit.open();
  actor = createActor(memoryMachine, { input: { backend, namespace: NS } }).start();
  actor.on('memory.changed', (e) => void changes.push(e));
  server = await startMemoryMcpHttp({ ops: createMemoryClient(actor), namespace: NS });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await server.close();
  actor.stop();
  await kit.cleanup();
});

describe('memory MCP over streamable HTTP', () => {
  it('serves on loopback at /mcp with a generated token, and gives the OpenCode remote config', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(server.token).toMatch(/^[0-9a-f]{64}$/);
    expect(server.opencodeConfig()).toEqual({
      type: 'remote',
      url: server.url,
      headers: { Authorization: `Bearer ${server.token}` },
      oauth: false,
    });
  });

  it('lists the six tools with descriptions and strict JSON schemas', async () => {
    const { client } = await connect();
    expect(client.getServerVersion()?.name).toBe('flow');
    expect(client.getInstructions()).toMatch(/memory_cas/);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...MEMORY_TOOL_NAMES].sort());
    for (const tool of tools) {
      expect(tool.description!.length, tool.name).toBeGreaterThan(80);
      expect(tool.inputSchema.type).toBe('object');
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t.inputSchema]));
    expect(byName.memory_set!.required).toEqual(['key', 'value']);
    expect(Object.keys(byName.memory_set!.properties!).sort()).toEqual(['key', 'shared', 'ttlSeconds', 'value']);
    expect((byName.memory_set!.properties!.key as { pattern?: string }).pattern).toBe('^[A-Za-z0-9._:/-]{1,256}$');
    expect(byName.memory_get!.required).toEqual(['key']);
    expect(byName.memory_delete!.required).toEqual(['key']);
    expect(byName.memory_list!.required ?? []).toEqual([]);
    expect(byName.memory_cas!.required).toEqual(['key', 'expected', 'value']);
    expect(byName.memory_incr!.required).toEqual(['key']);
    expect((byName.memory_incr!.properties!.amount as { type?: string }).type).toBe('number');
    expect(tools.find((t) => t.name === 'memory_get')!.annotations?.readOnlyHint).toBe(true);
  });

  it('each tool works, and writes land in the flow namespace (or shared)', async () => {
    const { client } = await connect();
    expect(
      json(await call(client, 'memory_set', { key: 'research/summary', value: { findings: ['a', 'b'] } })),
    ).toEqual({
      ok: true,
      namespace: NS,
      key: 'research/summary',
    });
    expect((await backend.get(NS, 'research/summary'))!.value).toEqual({ findings: ['a', 'b'] });

    expect(json(await call(client, 'memory_get', { key: 'research/summary' }))).toEqual({
      namespace: NS,
      key: 'research/summary',
      found: true,
      value: { findings: ['a', 'b'] },
    });
    expect(json(await call(client, 'memory_get', { key: 'nope' }))).toMatchObject({ found: false, value: null });

    await call(client, 'memory_set', { key: 'research/extra', value: 'x', ttlSeconds: 60 });
    const extra = await backend.get(NS, 'research/extra');
    expect(extra!.expiresAt! - extra!.updatedAt).toBe(60_000);
    const listed = json(await call(client, 'memory_list', { prefix: 'research/' }));
    expect(listed).toMatchObject({ namespace: NS, prefix: 'research/', count: 2, total: 2, truncated: false });
    expect((listed.entries as { key: string; value: unknown }[]).map((e) => [e.key, e.value])).toEqual([
      ['research/extra', 'x'],
      ['research/summary', { findings: ['a', 'b'] }],
    ]);
    const keysOnly = json(await call(client, 'memory_list', { prefix: 'research/', limit: 1, keysOnly: true }));
    expect(keysOnly).toMatchObject({ count: 1, total: 2, truncated: true });
    expect((keysOnly.entries as Record<string, unknown>[])[0]).not.toHaveProperty('value');

    expect(
      json(await call(client, 'memory_cas', { key: 'claims/task-1', expected: null, value: 'coder' })),
    ).toMatchObject({
      ok: true,
      current: 'coder',
    });
    expect(
      json(await call(client, 'memory_cas', { key: 'claims/task-1', expected: null, value: 'tester' })),
    ).toMatchObject({
      ok: false,
      current: 'coder',
    });
    expect(
      json(await call(client, 'memory_cas', { key: 'claims/task-1', expected: 'coder', value: 'done' })),
    ).toMatchObject({
      ok: true,
      current: 'done',
    });

    expect(json(await call(client, 'memory_incr', { key: 'progress' }))).toMatchObject({ value: 1 });
    expect(json(await call(client, 'memory_incr', { key: 'progress', amount: 41 }))).toMatchObject({ value: 42 });

    expect(json(await call(client, 'memory_delete', { key: 'research/extra' }))).toMatchObject({ deleted: true });
    expect(json(await call(client, 'memory_delete', { key: 'research/extra' }))).toMatchObject({ deleted: false });
    expect(await backend.get(NS, 'research/extra')).toBeNull();

    expect(json(await call(client, 'memory_set', { key: 'announce', value: 'hi', shared: true }))).toMatchObject({
      namespace: 'shared',
    });
    expect((await backend.get('shared', 'announce'))!.value).toBe('hi');
    expect(await backend.get(NS, 'announce')).toBeNull();
    expect(json(await call(client, 'memory_get', { key: 'announce', shared: true }))).toMatchObject({ value: 'hi' });
    expect(json(await call(client, 'memory_incr', { key: 'runs', shared: true }))).toMatchObject({
      namespace: 'shared',
      value: 1,
    });
  });

  it('names the caller in memory.changed: the MCP session, or an agent header', async () => {
    const { client, transport } = await connect();
    changes.length = 0;
    await call(client, 'memory_set', { key: 'who', value: 1 });
    expect(changes.at(-1)).toMatchObject({ key: 'who', by: `mcp:${transport.sessionId}` });
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);

    const agent = await connect({ Authorization: `Bearer ${server.token}`, 'x-opencode-flow-agent': 'reviewer' });
    await call(agent.client, 'memory_incr', { key: 'who' });
    expect(changes.at(-1)).toMatchObject({ key: 'who', value: 2, by: 'reviewer', op: 'incr' });
  });

  it('bad arguments give an isError result and leave the store unchanged', async () => {
    const { client } = await connect();
    await backend.set('flow:other', 'secret', 'theirs');
    await call(client, 'memory_set', { key: 'text', value: 'not a number' });
    const before = await snapshotStore();
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['memory_set', {}, /Input validation error[\s\S]*key/],
      ['memory_set', { key: 'k' }, /Input validation error[\s\S]*value/],
      ['memory_set', { key: 5, value: 1 }, /Input validation error/],
      ['memory_set', { key: '../../etc/passwd', value: 1 }, /invalid memory key/],
      ['memory_set', { key: 'a/../b', value: 1 }, /invalid memory key/],
      ['memory_set', { key: 'k', value: null }, /is null: store a JSON value, or delete the key/],
      ['memory_set', { key: 'k', value: 'x'.repeat(1024 * 1024) }, /bytes serialised; the limit is 1048576 bytes/],
      ['memory_set', { key: 'k', value: 1, ttlSeconds: -5 }, /Input validation error/],
      [
        'memory_set',
        { key: 'secret', value: 'mine', namespace: 'flow:other' },
        /Input validation error[\s\S]*namespace/,
      ],
      ['memory_get', { key: 'secret', namespace: 'flow:other' }, /Input validation error/],
      ['memory_delete', { key: '..' }, /invalid memory key/],
      ['memory_list', { prefix: '../' }, /invalid memory key prefix/],
      ['memory_list', { limit: 0 }, /Input validation error/],
      ['memory_cas', { key: 'k', value: 1 }, /Input validation error[\s\S]*expected/],
      ['memory_cas', { key: 'k', expected: null, value: null }, /is null/],
      ['memory_incr', { key: 'text' }, /not a number/],
      ['memory_incr', { key: 'n', amount: 'ten' }, /Input validation error/],
      ['memory_incr', { key: 'n', shared: 'yes' }, /Input validation error/],
    ];
    for (const [tool, args, message] of cases) {
      const text = errorText(await call(client, tool, args));
      expect(text, `${tool} ${JSON.stringify(args).slice(0, 80)}`).toMatch(message);
    }
    expect(await snapshotStore()).toEqual(before);
    expect((await backend.get('flow:other', 'secret'))!.value).toBe('theirs');
  });

  it('answers 401 without the right bearer token', async () => {
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    for (const auth of [
      undefined,
      'Bearer wrong-token-of-some-length',
      `Basic ${server.token}`,
      server.token,
      `Bearer ${server.token}x`,
    ]) {
      const res = await fetch(server.url, {
        method: 'POST',
        headers: auth === undefined ? headers : { ...headers, authorization: auth },
        body: initialize,
      });
      expect(res.status, String(auth)).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    // The SDK client surfaces the status as the error's code.
    await expect(connect({ Authorization: 'Bearer nope-nope-nope-nope' })).rejects.toMatchObject({ code: 401 });
    await expect(connect({})).rejects.toMatchObject({ code: 401, message: expect.stringMatching(/unauthorized/) });
    const ok = await fetch(server.url, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${server.token}` },
      body: initialize,
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('mcp-session-id')).toBeTruthy();
  });

  it('rejects requests outside /mcp, without a session, or with an unknown session', async () => {
    const auth = {
      authorization: `Bearer ${server.token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    expect((await fetch(server.url.replace('/mcp', '/other'), { headers: auth })).status).toBe(404);
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect((await fetch(server.url, { method: 'POST', headers: auth, body: list })).status).toBe(400);
    expect(
      (await fetch(server.url, { method: 'POST', headers: { ...auth, 'mcp-session-id': 'nope' }, body: list })).status,
    ).toBe(404);
    expect((await fetch(server.url, { method: 'POST', headers: auth, body: '{not json' })).status).toBe(400);
  });

  it('speaks the JSON form of streamable HTTP: batches, 202 for notifications, 405 for GET, DELETE ends the session', async () => {
    const auth = {
      authorization: `Bearer ${server.token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const init = await fetch(server.url, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    expect(init.status).toBe(200);
    expect(init.headers.get('content-type')).toMatch(/^application\/json/);
    const session = {
      ...auth,
      'mcp-session-id': init.headers.get('mcp-session-id')!,
      'mcp-protocol-version': '2025-06-18',
    };
    expect(await init.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'flow' } } });
    const note = await fetch(server.url, {
      method: 'POST',
      headers: session,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    expect(note.status).toBe(202);
    // A batch is answered as an array, in request order.
    const batch = await fetch(server.url, {
      method: 'POST',
      headers: session,
      body: JSON.stringify([
        {
          jsonrpc: '2.0',
          id: 'a',
          method: 'tools/call',
          params: { name: 'memory_set', arguments: { key: 'raw/k', value: 7 } },
        },
        { jsonrpc: '2.0', id: 'b', method: 'tools/list' },
      ]),
    });
    expect(batch.status).toBe(200);
    const answers = (await batch.json()) as {
      id: string;
      result: { structuredContent?: unknown; tools?: unknown[] };
    }[];
    expect(answers.map((a) => a.id)).toEqual(['a', 'b']);
    expect(answers[0]!.result.structuredContent).toMatchObject({ ok: true, key: 'raw/k' });
    expect(answers[1]!.result.tools).toHaveLength(6);
    expect((await backend.get(NS, 'raw/k'))!.value).toBe(7);
    const bad = await fetch(server.url, {
      method: 'POST',
      headers: { ...session, 'mcp-protocol-version': '1999-01-01' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }),
    });
    expect(bad.status).toBe(400);
    expect(
      (
        await fetch(server.url, {
          method: 'POST',
          headers: session,
          body: JSON.stringify({ id: 4, method: 'tools/list' }),
        })
      ).status,
    ).toBe(400);
    // No server-to-client stream: the spec's 405, which clients take as "none offered".
    const get = await fetch(server.url, { headers: { ...session, accept: 'text/event-stream' } });
    expect(get.status).toBe(405);
    expect((await fetch(server.url, { method: 'DELETE', headers: session })).status).toBe(200);
    expect(
      (
        await fetch(server.url, {
          method: 'POST',
          headers: session,
          body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }),
        })
      ).status,
    ).toBe(404);
  });
});

describe('startMemoryMcpHttp lifecycle', () => {
  it('takes a given token and port 0, refuses short tokens and big bodies, and stops serving on close', async () => {
    await expect(startMemoryMcpHttp({ ops: createMemoryClient(actor), namespace: NS, token: 'short' })).rejects.toThrow(
      /at least 16/,
    );
    await expect(startMemoryMcpHttp({ ops: createMemoryClient(actor), namespace: 'flow:../x' })).rejects.toThrow(
      /namespace/,
    );
    const token = 'a-token-chosen-by-the-caller';
    const other = await startMemoryMcpHttp({ ops: createMemoryClient(actor), namespace: NS, token });
    expect(other.token).toBe(token);
    const client = new Client({ name: 't', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(other.url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    expect((await client.listTools()).tools).toHaveLength(6);
    // The metrics hook sees each answered request, with its tool.
    const seen: MemoryMcpRequestInfo[] = [];
    const observed = await startMemoryMcpHttp({
      ops: createMemoryClient(actor),
      namespace: NS,
      token,
      onRequest: (i) => seen.push(i),
    });
    const oc = new Client({ name: 't', version: '1' });
    await oc.connect(
      new StreamableHTTPClientTransport(new URL(observed.url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    await oc.callTool({ name: 'memory_get', arguments: { key: 'k' } });
    await oc.close();
    await observed.close();
    expect(seen[0]).toMatchObject({ httpMethod: 'POST', status: 200, rpcMethod: 'initialize' });
    const toolCall = seen.find((i) => i.tool === 'memory_get')!;
    expect(toolCall).toMatchObject({ httpMethod: 'POST', status: 200, rpcMethod: 'tools/call' });
    expect(toolCall.ms).toBeGreaterThan(0);
    // A body over maxBodyBytes is refused before it is parsed.
    const small = await startMemoryMcpHttp({
      ops: createMemoryClient(actor),
      namespace: NS,
      token,
      maxBodyBytes: 1024,
    });
    const big = await fetch(small.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(4096) }),
    });
    expect(big.status).toBe(413);
    await small.close();
    await other.close();
    await expect(fetch(other.url, { method: 'POST' })).rejects.toThrow();
    await client.close().catch(() => undefined);
  });
});
