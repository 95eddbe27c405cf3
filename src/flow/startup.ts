import type { StructuredChecks } from '../../machines/structured.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { FlowInspector } from '../inspector/inspector.js';
import type { FlowStore } from '../store/store.js';
import { defaultFlowsDir, openFlowStore } from '../store/uri.js';
import { loadPresets } from '../presets/index.js';
import { parseModelRouterConfig, type ModelRouterConfigInput } from '../router/config.js';
import { ConcurrencyLimiter } from '../router/limiter.js';
import { maskPasswords } from '../echo.js';
import type { MemoryClient } from '../memory/ops.js';
import { AgentRegistry } from './agents.js';
import { checkProviders, connect, type Connection } from './connection.js';
import { startHostMemory, type HostMemory, type ToolCallRoute } from './memory-routing.js';
import { newFlowId } from './ids.js';
import type { FlowOptionsOutput } from './options.js';
import type { PlanContext } from './plan.js';
import type { RunHost } from './run.js';
import type { FlowTools } from './tools.js';
import type { HostStartPhase } from './events.js';

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
  routerConfig?: ModelRouterConfigInput | undefined;
  tools?: FlowTools | undefined;
  structured: StructuredChecks;
  route: (session: string | undefined) => ToolCallRoute;
  /** Told as the start moves on (the host's `host.starting` event). */
  onPhase?: (phase: HostStartPhase) => void;
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
    o.onPhase?.('memory');
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
    conn = await connect(opts, presets, mcp, models, o.onPhase);
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
    o.onPhase?.('ready');
    return { conn, agents, memory, ...(inspector ? { inspector } : {}) };
  } catch (e) {
    await conn?.close().catch(() => {});
    await memory?.close().catch(() => {});
    inspector?.stop();
    throw e;
  }
}

/** The host's flow store: the `store` option's backend, else files in `flowsDir` (default `.opencode-flow/flows`). */
export function hostStore(o: FlowOptionsOutput): FlowStore {
  if (o.store !== undefined && o.flowsDir !== undefined)
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      'OpencodeFlow options: give store or flowsDir, not both (flowsDir is store "file:DIR")',
    );
  return openFlowStore(o.store ?? { backend: 'file', dir: o.flowsDir ?? defaultFlowsDir(o.directory) });
}

/** What planning reads of a started host. */
export function planContextOf(
  parts: HostParts,
  options: FlowOptionsOutput,
  structured: StructuredChecks,
  routerConfig: ModelRouterConfigInput | undefined,
): PlanContext {
  return {
    options,
    catalog: parts.conn.catalog,
    agents: parts.agents,
    structured,
    ...(routerConfig ? { routerConfig } : {}),
    memory: Boolean(parts.memory.actor),
    newFlowId,
  };
}

/** The parts of a started host a run uses: connection, store, memory, inspector, events, checks. */
export function runHostOf(
  parts: HostParts,
  store: FlowStore,
  options: FlowOptionsOutput,
  structured: StructuredChecks,
  emit: (type: string, e: unknown) => void,
  limiter?: ConcurrencyLimiter,
): Omit<RunHost, 'inputs' | 'sessionOpened' | 'runEnded'> {
  const { conn, memory, inspector } = parts;
  return {
    ...(limiter ? { limiter } : {}),
    client: conn.client,
    hub: conn.hub,
    pool: conn.pool,
    serverUrl: maskPasswords(conn.server.url),
    store,
    persist: options.persist !== false,
    ...(memory.actor ? { memoryActor: memory.actor } : {}),
    ...(inspector ? { inspect: inspector.inspect } : {}),
    emit: emit as RunHost['emit'],
    checkStructured: (e) => structured.check(e.format, e.value),
  };
}

/** Routing's config (when routing) and the host's concurrency caps (when capped). */
export interface HostRouting {
  routerConfig?: ModelRouterConfigInput;
  limiter?: ConcurrencyLimiter;
}

/** The host's memory client; a clear error when memory is off or the host not started. */
export function memoryClientOf(parts: HostParts | undefined, options: FlowOptionsOutput): MemoryClient {
  const client = parts?.memory.client;
  if (client) return client;
  throw new FlowError(
    FlowErrorCode.Memory,
    options.memory === false
      ? 'memory is turned off (memory: false)'
      : 'not started: await flow.start() before using memory',
  );
}

/**
 * What the host's `modelRouter` option asks for: routing (its config, when it sets anything
 * besides `concurrency`: caps alone do not turn routing on, agents keep their models or
 * OpenCode's default), and the concurrency caps every run of the host shares.
 */
export function hostRouting(modelRouter: FlowOptionsOutput['modelRouter']): HostRouting {
  if (!modelRouter) return {};
  const cfg = parseModelRouterConfig(modelRouter);
  const { concurrency, ...routing } = modelRouter;
  return {
    ...(Object.keys(routing).length > 0 ? { routerConfig: cfg } : {}),
    ...(concurrency !== undefined && cfg.concurrency ? { limiter: new ConcurrencyLimiter(cfg.concurrency) } : {}),
  };
}

/** `run` once: a success is kept, a failure is tried again by the next call (a store fixed meanwhile). */
export function keepSuccess(run: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () =>
    (done ??= run().catch((e: unknown) => {
      done = undefined;
      throw e;
    }));
}
