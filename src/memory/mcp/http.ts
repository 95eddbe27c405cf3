import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { FlowError, FlowErrorCode } from '../../errors.js';
import { assertNamespace } from '../limits.js';
import type { MemoryOps } from '../ops.js';
import { liftSessionArgument } from './identity.js';
import { refuseProtoKeys } from './proto-keys.js';
import { JsonHttpServerTransport } from './json-transport.js';
import { createMemoryMcpServer, MEMORY_MCP_SERVER_NAME, type MemoryMcpServerOptions } from './server.js';
import type { MemoryToolsOptions } from './tools.js';

/** Options of {@link startMemoryMcpHttp}. */
export interface MemoryMcpHttpOptions {
  /** Where tool calls go: `createMemoryClient(actor)` in a flow. Absent (memory off): only `register`'s tools. */
  ops?: MemoryOps;
  /** The flow's namespace, `flow:<id>` (needed with `ops`). */
  namespace?: string;
  /** The bearer token clients must send; generated (32 random bytes, hex) when absent. */
  token?: string;
  /** Interface to listen on (default `127.0.0.1`). */
  host?: string;
  /** Port (default 0: a free one). */
  port?: number;
  /** Server name (default `flow`). */
  name?: string;
  /** Most concurrent MCP sessions; the least recently used is closed beyond it (default 64). */
  maxSessions?: number;
  /** Largest request body, bytes (default 8 MiB: a 1 MiB value escaped as JSON fits with room). */
  maxBodyBytes?: number;
  /** Where each tool call goes, by its caller (see `registerMemoryTools`' `route`). */
  route?: MemoryToolsOptions['route'];
  /** Registers more tools on each MCP session's server (the app's own tools, see `createMemoryMcpServer`). */
  register?: MemoryMcpServerOptions['register'];
  /** Told of every tool call, start and outcome (see `createMemoryMcpServer`): a run's trace. */
  onToolCall?: MemoryMcpServerOptions['onToolCall'];
  /** Called when each request has been answered: for metrics (e.g. a Prometheus histogram). */
  onRequest?: (info: MemoryMcpRequestInfo) => void;
}

/** What {@link MemoryMcpHttpOptions.onRequest} gets about one answered request. */
export interface MemoryMcpRequestInfo {
  /** HTTP method. */
  httpMethod: string;
  /** HTTP status answered. */
  status: number;
  /** The JSON-RPC method of a POST (`tools/call`, `initialize`, ...), when it had one. */
  rpcMethod?: string;
  /** The tool called, for `tools/call`. */
  tool?: string;
  /** Time from the request's arrival to the last byte of the answer, ms. */
  ms: number;
}

/** OpenCode's `McpRemoteConfig`, as `opencode.json`'s `"mcp": { "flow": ... }` takes it. */
export interface OpencodeRemoteMcpConfig {
  type: 'remote';
  url: string;
  headers: Record<string, string>;
  /** `false`: the bearer header is the auth; stops OpenCode from trying OAuth discovery. */
  oauth: false;
  enabled?: boolean;
  timeout?: number;
}

/** A running memory MCP HTTP server. */
export interface MemoryMcpHttpServer {
  /** The endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  /** The bearer token every request must carry. */
  token: string;
  /** The entry for OpenCode's config: `{ mcp: { flow: server.opencodeConfig() } }`. */
  opencodeConfig(): OpencodeRemoteMcpConfig;
  /** Closes all sessions and stops listening. */
  close(): Promise<void>;
}

interface Session {
  transport: JsonHttpServerTransport;
  server: McpServer;
}

/**
 * Serves the memory tools over MCP streamable HTTP at `/mcp`, behind a bearer token: the
 * endpoint a flow registers in OpenCode so agents get `flow_memory_*` tools. Stateful: each
 * client gets an MCP session (its id names the caller in `memory.changed.by`). Requests without
 * `Authorization: Bearer <token>` get 401.
 *
 * @example
 * ```ts
 * const mcp = await startMemoryMcpHttp({ ops: createMemoryClient(actor), namespace: 'flow:abc' });
 * const config = { mcp: { flow: mcp.opencodeConfig() } };
 * // { type: 'remote', url: 'http://127.0.0.1:PORT/mcp', headers: { Authorization: 'Bearer …' }, oauth: false }
 * await mcp.close();
 * ```
 */
