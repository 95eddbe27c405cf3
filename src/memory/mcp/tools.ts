import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { JsonValue } from '../json.js';
import { KEY_PATTERN, MAX_TTL_MS } from '../limits.js';
import { SHARED_NAMESPACE } from '../namespace.js';
import type { MemoryOps } from '../ops.js';
import { callerIdentity, type McpCallContext } from './identity.js';

/** The tools the memory MCP server offers; OpenCode shows them as `flow_memory_*`. */
export const MEMORY_TOOL_NAMES = [
  'memory_set',
  'memory_get',
  'memory_delete',
  'memory_list',
  'memory_cas',
  'memory_incr',
] as const;

/** Options of {@link registerMemoryTools}. */
export interface MemoryToolsOptions {
  /** Where the calls go: the memory actor's client, or backend ops. */
  ops: MemoryOps;
  /** The flow's namespace (`flow:<id>`), reported back in results. */
  namespace: string;
  /** The MCP client's name, for callers that carry no other identity. */
  clientName?: () => string | undefined;
  /**
   * Where one call goes, decided from its caller: a host running many flows routes each
   * agent's calls to its own flow's namespace (see `callerSession`). Throw to refuse the call
   * (it becomes an MCP error). Default: `ops` and `namespace`.
   */
  route?: (extra: McpCallContext) => { ops: MemoryOps; namespace: string };
}

const KEY_RULES =
  '1-256 characters of letters, digits and . _ : / - ; use "/" to group keys (e.g. "research/summary", "tasks/3/status")';

const key = z.string().min(1).max(256).regex(KEY_PATTERN).describe(`The key. ${KEY_RULES}.`);
const shared = z
  .boolean()
  .optional()
  .describe(
    "true to use the memory shared by all flows instead of this flow's own memory (default false). Use it only for data other flows must see.",
  );
const ttlSeconds = z
  .number()
  .positive()
  .max(MAX_TTL_MS / 1000)
  .optional()
  .describe('Optional time to live in seconds; the entry disappears after it. Omit to keep it until deleted.');
const jsonValue = (what: string) =>
  z
    .any()
    .describe(
      `${what}: any JSON value (object, array, string, number or boolean; not null). Pass structured data as JSON, not as a string of JSON.`,
    );

/**
 * Registers the six memory tools on an MCP server. Each call goes through `ops`, scoped to the
 * flow's namespace or, with `shared: true`, to `shared`; no argument can name another flow's
 * namespace. Bad arguments (missing, wrong type, bad key, oversized value) give an `isError`
 * result and change nothing.
 *
 * @example
 * ```ts
 * const server = new McpServer({ name: 'flow', version: '1.0.0' });
 * registerMemoryTools(server, { ops: createMemoryClient(actor), namespace: 'flow:abc' });
 * ```
 */
