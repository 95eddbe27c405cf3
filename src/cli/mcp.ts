import { Command } from 'commander';
import { FlowError, FlowErrorCode } from '../errors.js';
import { optionsFromEnv } from '../flow/env.js';

/** The options' checks, loaded when the command runs: `--help` needs no zod. */
async function mcpOptionsSchema() {
  const [{ z }, { MemoryUriSchema }] = await Promise.all([import('zod'), import('../config/flow-config.js')]);
  return z
    .object({
      memory: MemoryUriSchema.optional(),
      flowId: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,120}$/, { message: 'expected 1-120 of A-Z a-z 0-9 . _ -' })
        .optional(),
      namespace: z
        .string()
        .regex(/^(shared|flow:[A-Za-z0-9._-]{1,120})$/, { message: 'expected "flow:<id>" or "shared"' })
        .optional(),
    })
    .strict();
}

/**
 * `opencode-flow mcp`: serves the shared-memory tools (`memory_set`, `memory_get`,
 * `memory_list`, ...) as an MCP server over stdio, for OpenCode's `"type": "local"` MCP
 * servers and any other MCP host. Stdout carries only the protocol; diagnostics go to
 * stderr. It stops when stdin closes, or on SIGINT/SIGTERM.
 *
 * @example
 * ```ts
 * program.addCommand(mcpCommand());
 * // opencode.json: "mcp": { "flow": { "type": "local", "command": ["npx", "opencode-flow", "mcp", "--memory", "sqlite:./flow.db", "--flow-id", "nightly"] } }
 * ```
 */
export function mcpCommand(): Command {
  return new Command('mcp')
    .description('Serve the shared-memory tools as an MCP server over stdio')
    .option(
      '--memory <uri>',
      'memory backend: file:PATH, sqlite:PATH or redis://HOST:PORT/DB (default: $OPENCODE_FLOW_MEMORY, else file:.opencode-flow/memory.json)',
    )
    .option('--flow-id <id>', 'serve the namespace of this flow, flow:<id> (default: $OPENCODE_FLOW_ID)')
    .option(
      '--namespace <ns>',
      'serve this namespace: flow:<id> or shared (default: $OPENCODE_FLOW_NAMESPACE, else shared)',
    )
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`opencode-flow: ${s}`) })
    .addHelpText(
      'after',
      `
Several processes may share memory through SQLite or Redis; the file backend allows one
process at a time.

Examples:
  $ opencode-flow mcp --memory sqlite:./flow.db --flow-id nightly
  $ OPENCODE_FLOW_MEMORY=redis://127.0.0.1:6379/0 opencode-flow mcp --namespace shared`,
    )
    .action(async (raw: Record<string, unknown>) => {
      const { parseFlags } = await import('./run-options.js');
      const o = parseFlags(await mcpOptionsSchema(), raw);
      if (o.flowId && o.namespace)
        throw new FlowError(FlowErrorCode.InvalidConfig, 'give either --flow-id or --namespace, not both');
      const { flowNamespace, SHARED_NAMESPACE } = await import('../memory/namespace.js');
      const { runMemoryMcpStdio, memoryMcpStdioOptionsFromEnv } = await import('../memory/mcp/stdio.js');
      const env = process.env;
      const envHasNamespace = Boolean(env.OPENCODE_FLOW_NAMESPACE || env.OPENCODE_FLOW_ID);
      const fromEnv = envHasNamespace ? memoryMcpStdioOptionsFromEnv(env) : { namespace: SHARED_NAMESPACE };
      const namespace = o.namespace ?? (o.flowId ? flowNamespace(o.flowId) : fromEnv.namespace);
      const memory = o.memory ?? optionsFromEnv(env).memory;
      const server = await runMemoryMcpStdio({ namespace, ...(memory ? { memory } : {}) });
      process.stderr.write(`opencode-flow mcp: serving memory namespace ${namespace} over stdio\n`);
      const stop = () => void server.close();
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      await server.closed;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    });
}
