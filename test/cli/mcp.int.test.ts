import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, cliArgv, tempDir, removeMemoryFiles } from './helpers.js';

/** `opencode-flow mcp` through a real MCP client over stdio, as an MCP host runs it. */

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('ocf-mcp-')));
afterAll(async () => {
  await cleanup();
  await removeMemoryFiles();
});

/** Connects an MCP client to `opencode-flow mcp <args>`; returns it and its stderr so far. */
async function connect(args: string[], env: Record<string, string | undefined> = {}) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: cliArgv(['mcp', ...args]),
    env: childEnv(env) as Record<string, string>,
    cwd: dir,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'ocf-cli-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

const text = (r: unknown) => JSON.parse((r as { content: Array<{ text: string }> }).content[0]!.text);

describe('opencode-flow mcp', () => {
  it('serves the memory tools; values persist in the backend and namespaces stay apart', async () => {
    const memory = `file:${join(dir, 'memory.json')}`;
    const a = await connect(['--memory', memory, '--flow-id', 'mcp-a']);
    try {
      const { tools } = await a.client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([
        'memory_cas',
        'memory_delete',
        'memory_get',
        'memory_incr',
        'memory_list',
        'memory_set',
      ]);
      const set = text(
        await a.client.callTool({ name: 'memory_set', arguments: { key: 'plan/step', value: { n: 1 } } }),
      );
      expect(set).toEqual({ ok: true, namespace: 'flow:mcp-a', key: 'plan/step' });
      expect(a.stderr()).toContain('opencode-flow mcp: serving memory namespace flow:mcp-a over stdio');
    } finally {
      await a.client.close();
    }
    // The file backend is single-process: a second server opens it once the first is gone.
    const b = await connect(['--flow-id', 'mcp-a'], { OPENCODE_FLOW_MEMORY: memory });
    try {
      expect(text(await b.client.callTool({ name: 'memory_get', arguments: { key: 'plan/step' } }))).toMatchObject({
        found: true,
        value: { n: 1 },
      });
    } finally {
      await b.client.close();
    }
    const c = await connect(['--memory', memory, '--flow-id', 'mcp-b']);
    try {
      expect(text(await c.client.callTool({ name: 'memory_get', arguments: { key: 'plan/step' } }))).toMatchObject({
        namespace: 'flow:mcp-b',
        found: false,
      });
    } finally {
      await c.client.close();
    }
  });

  it('without a flow id it serves the shared namespace; OPENCODE_FLOW_ID picks a flow', async () => {
    const memory = `file:${join(dir, 'shared.json')}`;
    const shared = await connect(['--memory', memory]);
    try {
      expect(
        text(await shared.client.callTool({ name: 'memory_set', arguments: { key: 'k', value: 1 } })),
      ).toMatchObject({ namespace: 'shared' });
    } finally {
      await shared.client.close();
    }
    const byEnv = await connect(['--memory', memory], { OPENCODE_FLOW_ID: 'from-env' });
    try {
      expect(
        text(await byEnv.client.callTool({ name: 'memory_set', arguments: { key: 'k', value: 2 } })),
      ).toMatchObject({ namespace: 'flow:from-env' });
    } finally {
      await byEnv.client.close();
    }
  });

  it('stdout carries only JSON-RPC, even with a .env in the working directory; stdin closing stops it with exit 0', async () => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, '.env'), 'SOME_SETTING=1\n');
    const child = spawn(process.execPath, cliArgv(['mcp', '--memory', `file:${join(dir, 'raw.json')}`]), {
      cwd: dir,
      env: childEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const send = (msg: unknown) => child.stdin.write(`${JSON.stringify(msg)}\n`);
    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    await waitFor(() => stdout.includes('"id":1'));
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    await waitFor(() => stdout.includes('"id":2'));
    const code = new Promise<number | null>((r) => child.on('close', r));
    child.stdin.end();
    expect(await code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: '2.0' });
    expect(JSON.parse(lines.find((l) => l.includes('"id":2'))!).result.tools).toHaveLength(6);
  });
});

async function waitFor(check: () => boolean, ms = 20_000) {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
