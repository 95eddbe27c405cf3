import { z } from 'zod';
import { FlowError, FlowErrorCode } from '../errors.js';

/**
 * The kinds of task the router tells apart. Each has a quality floor (see `classify.ts`).
 *
 * @example
 * ```ts
 * TASK_TYPES.includes('review') // true
 * ```
 */
export const TASK_TYPES = ['review', 'research', 'code', 'test', 'plan', 'security', 'docs', 'general'] as const;

/**
 * One of {@link TASK_TYPES}.
 *
 * @example
 * ```ts
 * const t: TaskType = 'code';
 * ```
 */
export type TaskType = (typeof TASK_TYPES)[number];

/**
 * Zod schema of a {@link TaskType}.
 *
 * @example
 * ```ts
 * TaskTypeSchema.parse('security') // 'security'
 * ```
 */
export const TaskTypeSchema = z.enum(TASK_TYPES);

/**
 * Routing modes: what the scorer optimises (see `score.ts` and the router README).
 *
 * @example
 * ```ts
 * ROUTING_MODES // ['cost', 'quality', 'balanced', 'speed']
 * ```
 */
export const ROUTING_MODES = ['cost', 'quality', 'balanced', 'speed'] as const;

/**
 * One of {@link ROUTING_MODES}.
 *
 * @example
 * ```ts
 * const mode: RoutingMode = 'cost';
 * ```
 */
export type RoutingMode = (typeof ROUTING_MODES)[number];

/** `provider/model`; the model part may itself contain `/` (OpenRouter) or `:` (Ollama tags). */
const MODEL_ID_RE = /^[^\s/]+\/[^\s/][^\s]*$/;

/**
 * A model id as OpenCode names it: `provider/model`, e.g. `anthropic/claude-sonnet-4`,
 * `openrouter/deepseek/deepseek-r1`, `ollama/qwen2.5-coder:7b`.
 *
 * @example
 * ```ts
 * ModelIdSchema.parse('openai/gpt-5-mini'); // ok
 * ModelIdSchema.parse('gpt-5-mini');        // throws: must be "provider/model" ...
 * ```
 */
export const ModelIdSchema = z.string().regex(MODEL_ID_RE, {
  error: (issue) =>
    `must be a model id "provider/model" (e.g. "anthropic/claude-sonnet-4"), got ${JSON.stringify(issue.input)}`,
});

const score = z.number().min(0).max(100);
const usd = z.number().nonnegative().finite();

/**
 * One routing rule. Every condition given must hold; a rule with no condition matches every
 * task (a catch-all default). `agent` equals the agent's name or its role; `match` is a
 * case-insensitive regular expression tested against the task text.
 *
 * @example
 * ```ts
 * RoutingRuleSchema.parse({ taskType: 'review', model: 'deepseek/deepseek-reasoner' });
 * ```
 */
export const RoutingRuleSchema = z.strictObject({
  agent: z.string().min(1).optional().describe('Applies to the agent of this name or role (default: every agent)'),
  taskType: TaskTypeSchema.optional().describe(
    'Applies to tasks of this type: review, research, code, test, plan, security, docs or general',
  ),
  match: z
    .string()
    .min(1)
    .refine(isValidRegExp, { error: (issue) => `is not a valid regular expression: ${JSON.stringify(issue.input)}` })
    .optional()
    .describe('Applies when this regular expression (case-insensitive) matches the task text'),
  model: ModelIdSchema.describe('The model ("provider/model") this rule picks, when the server serves it'),
});

/**
 * A parsed {@link RoutingRuleSchema}.
 *
 * @example
 * ```ts
 * const rule: RoutingRule = { agent: 'coder', model: 'anthropic/claude-sonnet-4' };
 * ```
 */
export type RoutingRule = z.output<typeof RoutingRuleSchema>;

/**
 * Quality floors (0–100) per task type, overriding the defaults in `classify.ts`.
 *
 * @example
 * ```ts
 * FloorsSchema.parse({ code: 90, docs: 50 });
 * ```
 */
export const FloorsSchema = z.strictObject(
  Object.fromEntries(
    TASK_TYPES.map((t) => [t, score.optional().describe(`Minimum quality (0–100) of a model picked for ${t} tasks`)]),
  ) as Record<TaskType, z.ZodOptional<typeof score>>,
);

/**
 * A user's own quality/speed score (0–100) for one model, overriding the shipped table.
 *
 * @example
 * ```ts
 * ModelScoreOverrideSchema.parse({ quality: 88 });
 * ```
 */
export const ModelScoreOverrideSchema = z.strictObject({
  quality: score.optional().describe('Your quality score for this model, 0–100 (replaces the shipped one)'),
  speed: score.optional().describe('Your speed score for this model, 0–100 (replaces the shipped one)'),
});

/**
 * A user's own quality/speed scores keyed by model id.
 *
 * @example
 * ```ts
 * const o: ModelScoreOverrides = { 'scripted/small': { quality: 90, speed: 99 } };
 * ```
 */
export type ModelScoreOverrides = Record<string, z.output<typeof ModelScoreOverrideSchema>>;

/** A provider id (`anthropic`) or a model id (`openai/gpt-5`). */
const CAP_KEY_RE = /^[^\s/]+(\/[^\s/][^\s]*)?$/;

