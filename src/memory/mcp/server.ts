import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { JsonSchemaType, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import { assertNamespace } from '../limits.js';
import type { MemoryOps } from '../ops.js';
import { callerSession, type McpCallContext } from './identity.js';
import { registerMemoryTools, type MemoryToolsOptions } from './tools.js';

/** The MCP server name: OpenCode prefixes its tools with it (`flow_memory_set`). */
export const MEMORY_MCP_SERVER_NAME = 'flow';
/** Version of the memory tool set (not of the package). */
export const MEMORY_MCP_SERVER_VERSION = '1.0.0';

/** Options of {@link createMemoryMcpServer}. */
export interface MemoryMcpServerOptions {
  /**
   * Where tool calls go: `createMemoryClient(actor)` or `createBackendMemoryOps(backend, ...)`.
   * Absent (memory off): no memory tools, only those `register` adds.
   */
  ops?: MemoryOps;
  /** The flow's namespace, `flow:<id>` (needed with `ops`). */
  namespace?: string;
  /** Server name (default `flow`); tool names reach the model as `<name>_memory_*`. */
  name?: string;
  /** Where each tool call goes, by its caller (see `registerMemoryTools`). */
  route?: MemoryToolsOptions['route'];
  /** Registers more tools on each new server (the app's own tools: `flow_<name>` in OpenCode). */
  register?: (server: McpServer) => void;
  /**
   * Told of every tool call as it starts (memory and `register`'s tools); the function it returns,
   * if any, is told how the call ended. A run's trace makes its `execute_tool` spans from it.
   */
  onToolCall?: ToolCallObserver;
}

/** See {@link MemoryMcpServerOptions.onToolCall}. */
export type ToolCallObserver = (call: {
  tool: string;
  session?: string;
  args: unknown;
}) => ((outcome: { error?: string; result?: unknown }) => void) | undefined;

/** Wraps `server.registerTool` so each handler's calls reach `observe` (start, then outcome). */
function observeTools(server: McpServer, observe: ToolCallObserver): void {
  const register = server.registerTool.bind(server) as (name: string, config: unknown, cb: ToolHandler) => unknown;
  (server as { registerTool: unknown }).registerTool = (name: string, config: unknown, cb: ToolHandler) =>
    register(name, config, async (args, extra) => {
      const done = observe({ tool: name, session: callerSession(extra), args });
      if (!done) return cb(args, extra);
      try {
        const result = await cb(args, extra);
        done(result.isError ? { error: textOf(result), result } : { result });
        return result;
      } catch (e) {
        done({ error: e instanceof Error ? e.message : String(e) });
        throw e;
      }
    });
}

type ToolHandler = (
  args: unknown,
  extra: McpCallContext,
) => Promise<{ isError?: boolean; content?: Array<{ type: string; text?: string }> }>;

const textOf = (r: { content?: Array<{ type: string; text?: string }> }) =>
  r.content?.find((c) => c.type === 'text')?.text ?? 'tool error';

const INSTRUCTIONS =
  'Shared memory for the agents of this flow. Store results, plans and status with memory_set so other agents can read ' +
  'them with memory_get or discover them with memory_list; claim work without races with memory_cas (expected=null); ' +
  'count with memory_incr. Keys group with "/" (e.g. "results/reviewer"). Values are JSON.';

/**
 * The SDK's default JSON Schema validator, built on first use. The SDK builds an `ajv` instance
 * (with its formats) in every server it creates, for elicitation forms, which these servers
 * never send: ~5-10 ms of CPU per server at start, each HTTP client getting a server of its
 * own. Built only if a registered tool asks for elicitation.
 */
let ajv: AjvJsonSchemaValidator | undefined;
const lazyAjv: jsonSchemaValidator = {
  getValidator: <T>(schema: JsonSchemaType) => (ajv ??= new AjvJsonSchemaValidator()).getValidator<T>(schema),
};

/**
 * A new MCP server named `flow` with the memory tools (and whatever `register` adds), for one flow. Connect it to one
 * transport; for several clients create one per client (the HTTP starter does).
 *
 * @example
 * ```ts
 * const server = createMemoryMcpServer({ ops: createMemoryClient(actor), namespace: 'flow:abc' });
 * await server.connect(new StdioServerTransport());
 * ```
 */
export function createMemoryMcpServer(options: MemoryMcpServerOptions): McpServer {
  const { ops, namespace } = options;
  if (ops && namespace === undefined) throw new TypeError('createMemoryMcpServer: ops without a namespace');
  if (namespace !== undefined) assertNamespace(namespace);
  const server = new McpServer(
    { name: options.name ?? MEMORY_MCP_SERVER_NAME, version: MEMORY_MCP_SERVER_VERSION },
    { ...(ops ? { instructions: INSTRUCTIONS } : {}), jsonSchemaValidator: lazyAjv },
  );
  if (options.onToolCall) observeTools(server, options.onToolCall);
  if (ops && namespace !== undefined) {
    registerMemoryTools(server, {
      ops,
      namespace,
      clientName: () => server.server.getClientVersion()?.name,
      ...(options.route ? { route: options.route } : {}),
    });
  }
  options.register?.(server);
  return server;
}
