import { context, propagation, trace, SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { ATTR, OP, captureContent, contentOf } from './conventions.js';
import { tracer } from './tracer.js';

/** What the trace knows of one OpenCode session a run's agent works in. */
interface SessionTrace {
  /** The agent's span (its context): tool calls and requests to OpenCode for the session go under it. */
  ctx: Context;
  agent: string;
  flowId: string;
  /** OpenCode's tool parts of the session still running: tool name → their spans' contexts. */
  running: Map<string, Context[]>;
}

/**
 * OpenCode session → the span of the agent working in it. Filled by the runs' traces while
 * their agents work; read by the requests to OpenCode (`traceparent`) and by the MCP endpoint
 * (its `execute_tool` spans join the calling agent's trace through the session the plugin names).
 */
const sessions = new Map<string, SessionTrace>();

/** @internal The run's trace says which span a session's work belongs to now. */
export function bindSession(sessionID: string, s: Omit<SessionTrace, 'running'>): void {
  const had = sessions.get(sessionID);
  sessions.set(sessionID, { ...s, running: had?.running ?? new Map() });
}

/** @internal */
export function unbindSession(sessionID: string): void {
  sessions.delete(sessionID);
}

/** @internal An OpenCode tool part of `sessionID` started (`ctx`, its span) or ended (`ctx` omitted). */
export function toolRunning(sessionID: string, tool: string, ctx: Context, running: boolean): void {
  const s = sessions.get(sessionID);
  if (!s) return;
  const list = s.running.get(tool) ?? [];
  if (running) list.push(ctx);
  else {
    const i = list.indexOf(ctx);
    if (i >= 0) list.splice(i, 1);
  }
  if (list.length) s.running.set(tool, list);
  else s.running.delete(tool);
}

const SESSION_IN_PATH = /\/session\/(ses_[A-Za-z0-9]+)/;

/**
 * Adds `traceparent` (and `tracestate`, baggage: whatever the registered propagator writes) to
 * a request to OpenCode: the context of the agent whose session the URL names, else the active
 * one. Without a registered propagator this writes nothing.
 */
export function injectTraceHeaders(url: string, headers: Headers): void {
  let ctx: Context | undefined;
  if (sessions.size > 0) {
    const m = SESSION_IN_PATH.exec(url);
    if (m) ctx = sessions.get(m[1]!)?.ctx;
  }
  ctx ??= context.active();
  if (!trace.getSpanContext(ctx)) return;
  propagation.inject(ctx, headers, {
    set: (carrier, key, value) => carrier.set(key, value),
  });
}

/** One call of the flow's MCP endpoint, as its server sees it. */
export interface McpToolCall {
  /** The tool as registered (`memory_get`, an app tool's name); OpenCode shows it as `flow_<tool>`. */
  tool: string;
  /** The OpenCode session that called it, when the session plugin named it. */
  session?: string;
  args?: unknown;
}

/**
 * An `execute_tool {tool}` span for one call of the flow's MCP endpoint (memory and the app's
 * tools), under the OpenCode tool part that made it when one is running in the calling session,
 * else under the calling agent's span. Calls from no session a run knows make no span.
 * Returns the function that ends it.
 */
export function traceMcpToolCall(
  call: McpToolCall,
): ((outcome: { error?: string; result?: unknown }) => void) | undefined {
  const s = call.session ? sessions.get(call.session) : undefined;
  if (!s) return undefined;
  const parent = s.running.get(`flow_${call.tool}`)?.[0] ?? s.ctx;
  const content = captureContent();
  const span: Span = tracer().startSpan(
    `${OP.tool} ${call.tool}`,
    {
      kind: SpanKind.INTERNAL,
      attributes: {
        [ATTR.operationName]: OP.tool,
        [ATTR.toolName]: call.tool,
        [ATTR.toolType]: 'extension',
        [ATTR.agentName]: s.agent,
        [ATTR.flowId]: s.flowId,
        [ATTR.mcpSide]: 'mcp_server',
        ...(content && call.args !== undefined ? { [ATTR.toolArguments]: contentOf(call.args) } : {}),
      },
    },
    parent,
  );
  return ({ error, result }) => {
    if (error !== undefined) {
      span.setAttribute(ATTR.errorType, 'tool_error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    }
    if (content && result !== undefined) span.setAttribute(ATTR.toolResult, contentOf(result));
    span.end();
  };
}

/**
 * The trace context an incoming request carries (`traceparent`, through the registered
 * propagator), over the active one: `serve` runs a `POST /flows` under it, so a client's trace
 * continues into the flow's. Without a propagator this is the active context unchanged.
 */
export function withIncomingTrace<T>(headers: Headers, fn: () => T): T {
  if (!headers.has('traceparent')) return fn();
  const ctx = propagation.extract(context.active(), headers, {
    get: (carrier, key) => carrier.get(key) ?? undefined,
    keys: (carrier) => {
      const names: string[] = [];
      carrier.forEach((_, k) => names.push(k));
      return names;
    },
  });
  return context.with(ctx, fn);
}
