import { z } from 'zod';
import { isZodSchema, type OutputSchema } from '../../machines/structured.js';

/** A structured-output schema in a config: a zod schema (in code) or a JSON Schema object (anywhere). */
export const OutputSchemaSchema = z.custom<OutputSchema>(
  (v) => isZodSchema(v) || (typeof v === 'object' && v !== null && !Array.isArray(v)),
  { message: 'expected a zod schema or a JSON Schema object (of type "object")' },
);

/** `provider/model`, where the model part may itself contain `/` (OpenRouter ids). */
export const ModelIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]+\/\S+$/, { message: 'expected "provider/model", e.g. "anthropic/claude-sonnet-4"' });

const PermissionAction = z.enum(['allow', 'ask', 'deny']);

/**
 * Permissions in OpenCode's config shape: one action per permission, or a map of
 * patterns to actions (`bash: { "git diff*": "allow", "*": "ask" }`).
 */
export const PermissionConfigSchema = z.record(
  z.string(),
  z.union([PermissionAction, z.record(z.string(), PermissionAction)]),
);
export type PermissionConfig = z.infer<typeof PermissionConfigSchema>;

/**
 * How an agent answers OpenCode's permission requests and questions (see
 * `machines/input-policy.ts`). Default: reject both, so a flow never waits on nobody.
 */
export const InputPolicySchema = z
  .object({
    onPermission: z
      .union(
        [
          z.enum(['ask', 'allow', 'reject']),
          z.array(
            z
              .object({
                permission: z
                  .string()
                  .min(1)
                  .describe('The OpenCode permission this rule answers: edit, bash, webfetch, ... or "*" for any'),
                pattern: z
                  .string()
                  .optional()
                  .describe(
                    'Glob on what the request applies to (a command, a path), e.g. "git diff*" (default: anything)',
                  ),
                action: z
                  .enum(['allow', 'reject', 'ask'], { message: 'expected "allow", "reject" or "ask"' })
                  .describe('What to answer: allow, reject or ask a person'),
              })
              .strict(),
          ),
        ],
        { message: 'expected "ask", "allow", "reject" or a list of rules { permission, pattern?, action }' },
      )
      .optional()
      .describe(
        'Permission requests: "ask" a person, "allow" or "reject" all, or rules { permission, pattern?, action } where the first match wins (no match: reject)',
      ),
    onQuestion: z
      .enum(['ask', 'reject', 'first-option'], { message: 'expected "ask", "reject" or "first-option"' })
      .optional()
      .describe(
        'Questions an agent asks: "ask" a person, "reject" them, or answer with each question\'s "first-option"',
      ),
    inputTimeoutMs: z
      .number({ message: 'expected a number of milliseconds' })
      .int({ message: 'expected a whole number of milliseconds' })
      .positive({ message: 'expected a positive time' })
      .optional()
      .describe('Milliseconds to wait for a person before onInputTimeout applies (default 300000)'),
    onInputTimeout: z
      .enum(['reject', 'fail'], { message: 'expected "reject" or "fail"' })
      .optional()
      .describe('When nobody answers in time: "reject" the request (default) or "fail" the agent'),
  })
  .strict();

/** Names of OpenCode's built-in tools; a `tools` list enables these selectively. */
export const BUILTIN_TOOLS = [
  'bash',
  'edit',
  'write',
  'read',
  'grep',
  'glob',
  'list',
  'patch',
  'todowrite',
  'todoread',
  'webfetch',
  'task',
] as const;

/**
 * One agent, as the spec's `AgentConfig`. `model` is `provider/model`, or a bare model id
 * together with `provider`.
 *
 * @example
 * ```ts
 * AgentConfigSchema.parse({ name: 'coder', agent: 'build', model: 'anthropic/claude-sonnet-4', tools: ['read', 'edit', 'bash'] });
 * ```
 */
export const AgentConfigSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
      message: 'expected a name of letters, digits, "-", "_" or "." (max 64)',
    }),
    /** OpenCode agent to run as: `build`, `plan`, `general` or one configured on the server. */
    agent: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    provider: z.string().min(1).optional(),
    /** Models to fall back to after `model` fails. */
    fallback: z.array(ModelIdSchema).optional(),
    systemPrompt: z.string().optional(),
    /** Tools the agent may use: a list (only these built-ins) or OpenCode's on/off map. */
    tools: z.union([z.array(z.string().min(1)), z.record(z.string(), z.boolean())]).optional(),
    /**
     * The app's own tools (`new OpencodeFlow({ tools })`) this agent may call, by name without
     * the `flow_` prefix; absent: all of them.
     */
    flowTools: z
      .array(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_-]{0,47}$/, { message: 'expected a tool name, e.g. "lookup"' }))
      .optional(),
    permissions: PermissionConfigSchema.optional(),
    temperature: z.number().min(0).max(2).optional(),
    /** Preset this agent is based on (`reviewer`, ...); its prompt and permissions are defaults. */
    preset: z.string().optional(),
    /** Role used by model routing (defaults to the preset or name). */
    role: z.string().optional(),
    /** How this agent answers permission requests and questions. */
    inputPolicy: InputPolicySchema.optional(),
    /**
     * Structured output for every answer of this agent: a zod schema or a JSON Schema of type
     * `object`. The answer is in its result's `structured`, checked against it.
     */
    schema: OutputSchemaSchema.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.model === undefined) {
      if (v.provider !== undefined)
        ctx.addIssue({ code: 'custom', path: ['model'], message: 'provider given without model' });
      return;
    }
    if (v.provider === undefined && !ModelIdSchema.safeParse(v.model).success) {
      ctx.addIssue({
        code: 'custom',
        path: ['model'],
        message: `expected "provider/model" (or a bare model with "provider"), got "${v.model}"`,
      });
    }
  });

export type AgentConfig = z.input<typeof AgentConfigSchema>;

/** `model` + `provider` → `provider/model`. */
export function fullModelId(cfg: { model?: string; provider?: string }): string | undefined {
  if (!cfg.model) return undefined;
  if (cfg.provider && !cfg.model.startsWith(`${cfg.provider}/`)) return `${cfg.provider}/${cfg.model}`;
  return cfg.model;
}

/** A `tools` list or map → OpenCode's per-prompt on/off map. */
export function toolSwitches(tools: AgentConfig['tools']): Record<string, boolean> | undefined {
  if (tools === undefined) return undefined;
  if (!Array.isArray(tools)) return tools;
  const allowed = new Set(tools);
  const out: Record<string, boolean> = {};
  for (const t of BUILTIN_TOOLS) out[t] = allowed.has(t);
  for (const t of tools) out[t] = true;
  return out;
}

/** OpenCode permission config → the ruleset a session takes (`session.create({ permission })`). */
export function toPermissionRuleset(
  p: PermissionConfig | undefined,
): Array<{ permission: string; pattern: string; action: 'allow' | 'deny' | 'ask' }> | undefined {
  if (!p) return undefined;
  const rules: Array<{ permission: string; pattern: string; action: 'allow' | 'deny' | 'ask' }> = [];
  for (const [permission, v] of Object.entries(p)) {
    if (typeof v === 'string') rules.push({ permission, pattern: '*', action: v });
    else for (const [pattern, action] of Object.entries(v)) rules.push({ permission, pattern, action });
  }
  return rules;
}