/**
 * Concurrency caps: prompts at once per provider id or per `provider/model`, host-wide
 * (positive integers). A prompt takes a slot of both its provider's and its model's cap.
 *
 * @example
 * ```ts
 * ConcurrencyCapsSchema.parse({ anthropic: 4, 'openai/gpt-5': 2 });
 * ```
 */
export const ConcurrencyCapsSchema = z.record(
  z.string().regex(CAP_KEY_RE, {
    error: (issue) => `must be a provider id or "provider/model", got ${JSON.stringify(issue.input)}`,
  }),
  z.number().int().positive(),
);

/**
 * Default for `cooldownMs`: how long a model that answered 429 is skipped by every agent.
 *
 * @example
 * ```ts
 * router.cooldown('openai/gpt-5', DEFAULT_COOLDOWN_MS);
 * ```
 */
export const DEFAULT_COOLDOWN_MS = 30_000;

/**
 * The model router's configuration (the `modelRouter` section of a flow config).
 *
 * - `mode` — what scoring optimises; default `balanced`.
 * - `maxCostPerTask` — USD; models whose estimate for the task is above it are not picked by
 *   scoring.
 * - `maxCost` — USD per flow; enforced by {@link Budget}, not by routing.
 * - `fallbackChain` — models to fall back to, in order (else the chain comes from the ranking).
 * - `rules` — first matching rule whose model the server serves wins over scoring.
 * - `floors` — minimum quality per task type.
 * - `models` — the user's own quality/speed scores, overriding the shipped table.
 * - `cooldownMs` — default 30 000.
 * - `expectedOutputTokens` — used in cost estimates (default 1000).
 * - `concurrency` — prompts at once per provider or `provider/model`, host-wide (see `limiter.ts`).
 *
 * @example
 * ```ts
 * const cfg = ModelRouterConfigSchema.parse({
 *   mode: 'cost',
 *   rules: [{ taskType: 'review', model: 'deepseek/deepseek-reasoner' }],
 *   fallbackChain: ['anthropic/claude-sonnet-4', 'openai/gpt-5-mini'],
 * });
 * cfg.cooldownMs; // 30000
 * ```
 */
export const ModelRouterConfigSchema = z.strictObject({
  mode: z
    .enum(ROUTING_MODES)
    .default('balanced')
    .describe('What routing optimises: cost, quality, balanced (default) or speed'),
  maxCostPerTask: usd.optional().describe('USD; models whose estimate for one prompt is above it are not picked'),
  maxCost: usd.optional().describe('USD for the whole flow: no prompt starts past it'),
  fallbackChain: z
    .array(ModelIdSchema)
    .optional()
    .describe('Models to fall back to, in order (else the next ones of the ranking)'),
  rules: z
    .array(RoutingRuleSchema)
    .optional()
    .describe('First matching rule wins over scoring: { agent?, taskType?, match?, model }'),
  floors: FloorsSchema.optional().describe('Minimum quality (0–100) per task type: { review: 80, code: 85, ... }'),
  models: z
    .record(ModelIdSchema, ModelScoreOverrideSchema)
    .optional()
    .describe('Your own quality/speed scores per model: { "provider/model": { quality, speed } }'),
  cooldownMs: z
    .number()
    .int()
    .nonnegative()
    .default(DEFAULT_COOLDOWN_MS)
    .describe('How long a model that answered 429 or 5xx is skipped by every agent (default 30000)'),
  expectedOutputTokens: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('Output tokens assumed in cost estimates (default 1000)'),
  concurrency: ConcurrencyCapsSchema.optional().describe(
    'Prompts at once per provider or model, across every run of the host: { "anthropic": 4, "openai/gpt-5": 2 }; more wait in a queue',
  ),
});

/**
 * A parsed router config (defaults applied).
 *
 * @example
 * ```ts
 * const cfg: ModelRouterConfig = parseModelRouterConfig({ mode: 'quality' });
 * ```
 */
export type ModelRouterConfig = z.output<typeof ModelRouterConfigSchema>;

/**
 * What a user writes: {@link ModelRouterConfig} before defaults.
 *
 * @example
 * ```ts
 * const input: ModelRouterConfigInput = { maxCostPerTask: 0.05 };
 * ```
 */
export type ModelRouterConfigInput = z.input<typeof ModelRouterConfigSchema>;

/**
 * Parses a router config, turning zod issues into one `FlowError` (`invalid_config`) whose
 * message names each bad field, e.g. `modelRouter.rules.0.model: must be a model id ...`.
 *
 * @example
 * ```ts
 * const cfg = parseModelRouterConfig({ mode: 'speed', cooldownMs: 10_000 });
 * ```
 */
export function parseModelRouterConfig(input: unknown): ModelRouterConfig {
  const result = ModelRouterConfigSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = ['modelRouter', ...issue.path.map(String)].join('.');
    return `${path}: ${issue.message}`;
  });
  throw new FlowError(FlowErrorCode.InvalidConfig, `invalid model router config:\n  ${lines.join('\n  ')}`, {
    cause: result.error,
    details: result.error.issues,
  });
}

function isValidRegExp(source: string): boolean {
  try {
    new RegExp(source, 'i');
    return true;
  } catch {
    return false;
  }
}
