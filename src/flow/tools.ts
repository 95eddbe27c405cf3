import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { isZodSchema } from '../../machines/structured.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { callerSession, type McpCallContext } from '../memory/mcp/identity.js';
import { MAX_TIMER_MS } from '../config/timeouts.js';

/** What a tool's `execute` learns about the call. */
export interface FlowToolContext {
  /** The run whose agent called (undefined when it cannot be told: no session plugin and several runs). */
  flowId: string | undefined;
  /** The calling agent's name (undefined when OpenCode does not name the session: no session plugin). */
  agent: string | undefined;
  /** The OpenCode session that made the call, when our session plugin named it. */
  sessionID: string | undefined;
  /** Aborted when the call times out, its run ends (cancelled, failed, done) or the host shuts down. */
  signal: AbortSignal;
}

/** A JSON Schema of a tool's arguments: an object schema (`{ type: 'object', properties, required }`). */
export interface JsonSchemaObject {
  type: 'object';
  properties?: Record<string, unknown>;
  required?: string[];
  [keyword: string]: unknown;
}

/** `execute`'s arguments: the zod schema's output, or a plain object for a JSON Schema. */
export type FlowToolArgs<I> = I extends z.ZodType ? z.output<I> : Record<string, unknown>;

/**
 * A TypeScript function agents can call as the MCP tool `flow_<name>`. It runs in the app's
 * process; its result (any JSON value, or a string) is what the model reads.
 */
export interface FlowTool<I extends z.ZodType | JsonSchemaObject = z.ZodType | JsonSchemaObject> {
  /** `flow_<name>` in OpenCode: a letter, then up to 47 letters, digits, `_` or `-`; not `memory_*`. */
  name: string;
  /** What the tool does and when to use it: the model reads it. */
  description: string;
  /** The arguments: a zod object schema (`z.object(...)`) or a JSON Schema object. Checked before `execute` runs. */
  input: I;
  /** A call running longer is aborted (`ctx.signal`) and answered with an error. Default 60 000 ms. */
  timeoutMs?: number;
  execute(args: FlowToolArgs<I>, ctx: FlowToolContext): unknown;
}

/** Any {@link FlowTool}, as `new OpencodeFlow({ tools })` takes them. */
export type AnyFlowTool = FlowTool<any>;

/** One finished call of an app tool, as the host's `tool.call` event tells it (metrics, logs). */
export interface FlowToolCall {
  /** The tool's name, without OpenCode's `flow_` prefix. */
  tool: string;
  flowId: string | undefined;
  agent: string | undefined;
  sessionID: string | undefined;
  /** How long the call took, ms. */
  ms: number;
  /** Why it failed (thrown, timed out, refused, unserialisable result), when it did. */
  error?: string;
}

/**
 * Types a tool's definition: `execute`'s `args` come from a zod `input` (`z.output`), or are
 * a plain object for a JSON Schema `input`.
 *
 * @example
 * ```ts
 * const lookup = tool({
 *   name: 'lookup',
 *   description: 'Find a customer by id',
 *   input: z.object({ id: z.string() }),
 *   execute: async ({ id }, ctx) => db.customers.find(id, { signal: ctx.signal }),
 * });
 * const flow = new OpencodeFlow({ tools: [lookup] }); // agents call it as flow_lookup
 * ```
 */
export function tool<I extends z.ZodType | JsonSchemaObject>(definition: FlowTool<I>): FlowTool<I> {
  return definition;
}

/** Default per-call timeout of an app tool, ms. */
export const DEFAULT_TOOL_TIMEOUT_MS = 60_000;
/** Names an app tool may have. */
export const TOOL_NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,47}$/;
/** OpenCode's name of an app tool (the MCP server is `flow`). */
export const openCodeToolName = (name: string) => `flow_${name}`;

/** A checked tool: its schema as zod, ready for the MCP SDK (which validates calls with it). */
interface PreparedTool {
  def: AnyFlowTool;
  schema: z.ZodObject;
  timeoutMs: number;
}

/** Checks the app's tools (names, schemas, timeouts): a bad one is a FlowError `invalid_config` naming the field. */
function prepare(tools: readonly AnyFlowTool[]): PreparedTool[] {
  const seen = new Set<string>();
  return tools.map((t, i) => {
    const where = `tools[${i}]`;
    const bad = (msg: string) => new FlowError(FlowErrorCode.InvalidConfig, `OpencodeFlow options.${where}${msg}`);
    if (typeof t !== 'object' || t === null) throw bad(': expected a tool ({ name, description, input, execute })');
    if (typeof t.name !== 'string' || !TOOL_NAME.test(t.name))
      throw bad(`.name: expected a letter, then up to 47 letters, digits, "_" or "-", got ${JSON.stringify(t.name)}`);
    if (t.name.startsWith('memory_'))
      throw bad(`.name: "${t.name}" clashes with the memory tools (memory_*): choose another name`);
    if (seen.has(t.name)) throw bad(`.name: "${t.name}" is given twice`);
    seen.add(t.name);
    if (typeof t.description !== 'string' || !t.description.trim())
      throw bad('.description: expected a description for the model');
    if (typeof t.execute !== 'function') throw bad('.execute: expected a function (args, ctx) => result');
    const timeoutMs = t.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS)
      throw bad(`.timeoutMs: expected a positive whole number of milliseconds (at most ${MAX_TIMER_MS})`);
    let schema: z.ZodType;
    if (isZodSchema(t.input)) schema = t.input;
    else if (typeof t.input === 'object' && t.input !== null && !Array.isArray(t.input)) {
      if ((t.input as { type?: unknown }).type !== 'object')
        throw bad('.input: expected a JSON Schema of an object ({ type: "object", properties, required })');
      try {
        schema = z.fromJSONSchema(t.input as Parameters<typeof z.fromJSONSchema>[0]);
      } catch (e) {
        throw bad(`.input: not a JSON Schema zod can read: ${(e as Error).message}`);
      }
    } else throw bad('.input: expected a zod object schema (z.object(...)) or a JSON Schema object');
    if (!(schema instanceof z.ZodObject) && schema._zod.def.type !== 'object')
      throw bad('.input: expected an object schema (MCP tool arguments are an object), e.g. z.object({ ... })');
    return { def: t, schema: schema as z.ZodObject, timeoutMs };
  });
}

