import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { createMemoryClient, withMemoryBackend, type memoryMachine } from '../../machines/memory.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import type { MemoryBackend } from '../memory/backend.js';
import { createMemoryBackend } from '../memory/config.js';
import { callerSession } from '../memory/mcp/identity.js';
import { startMemoryMcpHttp, type MemoryMcpHttpServer } from '../memory/mcp/http.js';
import { flowNamespace } from '../memory/namespace.js';
import type { MemoryClient } from '../memory/ops.js';
import { traceMcpToolCall } from '../telemetry/sessions.js';
import type { SessionCaller } from './run.js';
import type { FlowTools } from './tools.js';

/** Where a tool call of the flow's MCP endpoint belongs: its run (and agent), or the host itself. */
export interface ToolCallRoute {
  /** The run the call belongs to; absent: the host's own namespace. */
  caller?: SessionCaller | { flowId: string };
  /** The memory namespace the call works in, `flow:<id>`. */
  namespace: string;
  /** Set when the call cannot be placed (several runs, no session named): why. Memory refuses such a call. */
  unplaced?: string;
}

/**
 * The one rule that sends an agent's tool call (memory or the app's own tools) to its run.
 * OpenCode's MCP client does not say which session called; the project's OpenCode plugin adds
 * it (`callerSession`). A session a run opened → that run. No session named and one run going
 * → that run. No session named and several runs going → `unplaced` (memory refuses it; an app
 * tool runs without a run). A session no run opened → the host's own namespace.
 *
 * @example
 * ```ts
 * routeToolCall({ session: 'ses_1', sessions, runs: ['flow_a'], hostId: 'flow_h' }); // { caller, namespace: 'flow:flow_a' }
 * ```
 */
export function routeToolCall(o: {
  session: string | undefined;
  sessions: ReadonlyMap<string, SessionCaller>;
  /** Ids of the runs going now. */
  runs: readonly string[];
  hostId: string;
}): ToolCallRoute {
  if (o.session) {
    const caller = o.sessions.get(o.session);
    return caller ? { caller, namespace: flowNamespace(caller.flowId) } : { namespace: flowNamespace(o.hostId) };
  }
  if (o.runs.length > 1) {
    return {
      namespace: flowNamespace(o.hostId),
      unplaced:
        'cannot tell which flow this call belongs to (the OpenCode server does not name the session: add the opencode-flow session plugin to its config, see the README) — several flows are running',
    };
  }
  const only = o.runs[0];
  return only ? { caller: { flowId: only }, namespace: flowNamespace(only) } : { namespace: flowNamespace(o.hostId) };
}

/** A host's memory: the backend, the one memory actor (single writer) and the MCP endpoint agents reach it through. */
export interface HostMemory {
  backend?: MemoryBackend;
  actor?: Actor<typeof memoryMachine>;
  /** The host's own client (`flow.memory`). */
  client?: MemoryClient;
  mcp?: MemoryMcpHttpServer;
  close(): Promise<void>;
}

/**
 * Start the host's memory and its MCP endpoint (memory tools and the app's tools). Each
 * memory tool call is placed by `route` (the host's {@link routeToolCall}) and becomes an event
 * of the same memory actor, in its run's namespace. With `memory: false` only the app's tools
 * are served, when there are any.
 */
export async function startHostMemory(o: {
  config: unknown;
  cwd?: string;
  hostId: string;
  tools?: FlowTools;
  inspect?: Observer<InspectionEvent>;
  route: (session: string | undefined) => ToolCallRoute;
}): Promise<HostMemory> {
  if (o.config === false) {
    const mcp = o.tools
      ? await startMemoryMcpHttp({ register: o.tools.register, onToolCall: traceMcpToolCall })
      : undefined;
    return { ...(mcp ? { mcp } : {}), close: async () => mcp?.close() };
  }
  const backend = await createMemoryBackend(o.config as never, { cwd: o.cwd });
  const namespace = flowNamespace(o.hostId);
  const actor = createActor(withMemoryBackend(backend), {
    id: 'memory',
    input: { namespace },
    ...(o.inspect ? { inspect: o.inspect } : {}),
  });
  actor.start();
  const agents = createMemoryClient(actor, { by: 'agent' });
  const mcp = await startMemoryMcpHttp({
    ops: agents,
    namespace,
    route: (extra) => {
      const r = o.route(callerSession(extra));
      if (r.unplaced) throw new FlowError(FlowErrorCode.Memory, r.unplaced);
      const flowId = r.caller?.flowId;
      if (!flowId) return { ops: agents, namespace: r.namespace };
      const scoped = (opts?: { shared?: boolean; by?: string }) => ({ ...opts, flowId });
      return {
        namespace: r.namespace,
        ops: {
          get: (k, x) => agents.get(k, scoped(x)),
          set: (k, v, x) => agents.set(k, v, { ...x, ...scoped(x) }),
          delete: (k, x) => agents.delete(k, { ...x, ...scoped(x) }),
          list: (p, x) => agents.list(p, scoped(x)),
          cas: (k, e, n, x) => agents.cas(k, e, n, { ...x, ...scoped(x) }),
          incr: (k, a, x) => agents.incr(k, a, { ...x, ...scoped(x) }),
        } satisfies MemoryClient extends infer C ? Omit<C, 'watch'> : never,
      };
    },
    ...(o.tools ? { register: o.tools.register } : {}),
    // Each call an `execute_tool` span in its run's trace (src/telemetry), under the calling agent.
    onToolCall: traceMcpToolCall,
  });
  return {
    backend,
    actor,
    client: createMemoryClient(actor, { by: 'flow' }),
    mcp,
    async close() {
      await mcp.close();
      actor.stop();
      await backend.close();
    },
  };
}
