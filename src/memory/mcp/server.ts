import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { assertNamespace } from '../limits.js';
import type { MemoryOps } from '../ops.js';
import { registerMemoryTools, type MemoryToolsOptions } from './tools.js';

/** The MCP server name: OpenCode prefixes its tools with it (`flow_memory_set`). */
export const MEMORY_MCP_SERVER_NAME = 'flow';
/** Version of the memory tool set (not of the package). */
export const MEMORY_MCP_SERVER_VERSION = '1.0.0';

/** Options of {@link createMemoryMcpServer}. */
export interface MemoryMcpServerOptions {
  /** Where tool calls go: `createMemoryClient(actor)` or `createBackendMemoryOps(backend, ...)`. */
  ops: MemoryOps;
  /** The flow's namespace, `flow:<id>`. */
  namespace: string;
  /** Server name (default `flow`); tool names reach the model as `<name>_memory_*`. */
  name?: string;
  /** Where each tool call goes, by its caller (see `registerMemoryTools`). */
  route?: MemoryToolsOptions['route'];
}

const INSTRUCTIONS =
  'Shared memory for the agents of this flow. Store results, plans and status with memory_set so other agents can read ' +
  'them with memory_get or discover them with memory_list; claim work without races with memory_cas (expected=null); ' +
  'count with memory_incr. Keys group with "/" (e.g. "results/reviewer"). Values are JSON.';

/**
 * A new MCP server named `flow` with the memory tools, for one flow. Connect it to one
 * transport; for several clients create one per client (the HTTP starter does).
 *
 * @example
 * ```ts
 * const server = createMemoryMcpServer({ ops: createMemoryClient(actor), namespace: 'flow:abc' });
 * await server.connect(new StdioServerTransport());
 * ```
 */
export function createMemoryMcpServer(options: MemoryMcpServerOptions): McpServer {
  assertNamespace(options.namespace);
  const server = new McpServer(
    { name: options.name ?? MEMORY_MCP_SERVER_NAME, version: MEMORY_MCP_SERVER_VERSION },
    { instructions: INSTRUCTIONS },
  );
  registerMemoryTools(server, {
    ops: options.ops,
    namespace: options.namespace,
    clientName: () => server.server.getClientVersion()?.name,
    ...(options.route ? { route: options.route } : {}),
  });
  return server;
}
