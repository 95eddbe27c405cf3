import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One chat-completions request as the scripted LLM received it. */
export interface ScriptedRequest {
  /** Sequence number, from 0, in arrival order. */
  seq: number;
  /** Wall-clock time the request arrived (ms since epoch). */
  at: number;
  /** The `model` field OpenCode sent (the model id without the provider). */
  model: string;
  /** All system messages, joined with a blank line. */
  system: string;
  /** Text of the last user message. */
  lastUser: string;
  /** Every message's text content, joined: handy for "does the prompt contain X" checks. */
  allText: string;
  /** Names of the tools offered to the model. */
  tools: string[];
  /** True when this looks like OpenCode's own session-title request. */
  isTitle: boolean;
  /** Results of tool calls sent back in this request (role `tool`), in order. */
  toolResults: Array<{ toolCallId: string; content: string }>;
  /** The raw JSON body. */
  body: Record<string, unknown>;
  /** The reply chosen for it (after matching), for debugging. */
  reply?: ScriptedReply;
}

/** A tool call the scripted model makes. `arguments` objects are JSON-encoded for you. */
export interface ScriptedToolCall {
  name: string;
  arguments: Record<string, unknown> | string;
  id?: string;
}

/**
 * What the scripted model answers. Exactly one of `text`/`toolCalls` (both allowed: text
 * first), `status` (an HTTP error) or `hang` (never answers; the connection stays open).
 */
export interface ScriptedReply {
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /** Split the text into this many streamed chunks (default: about 8 characters each, at most 16). */
  chunks?: number;
  /** Wait before the first byte (ms). */
  delayMs?: number;
  /** Wait between streamed chunks (ms). */
  chunkDelayMs?: number;
  /** Token usage reported in the final chunk. Defaults are derived from text lengths. */
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  /** Answer with this HTTP status instead of a completion (e.g. 429, 500). */
  status?: number;
  /** `retry-after` header (seconds) for error statuses. Default 0 for 429. */
  retryAfter?: number;
  /** Error body message for error statuses. */
  errorMessage?: string;
  /** Never answer (until the client goes away or the server closes). */
  hang?: boolean;
  /** Cut the stream after this many chunks without finishing (simulates a dropped upstream). */
  cutAfterChunks?: number;
}

/**
 * The reply of a model that answers through OpenCode's structured output: a call of the
 * `StructuredOutput` tool OpenCode offers when a prompt asks for a `format`. OpenCode checks
 * `value` against the schema and ends the prompt with it as the message's `structured`.
 *
 * @example
 * ```ts
 * llm.script({ match: { tool: 'StructuredOutput' }, reply: structuredReply({ verdict: 'approve' }) });
 * ```
 */
export function structuredReply(value: Record<string, unknown>): ScriptedReply {
  return { toolCalls: [{ name: 'StructuredOutput', arguments: value }] };
}

/** Which requests a rule applies to. Strings match as substrings; RegExps are tested. */
export interface ScriptedMatch {
  model?: string | RegExp;
  system?: string | RegExp;
  lastUser?: string | RegExp;
  allText?: string | RegExp;
  /** Match only requests that do (true) or do not (false) offer this tool name. */
  tool?: string;
  /** Match requests carrying a tool result (the turn after a tool call). */
  hasToolResult?: boolean;
  /** Custom predicate. */
  when?: (req: ScriptedRequest) => boolean;
}

/** A scripted reply rule. Replies given as an array are used in order, the last one repeats. */
export interface ScriptedRule {
  match?: ScriptedMatch;
  reply: ScriptedReply | ScriptedReply[] | ((req: ScriptedRequest) => ScriptedReply | Promise<ScriptedReply>);
  /** Use this rule at most this many times, then skip it. */
  times?: number;
  /** A name for the rule in request logs. */
  name?: string;
}

export interface ScriptedLLMOptions {
  /** Rules, tried in order; the first match answers. More can be added with `script()`. */
  rules?: ScriptedRule[];
  /** Answer when no rule matches. Default: echo-style text naming the last user message. */
  fallback?: ScriptedReply | ((req: ScriptedRequest) => ScriptedReply);
  /** Answer OpenCode's title-generation requests automatically (default true). */
  autoTitles?: boolean;
  host?: string;
  port?: number;
}

