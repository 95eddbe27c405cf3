import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageInfo } from '../../package-root.js';

/** What a tool handler knows about its caller (a subset of the SDK's `RequestHandlerExtra`). */
export interface McpCallContext {
  sessionId?: string;
  _meta?: Record<string, unknown>;
  requestInfo?: { headers: Record<string, string | string[] | undefined> };
}

/** Header a client may send to name the agent behind its calls. */
export const AGENT_HEADER = 'x-opencode-flow-agent';
/** `_meta` keys a client may send to name the agent behind one call. */
const META_KEYS = ['opencode-flow/agent', 'agent', 'by'] as const;
const IDENTITY = /^[\w .:@/-]{1,128}$/;

/**
 * Who made an MCP tool call, for `memory.changed.by`: the agent a client names in the call's
 * `_meta` (`opencode-flow/agent`, `agent` or `by`) or in the `x-opencode-flow-agent` header,
 * else `mcp:<session id>`, else `mcp:<client name>`. OpenCode 1.18 sends neither `_meta` nor an
 * agent header, and shares one MCP session between all agents of a server, so its calls come
 * out as `mcp:<session>`.
 *
 * @example
 * ```ts
 * callerIdentity({ sessionId: 'abc' }, 'opencode') // 'mcp:abc'
 * callerIdentity({ _meta: { agent: 'coder' } })     // 'coder'
 * ```
 */
export function callerIdentity(extra: McpCallContext, clientName?: string): string {
  for (const k of META_KEYS) {
    const v = extra._meta?.[k];
    if (typeof v === 'string' && IDENTITY.test(v)) return v;
  }
  const header = extra.requestInfo?.headers[AGENT_HEADER];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  if (typeof fromHeader === 'string' && IDENTITY.test(fromHeader)) return fromHeader;
  if (extra.sessionId) return `mcp:${extra.sessionId}`;
  return clientName && IDENTITY.test(clientName) ? `mcp:${clientName}` : 'mcp';
}

/**
 * The argument our OpenCode plugin (`opencodeSessionPlugin`) adds to every `flow_*` tool call:
 * the OpenCode session that made it. OpenCode itself tells an MCP server nothing about the
 * session behind a call, and shares one MCP session between all of a server's agents.
 */
export const SESSION_ARGUMENT = '_opencode_session';
/** Header the endpoint moves {@link SESSION_ARGUMENT} into before the tool's schema sees the call. */
export const SESSION_HEADER = 'x-opencode-session';
const SESSION_ID = /^[\w-]{1,128}$/;

/**
 * Moves {@link SESSION_ARGUMENT} out of a `tools/call` request's arguments into
 * {@link SESSION_HEADER} of `headers` (the tools' strict schemas never see it). A batch is
 * left alone but for the removal: one header cannot name several sessions.
 *
 * @example
 * ```ts
 * liftSessionArgument(body, req); // then, in a tool: callerSession(extra)
 * ```
 */
export function liftSessionArgument(
  body: unknown,
  req: { headers: Record<string, string | string[] | undefined>; rawHeaders: string[] },
): void {
  // Only the argument names the session: a header of that name sent by the client is dropped.
  // (The MCP transport rebuilds headers from `rawHeaders`, so both are kept in step.)
  delete req.headers[SESSION_HEADER];
  for (let i = req.rawHeaders.length - 2; i >= 0; i -= 2) {
    if (req.rawHeaders[i]!.toLowerCase() === SESSION_HEADER) req.rawHeaders.splice(i, 2);
  }
  const messages = Array.isArray(body) ? body : [body];
  for (const m of messages) {
    const msg = m as { method?: unknown; params?: { arguments?: Record<string, unknown> } } | null;
    const args = msg?.method === 'tools/call' ? msg.params?.arguments : undefined;
    if (!args || typeof args !== 'object' || !Object.hasOwn(args, SESSION_ARGUMENT)) continue;
    const session = args[SESSION_ARGUMENT];
    delete args[SESSION_ARGUMENT];
    if (!Array.isArray(body) && typeof session === 'string' && SESSION_ID.test(session)) {
      req.headers[SESSION_HEADER] = session;
      req.rawHeaders.push(SESSION_HEADER, session);
    }
  }
}

/**
 * The OpenCode session that made a tool call, when the caller said (see
 * {@link liftSessionArgument}); `undefined` otherwise.
 *
 * @example
 * ```ts
 * const session = callerSession(extra); // 'ses_...' or undefined
 * ```
 */
export function callerSession(extra: McpCallContext): string | undefined {
  const h = extra.requestInfo?.headers[SESSION_HEADER];
  const v = Array.isArray(h) ? h[0] : h;
  return typeof v === 'string' && SESSION_ID.test(v) ? v : undefined;
}

/**
 * The `file://` URL of our OpenCode plugin, which adds {@link SESSION_ARGUMENT} to every
 * `flow_*` tool call so the endpoint can route an agent's memory calls to its own run. Its
 * source ships as `opencode-plugin.js` at the package root; it is copied to a folder of its
 * own under the temp dir, because OpenCode 1.18 loads a plugin file that has a
 * `package.json` above it as that package (our `dist/index.js`), not as the file.
 *
 * @example
 * ```ts
 * const config = { plugin: [sessionPluginUrl()], mcp: { flow: mcp.opencodeConfig() } };
 * ```
 */
export function sessionPluginUrl(): string {
  const source = readFileSync(join(packageInfo().root, 'opencode-plugin.js'), 'utf8');
  const dir = join(tmpdir(), `opencode-flow-plugin-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  const file = join(dir, 'opencode-plugin.js');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    // Written whole then renamed: a server starting meanwhile never loads half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, source);
    renameSync(tmp, file);
  }
  return pathToFileURL(file).href;
}