export function registerMemoryTools(server: McpServer, options: MemoryToolsOptions): void {
  const route = options.route ?? (() => ({ ops: options.ops, namespace: options.namespace }));
  const where = (t: { namespace: string }, isShared: boolean | undefined) =>
    isShared ? SHARED_NAMESPACE : t.namespace;
  const by = (extra: McpCallContext) => callerIdentity(extra, options.clientName?.());
  const ttlMs = (s: number | undefined) => (s === undefined ? {} : { ttlMs: Math.max(1, Math.round(s * 1000)) });

  server.registerTool(
    'memory_set',
    {
      title: 'Set a memory value',
      description:
        "Store a JSON value under a key in this flow's shared memory, where every agent of the flow can read it. " +
        'Replaces any value already under the key. Use it to hand results, plans and status to other agents. ' +
        `Keys: ${KEY_RULES}. Values up to 1 MiB of JSON.`,
      inputSchema: z.object({ key, value: jsonValue('The value to store'), ttlSeconds, shared }).strict(),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call(async () => {
        const t = route(extra);
        await t.ops.set(args.key, args.value as JsonValue, {
          by: by(extra),
          shared: args.shared === true,
          ...ttlMs(args.ttlSeconds),
        });
        return { ok: true, namespace: where(t, args.shared), key: args.key };
      }),
  );

  server.registerTool(
    'memory_get',
    {
      title: 'Get a memory value',
      description:
        "Read the JSON value stored under a key in this flow's shared memory (written by you or another agent). " +
        'Returns found=false and value=null when the key does not exist or has expired.',
      inputSchema: z.object({ key, shared }).strict(),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call(async () => {
        const t = route(extra);
        const value = await t.ops.get(args.key, { by: by(extra), shared: args.shared === true });
        return { namespace: where(t, args.shared), key: args.key, found: value !== null, value };
      }),
  );

  server.registerTool(
    'memory_delete',
    {
      title: 'Delete a memory value',
      description: "Remove a key from this flow's shared memory. Returns deleted=false when the key did not exist.",
      inputSchema: z.object({ key, shared }).strict(),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call(async () => {
        const t = route(extra);
        const deleted = await t.ops.delete(args.key, { by: by(extra), shared: args.shared === true });
        return { namespace: where(t, args.shared), key: args.key, deleted };
      }),
  );

  server.registerTool(
    'memory_list',
    {
      title: 'List memory entries',
      description:
        "List the entries of this flow's shared memory whose key starts with a prefix (all entries when the prefix is empty), " +
        'sorted by key, with their values and update times (epoch ms). Use it to discover what other agents have stored, e.g. prefix "results/".',
      inputSchema: z
        .object({
          prefix: z
            .string()
            .max(256)
            .optional()
            .describe('Only keys starting with this (e.g. "tasks/"); default: all keys.'),
          limit: z.number().int().min(1).max(1000).optional().describe('At most this many entries (default 100).'),
          keysOnly: z
            .boolean()
            .optional()
            .describe('true to return only keys and times, without values (default false).'),
          shared,
        })
        .strict(),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call(async () => {
        const t = route(extra);
        const all = await t.ops.list(args.prefix ?? '', { by: by(extra), shared: args.shared === true });
        const limit = args.limit ?? 100;
        const entries = all.slice(0, limit).map(({ value, ...meta }) => (args.keysOnly ? meta : { ...meta, value }));
        return {
          namespace: where(t, args.shared),
          prefix: args.prefix ?? '',
          count: entries.length,
          total: all.length,
          truncated: all.length > limit,
          entries,
        };
      }),
  );

  server.registerTool(
    'memory_cas',
    {
      title: 'Compare-and-set a memory value',
      description:
        'Atomically replace the value under a key only if it currently equals `expected` (deep JSON equality); ' +
        'expected=null means "only if the key does not exist". Returns ok=true when written, else ok=false and the current value. ' +
        'Use it to claim a task or a lock without races: memory_cas(key="claims/task-3", expected=null, value="<your name>").',
      inputSchema: z
        .object({
          key,
          expected: z
            .any()
            .describe('The value you expect to be stored now, or null to require that the key does not exist.'),
          value: jsonValue('The new value to write if the expectation holds'),
          ttlSeconds,
          shared,
        })
        .strict(),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args, extra) =>
      call(async () => {
        const t = route(extra);
        const result = await t.ops.cas(args.key, (args.expected ?? null) as JsonValue | null, args.value as JsonValue, {
          by: by(extra),
          shared: args.shared === true,
          ...ttlMs(args.ttlSeconds),
        });
        return { namespace: where(t, args.shared), key: args.key, ok: result.ok, current: result.current };
      }),
  );

  server.registerTool(
    'memory_incr',
    {
      title: 'Increment a memory counter',
      description:
        'Atomically add `amount` (default 1; may be negative) to the number stored under a key and return the new value. ' +
        'A missing key counts as 0. Fails if the stored value is not a number. Use it for counters and progress.',
      inputSchema: z
        .object({
          key,
          amount: z.number().optional().describe('How much to add (default 1; may be negative).'),
          shared,
        })
        .strict(),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args, extra) =>
      call(async () => {
        const t = route(extra);
        const value = await t.ops.incr(args.key, args.amount ?? 1, { by: by(extra), shared: args.shared === true });
        return { namespace: where(t, args.shared), key: args.key, value };
      }),
  );
}

/** Runs a tool body; a result becomes JSON text (plus structured content), a failure an `isError` result. */
async function call(body: () => Promise<Record<string, unknown>>): Promise<CallToolResult> {
  try {
    const result = await body();
    return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
  } catch (e) {
    // FlowErrors carry messages written for the caller; anything else is reported as is.
    const message = e instanceof Error ? e.message : String(e);
    return { content: [{ type: 'text', text: `Error: ${message}` }], isError: true };
  }
}
