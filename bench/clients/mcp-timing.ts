/**
 * The client side of bench/memory's MCP rows, as a process of its own: connects the MCP SDK's
 * client (over streamable HTTP or stdio), times `memory_set` then `memory_get` calls one at a
 * time, and prints the samples as one JSON line. bench/memory runs it under OpenCode's own
 * runtime (the Bun inside the pinned `opencode` binary, `BUN_BE_BUN=1`), which is where an
 * agent's MCP client runs: OpenCode calls MCP servers through this same SDK client.
 *
 *   <runtime> bench/clients/mcp-timing.ts --n 1000 --warmup 100 --value '<json>' \
 *     (--http URL --token T | --stdio COMMAND [ARG...])
 *
 * Only the SDK and Node-compatible APIs: it runs under Node (through tsx) and Bun alike.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';

/** What the client prints: milliseconds per call, in call order. */
export interface TimingSamples {
  runtime: string;
  set: number[];
  get: number[];
}

const KEYS = 64;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const n = Number(arg('--n') ?? 1000);
  const warmup = Number(arg('--warmup') ?? 100);
  const value: unknown = JSON.parse(arg('--value') ?? '{}');
  let transport: Transport;
  const url = arg('--http');
  if (url) {
    transport = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${arg('--token') ?? ''}` } },
    });
  } else {
    const i = process.argv.indexOf('--stdio');
    const [command, ...args] = i >= 0 ? process.argv.slice(i + 1) : [];
    if (!command)
      throw new Error('usage: mcp-timing --n N --warmup W --value JSON (--http URL --token T | --stdio CMD ...)');
    transport = new StdioClientTransport({
      command,
      args,
      env: process.env as Record<string, string>,
      stderr: 'inherit',
    });
  }
  const client = new Client({ name: 'bench-timing', version: '1.0.0' });
  await client.connect(transport);
  const call = async (name: string, args: Record<string, unknown>) => {
    const r = await client.callTool({ name, arguments: args });
    if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.content)}`);
  };
  const time = async (op: (key: string) => Promise<void>) => {
    for (let i = 0; i < warmup; i++) await op(`bench/${i % KEYS}`);
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await op(`bench/${i % KEYS}`);
      samples.push(performance.now() - t);
    }
    return samples;
  };
  const set = await time((key) => call('memory_set', { key, value }));
  const get = await time((key) => call('memory_get', { key }));
  const bun = (globalThis as { Bun?: { version: string } }).Bun;
  const round = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000);
  const out: TimingSamples = {
    runtime: bun ? `Bun ${bun.version}` : `Node ${process.versions.node}`,
    set: round(set),
    get: round(get),
  };
  await client.close();
  // Wait for the pipe to take the whole line: exiting right after a large write cuts it short.
  await new Promise<void>((resolve, reject) =>
    process.stdout.write(`${JSON.stringify(out)}\n`, (e) => (e ? reject(e) : resolve())),
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`mcp-timing: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
