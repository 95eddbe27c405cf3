import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/** Options of {@link JsonHttpServerTransport}. */
export interface JsonHttpServerTransportOptions {
  /** Makes the session id handed out on `initialize`. */
  sessionIdGenerator: () => string;
  /** Called once the session has its id (before the `initialize` answer is sent). */
  onsessioninitialized?: (sessionId: string) => void;
}

/** The HTTP answer waiting for the responses to one POST's requests. */
interface Pending {
  res: ServerResponse;
  ids: RequestId[];
  responses: Map<RequestId, JSONRPCMessage>;
  batch: boolean;
}

/**
 * The server side of MCP streamable HTTP in its JSON-response form (what the SDK's
 * `StreamableHTTPServerTransport` does with `enableJsonResponse: true`), straight on Node's
 * `http` objects. The SDK's transport wraps each request into a web `Request`, answers with a
 * web `Response` and converts that back (through @hono/node-server, undici and web streams):
 * in the memory server's profile that was the largest part of our own time per tool call.
 *
 * What it serves: POST of a JSON-RPC message or batch (requests are answered with one JSON
 * body once every response is in; notifications and responses alone get 202), DELETE to end
 * the session. GET (the optional server-to-client SSE stream) answers 405, which the spec
 * allows and clients handle: the memory tools never send anything unasked. Messages the server
 * sends outside a response (progress, logging) have no channel in this form and are dropped.
 * Body parsing, auth and session routing are the caller's (see http.ts).
 */
export class JsonHttpServerTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  private readonly pending = new Map<RequestId, Pending>();
  private initialized = false;
  private closed = false;

  constructor(private readonly options: JsonHttpServerTransportOptions) {}

  async start(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of new Set(this.pending.values())) {
      if (!p.res.headersSent) error(p.res, 503, -32000, 'Session closed');
    }
    this.pending.clear();
    this.onclose?.();
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    // Only responses have somewhere to go: the POST that carried their request.
    if (!isResponse(message)) return;
    const p = this.pending.get(message.id);
    if (!p) return;
    this.pending.delete(message.id);
    p.responses.set(message.id, message);
    if (p.responses.size < p.ids.length || p.res.headersSent) return;
    const body = p.batch ? p.ids.map((id) => p.responses.get(id)) : p.responses.get(p.ids[0]!);
    writeJson(p.res, 200, body, this.sessionId !== undefined ? { 'mcp-session-id': this.sessionId } : {});
  }

  /** Handles one HTTP request of this session; `body` is the parsed JSON of a POST. */
  async handleRequest(req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void> {
    if (req.method === 'DELETE') {
      await this.close();
      res.writeHead(200).end();
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST, DELETE' }).end();
      return;
    }
    if (this.closed) return error(res, 404, -32001, 'Session not found');
    const batch = Array.isArray(body);
    const messages = (batch ? body : [body]) as unknown[];
    if (messages.length === 0 || messages.length > 100 || !messages.every(isMessage)) {
      return error(res, 400, -32600, 'Invalid Request: not a JSON-RPC message');
    }
    const init = messages.some((m) => (m as { method?: unknown }).method === 'initialize');
    if (init) {
      if (this.initialized) return error(res, 400, -32600, 'Invalid Request: Server already initialized');
      if (messages.length > 1)
        return error(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
      this.sessionId = this.options.sessionIdGenerator();
      this.initialized = true;
      this.options.onsessioninitialized?.(this.sessionId);
    } else {
      if (!this.initialized) return error(res, 400, -32000, 'Bad Request: Server not initialized');
      const version = req.headers['mcp-protocol-version'];
      if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
        return error(res, 400, -32000, `Bad Request: Unsupported protocol version: ${version}`);
      }
    }
    const extra: MessageExtraInfo = { requestInfo: { headers: req.headers } };
    const ids = messages.filter(isRequest).map((m) => m.id);
    if (ids.length === 0) {
      for (const m of messages) this.onmessage?.(m, extra);
      res.writeHead(202).end();
      return;
    }
    const pending: Pending = { res, ids, responses: new Map(), batch };
    for (const id of ids) this.pending.set(id, pending);
    // A client that hangs up leaves nothing behind.
    res.once('close', () => {
      for (const id of ids) if (this.pending.get(id) === pending) this.pending.delete(id);
    });
    for (const m of messages) this.onmessage?.(m, extra);
  }
}

type Message = JSONRPCMessage & { id?: RequestId; method?: string };

function isMessage(m: unknown): m is JSONRPCMessage {
  if (typeof m !== 'object' || m === null || (m as { jsonrpc?: unknown }).jsonrpc !== '2.0') return false;
  const { id, method } = m as { id?: unknown; method?: unknown };
  const idOk = id === undefined || typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id));
  return idOk && (typeof method === 'string' || (id !== undefined && ('result' in m || 'error' in m)));
}

function isRequest(m: unknown): m is JSONRPCMessage & { id: RequestId; method: string } {
  const { id, method } = m as Message;
  return typeof method === 'string' && id !== undefined;
}

function isResponse(m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId } {
  const { id, method } = m as Message;
  return method === undefined && id !== undefined;
}

function error(res: ServerResponse, status: number, code: number, message: string): void {
  writeJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

/**
 * Every JSON answer of this transport. With its length, Node sends the head and the body in
 * one write; without, the body goes chunked, as several buffers and a writev.
 */
function writeJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(value);
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
      ...headers,
    })
    .end(json);
}