export async function startMemoryMcpHttp(options: MemoryMcpHttpOptions): Promise<MemoryMcpHttpServer> {
  const token = options.token ?? randomBytes(32).toString('hex');
  if (token.length < 16 || /\s/.test(token)) {
    throw new FlowError(FlowErrorCode.InvalidConfig, 'memory MCP token must be at least 16 characters without spaces');
  }
  const host = options.host ?? '127.0.0.1';
  const maxSessions = options.maxSessions ?? 64;
  const maxBodyBytes = options.maxBodyBytes ?? 8 * 1024 * 1024;
  const expected = digest(`Bearer ${token}`);
  // Fail on a bad namespace now rather than at the first session.
  if (options.namespace !== undefined) assertNamespace(options.namespace);

  const sessions = new Map<string, Session>();
  let closing = false;

  const closeSession = async (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    await s.transport.close().catch(() => undefined);
    await s.server.close().catch(() => undefined);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (options.onRequest) observe(req, res, options.onRequest);
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/mcp') return plain(res, 404, 'not found: the memory MCP endpoint is /mcp');
    const auth = req.headers.authorization;
    if (typeof auth !== 'string' || !timingSafeEqual(digest(auth), expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="opencode-flow memory"');
      return plain(res, 401, 'unauthorized: send Authorization: Bearer <token>');
    }
    if (closing) return plain(res, 503, 'shutting down');

    // POST bodies are read here with plain Node streams and handed over parsed: cheaper than
    // the transport's own read through web streams, and needed anyway to spot `initialize`.
    let body: unknown;
    if (req.method === 'POST') {
      try {
        body = JSON.parse(await readBody(req, maxBodyBytes));
      } catch (e) {
        return rpcError(res, (e as { status?: number }).status ?? 400, `Parse error: ${(e as Error).message}`, -32700);
      }
      rpcInfo.set(res, describeRpc(body));
      // Refused before the SDK's parsing, which would silently drop the key.
      const refusal = refuseProtoKeys(body);
      if (refusal) {
        if (!refusal.errors.length) return rpcError(res, 400, refusal.reason, -32602);
        const answer = Array.isArray(body) ? refusal.errors : refusal.errors[0];
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      }
      // The OpenCode session behind a tool call, as our OpenCode plugin adds it to the arguments.
      liftSessionArgument(body, req);
    }
    const sessionId = header(req, 'mcp-session-id');
    if (sessionId) {
      const session = sessions.get(sessionId);
      if (!session) return rpcError(res, 404, 'Session not found: initialize a new one');
      // Keep the map in least-recently-used order.
      sessions.delete(sessionId);
      sessions.set(sessionId, session);
      return session.transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST')
      return rpcError(res, 400, 'Bad request: no Mcp-Session-Id; POST an initialize request first');
    if ((body as { method?: unknown } | undefined)?.method !== 'initialize') {
      return rpcError(res, 400, 'Bad request: no Mcp-Session-Id; POST an initialize request first');
    }
    while (sessions.size >= maxSessions) {
      const oldest = sessions.keys().next().value;
      if (oldest === undefined) break;
      await closeSession(oldest);
    }
    const server = createMemoryMcpServer({
      ops: options.ops,
      namespace: options.namespace,
      name: options.name ?? MEMORY_MCP_SERVER_NAME,
      ...(options.route ? { route: options.route } : {}),
      ...(options.register ? { register: options.register } : {}),
      ...(options.onToolCall ? { onToolCall: options.onToolCall } : {}),
    });
    // JSON answers straight on Node's http objects (json-transport.ts), not the SDK's web-standard
    // transport behind a Request/Response conversion: the profile's largest cost per call.
    const transport: JsonHttpServerTransport = new JsonHttpServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server });
      },
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id && sessions.get(id)?.transport === transport) sessions.delete(id);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const http = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) rpcError(res, 500, `Internal error: ${(e as Error).message}`, -32603);
      else res.end();
    });
  });
  http.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    http.once('error', (e) =>
      reject(
        new FlowError(FlowErrorCode.Memory, `cannot start the memory MCP server on ${host}:${options.port ?? 0}`, {
          cause: e,
        }),
      ),
    );
    http.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/mcp`;

  return {
    url,
    token,
    opencodeConfig: () => ({ type: 'remote', url, headers: { Authorization: `Bearer ${token}` }, oauth: false }),
    async close() {
      if (closing) return;
      closing = true;
      await Promise.all([...sessions.keys()].map(closeSession));
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}

const rpcInfo = new WeakMap<ServerResponse, { rpcMethod?: string; tool?: string }>();

function observe(req: IncomingMessage, res: ServerResponse, report: (info: MemoryMcpRequestInfo) => void): void {
  const start = performance.now();
  res.once('finish', () => {
    try {
      report({
        httpMethod: req.method ?? '',
        status: res.statusCode,
        ...rpcInfo.get(res),
        ms: performance.now() - start,
      });
    } catch {
      // A metrics hook must not break serving.
    }
  });
}

function describeRpc(body: unknown): { rpcMethod?: string; tool?: string } {
  const first = (Array.isArray(body) ? body[0] : body) as { method?: unknown; params?: { name?: unknown } } | undefined;
  if (!first || typeof first.method !== 'string') return {};
  return first.method === 'tools/call' && typeof first.params?.name === 'string'
    ? { rpcMethod: first.method, tool: first.params.name }
    : { rpcMethod: first.method };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
}

function rpcError(res: ServerResponse, status: number, message: string, code = -32000): void {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop buffering but drain the rest, so the 413 answer can still be read.
        req.off('data', onData);
        req.resume();
        reject(Object.assign(new Error(`request body over ${limit} bytes`), { status: 413 }));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
