import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { timeoutSecondsSchema } from './timeouts.js';
import { printable, quoteValue } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { MemoryConfigSchema, parseMemoryUri } from '../memory/config.js';
import { ModelRouterConfigSchema } from '../router/config.js';
import { AgentConfigSchema, InputPolicySchema, ModelIdSchema } from './agent.js';
import { findTooDeep, tooDeepMessage } from './depth.js';
import { formatPath, pathKey } from './errors.js';
import { closest, FLOW_CONFIG_FILE } from './flow-config-file.js';

export { closest, findFlowConfig, FLOW_CONFIG_FILE } from './flow-config-file.js';

/**
 * Where the published JSON Schema of {@link FlowConfigSchema} lives, for a config's
 * `$schema` key (editors then autocomplete and check the file).
 *
 * @example
 * ```json
 * { "$schema": "https://unpkg.com/opencode-flow/schema/flow.config.schema.json", "agents": ["reviewer"] }
 * ```
 */
export const FLOW_CONFIG_SCHEMA_URL = 'https://unpkg.com/opencode-flow/schema/flow.config.schema.json';

const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * How the agents of a flow work together: the spec's `CoordinationConfig`.
 *
 * @example
 * ```ts
 * CoordinationConfigSchema.parse({ mode: 'sequential', timeout: 600, onAgentFailure: 'continue' });
 * ```
 */
export const CoordinationConfigSchema = z
  .strictObject({
    mode: z
      .enum(['parallel', 'sequential', 'hierarchical'])
      .optional()
      .describe(
        '"parallel" (default): all agents at once; "sequential": one after another, each given the earlier outputs; "hierarchical": the planner splits the task into subtasks for the agents, run in dependency order',
      ),
    maxConcurrent: z.number().int().positive().optional().describe('Agents at once in parallel mode (default 8)'),
    timeout: timeoutSecondsSchema()
      .optional()
      .describe('Seconds before the whole flow is given up (default: no limit)'),
    promptTimeout: timeoutSecondsSchema()
      .optional()
      .describe('Seconds a prompt may go unanswered before the agent falls back to its next model (default 600)'),
    onAgentFailure: z
      .enum(['continue', 'fail'])
      .optional()
      .describe(
        '"continue" (default): the other agents carry on when one fails; "fail": the first failure ends the flow',
      ),
  })
  .describe('How the agents work together');

/**
 * The outline of a memory URI that the published JSON Schema gives editors:
 * `file:PATH`, `sqlite:PATH`, `redis://HOST…` or `rediss://HOST…`, schemes in any case.
 * {@link parseMemoryUri} has the last word (a redis database must be a number, …).
 *
 * @example
 * ```ts
 * new RegExp(MEMORY_URI_PATTERN).test('sqlite:./flow.db'); // true
 * ```
 */
export const MEMORY_URI_PATTERN =
  '^\\s*(?:[Ff][Ii][Ll][Ee]:\\s*\\S|[Ss][Qq][Ll][Ii][Tt][Ee]:\\s*\\S|[Rr][Ee][Dd][Ii][Ss][Ss]?://[^\\s/?#])';

/**
 * A memory URI (`file:PATH`, `sqlite:PATH`, `redis://host:port/db`), checked with the parser
 * the library uses, so a bad one fails before anything starts.
 *
 * @example
 * ```ts
 * MemoryUriSchema.parse('sqlite:./flow.db');
 * ```
 */
