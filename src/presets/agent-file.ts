import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { FlowError, FlowErrorCode } from '../errors.js';
import { ModelIdSchema, TaskTypeSchema, type TaskType } from '../router/config.js';

/**
 * What OpenCode does with a tool or a pattern: `allow`, `ask` (wait for a reply to
 * `permission.asked`) or `deny`.
 *
 * @example
 * ```ts
 * const a: PermissionAction = 'deny';
 * ```
 */
export type PermissionAction = 'allow' | 'ask' | 'deny';

/**
 * OpenCode's per-agent permission config, object form: each permission (`edit`, `bash`,
 * `webfetch`, ...) maps to one action or to a map of pattern → action. Within a map the
 * last matching pattern wins, so the catch-all `"*"` comes first.
 *
 * @example
 * ```ts
 * const p: PresetPermission = { edit: 'deny', bash: { '*': 'deny', 'git diff*': 'allow' } };
 * ```
 */
export type PresetPermission = Record<string, PermissionAction | Record<string, PermissionAction>>;

/**
 * A preset agent: one `agents/*.md` file, parsed and validated.
 *
 * @example
 * ```ts
 * const reviewer: PresetAgent = (await loadPresets()).get('reviewer')!;
 * reviewer.permission.edit; // 'deny'
 * ```
 */
export interface PresetAgent {
  /** The file name without `.md`, or the front matter's `name`. */
  name: string;
  description: string;
  /** The markdown body: the agent's system prompt. */
  systemPrompt: string;
  permission: PresetPermission;
  /** OpenCode's tool on/off map (`write: false`, `flow_memory_*: true`). */
  tools: Record<string, boolean>;
  temperature?: number;
  topP?: number;
  /** A fixed `provider/model`. Bundled presets leave it out: routing picks the model. */
  model?: string;
  /** As written in the file; {@link toOpencodeAgentConfig} never emits `primary`. */
  mode: 'primary' | 'subagent' | 'all';
  /** Maximum agentic steps (OpenCode's `steps`; `maxSteps` is read as an alias). */
  steps?: number;
  /** The router's task type for this agent's work (`flow.taskType`). */
  taskType?: TaskType;
  /** Minimum model quality, 0–100, for this agent (`flow.qualityFloor`). */
  qualityFloor?: number;
  /**
   * Model hints (`flow.models`): globs over `provider/model` ids to try first or to avoid
   * when the server serves them. Hints, not requirements: providers differ per user.
   */
  models?: { prefer?: string[]; avoid?: string[] };
  /** The file this agent was read from. */
  source: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NAME_RULE = 'letters, digits, "-", "_" or "." (max 64), starting with a letter or digit';

const Action = z.enum(['allow', 'ask', 'deny'], {
  error: (i) => `expected "allow", "ask" or "deny", got ${show(i.input)}`,
});
const PatternMap = z.record(z.string().min(1, { error: 'a pattern must not be empty' }), Action);
const Rule = z.union([Action, PatternMap], {
  error: (i) => `expected "allow", "ask", "deny" or a map of pattern to action, got ${show(i.input)}`,
});
/** Permissions the 1.18.33 `PermissionConfig` schema allows only as a single action. */
const ACTION_ONLY = ['todowrite', 'question', 'webfetch', 'websearch', 'doom_loop'] as const;

const PermissionSchema = z.union(
  [
    Action.transform((a): PresetPermission => ({ '*': a })),
    z.record(z.string().min(1), Rule).superRefine((p, ctx) => {
      for (const k of ACTION_ONLY) {
        if (typeof p[k] === 'object') {
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: `"${k}" takes one action ("allow", "ask" or "deny"), not a pattern map`,
          });
        }
      }
    }),
  ],
  { error: (i) => `expected an action or a map of permission to rule, got ${show(i.input)}` },
);

const FlowKeySchema = z.strictObject({
  taskType: TaskTypeSchema.optional(),
  qualityFloor: z.number().min(0).max(100).optional(),
  models: z
    .strictObject({
      prefer: z.array(z.string().min(1)).optional(),
      avoid: z.array(z.string().min(1)).optional(),
    })
    .optional(),
});

