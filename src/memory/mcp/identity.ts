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
