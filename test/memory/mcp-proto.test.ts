import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { createMemoryClient, memoryMachine } from '../../machines/memory.js';
import { findProtoKey } from '../../src/memory/mcp/proto-keys.js';
import { startMemoryMcpHttp } from '../../src/memory/mcp/index.js';
import type { MemoryBackend } from '../../src/memory/backend.js';
import { FIXTURES, REPO_ROOT, removeTempDirs, sqliteKit } from './helpers.js';

const NS = 'flow:mcp-proto';

/**
 * Arguments with own `"__proto__"` keys, as an MCP client receives them from a model (JSON
 * text). An object literal cannot hold such a key; JSON.parse makes one.
 */
const HOSTILE: Array<[string, string, string]> = [
  ['at the top level', '{"key":"top","value":1,"__proto__":{"shared":true}}', 'arguments.__proto__'],
  ['inside the value', '{"key":"inner","value":{"a":1,"__proto__":{"isAdmin":true}}}', 'arguments.value.__proto__'],
  ['deep in an array', '{"key":"deep","value":[1,{"b":[{"__proto__":null}]}]}', 'arguments.value[1].b[0].__proto__'],
  ['written with escapes', '{"key":"esc","value":{"\\u005f_pro\\u0074o__":{"x":1}}}', 'arguments.value.__proto__'],
];

async function expectRefused(client: Client, name: string, argsJson: string, where: string) {
  const args = JSON.parse(argsJson) as Record<string, unknown>;
  const call = client.callTool({ name, arguments: args }) as Promise<CallToolResult>;
  const err = await call.then(
    (r) => new Error(`expected a refusal, got ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McpError);
  expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
  expect((err as McpError).message).toContain(`${where}: a "__proto__" key is not allowed`);
}

async function storeOf(backend: MemoryBackend) {
  return [...(await backend.list(NS)), ...(await backend.list('shared'))].map((e) => [e.key, e.value]);
}

const kit = sqliteKit();
afterAll(async () => {
  await kit.cleanup();
  await removeTempDirs();
});

describe('an own "__proto__" key in MCP tool arguments is refused, not dropped', () => {
  it('findProtoKey finds it anywhere and only as an own key', () => {
    expect(findProtoKey(JSON.parse('{"a":[{"b":{"__proto__":1}}]}'))).toBe('a[0].b.__proto__');
    expect(findProtoKey({ a: [{ b: { proto: 1, constructor: 2 } }] })).toBeUndefined();
    let deep: unknown = JSON.parse('{"__proto__":1}');
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findProtoKey(deep)).toMatch(/^(\[0\]){100000}\.__proto__$/);
  });

  it('over streamable HTTP: an Invalid params error, the store unchanged, the session still usable', async () => {
    const backend = await kit.open();
    const actor = createActor(memoryMachine, { input: { backend, namespace: NS } }).start();
    const server = await startMemoryMcpHttp({ ops: createMemoryClient(actor), namespace: NS });
    const client = new Client({ name: 'proto-test', version: '1.0.0' });
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(server.url), {
          requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
        }),
      );
      await client.callTool({ name: 'memory_set', arguments: { key: 'before', value: 1 } });
      const before = await storeOf(backend);
      for (const [what, args, where] of HOSTILE) {
        await expectRefused(client, 'memory_set', args, where).catch((e: Error) => {
          throw new Error(`${what}: ${e.message}`);
        });
      }
      await expectRefused(
        client,
        'memory_cas',
        '{"key":"c","expected":null,"value":{"__proto__":{"x":1}}}',
        'arguments.value.__proto__',
      );
      expect(await storeOf(backend)).toEqual(before);
      // The same session goes on working.
      expect(
        (
          (await client.callTool({
            name: 'memory_set',
            arguments: { key: 'after', value: { proto: 'fine' } },
          })) as CallToolResult
        ).isError,
      ).toBeFalsy();
      expect((await backend.get(NS, 'after'))?.value).toEqual({ proto: 'fine' });
    } finally {
      await client.close();
      await server.close();
      actor.stop();
      await backend.close();
    }
  });

  it(
    'over stdio: an Invalid params error, the store unchanged, the server still answering',
    { timeout: 60_000 },
    async () => {
      const reader = await kit.open();
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: ['--import', 'tsx', join(FIXTURES, 'stdio-server.ts')],
        cwd: REPO_ROOT,
        env: {
          ...(process.env as Record<string, string>),
          OPENCODE_FLOW_MEMORY: kit.uri(),
          OPENCODE_FLOW_NAMESPACE: NS,
        },
        stderr: 'pipe',
      });
      let stderr = '';
      transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const client = new Client({ name: 'proto-stdio-test', version: '1.0.0' });
      await client.connect(transport);
      try {
        for (const [what, args, where] of HOSTILE) {
          await expectRefused(client, 'memory_set', args, where).catch((e: Error) => {
            throw new Error(`${what}: ${e.message}`);
          });
        }
        expect(await storeOf(reader)).toEqual([]);
        expect(stderr).toContain('a "__proto__" key is not allowed');
        const ok = (await client.callTool({
          name: 'memory_set',
          arguments: { key: 'after', value: 'x'.repeat(200_000) },
        })) as CallToolResult;
        expect(ok.isError).toBeFalsy();
        expect((await reader.get(NS, 'after'))?.value).toBe('x'.repeat(200_000));
      } finally {
        await client.close();
        await reader.close();
      }
    },
  );
});
