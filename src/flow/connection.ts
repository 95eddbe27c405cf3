import { FlowError, FlowErrorCode } from '../errors.js';
import { sessionPluginUrl } from '../memory/mcp/identity.js';
import { opencodePluginDepsReady } from '../opencode/plugin-deps.js';
import { OpencodeClient } from '../opencode/client.js';
import { EventHub } from '../opencode/events.js';
import { attachOpencodeServer, startOpencodeServer, type OpencodeServer } from '../opencode/server.js';
import { toOpencodeAgentConfig, type PresetAgent } from '../presets/index.js';
import { buildCatalog, type ModelCatalog, type ProvidersAnswer } from '../router/catalog.js';
import type { FlowOptionsOutput } from './options.js';

/** The host's link to OpenCode: the server, the client, the event hub and what it serves. */
export interface Connection {
  server: OpencodeServer;
  client: OpencodeClient;
  hub: EventHub;
  /** `provider/model` ids the server serves. */
  models: Set<string>;
  providerIds: string[];
  catalog: ModelCatalog;
}

/**
 * Connect to OpenCode: attach to `serverUrl`, or start an embedded `opencode serve` with
 * the presets as OpenCode agents, the flow's MCP endpoint and the session plugin
 * (`opencode-plugin.js`, when OpenCode's plugin package is installed) in its config. On a remote server the MCP endpoint is registered live (a running server does not
 * pick config changes up).
 */
export async function connect(
  o: FlowOptionsOutput,
  presets: Map<string, PresetAgent>,
  mcp: Record<string, unknown> | undefined,
  catalogModels: unknown,
): Promise<Connection> {
  let server: OpencodeServer;
  if (o.serverUrl) {
    server = await attachOpencodeServer({ url: o.serverUrl, password: o.password, username: o.username });
  } else {
    const agentConfig = Object.fromEntries([...presets.values()].map((p) => [p.name, toOpencodeAgentConfig(p)]));
    const extra = o.opencodeConfig ?? {};
    const plugins = Array.isArray(extra.plugin) ? (extra.plugin as string[]) : [];
    // The session plugin (memory per run) only where OpenCode need not npm-install first.
    const withPlugin = mcp !== undefined && opencodePluginDepsReady({ ...process.env, ...o.serverEnv });
    server = await startOpencodeServer({
      cwd: o.directory,
      env: o.serverEnv,
      config: {
        ...extra,
        agent: { ...agentConfig, ...(extra.agent as object | undefined) },
        ...(mcp ? { mcp: { ...(extra.mcp as object | undefined), flow: mcp } } : {}),
        ...(withPlugin ? { plugin: [...plugins, sessionPluginUrl()] } : {}),
      },
    });
  }
  try {
    const client = new OpencodeClient({
      url: server.url,
      password: server.password,
      username: server.username,
      requestTimeoutMs: o.requestTimeoutMs,
    });
    if (o.serverUrl && mcp) await client.addMcp('flow', mcp);
    const providers = await client.providers();
    const models = new Set<string>();
    for (const p of providers.providers) for (const m of Object.keys(p.models)) models.add(`${p.id}/${m}`);
    const catalog = buildCatalog(providers as unknown as ProvidersAnswer, catalogModels as never);
    const hub = new EventHub(client);
    await hub.start();
    return { server, client, hub, models, providerIds: providers.providers.map((p) => p.id), catalog };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

/**
 * With no credentials OpenCode only offers its built-in `opencode` provider, whose free
 * models need the internet: say how to configure a provider instead of hanging.
 */
export function checkProviders(providerIds: string[], explicitModels: string[]): void {
  const real = providerIds.filter((id) => id !== 'opencode');
  if (real.length === 0 && !explicitModels.some((m) => m.startsWith('opencode/'))) {
    throw new FlowError(
      FlowErrorCode.NoProvider,
      'no model provider is configured for OpenCode: run `opencode auth login` or set a provider key (e.g. ANTHROPIC_API_KEY, OPENAI_API_KEY), ' +
        'or pass --server URL of a configured OpenCode server; `opencode-flow demo` runs a flow with a scripted model',
    );
  }
}