/** A running scripted LLM. */
export interface ScriptedLLM {
  /** Base URL to put in OpenCode's provider `options.baseURL` (ends in `/v1`). */
  readonly baseURL: string;
  /** Every request received, in order (title requests included, marked `isTitle`). */
  readonly requests: ScriptedRequest[];
  /** Requests except OpenCode's title-generation calls. */
  promptRequests(): ScriptedRequest[];
  /**
   * Prompt requests (not titles) being answered right now, and the most there were at once
   * since the start (or `reset()`); `model` counts only requests for that model id.
   */
  inFlight(model?: string): { now: number; max: number };
  /** Add rules in front of (default) or behind the existing ones. */
  script(rules: ScriptedRule | ScriptedRule[], where?: 'first' | 'last'): void;
  /** Drop all rules and the request log. */
  reset(): void;
  /** Stop the server; hanging requests are ended. */
  close(): Promise<void>;
}

function test(m: string | RegExp | undefined, s: string): boolean {
  if (m === undefined) return true;
  return typeof m === 'string' ? s.includes(m) : m.test(s);
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === 'object' && 'text' in p && typeof p.text === 'string' ? p.text : ''))
      .join('');
  }
  return '';
}

function parseRequest(seq: number, body: Record<string, unknown>): ScriptedRequest {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<Record<string, unknown>>) : [];
  const system = messages
    .filter((m) => m.role === 'system')
    .map((m) => contentText(m.content))
    .join('\n\n');
  const users = messages.filter((m) => m.role === 'user');
  const lastUser = contentText(users[users.length - 1]?.content);
  const allText = messages.map((m) => contentText(m.content)).join('\n');
  const tools = Array.isArray(body.tools)
    ? (body.tools as Array<{ function?: { name?: string } }>).map((t) => t.function?.name ?? '').filter(Boolean)
    : [];
  const toolResults = messages
    .filter((m) => m.role === 'tool')
    .map((m) => ({ toolCallId: String(m.tool_call_id ?? ''), content: contentText(m.content) }));
  // OpenCode asks its small model for a session title with a dedicated system prompt
  // and no tools; those calls should not consume a test's scripted replies.
  const isTitle = tools.length === 0 && /title/i.test(system) && /generat|title/i.test(system.slice(0, 400));
  return {
    seq,
    at: Date.now(),
    model: String(body.model ?? ''),
    system,
    lastUser,
    allText,
    tools,
    isTitle,
    toolResults,
    body,
  };
}

