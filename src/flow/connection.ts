import { FlowError, FlowErrorCode } from '../errors.js';
import { sessionPluginUrl } from '../memory/mcp/identity.js';
import { opencodePluginDepsReady } from '../opencode/plugin-deps.js';
import { OpencodeClient } from '../opencode/client.js';
import { EventHub } from '../opencode/events.js';
import { OpencodePool } from '../opencode/pool.js';
import { splitServerUrls } from '../config/server-urls.js';
import { attachOpencodeServer, startOpencodeServer, type OpencodeServer } from '../opencode/server.js';
import { toOpencodeAgentConfig, type PresetAgent } from '../presets/index.js';
import { buildCatalog, type ModelCatalog, type ProvidersAnswer } from '../router/catalog.js';
import type { FlowOptionsOutput } from './options.js';
import type { HostStartPhase } from './events.js';

/** The host's link to OpenCode: the server, the client, the event hub and what it serves. */
export interface Connection {
  /** The first (or only) server: providers, models and the host's own calls go there. */
  server: OpencodeServer;
  client: OpencodeClient;
  hub: EventHub;
  /** Every server (one, unless `serverUrl` lists several): agents' sessions are spread over them. */
  pool: OpencodePool;
  /** Every attached or started server, the first included (stopped with the connection). */
  servers: OpencodeServer[];
  /** Stop following the servers and stop an embedded one. */
  close(): Promise<void>;
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
  onPhase: (phase: HostStartPhase) => void = () => {},
): Promise<Connection> {
  let server: OpencodeServer;
  let others: OpencodeServer[] = [];
  /** Pool members that did not answer at the start: they join when they do. */
  const down = new Set<OpencodeServer>();
  if (o.serverUrl) {
    onPhase('server.attach');
    const urls = splitServerUrls(o.serverUrl);
    const endpoints = urls.map((url) => ({ url, password: o.password, username: o.username }));
    // Each member on its own: a pool starts with the live ones and keeps probing the rest.
    const attached = await Promise.allSettled(endpoints.map((ep) => attachOpencodeServer(ep)));
    const live = attached.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (live.length === 0) throw (attached[0] as PromiseRejectedResult).reason;
    const all = attached.map((r, i): OpencodeServer => {
      if (r.status === 'fulfilled') return r.value;
      const dead: OpencodeServer = {
        ...endpoints[i]!,
        url: endpoints[i]!.url.replace(/\/$/, ''),
        embedded: false,
        stop: async () => {},
      };
      down.add(dead);
      return dead;
    });
    // The first live one answers the host's own calls (providers, models).
    const first = all.find((s) => !down.has(s))!;
    [server, ...others] = [first, ...all.filter((s) => s !== first)];
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
      onPhase: (p) => onPhase(`server.${p}`),
    });
  }
  const hubs: EventHub[] = [];
  try {
    const members = [server, ...others].map((s) => {
      const c = new OpencodeClient({
        url: s.url,
        password: s.password,
        username: s.username,
        requestTimeoutMs: o.requestTimeoutMs,
      });
      return { endpoint: s, client: c, hub: new EventHub(c), ...(down.has(s) ? { alive: false } : {}) };
    });
    const live = members.filter((m) => m.alive !== false);
    const client = members[0]!.client;
    hubs.push(...members.map((m) => m.hub));
    // The project's boot first, on its own, so a caller can tell it from the providers check.
    onPhase('project');
    await client.waitForInstance();
    onPhase('providers');
    // At once, not one after the other: registering the memory tools waits on OpenCode
    // connecting back to them (about 100 ms), which is most of a warm run's start.
    const [providers] = await Promise.all([
      client.providers(),
      o.serverUrl && mcp ? Promise.all(live.map((m) => m.client.addMcp('flow', mcp))) : undefined,
      Promise.all(live.map((m) => m.hub.start())),
    ]);
    // The members that were down: their hubs keep trying; one that connects joins the pool.
    for (const m of members) if (m.alive === false) void m.hub.start();
    const models = new Set<string>();
    for (const p of providers.providers) for (const m of Object.keys(p.models)) models.add(`${p.id}/${m}`);
    const catalog = buildCatalog(providers as unknown as ProvidersAnswer, catalogModels as never);
    const pool = new OpencodePool(members);
    // A member that comes back (or joins late) gets the flow's MCP endpoint too.
    if (o.serverUrl && mcp) pool.on('back', (m) => void m.client.addMcp('flow', mcp).catch(() => {}));
    const servers = [server, ...others];
    return {
      server,
      servers,
      client,
      hub: members[0]!.hub,
      pool,
      close: async () => {
        pool.stop();
        for (const h of hubs) h.stop();
        await Promise.all(servers.map((s) => s.stop()));
      },
      models,
      providerIds: providers.providers.map((p) => p.id),
      catalog,
    };
  } catch (e) {
    for (const h of hubs) h.stop();
    await Promise.all([server, ...others].map((s) => s.stop()));
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