/**
 * The front matter of an agent file: OpenCode's `AgentConfig` keys (1.18.33) that make
 * sense in a file, plus opencode-flow's own keys under `flow`. Unknown keys are errors, so
 * a typo such as `permissions:` is caught instead of silently ignored.
 *
 * @example
 * ```ts
 * AgentFrontMatterSchema.parse({ description: 'Reviews code', permission: { edit: 'deny' } });
 * ```
 */
export const AgentFrontMatterSchema = z.strictObject({
  name: z
    .string()
    .regex(NAME_RE, { error: `expected ${NAME_RULE}` })
    .optional(),
  description: z
    .string({ error: 'is required: one sentence saying what the agent does' })
    .trim()
    .min(1, { error: 'must not be empty' }),
  mode: z.enum(['primary', 'subagent', 'all']).default('all'),
  model: ModelIdSchema.optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  steps: z.number().int().positive().optional(),
  maxSteps: z.number().int().positive().optional(),
  tools: z
    .record(z.string().min(1), z.boolean({ error: (i) => `expected true or false, got ${show(i.input)}` }))
    .default({}),
  permission: PermissionSchema.default({}),
  flow: FlowKeySchema.optional(),
  // OpenCode ignores a front-matter `prompt` in markdown agents (the body wins), so say so.
  prompt: z
    .never({ error: 'is not read from a markdown agent: write the system prompt as the body after the front matter' })
    .optional(),
});

/**
 * Parses one agent markdown file: YAML front matter between `---` lines, then the system
 * prompt as the body. Throws a `FlowError` (`invalid_config`) naming the file and the
 * field on any problem.
 *
 * @param text - The file's contents.
 * @param source - The file's path: names the agent (`reviewer.md` → `reviewer`) and the
 *   errors.
 *
 * @example
 * ```ts
 * const agent = parseAgentFile('---\ndescription: Says hi\n---\nYou greet people.', 'greeter.md');
 * agent.name;         // 'greeter'
 * agent.systemPrompt; // 'You greet people.'
 * ```
 */
export function parseAgentFile(text: string, source: string): PresetAgent {
  const { frontMatter, body, bodyLine } = splitFrontMatter(text, source);
  const doc = parseDocument(frontMatter, { prettyErrors: true, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    // yaml counts lines from the front matter; the file has the opening "---" before it.
    const pos = yamlError.linePos?.[0];
    const where = pos ? ` (line ${pos.line + 1}, column ${pos.col})` : '';
    const what = (yamlError.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    // The classic slip: an unquoted `*` pattern is a YAML alias.
    const line = pos ? frontMatter.split('\n')[pos.line - 1] : undefined;
    const hint = line && /^\s*\*/.test(line) ? ' (quote patterns that start with "*", e.g. "*": deny)' : '';
    throw invalid(source, `front matter is not valid YAML${where}: ${what}${hint}`, yamlError);
  }
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw invalid(source, 'front matter must be a YAML map of keys (description, mode, permission, ...)');
  }

  const parsed = AgentFrontMatterSchema.safeParse(data);
  if (!parsed.success) {
    const lines = parsed.error.issues.flatMap(specific).map(formatIssue);
    throw new FlowError(FlowErrorCode.InvalidConfig, `invalid agent file ${source}: ${lines.join('; ')}`, {
      cause: parsed.error,
      details: { file: source, issues: parsed.error.issues },
    });
  }
  const fm = parsed.data;

  const stem = basename(source, extname(source));
  const name = fm.name ?? stem;
  if (!NAME_RE.test(name)) {
    throw invalid(
      source,
      `the file name "${stem}" is not a valid agent name (${NAME_RULE}); rename the file or set "name"`,
    );
  }
  const systemPrompt = body.trim();
  if (systemPrompt === '') {
    throw invalid(source, `the body (the system prompt, from line ${bodyLine}) is empty`);
  }

  const steps = fm.steps ?? fm.maxSteps;
  return {
    name,
    description: fm.description,
    systemPrompt,
    permission: fm.permission,
    tools: fm.tools,
    mode: fm.mode,
    source,
    ...(fm.temperature !== undefined && { temperature: fm.temperature }),
    ...(fm.top_p !== undefined && { topP: fm.top_p }),
    ...(fm.model !== undefined && { model: fm.model }),
    ...(steps !== undefined && { steps }),
    ...(fm.flow?.taskType !== undefined && { taskType: fm.flow.taskType }),
    ...(fm.flow?.qualityFloor !== undefined && { qualityFloor: fm.flow.qualityFloor }),
    ...(fm.flow?.models !== undefined && { models: fm.flow.models }),
  };
}

/**
 * Reads and parses one agent markdown file (see {@link parseAgentFile}).
 *
 * @example
 * ```ts
 * const agent = await readAgentFile('.opencode-flow/agents/docs-writer.md');
 * ```
 */
export async function readAgentFile(path: string): Promise<PresetAgent> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw invalid(path, `cannot read the file: ${(e as Error).message}`, e);
  }
  // A CLI run reads the presets twice (the plan checks agent names, then the host loads them):
  // the second read finds the same text and skips YAML and zod. Each caller gets its own copy.
  const seen = parsedFiles.get(path);
  if (seen?.text === text) return structuredClone(seen.agent);
  const agent = parseAgentFile(text, path);
  parsedFiles.set(path, { text, agent: structuredClone(agent) });
  return agent;
}