/** Options of {@link FlowTools}. */
export interface FlowToolsOptions {
  /**
   * Who made a call, from its OpenCode session (undefined: not named): the run, the agent and
   * its tool switches, as the host learned them when the agent opened the session.
   */
  callerOf(
    sessionID: string | undefined,
  ): { flowId?: string; agent?: string; tools?: Record<string, boolean> } | undefined;
  /** Each finished call (handler reached), for metrics and events. */
  onCall?(call: FlowToolCall): void;
}

/**
 * The app's own tools on the flow's MCP endpoint (beside the memory tools): checks their
 * definitions, registers them on each MCP session's server, and runs each call with its
 * caller's context, a timeout and an abort signal that also fires when the caller's run ends.
 *
 * @example
 * ```ts
 * const tools = new FlowTools([lookup], { flowOf: (session) => sessions.get(session ?? '') });
 * await startMemoryMcpHttp({ register: tools.register });
 * ```
 */
export class FlowTools {
  readonly #tools: PreparedTool[];
  readonly #o: FlowToolsOptions;
  /** Calls in progress → the run they belong to (aborted when it ends). */
  readonly #running = new Map<AbortController, string | undefined>();

  constructor(tools: readonly AnyFlowTool[], options: FlowToolsOptions) {
    this.#tools = prepare(tools);
    this.#o = options;
  }

  /** The tools' names (without `flow_`). */
  names(): string[] {
    return this.#tools.map((t) => t.def.name);
  }

  /** Registers every tool on one MCP server (an arrow: pass it as `register`). */
  readonly register = (server: McpServer): void => {
    for (const t of this.#tools) {
      server.registerTool(
        t.def.name,
        { description: t.def.description, inputSchema: t.schema },
        // The SDK has checked the arguments against the schema before this runs: a call it
        // rejects is an `isError` result naming what was wrong, and never reaches `execute`.
        (args: Record<string, unknown>, extra: McpCallContext & { signal?: AbortSignal }) => this.#call(t, args, extra),
      );
    }
  };

  /** Aborts the calls of a run (or every call, with no flowId). */
  abort(flowId?: string, reason = 'the flow ended'): void {
    for (const [c, f] of this.#running) if (flowId === undefined || f === flowId) c.abort(new Error(reason));
  }

  async #call(t: PreparedTool, args: Record<string, unknown>, extra: McpCallContext & { signal?: AbortSignal }) {
    const start = performance.now();
    const sessionID = callerSession(extra);
    const caller = this.#o.callerOf(sessionID);
    const flowId = caller?.flowId;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const onClientAbort = () => controller.abort(new Error('the call was cancelled by the MCP client'));
    let result: CallToolResult;
    let error: string | undefined;
    try {
      if (caller?.tools?.[openCodeToolName(t.def.name)] === false)
        throw new Error(`agent "${caller.agent ?? '?'}" is not allowed the tool ${openCodeToolName(t.def.name)}`);
      this.#running.set(controller, flowId);
      extra.signal?.addEventListener('abort', onClientAbort, { once: true });
      const ctx: FlowToolContext = { flowId, agent: caller?.agent, sessionID, signal: controller.signal };
      const aborted = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => controller.abort(new Error(`${openCodeToolName(t.def.name)} timed out after ${t.timeoutMs} ms`)),
          t.timeoutMs,
        );
        const fail = () => reject(controller.signal.reason as Error);
        if (controller.signal.aborted) fail();
        else controller.signal.addEventListener('abort', fail, { once: true });
      });
      aborted.catch(() => undefined);
      const value = await Promise.race([Promise.resolve().then(() => t.def.execute(args, ctx)), aborted]);
      result = { content: [{ type: 'text', text: toText(value) }] };
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      result = { content: [{ type: 'text', text: `Error: ${error}` }], isError: true };
    } finally {
      clearTimeout(timer);
      extra.signal?.removeEventListener('abort', onClientAbort);
      this.#running.delete(controller);
    }
    try {
      this.#o.onCall?.({
        tool: t.def.name,
        flowId,
        agent: caller?.agent,
        sessionID,
        ms: performance.now() - start,
        ...(error === undefined ? {} : { error }),
      });
    } catch {
      // A listener must not change the answer.
    }
    return result;
  }
}

/** A tool's result as the model reads it: a string as is, anything else as JSON. */
function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  let text: string | undefined;
  try {
    text = JSON.stringify(value ?? null);
  } catch (e) {
    throw new Error(`the tool's result is not JSON-serialisable: ${(e as Error).message}`);
  }
  if (text === undefined) throw new Error(`the tool's result is not JSON-serialisable (${typeof value})`);
  return text;
}