export const MemoryUriSchema = z
  .string()
  .superRefine((uri, ctx) => {
    try {
      parseMemoryUri(uri);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  })
  // The parser decides; the pattern is its outline for editors (schemes in any case, as
  // parseMemoryUri lowercases them; sqlite needs a path, redis a host).
  .meta({
    description:
      'A memory URI: file:PATH, sqlite:PATH, redis://[user:pass@]host:port/db or rediss://… (TLS), with an optional ?prefix=',
    pattern: MEMORY_URI_PATTERN,
  });

/**
 * One entry of `agents`: a preset name (`"reviewer"`) or a whole agent (the spec's
 * `AgentConfig`; `preset` makes it inherit a preset's prompt and permissions).
 *
 * @example
 * ```ts
 * FlowAgentSchema.parse('reviewer');
 * FlowAgentSchema.parse({ name: 'api-coder', preset: 'coder', model: 'anthropic/claude-sonnet-4' });
 * ```
 */
export const FlowAgentSchema = z.union([
  z
    .string()
    .regex(AGENT_NAME, { message: 'expected a preset name of letters, digits, "-", "_" or "."' })
    .describe('A preset agent by name'),
  AgentConfigSchema,
]);

/**
 * The whole flow configuration (`flow.config.json`): the spec's `FlowConfig` (`agents`,
 * `modelRouter`, `memory`, `coordination`) plus the defaults a run takes from a file
 * (`task`, `server`, `model`, `fallback`, `keepSessions`). One schema serves the CLI, the
 * published JSON Schema (`schema/flow.config.schema.json`) and embedding apps.
 *
 * @example
 * ```ts
 * const config = FlowConfigSchema.parse({
 *   agents: ['researcher', { name: 'api-coder', preset: 'coder', model: 'anthropic/claude-sonnet-4' }],
 *   modelRouter: { mode: 'cost', maxCost: 0.5 },
 *   coordination: { mode: 'sequential' },
 * });
 * ```
 */
export const FlowConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('JSON Schema of this file, for editors'),
    task: z.string().trim().min(1).optional().describe('The default task (a --task flag replaces it)'),
    agents: z
      .array(FlowAgentSchema)
      .min(1)
      .optional()
      .describe('The agents of the flow, in order: preset names or agent objects'),
    modelRouter: ModelRouterConfigSchema.optional().describe(
      "Model routing: agents without a model get the router's pick (mode, budgets, rules, floors, fallback chain)",
    ),
    memory: z
      .union([MemoryUriSchema, MemoryConfigSchema, z.literal(false)])
      .optional()
      .describe(
        'Shared memory: a URI, a { backend, ... } object, or false to turn it off (default: file .opencode-flow/memory.json)',
      ),
    coordination: CoordinationConfigSchema.optional(),
    server: z
      .url({ protocol: /^https?$/, message: 'expected an http(s) URL such as http://127.0.0.1:4096' })
      .optional()
      .describe('Attach to this OpenCode server instead of starting one'),
    model: ModelIdSchema.optional().describe('Model for agents without one, when not routing ("provider/model")'),
    fallback: z.array(ModelIdSchema).optional().describe('Models every agent falls back to, in order, after its own'),
    keepSessions: z.boolean().optional().describe('Keep the OpenCode sessions after the flow (default: delete them)'),
    inputPolicy: InputPolicySchema.optional().describe(
      'How every agent without its own inputPolicy answers permission requests and questions (default: ask the person on a terminal, else reject)',
    ),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.agents?.forEach((a, i) => {
      const name = typeof a === 'string' ? a : a.name;
      const first = seen.get(name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['agents', i],
          message: `the agent name "${name}" is already used by agents[${first}]`,
        });
      } else seen.set(name, i);
    });
  })
  .describe('An opencode-flow flow: its agents, model routing, shared memory and coordination');

/**
 * A parsed flow config.
 *
 * @example
 * ```ts
 * const config: FlowConfig = { agents: ['reviewer'], coordination: { mode: 'parallel' } };
 * ```
 */
export type FlowConfig = z.output<typeof FlowConfigSchema>;

/**
 * One entry of a config's `agents`.
 *
 * @example
 * ```ts
 * const entry: FlowAgent = 'reviewer';
 * ```
 */
export type FlowAgent = z.output<typeof FlowAgentSchema>;

/**
 * A config read from a file.
 *
 * @example
 * ```ts
 * const { path, config } = await loadFlowConfig('./flow.config.json');
 * ```
 */
export interface LoadedFlowConfig {
  /** Absolute path of the file. */
  path: string;
  config: FlowConfig;
  /** The fields of `modelRouter` the file itself sets (before the schema's defaults). */
  modelRouterKeys: string[];
}

/**
 * Parses a flow config, throwing a `FlowError` (`invalid_config`) whose message lists each
 * bad field as `path: expected …, found …` (e.g. `agents[1].model: expected "provider/model"
 * …, got "gpt4"`).
 *
 * @param data - The parsed JSON.
 * @param source - Names the config in the message (a file path).
 *
 * @example
 * ```ts
 * parseFlowConfig({ agents: ['reviewer'], coordination: { mode: 'parallel' } }, 'flow.config.json');
 * ```
 */
