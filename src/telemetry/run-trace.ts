import {
  context,
  isSpanContextValid,
  trace,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import { ATTR, EVENT, OP, captureContent, contentOf, serverOf, splitModel } from './conventions.js';
import { bindSession, toolRunning, unbindSession } from './sessions.js';
import { genAiMetrics, tracer } from './tracer.js';

/** The OpenCode events a run's trace reads (the `@opencode-ai/sdk` event, loosely). */
interface OcEvent {
  type: string;
  properties?: Record<string, unknown>;
}

/** Where a session lives: its server's URL and event hub. */
export interface TracedServer {
  url: string;
  hub: { onSession(sessionID: string, fn: (e: OcEvent) => void): () => void };
}

/** What a run tells its trace besides its events. */
export interface RunTraceOptions {
  flowId: string;
  /** `gen_ai.workflow.name`: the built-in mode, or a custom machine's id. */
  name: string;
  /** The built-in mode, or `custom`. */
  mode: string;
  /** The server a session is on (a pool member), once the session exists. */
  serverOf(sessionID: string): TracedServer | undefined;
  /**
   * The `traceparent` of the run this one continues (a resume, a replica's takeover after a
   * crash): the new `invoke_workflow` span links to it. Its trace is the caller's, as always.
   */
  continues?: string;
}

/** The parts of an agent's result a span reads (`AgentResult`). */
interface ResultLike {
  agent: string;
  sessionID: string;
  model: string;
  status: 'done' | 'failed';
  cost: number;
  tokens: { input: number; output: number };
  attempts: Array<{ model: string; error?: string; errorKind?: string }>;
  error?: string;
  retries?: number;
  startedAt: number;
  finishedAt: number;
}

interface Tokens {
  input: number;
  output: number;
  reasoning: number;
  cacheRead: number;
  cacheWrite: number;
}

/** One agent's span: one task, from its session (or its prompt) to its result. */
interface AgentSpan {
  span: Span;
  ctx: Context;
  agent: string;
  sessionID?: string;
  server?: { address?: string; port?: number };
  requestModel?: string;
  provider?: string;
  startedAt: number;
  /** OpenCode's assistant messages of the task: id → tokens (last seen). */
  messages: Map<string, Tokens>;
  /** OpenCode tool parts running: part id → span. */
  tools: Map<string, { span: Span; ctx: Context; tool: string }>;
}

const TOOL_SPAN_DONE = new Set(['completed', 'error']);

/**
 * One run as a trace: `invoke_workflow {name}` for the run, under the context that was active
 * when the run was made (the embedding application's span); `invoke_agent {agent}` for each
 * agent's task, under its parent agent's span when its session has a parent session
 * (hierarchical and nested flows), else under the run's; `execute_tool {tool}` for every tool
 * part OpenCode reports for an agent's session. Fallbacks, OpenCode's retries, the supervisor's
 * task retries, budget stops, permission requests and answers are span events.
 *
 * Built from the run's own events (`observe`, every event the run emits) and its sessions'
 * OpenCode events: the run itself knows nothing of spans. {@link traceRun} gives none when no
 * tracer provider is registered (the span would not record), so an untraced run pays one
 * `startSpan` of the API's no-op tracer and nothing per event.
 */
export class RunTrace {
  readonly #o: RunTraceOptions;
  readonly #parent: Context;
  readonly #tracer = tracer();
  #workflow?: { span: Span; ctx: Context };
  /** Open agent spans, by agent name. */
  readonly #agents = new Map<string, AgentSpan>();
  /** Every session seen: id → the span context of the agent's (last) task in it, its parent session. */
  readonly #sessions = new Map<string, { agent: string; ctx: Context; parentSessionID?: string }>();
  /** Agent → the last model its state named, and its session's parent. */
  readonly #models = new Map<string, string>();
  readonly #unsubscribe: Array<() => void> = [];
  #ended = false;

  constructor(o: RunTraceOptions, parent: Context, workflow: Span) {
    this.#o = o;
    this.#parent = parent;
    this.#workflow = { span: workflow, ctx: trace.setSpan(parent, workflow) };
  }

  /** The W3C `traceparent` of the run's `invoke_workflow` span (stored with the run: see `continues`). */
  get traceparent(): string | undefined {
    const c = this.#workflow?.span.spanContext();
    return c ? `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, '0')}` : undefined;
  }

  /** Every event the run emits, as it emits it. */
  observe(type: string, e: unknown): void {
    if (this.#ended) return;
    switch (type) {
      case 'flow.started': {
        const f = e as { maxCost?: number };
        if (f.maxCost !== undefined) this.#workflow?.span.setAttribute(ATTR.maxCostUsd, f.maxCost);
        return;
      }
      case 'agent.state': {
        const s = e as { agent: string; state: string; model: string; sessionID?: string };
        if (s.model) this.#models.set(s.agent, s.model);
        // A later task in a session the agent has: a new span for it.
        if (s.sessionID && s.state === 'prompting' && !this.#agents.has(s.agent)) {
          const known = this.#sessions.get(s.sessionID);
          this.#openAgent(s.agent, s.sessionID, known?.parentSessionID);
        }
        return;
      }
      case 'agent.fallback': {
        const f = e as { agent: string; from: string; to: string; reason: string };
        this.#agents.get(f.agent)?.span.addEvent(EVENT.fallback, {
          'opencode_flow.from': f.from,
          'opencode_flow.to': f.to,
          'opencode_flow.reason': f.reason,
        });
        return;
      }
      case 'agent.input_required': {
        const r = e as {
          agent: string;
          request: { kind: string; id: string; permission?: string; patterns?: string[] };
        };
        this.#agents.get(r.agent)?.span.addEvent(EVENT.inputRequired, {
          'opencode_flow.input.kind': r.request.kind,
          'opencode_flow.input.id': r.request.id,
          ...(r.request.permission ? { 'opencode_flow.permission': r.request.permission } : {}),
          ...(r.request.patterns ? { 'opencode_flow.permission.patterns': r.request.patterns } : {}),
        });
        return;
      }
      case 'agent.input_answered': {
        const r = e as {
          agent: string;
          record: { request: { id: string; kind: string }; answer: unknown; by: string };
        };
        const answer = r.record.answer as { reply?: string };
        this.#agents.get(r.agent)?.span.addEvent(EVENT.inputAnswered, {
          'opencode_flow.input.kind': r.record.request.kind,
          'opencode_flow.input.id': r.record.request.id,
          'opencode_flow.input.by': r.record.by,
          ...(answer.reply ? { 'opencode_flow.input.reply': answer.reply } : {}),
        });
        return;
      }
      case 'agent.done':
      case 'agent.failed': {
        const d = e as { agent: string; result: ResultLike; error?: string };
        return this.#agentEnded(d.result, d.error);
      }
      case 'flow.done':
        return this.end(e as { status: string; cost: { total: number }; reason?: string });
    }
  }

  /** An agent opened an OpenCode session (its first task, or a new session after its server was lost). */
  session(sessionID: string, agent: string, parentSessionID?: string): void {
    if (this.#ended) return;
    const open = this.#agents.get(agent);
    if (open) {
      // The agent's server was lost: its task starts again in a new session, maybe on another
      // server. The first span ends there, the second shows the new server.
      open.span.addEvent(EVENT.sessionLost, { [ATTR.conversationId]: open.sessionID ?? '' });
      this.#closeAgent(open, { errorType: 'session_lost', message: 'the OpenCode server holding the session is gone' });
    }
    this.#openAgent(agent, sessionID, parentSessionID);
  }

  /** The run is being stopped (first call wins in the run): a cancel, a timeout, the budget. */
  stopping(status: string, reason: string): void {
    const w = this.#workflow;
    if (!w || this.#ended) return;
    if (status === 'budget_exceeded') w.span.addEvent(EVENT.budgetExceeded, { 'opencode_flow.reason': reason });
    else w.span.addEvent(EVENT.stop, { [ATTR.status]: status, 'opencode_flow.reason': reason });
  }

  /**
   * The run ended: with its report, or without one (detached, or it failed to start: `error`).
   * Open agent and tool spans end with it.
   */
  end(report?: { status: string; cost: { total: number }; reason?: string }, error?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const status = report?.status ?? (error ? 'failed' : 'detached');
    for (const a of this.#agents.values())
      this.#closeAgent(a, { errorType: status === 'completed' ? '_OTHER' : status, message: `run ${status}` });
    this.#agents.clear();
    for (const off of this.#unsubscribe.splice(0)) off();
    for (const sid of this.#sessions.keys()) unbindSession(sid);
    const w = this.#workflow;
    if (!w) return;
    w.span.setAttribute(ATTR.status, status);
    if (report) w.span.setAttribute(ATTR.costUsd, report.cost.total);
    if (status !== 'completed' && status !== 'detached') {
      w.span.setAttribute(ATTR.errorType, status);
      w.span.setStatus({ code: SpanStatusCode.ERROR, message: report?.reason ?? error ?? status });
    }
    w.span.end();
  }

  #openAgent(agent: string, sessionID: string, parentSessionID?: string) {
    const parent =
      (parentSessionID ? this.#sessions.get(parentSessionID)?.ctx : undefined) ?? this.#workflow?.ctx ?? this.#parent;
    const server = this.#o.serverOf(sessionID);
    const where = serverOf(server?.url);
    const model = this.#models.get(agent);
    const { provider, model: requestModel } = splitModel(model);
    const attributes: Attributes = {
      [ATTR.operationName]: OP.agent,
      [ATTR.agentName]: agent,
      [ATTR.agentId]: `${this.#o.flowId}/${agent}`,
      [ATTR.conversationId]: sessionID,
      [ATTR.flowId]: this.#o.flowId,
      ...(provider ? { [ATTR.providerName]: provider } : {}),
      ...(requestModel ? { [ATTR.requestModel]: requestModel } : {}),
      ...(where.address ? { [ATTR.serverAddress]: where.address, [ATTR.serverPort]: where.port } : {}),
    };
    const span = this.#tracer.startSpan(`${OP.agent} ${agent}`, { kind: SpanKind.CLIENT, attributes }, parent);
    const ctx = trace.setSpan(parent, span);
    const a: AgentSpan = {
      span,
      ctx,
      agent,
      sessionID,
      server: where,
      ...(requestModel ? { requestModel } : {}),
      ...(provider ? { provider } : {}),
      startedAt: Date.now(),
      messages: new Map(),
      tools: new Map(),
    };
    this.#agents.set(agent, a);
    const known = this.#sessions.get(sessionID);
    this.#sessions.set(sessionID, { agent, ctx, ...(parentSessionID ? { parentSessionID } : {}) });
    bindSession(sessionID, { ctx, agent, flowId: this.#o.flowId });
    if (!known && server)
      this.#unsubscribe.push(server.hub.onSession(sessionID, (ev) => this.#opencode(sessionID, ev)));
  }

  /** The agent span working in `sessionID` now. */
  #agentIn(sessionID: string): AgentSpan | undefined {
    const s = this.#sessions.get(sessionID);
    const a = s ? this.#agents.get(s.agent) : undefined;
    return a?.sessionID === sessionID ? a : undefined;
  }

  /** An OpenCode event of one of the run's sessions: tool parts, message tokens, provider retries. */
  #opencode(sessionID: string, e: OcEvent) {
    if (this.#ended) return;
    const a = this.#agentIn(sessionID);
    if (!a) return;
    const p = e.properties ?? {};
    if (e.type === 'message.part.updated') {
      const part = p.part as
        | {
            type: string;
            id: string;
            callID: string;
            tool: string;
            state: {
              status: string;
              input?: unknown;
              output?: string;
              error?: string;
              time?: { start?: number; end?: number };
            };
          }
        | undefined;
      if (part?.type === 'tool') this.#toolPart(a, part);
    } else if (e.type === 'message.updated') {
      const info = p.info as
        | {
            id: string;
            role: string;
            tokens?: { input: number; output: number; reasoning?: number; cache?: { read: number; write: number } };
          }
        | undefined;
      if (info?.role === 'assistant' && info.tokens)
        a.messages.set(info.id, {
          input: info.tokens.input,
          output: info.tokens.output,
          reasoning: info.tokens.reasoning ?? 0,
          cacheRead: info.tokens.cache?.read ?? 0,
          cacheWrite: info.tokens.cache?.write ?? 0,
        });
    } else if (e.type === 'session.status') {
      const st = p.status as { type: string; attempt?: number; message?: string } | undefined;
      if (st?.type === 'retry')
        a.span.addEvent(EVENT.retry, {
          'opencode_flow.attempt': st.attempt ?? 0,
          'opencode_flow.reason': st.message ?? '',
        });
    }
  }

  #toolPart(
    a: AgentSpan,
    part: {
      id: string;
      callID: string;
      tool: string;
      state: {
        status: string;
        input?: unknown;
        output?: string;
        error?: string;
        time?: { start?: number; end?: number };
      };
    },
  ) {
    let t = a.tools.get(part.id);
    if (!t) {
      const span = this.#tracer.startSpan(
        `${OP.tool} ${part.tool}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: part.state.time?.start ?? Date.now(),
          attributes: {
            [ATTR.operationName]: OP.tool,
            [ATTR.toolName]: part.tool,
            [ATTR.toolCallId]: part.callID,
            // The flow's MCP tools (`flow_*`) are an extension OpenCode calls; its own tools are functions it runs.
            [ATTR.toolType]: part.tool.startsWith('flow_') ? 'extension' : 'function',
            [ATTR.agentName]: a.agent,
            [ATTR.conversationId]: a.sessionID ?? '',
          },
        },
        a.ctx,
      );
      t = { span, ctx: trace.setSpan(a.ctx, span), tool: part.tool };
      a.tools.set(part.id, t);
      if (a.sessionID) toolRunning(a.sessionID, part.tool, t.ctx, true);
    }
    if (!TOOL_SPAN_DONE.has(part.state.status)) return;
    a.tools.delete(part.id);
    if (a.sessionID) toolRunning(a.sessionID, part.tool, t.ctx, false);
    if (captureContent()) {
      if (part.state.input !== undefined) t.span.setAttribute(ATTR.toolArguments, contentOf(part.state.input));
      if (part.state.output !== undefined) t.span.setAttribute(ATTR.toolResult, contentOf(part.state.output));
    }
    if (part.state.status === 'error') {
      t.span.setAttribute(ATTR.errorType, 'tool_error');
      t.span.setStatus({ code: SpanStatusCode.ERROR, message: part.state.error ?? 'tool failed' });
    }
    t.span.end(part.state.time?.end ?? Date.now());
  }

  #agentEnded(r: ResultLike, error?: string) {
    let a = this.#agents.get(r.agent);
    if (!a) {
      // Failed before any session (or the trace missed its start): a span for the whole task.
      const parent = this.#workflow?.ctx ?? this.#parent;
      const { provider, model } = splitModel(this.#models.get(r.agent) ?? r.attempts[0]?.model ?? r.model);
      const span = this.#tracer.startSpan(
        `${OP.agent} ${r.agent}`,
        {
          kind: SpanKind.CLIENT,
          startTime: r.startedAt,
          attributes: {
            [ATTR.operationName]: OP.agent,
            [ATTR.agentName]: r.agent,
            [ATTR.agentId]: `${this.#o.flowId}/${r.agent}`,
            [ATTR.flowId]: this.#o.flowId,
            ...(r.sessionID ? { [ATTR.conversationId]: r.sessionID } : {}),
            ...(provider ? { [ATTR.providerName]: provider } : {}),
            ...(model ? { [ATTR.requestModel]: model } : {}),
          },
        },
        parent,
      );
      a = {
        span,
        ctx: trace.setSpan(parent, span),
        agent: r.agent,
        startedAt: r.startedAt,
        messages: new Map(),
        tools: new Map(),
        ...(provider ? { provider } : {}),
        ...(model ? { requestModel: model } : {}),
      };
    }
    const { model: responseModel } = splitModel(r.model);
    if (responseModel) a.span.setAttribute(ATTR.responseModel, responseModel);
    const t = this.#tokens(a, r);
    a.span.setAttributes({
      [ATTR.inputTokens]: t.input,
      [ATTR.outputTokens]: t.output,
      ...(t.cacheRead ? { [ATTR.cacheReadTokens]: t.cacheRead } : {}),
      ...(t.cacheWrite ? { [ATTR.cacheCreationTokens]: t.cacheWrite } : {}),
      ...(t.reasoning ? { [ATTR.reasoningTokens]: t.reasoning } : {}),
      [ATTR.costUsd]: r.cost,
      [ATTR.status]: r.status,
      ...(r.retries ? { [ATTR.retries]: r.retries } : {}),
    });
    const failed = r.status === 'failed';
    const errorType = failed ? (r.attempts.at(-1)?.errorKind ?? '_OTHER') : undefined;
    this.#closeAgent(a, failed ? { errorType: errorType!, message: error ?? r.error ?? 'failed' } : undefined);
    this.#record(a, t, errorType, r.finishedAt - r.startedAt);
  }

  /** Input tokens as the conventions count them (cache reads and writes included), from OpenCode's messages when it reported any. */
  #tokens(a: AgentSpan, r: ResultLike): Tokens {
    if (a.messages.size === 0)
      return { input: r.tokens.input, output: r.tokens.output, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
    const t: Tokens = { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
    for (const m of a.messages.values()) {
      t.input += m.input + m.cacheRead + m.cacheWrite;
      t.output += m.output;
      t.reasoning += m.reasoning;
      t.cacheRead += m.cacheRead;
      t.cacheWrite += m.cacheWrite;
    }
    return t;
  }

  #record(a: AgentSpan, t: Tokens, errorType: string | undefined, ms: number) {
    const m = genAiMetrics();
    const attrs: Attributes = {
      [ATTR.operationName]: OP.agent,
      ...(a.provider ? { [ATTR.providerName]: a.provider } : {}),
      ...(a.requestModel ? { [ATTR.requestModel]: a.requestModel } : {}),
      ...(a.server?.address ? { [ATTR.serverAddress]: a.server.address, [ATTR.serverPort]: a.server.port } : {}),
      ...(errorType ? { [ATTR.errorType]: errorType } : {}),
    };
    m.duration.record(Math.max(0, ms) / 1000, attrs);
    m.tokens.record(t.input, { ...attrs, [ATTR.tokenType]: 'input' });
    m.tokens.record(t.output, { ...attrs, [ATTR.tokenType]: 'output' });
  }

  #closeAgent(a: AgentSpan, failure?: { errorType: string; message: string }) {
    for (const t of a.tools.values()) {
      if (a.sessionID) toolRunning(a.sessionID, t.tool, t.ctx, false);
      t.span.setAttribute(ATTR.errorType, 'aborted');
      t.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the agent stopped before the tool finished' });
      t.span.end();
    }
    a.tools.clear();
    if (failure) {
      a.span.setAttribute(ATTR.errorType, failure.errorType);
      a.span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
    }
    a.span.end();
    if (this.#agents.get(a.agent) === a) this.#agents.delete(a.agent);
  }
}

/**
 * The trace of a run about to start: its `invoke_workflow` span starts now, under the context
 * active now (the caller's span). None when that span does not record (no tracer provider
 * registered, or not sampled), so an untraced run pays one no-op `startSpan` and nothing per event.
 */
export function traceRun(o: RunTraceOptions): RunTrace | undefined {
  const parent = context.active();
  const earlier = o.continues ? spanContextOf(o.continues) : undefined;
  const span = tracer().startSpan(
    `${OP.workflow} ${o.name}`,
    {
      kind: SpanKind.INTERNAL,
      ...(earlier ? { links: [{ context: earlier, attributes: { [ATTR.linkKind]: 'continues' } }] } : {}),
      attributes: {
        [ATTR.operationName]: OP.workflow,
        [ATTR.workflowName]: o.name,
        [ATTR.flowId]: o.flowId,
        [ATTR.flowMode]: o.mode,
      },
    },
    parent,
  );
  if (!span.isRecording()) return undefined;
  return new RunTrace(o, parent, span);
}

/** A W3C `traceparent` (version 00) as a span context; undefined when it is not one. */
export function spanContextOf(traceparent: string): SpanContext | undefined {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent);
  if (!m) return undefined;
  const c: SpanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true };
  return isSpanContextValid(c) ? c : undefined;
}
