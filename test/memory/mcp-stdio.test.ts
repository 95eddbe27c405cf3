import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../../src/memory/config.js';
import { MEMORY_TOOL_NAMES, memoryMcpStdioOptionsFromEnv } from '../../src/memory/mcp/index.js';
import { FIXTURES, REPO_ROOT, sqliteKit, removeTempDirs, tempDir } from './helpers.js';

const NS = 'flow:mcp-stdio';
const SERVER = join(FIXTURES, 'stdio-server.ts');

function stdioClient(memoryUri: string) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', SERVER],
    cwd: REPO_ROOT,
    env: { ...(process.env as Record<string, string>), OPENCODE_FLOW_MEMORY: memoryUri, OPENCODE_FLOW_NAMESPACE: NS },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'stdio-test', version: '1.0.0' });
  return { client, transport };
}

function text(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === 'text' ? first.text : '';
}

describe('memory MCP over stdio', () => {
  const kit = sqliteKit();
  afterAll(() => kit.cleanup());
  afterAll(() => removeTempDirs());

  it('lists the tools, and each call reaches the backend', { timeout: 60_000 }, async () => {
    const reader = await kit.open(); // the test reads the same SQLite file while the server writes
    const { client, transport } = stdioClient(kit.uri());
    await client.connect(transport);
    try {
      expect(client.getServerVersion()?.name).toBe('flow');
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([...MEMORY_TOOL_NAMES].sort());
      const call = async (name: string, args: Record<string, unknown>) =>
        (await client.callTool({ name, arguments: args })) as CallToolResult;

      expect(JSON.parse(text(await call('memory_set', { key: 'plan', value: { steps: 3 } })))).toEqual({
        ok: true,
        namespace: NS,
        key: 'plan',
      });
      expect((await reader.get(NS, 'plan'))!.value).toEqual({ steps: 3 });
      expect(JSON.parse(text(await call('memory_get', { key: 'plan' })))).toMatchObject({
        found: true,
        value: { steps: 3 },
      });
      expect(JSON.parse(text(await call('memory_incr', { key: 'n', amount: 2 })))).toMatchObject({ value: 2 });
      expect(JSON.parse(text(await call('memory_cas', { key: 'lock', expected: null, value: 'a' })))).toMatchObject({
        ok: true,
      });
      expect(JSON.parse(text(await call('memory_list', {})))).toMatchObject({ count: 3 });
      expect(JSON.parse(text(await call('memory_delete', { key: 'lock' })))).toMatchObject({ deleted: true });
      expect(JSON.parse(text(await call('memory_set', { key: 's', value: 1, shared: true })))).toMatchObject({
        namespace: 'shared',
      });
      expect((await reader.get('shared', 's'))!.value).toBe(1);

      const bad = await call('memory_set', { key: '../../etc/passwd', value: 'x' });
      expect(bad.isError).toBe(true);
      expect(text(bad)).toMatch(/invalid memory key/);
      expect((await reader.list(NS)).map((e) => e.key)).toEqual(['n', 'plan']);
    } finally {
      await client.close();
    }
  });

  it(
    'writes nothing but JSON-RPC to stdout, even on errors, and exits when stdin ends',
    { timeout: 60_000 },
    async () => {
      const dir = await tempDir();
      const uri = `file:${join(dir, 'memory.json')}`;
      const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
        cwd: REPO_ROOT,
        env: { ...process.env, OPENCODE_FLOW_MEMORY: uri, OPENCODE_FLOW_NAMESPACE: NS },
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const send = (msg: object) => child.stdin.write(`${JSON.stringify(msg)}\n`);
      send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      });
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      send({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'memory_set', arguments: { key: 'k', value: [1, 2] } },
      });
      send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'memory_set', arguments: { key: 'k' } } });
      send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'memory_incr', arguments: { key: 'k' } } });
      send({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'no_such_tool', arguments: {} } });
      send({ jsonrpc: '2.0', id: 7, method: 'no/such/method' });
      // Wait for all answers, then end stdin: the server must close the store and exit by itself.
      const deadline = Date.now() + 30_000;
      const answered = () =>
        [1, 2, 3, 4, 5, 6, 7].every((id) => stdout.includes(`"id":${id}}`) || stdout.includes(`"id":${id},`));
      while (!answered() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      child.stdin.end();
      expect(await exited).toBe(0);

      const lines = stdout.split('\n').filter((l) => l !== '');
      expect(lines.length).toBe(7);
      const messages = lines.map(
        (l) => JSON.parse(l) as { jsonrpc: string; id: number; result?: CallToolResult; error?: unknown },
      );
      expect(messages.every((m) => m.jsonrpc === '2.0')).toBe(true);
      // Answers to async tool calls may overtake each other; match them by id.
      const byId = new Map(messages.map((m) => [m.id, m]));
      expect([...byId.keys()].sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(byId.get(3)!.result!.isError).toBeFalsy();
      expect(byId.get(4)!.result!.isError).toBe(true);
      expect(byId.get(5)!.result!.isError).toBe(true);
      expect(byId.get(7)!.error).toBeDefined();

      // The server released the file store on exit: it opens here, with the one good write.
      const memory = await createMemoryBackend(uri);
      expect((await memory.list(NS)).map((e) => [e.key, e.value])).toEqual([['k', [1, 2]]]);
      await memory.close();
    },
  );

  it('reads its options from the environment', () => {
    expect(memoryMcpStdioOptionsFromEnv({ OPENCODE_FLOW_ID: 'abc' })).toEqual({ namespace: 'flow:abc' });
    expect(
      memoryMcpStdioOptionsFromEnv({ OPENCODE_FLOW_NAMESPACE: 'flow:x', OPENCODE_FLOW_MEMORY: 'sqlite:a.db' }),
    ).toEqual({
      namespace: 'flow:x',
      memory: 'sqlite:a.db',
    });
    expect(() => memoryMcpStdioOptionsFromEnv({})).toThrow(/OPENCODE_FLOW_NAMESPACE/);
  });
});