export function parseFlowConfig(data: unknown, source = 'flow config'): FlowConfig {
  const deep = findTooDeep(data);
  if (deep) {
    const line = tooDeepMessage(deep);
    throw new FlowError(FlowErrorCode.InvalidConfig, `invalid config ${source}:\n  ${line}`, { details: [line] });
  }
  const parsed = FlowConfigSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  const lines = describeIssues(parsed.error.issues, data, flowConfigJsonSchema());
  throw new FlowError(FlowErrorCode.InvalidConfig, `invalid config ${source}:\n  ${lines.join('\n  ')}`, {
    cause: parsed.error,
    details: lines,
  });
}

/**
 * Reads and parses a config file (JSON). A missing file, bad JSON (with line and column)
 * or a bad field is a `FlowError` (`invalid_config`).
 *
 * @example
 * ```ts
 * const { config } = await loadFlowConfig('examples/code-review/flow.config.json');
 * config.coordination?.mode; // 'sequential'
 * ```
 */
export async function loadFlowConfig(path: string, cwd = process.cwd()): Promise<LoadedFlowConfig> {
  const abs = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
    throw new FlowError(FlowErrorCode.InvalidConfig, `cannot read config ${path}: ${why}`, { cause: e });
  }
  // An editor's byte-order mark is not part of the JSON: without it, error positions are right.
  text = text.replace(/^\uFEFF/, '');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `config ${path} is not valid JSON: ${jsonErrorWhere(text, (e as Error).message)}`,
      { cause: e },
    );
  }
  const config = parseFlowConfig(data, path);
  const router = (data as { modelRouter?: unknown }).modelRouter;
  return { path: abs, config, modelRouterKeys: router && typeof router === 'object' ? Object.keys(router) : [] };
}

/**
 * Checks that every preset a config names exists: `agents[i]` strings and `agents[i].preset`.
 * Names of agent objects count as known, so a string may name an agent defined in the same
 * list. Throws a `FlowError` (`unknown_agent`) naming the field.
 *
 * @example
 * ```ts
 * checkAgentNames(config, [...(await loadPresets()).keys()], 'flow.config.json');
 * ```
 */
export function checkAgentNames(config: FlowConfig, presets: Iterable<string>, source = 'flow config'): void {
  const known = new Set(presets);
  const defined = new Set((config.agents ?? []).flatMap((a) => (typeof a === 'string' ? [] : [a.name])));
  const list = [...known].sort().join(', ');
  (config.agents ?? []).forEach((a, i) => {
    if (typeof a === 'string' && !known.has(a) && !defined.has(a)) {
      throw new FlowError(
        FlowErrorCode.UnknownAgent,
        `invalid config ${source}: agents[${i}]: unknown preset "${a}" (presets: ${list})`,
      );
    }
    if (typeof a === 'object' && a.preset !== undefined && !known.has(a.preset)) {
      throw new FlowError(
        FlowErrorCode.UnknownAgent,
        `invalid config ${source}: agents[${i}].preset: unknown preset "${a.preset}" (presets: ${list})`,
      );
    }
  });
}

/** Descriptions of the agent fields, for the JSON Schema (the agent schema itself has none). */
const AGENT_FIELD_DOCS: Record<string, string> = {
  name: "Unique name of the agent in the flow; a preset's name makes it that preset",
  agent: 'OpenCode agent to run as: build, plan, general or one configured on the server',
  model: 'Model as "provider/model", or a bare model id together with "provider"',
  provider: 'Provider of a bare "model"',
  fallback: 'Models to fall back to, in order, after "model" fails',
  systemPrompt: "System prompt (replaces a preset's)",
  tools: "Tools the agent may use: a list of built-in tool names, or OpenCode's { tool: true|false } map",
  flowTools:
    "The app's own tools (new OpencodeFlow({ tools }), in the library) the agent may call, by name without flow_; default: all",
  permissions: 'OpenCode permissions: { edit: "deny", bash: { "git diff*": "allow", "*": "ask" } }',
  temperature:
    'Sampling temperature, 0 to 2 (OpenCode reads it from agent config: it applies to presets and to OpenCode agents configured with it)',
  preset: 'Preset this agent is based on (reviewer, coder, ...): its prompt and permissions are the defaults',
  role: 'Role for routing rules (default: the preset or the name)',
  inputPolicy:
    'How the agent answers OpenCode\'s permission requests and questions: { onPermission: "ask"|"allow"|"reject"|rules, onQuestion: "ask"|"reject"|"first-option", inputTimeoutMs, onInputTimeout: "reject"|"fail" }',
};