/** Agent files parsed in this process, by path, with the text they were parsed from. */
const parsedFiles = new Map<string, { text: string; agent: PresetAgent }>();

function splitFrontMatter(text: string, source: string): { frontMatter: string; body: string; bodyLine: number } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines[0]?.trimEnd() !== '---') {
    throw invalid(
      source,
      'missing front matter: the file must start with a "---" line, then YAML (description, mode, permission, ...), then "---"',
    );
  }
  const end = lines.findIndex((l, i) => i > 0 && l.trimEnd() === '---');
  if (end < 0) throw invalid(source, 'the front matter is not closed: add a "---" line after it');
  return {
    frontMatter: lines.slice(1, end).join('\n'),
    body: lines.slice(end + 1).join('\n'),
    bodyLine: end + 2,
  };
}

/**
 * A union's own issue says only "none of the shapes fit". When one branch got further into
 * the value (an issue deeper in it), that branch's issues name the real field, e.g.
 * `permission.bash["git diff*"]` rather than `permission`.
 */
function specific(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const depth = (branch: z.core.$ZodIssue[]) => Math.max(0, ...branch.map((i) => i.path.length));
  let best: z.core.$ZodIssue[] | undefined;
  for (const branch of issue.errors) if (depth(branch) > 0 && (!best || depth(branch) > depth(best))) best = branch;
  if (!best) return [issue];
  return best.flatMap((i) => specific({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const inFlow = issue.path[0] === 'flow';
    const allowed = inFlow
      ? Object.keys(FlowKeySchema.shape)
      : Object.keys(AgentFrontMatterSchema.shape).filter((k) => k !== 'prompt');
    const keys = issue.keys.map((k) => formatPath([...issue.path, k]));
    const hint = !inFlow && issue.keys.includes('permissions') ? ' (did you mean "permission"?)' : '';
    return `${keys.map((k) => `field "${k}"`).join(', ')}: unknown key${hint}; allowed here: ${allowed.join(', ')}`;
  }
  return `field "${path || '(front matter)'}": ${issue.message}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    const s = String(seg);
    if (typeof seg === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function invalid(source: string, message: string, cause?: unknown): FlowError {
  return new FlowError(FlowErrorCode.InvalidConfig, `invalid agent file ${source}: ${message}`, {
    ...(cause !== undefined && { cause }),
    details: { file: source },
  });
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
