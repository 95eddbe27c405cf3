import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { FlowError, FlowErrorCode } from '../../errors.js';
import type { MemoryBackend } from '../backend.js';
import { createBackendMemoryOps } from '../backend-ops.js';
import { createMemoryBackend, type MemoryConfigInput } from '../config.js';
import { flowNamespace } from '../namespace.js';
import { createMemoryMcpServer } from './server.js';

/** Options of {@link runMemoryMcpStdio}. */
export interface MemoryMcpStdioOptions {
  /** A memory config or URI (default: the file backend), or an open backend (not closed by us). */
  memory?: MemoryConfigInput | string | MemoryBackend;
  /** The flow's namespace, `flow:<id>`. */
  namespace: string;
  /** Relative memory paths resolve against this (default `process.cwd()`). */
  cwd?: string;
  /** Server name (default `flow`). */
  name?: string;
  /** Streams to speak on (default `process.stdin` / `process.stdout`). */
  stdin?: Readable;
  stdout?: Writable;
}

/** A running stdio memory MCP server. */
export interface MemoryMcpStdioServer {
  /** Stops serving and closes the backend if this server opened it. */
  close(): Promise<void>;
  /** Settles when the server has closed (stdin ended, or `close`). */
  closed: Promise<void>;
}

/**
 * Serves the memory tools over MCP stdio, straight over a backend (no memory actor): for
 * OpenCode's `"type": "local"` MCP servers and other MCP hosts. Writes nothing to stdout but
 * protocol; diagnostics go to stderr. Stops when stdin ends.
 *
 * The memory actor is the single writer of a flow's memory in the library; run this against
 * SQLite or Redis when both are live at once (the file backend refuses a second process).
 *
 * @example
 * ```ts
 * // opencode.json: "mcp": { "flow": { "type": "local", "command": ["node", "memory-mcp.js"] } }
 * await runMemoryMcpStdio({ memory: 'sqlite:./flow.db', namespace: 'flow:nightly' });
 * ```
 */
export async function runMemoryMcpStdio(options: MemoryMcpStdioOptions): Promise<MemoryMcpStdioServer> {
  const owned = !isBackend(options.memory);
  const backend = isBackend(options.memory)
    ? options.memory
    : await createMemoryBackend(options.memory, options.cwd === undefined ? {} : { cwd: options.cwd });
  const ops = createBackendMemoryOps(backend, { namespace: options.namespace, by: 'mcp' });
  const server = createMemoryMcpServer({
    ops,
    namespace: options.namespace,
    ...(options.name === undefined ? {} : { name: options.name }),
  });
  const stdin = options.stdin ?? process.stdin;
  const transport = new StdioServerTransport(stdin, options.stdout ?? process.stdout);

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stdin.off('end', onEnd);
      await server.close().catch((e: unknown) => log(`closing the server failed: ${(e as Error).message}`));
      if (owned) await backend.close().catch((e: unknown) => log(`closing memory failed: ${(e as Error).message}`));
      resolveClosed();
    })());
  const onEnd = () => void close();
  stdin.on('end', onEnd);
  transport.onerror = (e) => log(`transport error: ${e.message}`);

  await server.connect(transport);
  return { close, closed };
}

/**
 * Reads stdio server options from the environment: `OPENCODE_FLOW_MEMORY` (a memory URI,
 * default the file backend) and `OPENCODE_FLOW_NAMESPACE` (`flow:<id>`) or `OPENCODE_FLOW_ID`.
 *
 * @example
 * ```ts
 * await runMemoryMcpStdio(memoryMcpStdioOptionsFromEnv());
 * ```
 */
export function memoryMcpStdioOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): MemoryMcpStdioOptions {
  const namespace = env.OPENCODE_FLOW_NAMESPACE ?? (env.OPENCODE_FLOW_ID ? flowNamespace(env.OPENCODE_FLOW_ID) : undefined);
  if (!namespace) {
    throw new FlowError(FlowErrorCode.InvalidConfig, 'set OPENCODE_FLOW_NAMESPACE (flow:<id>) or OPENCODE_FLOW_ID for the memory MCP server');
  }
  return env.OPENCODE_FLOW_MEMORY ? { namespace, memory: env.OPENCODE_FLOW_MEMORY } : { namespace };
}

function isBackend(m: MemoryMcpStdioOptions['memory']): m is MemoryBackend {
  return typeof m === 'object' && m !== null && typeof (m as MemoryBackend).get === 'function';
}

function log(message: string): void {
  process.stderr.write(`[opencode-flow memory mcp] ${message}\n`);
}