let jsonSchemaCache: Record<string, unknown> | undefined;

/**
 * The JSON Schema (draft 2020-12) of {@link FlowConfigSchema}, as published in
 * `schema/flow.config.schema.json` (regenerate with `npx tsx src/cli/gen-schema.ts`).
 *
 * @example
 * ```ts
 * const schema = flowConfigJsonSchema();
 * Object.keys(schema.properties as object); // ['$schema', 'task', 'agents', ...]
 * ```
 */
export function flowConfigJsonSchema(): Record<string, unknown> {
  if (jsonSchemaCache) return jsonSchemaCache;
  const schema = z.toJSONSchema(FlowConfigSchema, {
    io: 'input',
    target: 'draft-2020-12',
    // An agent's `schema` takes a zod schema in code; a config file gives a JSON Schema (below).
    unrepresentable: 'any',
    override: (ctx) => {
      const s = ctx.jsonSchema as {
        type?: string;
        properties?: Record<string, { description?: string }>;
        required?: string[];
      };
      // The agent object: the one object schema that requires exactly `name`.
      if (s.type === 'object' && s.properties?.name && s.properties.systemPrompt && s.required?.join() === 'name') {
        (s as { description?: string }).description = "An agent (the spec's AgentConfig)";
        if (s.properties.schema)
          s.properties.schema = {
            type: 'object',
            description:
              'Structured output: a JSON Schema (of type "object") every answer of this agent must fill; the answer is in the report\'s results[].structured',
          } as { description?: string };
        for (const [k, doc] of Object.entries(AGENT_FIELD_DOCS))
          if (s.properties[k]) s.properties[k].description ??= doc;
      }
    },
  });
  jsonSchemaCache = { $id: FLOW_CONFIG_SCHEMA_URL, title: 'opencode-flow flow config', ...schema };
  return jsonSchemaCache;
}

// ---------------------------------------------------------------------------------------
// Messages: path, expected, found.

type Issue = z.core.$ZodIssue;

/**
 * One line per issue: `path: expected …, found …`. Unknown keys list the keys that are
 * allowed there (from the JSON Schema) and the closest one.
 */
export function describeIssues(
  issues: readonly Issue[],
  data: unknown,
  jsonSchema?: Record<string, unknown>,
): string[] {
  return issues.flatMap(unwrapUnion).map((issue) => {
    const path = formatPath(issue.path);
    const where = path || '(root)';
    if (issue.code === 'unrecognized_keys') {
      const allowed = jsonSchema ? keysAt(jsonSchema, issue.path) : [];
      return issue.keys
        .map((k) => {
          const near = closest(k, allowed);
          const hint = near
            ? `; did you mean "${near}"?`
            : allowed.length
              ? ` (expected one of: ${allowed.join(', ')})`
              : '';
          return `${path}${pathKey(k, !path)}: unknown field${hint}`;
        })
        .join('\n  ');
    }
    const found = valueAt(data, issue.path);
    const expected = expectedOf(issue);
    if (/\b(got|found)\b/.test(expected) || (found !== undefined && expected.includes(show(found))))
      return `${where}: ${expected}`;
    return `${where}: ${expected}, found ${show(found)}`;
  });
}

/**
 * A union whose value has the type of exactly one branch (an object for "preset name or
 * agent object") failed inside that branch: report that branch's issues, not "invalid input".
 */