function matches(rule: ScriptedRule, req: ScriptedRequest): boolean {
  const m = rule.match;
  if (!m) return true;
  if (!test(m.model, req.model)) return false;
  if (!test(m.system, req.system)) return false;
  if (!test(m.lastUser, req.lastUser)) return false;
  if (!test(m.allText, req.allText)) return false;
  if (m.tool !== undefined && !req.tools.includes(m.tool)) return false;
  if (m.hasToolResult !== undefined && m.hasToolResult !== req.toolResults.length > 0) return false;
  if (m.when && !m.when(req)) return false;
  return true;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function estimateTokens(s: string): number {
  return Math.max(1, Math.ceil(s.length / 4));
}

function splitText(text: string, chunks?: number): string[] {
  if (!text) return [];
  const n = Math.max(1, Math.min(text.length, chunks ?? Math.min(16, Math.ceil(text.length / 8))));
  const size = Math.ceil(text.length / n);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/**
 * Start an OpenAI-compatible chat-completions server on loopback whose answers are
 * scripted. Wire it into OpenCode with a custom provider (`npm:
 * "@ai-sdk/openai-compatible"`, `options.baseURL: llm.baseURL`) — {@link startOpencode}
 * does that for you. Only the LLM is scripted: OpenCode stays the real binary.
 *
 * @example
 * ```ts
 * const llm = await startScriptedLLM({
 *   rules: [
 *     { match: { system: 'code reviewer' }, reply: { text: 'LGTM' } },
 *     { match: { model: 'primary' }, reply: { status: 429 } },
 *   ],
 * });
 * // ... run a flow ...
 * expect(llm.promptRequests()).toHaveLength(2);
 * await llm.close();
 * ```
 */
export async function startScriptedLLM(options: ScriptedLLMOptions = {}): Promise<ScriptedLLM> {
  let rules: Array<ScriptedRule & { used: number }> = (options.rules ?? []).map((r) => ({ ...r, used: 0 }));
  const requests: ScriptedRequest[] = [];
  const open = new Set<ServerResponse>();
  /** In-flight prompt requests per model id ('' = all): now and the high-water mark. */
  const flying = new Map<string, { now: number; max: number }>();
  const fly = (model: string, d: 1 | -1) => {
    for (const k of ['', model]) {
      const f = flying.get(k) ?? { now: 0, max: 0 };
      f.now += d;
      f.max = Math.max(f.max, f.now);
      flying.set(k, f);
    }
  };
  const autoTitles = options.autoTitles ?? true;

  const pick = async (req: ScriptedRequest): Promise<ScriptedReply> => {
    if (req.isTitle && autoTitles)
      return { text: 'Scripted session', usage: { prompt_tokens: 20, completion_tokens: 3 } };
    for (const rule of rules) {
      if (rule.times !== undefined && rule.used >= rule.times) continue;
      if (!matches(rule, req)) continue;
      const i = rule.used++;
      const r = rule.reply;
      if (typeof r === 'function') return r(req);
      if (Array.isArray(r)) return r[Math.min(i, r.length - 1)] ?? {};
      return r;
    }
    const fb = options.fallback;
    if (typeof fb === 'function') return fb(req);
    return fb ?? { text: `Scripted answer to: ${req.lastUser.slice(0, 200)}` };
  };

  const handle = async (httpReq: IncomingMessage, res: ServerResponse) => {
    const url = httpReq.url ?? '/';
    if (httpReq.method === 'GET' && url.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [] }));
      return;
    }
    if (httpReq.method !== 'POST' || !url.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `scripted LLM: no route ${httpReq.method} ${url}` } }));
      return;
    }
    const raw: Buffer[] = [];
    for await (const c of httpReq) raw.push(c as Buffer);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(raw).toString('utf8')) as Record<string, unknown>;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'invalid JSON' } }));
      return;
    }
    const req = parseRequest(requests.length, body);
    requests.push(req);
    const reply = await pick(req);
    req.reply = reply;
    open.add(res);
    if (!req.isTitle) fly(req.model, 1);
    res.on('close', () => {
      open.delete(res);
      if (!req.isTitle) fly(req.model, -1);
    });
    if (reply.delayMs) await sleep(reply.delayMs);
    if (reply.hang) return; // left open until the client aborts or close() ends it
    if (reply.status && reply.status >= 400) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const ra = reply.retryAfter ?? (reply.status === 429 ? 0 : undefined);
      if (ra !== undefined) headers['retry-after'] = String(ra);
      res.writeHead(reply.status, headers);
      res.end(
        JSON.stringify({
          error: {
            message:
              reply.errorMessage ??
              (reply.status === 429 ? 'Rate limit exceeded (scripted)' : `Scripted error ${reply.status}`),
            type: reply.status === 429 ? 'rate_limit_error' : 'server_error',
            code: reply.status,
          },
        }),
      );
      return;
    }
    const stream = body.stream !== false;
    const id = `chatcmpl-${req.seq}`;
    const created = Math.floor(Date.now() / 1000);
    const text = reply.text ?? '';
    const toolCalls = (reply.toolCalls ?? []).map((t, i) => ({
      id: t.id ?? `call_${req.seq}_${i}`,
      name: t.name,
      args: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments),
    }));
    const usage = {
      prompt_tokens: reply.usage?.prompt_tokens ?? estimateTokens(req.allText),
      completion_tokens: reply.usage?.completion_tokens ?? estimateTokens(text + toolCalls.map((t) => t.args).join('')),
    };
    const finish = toolCalls.length ? 'tool_calls' : 'stop';
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model: req.model,
          choices: [
            {
              index: 0,
              finish_reason: finish,
              message: {
                role: 'assistant',
                content: text || null,
                ...(toolCalls.length
                  ? {
                      tool_calls: toolCalls.map((t) => ({
                        id: t.id,
                        type: 'function',
                        function: { name: t.name, arguments: t.args },
                      })),
                    }
                  : {}),
              },
            },
          ],
          usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (chunk: unknown) => res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    const base = { id, object: 'chat.completion.chunk', created, model: req.model };
    send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
    let sent = 0;
    for (const piece of splitText(text, reply.chunks)) {
      if (reply.cutAfterChunks !== undefined && sent >= reply.cutAfterChunks) {
        res.destroy();
        return;
      }
      if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
      if (res.destroyed) return;
      send({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
      sent++;
    }
    toolCalls.forEach((t, i) => {
      send({
        ...base,
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [{ index: i, id: t.id, type: 'function', function: { name: t.name, arguments: t.args } }],
            },
            finish_reason: null,
          },
        ],
      });
    });
    send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] });
    send({ ...base, choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } });
    res.write('data: [DONE]\n\n');
    res.end();
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `scripted LLM failure: ${String(err)}` } }));
    });
  });
  server.keepAliveTimeout = 1000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://${host}:${port}/v1`,
    requests,
    promptRequests: () => requests.filter((r) => !r.isTitle),
    script(more, where = 'first') {
      const list = (Array.isArray(more) ? more : [more]).map((r) => ({ ...r, used: 0 }));
      rules = where === 'first' ? [...list, ...rules] : [...rules, ...list];
    },
    inFlight: (model = '') => ({ ...(flying.get(model) ?? { now: 0, max: 0 }) }),
    reset() {
      rules = [];
      requests.length = 0;
      for (const f of flying.values()) f.max = f.now;
    },
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
