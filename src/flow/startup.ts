import type { StructuredChecks } from '../../machines/structured.js';
import type { FlowInspector } from '../inspector/inspector.js';
import { loadPresets } from '../presets/index.js';
import type { ModelRouterConfigInput } from '../router/config.js';
import { AgentRegistry } from './agents.js';
import { checkProviders, connect, type Connection } from './connection.js';
import { startHostMemory, type HostMemory, type ToolCallRoute } from './memory-routing.js';
import type { FlowOptionsOutput } from './options.js';
import type { FlowTools } from './tools.js';

/** What a started host holds: its connection, agents, memory (with the MCP endpoint) and inspector. */
export interface HostParts {
  conn: Connection;
  agents: AgentRegistry;
  memory: HostMemory;
  inspector?: FlowInspector;
}

/**
 * Start a host's parts in order: presets, the inspector (when asked for), memory and the MCP
 * endpoint, the OpenCode connection (embedded or remote, the endpoint registered), the agent
 * registry, and the provider check. What was started is stopped again when a later step fails.
 */
export async function startHostParts(o: {
  options: FlowOptionsOutput;
  hostId: string;
  routerConfig?: ModelRouterConfigInput;
  tools?: FlowTools;
  structured: StructuredChecks;
  route: (session: string | undefined) => ToolCallRoute;
}): Promise<HostParts> {
  const opts = o.options;
  const presets = await loadPresets({ cwd: opts.directory, extraDirs: opts.agentDirs });
  let inspector: FlowInspector | undefined;
  let memory: HostMemory | undefined;
  let conn: Connection | undefined;
  try {
    if (opts.inspect) {
      // Loaded only when asked for: the inspector brings @statelyai/inspect, superjson and ws.
      const { startFlowInspector } = await import('../inspector/inspector.js');
      inspector = await startFlowInspector(opts.inspect === true ? {} : opts.inspect);
    }
    memory = await startHostMemory({
      config: opts.memory,
      cwd: opts.directory,
      hostId: o.hostId,
      ...(o.tools ? { tools: o.tools } : {}),
      ...(inspector ? { inspect: inspector.inspect } : {}),
      route: o.route,
    });
    const models = (o.routerConfig as { models?: unknown } | undefined)?.models;
    const mcp = memory.mcp?.opencodeConfig() as unknown as Record<string, unknown> | undefined;
    conn = await connect(opts, presets, mcp, models);
    const agents = new AgentRegistry({
      presets,
      models: conn.models,
      remote: Boolean(opts.serverUrl),
      inputPolicy: opts.inputPolicy as never,
      structured: o.structured,
      flowTools: o.tools?.names(),
    });
    if (!opts.skipProviderCheck)
      checkProviders(
        conn.providerIds,
        [opts.model].filter((m): m is string => Boolean(m)),
      );
    return { conn, agents, memory, ...(inspector ? { inspector } : {}) };
  } catch (e) {
    await conn?.close().catch(() => {});
    await memory?.close().catch(() => {});
    inspector?.stop();
    throw e;
  }
}