function unwrapUnion(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const typed = issue.errors.filter((branch) => !branch.some((i) => i.path.length === 0 && i.code === 'invalid_type'));
  if (typed.length !== 1) return [issue];
  return typed[0]!.flatMap((i) => unwrapUnion({ ...i, path: [...issue.path, ...i.path] } as Issue));
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function expectedOf(issue: Issue): string {
  const custom = !/^(Invalid|Too (small|big)|Expected)/.test(issue.message);
  if (custom && issue.code !== 'invalid_type') return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return custom && issue.message.startsWith('expected')
        ? issue.message
        : `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${show(issue.values[0])}`
        : `expected one of ${issue.values.map(show).join(', ')}`;
    case 'too_small': {
      const n = Number(issue.minimum);
      if (issue.origin === 'array') return `expected at least ${n} item${n === 1 ? '' : 's'}`;
      if (issue.origin === 'string')
        return n === 1 ? 'expected a non-empty string' : `expected at least ${n} characters`;
      return `expected a number ${issue.inclusive ? '≥' : '>'} ${n}`;
    }
    case 'too_big': {
      const n = Number(issue.maximum);
      if (issue.origin === 'array') return `expected at most ${n} item${n === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return `expected at most ${n} characters`;
      return `expected a number ${issue.inclusive ? '≤' : '<'} ${n}`;
    }
    case 'invalid_format':
      return issue.format === 'regex'
        ? `expected a string matching ${(issue as { pattern?: string }).pattern}`
        : `expected a valid ${issue.format}`;
    case 'invalid_union': {
      const kinds = [
        ...new Set(
          issue.errors
            .map((branch) => branch.find((i) => i.path.length === 0 && i.code === 'invalid_type'))
            .map((i) => (i && i.code === 'invalid_type' ? (TYPE_WORDS[i.expected] ?? i.expected) : undefined)),
        ),
      ];
      return kinds.every(Boolean) ? `expected ${kinds.join(' or ')}` : 'expected one of the allowed forms';
    }
    default:
      return issue.message;
  }
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function show(v: unknown): string {
  return quoteValue(v);
}

/** Property names an object schema allows at `path` (following items, anyOf and oneOf). */
function keysAt(schema: Record<string, unknown>, path: readonly PropertyKey[]): string[] {
  let nodes: Array<Record<string, unknown>> = [schema];
  for (const p of path) {
    nodes = nodes.flatMap(expand).flatMap((n) => {
      if (typeof p === 'number' && n.items) return [n.items as Record<string, unknown>];
      const props = n.properties as Record<string, Record<string, unknown>> | undefined;
      return props && typeof p === 'string' && props[p] ? [props[p]] : [];
    });
  }
  return [...new Set(nodes.flatMap(expand).flatMap((n) => Object.keys((n.properties as object | undefined) ?? {})))];
}

function expand(n: Record<string, unknown>): Array<Record<string, unknown>> {
  const alts = [...((n.anyOf as unknown[]) ?? []), ...((n.oneOf as unknown[]) ?? [])] as Array<Record<string, unknown>>;
  return alts.length ? alts.flatMap(expand) : [n];
}

/**
 * Where and why text is not JSON, as `line 3, column 11: unexpected "o"`. Node's own
 * `JSON.parse` messages often give no position, so the text is scanned again here.
 *
 * @example
 * ```ts
 * jsonErrorWhere('{"a": x}', 'Unexpected token'); // 'line 1, column 7: unexpected "x"'
 * ```
 */
export function jsonErrorWhere(text: string, nodeMessage: string): string {
  let found: ReturnType<typeof findJsonError>;
  try {
    found = findJsonError(text);
  } catch {
    // Nested too deep for the scanner's recursion: Node's message is all there is.
    return printable(nodeMessage, 200);
  }
  if (!found) return printable(nodeMessage, 200);
  const before = text.slice(0, found.offset);
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `line ${line}, column ${column}: ${found.message}`;
}

/** The offset and reason of the first JSON syntax error in `text`, if any. */
export function findJsonError(text: string): { offset: number; message: string } | undefined {
  let i = 0;
  class Stop {
    constructor(readonly message: string) {}
  }
  const fail = (message: string): never => {
    throw new Stop(message);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = () => {
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '\\') i += 2;
      else if (c === '"') return void i++;
      else if (c < ' ') fail('a line break or control character inside a string');
      else i++;
    }
    fail('a string is not closed');
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"')
          fail(text[i] === '}' ? 'a trailing comma before "}"' : 'expected a property name in double quotes');
        string();
        ws();
        if (text[i] !== ':') fail('expected ":" after the property name');
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') return void i++;
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        ws();
        if (text[i] === ']') fail('a trailing comma before "]"');
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') return void i++;
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    const num = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (num?.[0]) return void (i += num[0].length);
    for (const literal of ['true', 'false', 'null']) if (text.startsWith(literal, i)) return void (i += literal.length);
    fail(c === undefined ? 'the file ends too early' : `unexpected ${quoteValue(c)}`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail('unexpected text after the end of the JSON value');
    return undefined;
  } catch (e) {
    if (e instanceof Stop) return { offset: Math.min(i, text.length), message: e.message };
    throw e;
  }
}
