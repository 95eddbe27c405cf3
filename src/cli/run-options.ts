import { z } from 'zod';
import { ModelIdSchema } from '../config/agent.js';
import { isServerUrlList, SERVER_URLS_EXPECTED } from '../config/server-urls.js';
import { describeIssues, MemoryUriSchema } from '../config/flow-config.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { optionsFromEnv } from '../flow/env.js';
import { MAX_TIMER_SECONDS } from '../config/timeouts.js';
import { FlowStoreUriSchema } from '../store/uri.js';
import { LOG_FORMATS } from './log-options.js';

const csv = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** A decimal number written on the command line, e.g. `0.5`, `30`, `1e3`. */
const numeric = (message: string) =>
  z
    .string()
    .trim()
    .regex(/^(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i, { message })
    .transform(Number)
    .refine((n) => n > 0 && Number.isFinite(n), { message });

/** A timeout flag: positive seconds a timer can hold. */
const seconds = (example: string) =>
  numeric(`expected a positive number of seconds, ${example}`).refine((n) => n <= MAX_TIMER_SECONDS, {
    message: `expected at most ${MAX_TIMER_SECONDS} seconds (about 24.8 days): longer delays cannot be timed`,
  });

/**
 * The flow-run flags after commander, before they are merged with a config file: each is
 * optional because `flow.config.json` may supply it. Numbers arrive as the strings typed
 * and are checked here, so an error can quote what was typed.
 *
 * @example
 * ```ts
 * RunOptionsSchema.parse(normaliseRunOptions({ agents: 'coder', task: 'Fix #12', timeout: '90' }));
 * ```
 */
export const RunOptionsSchema = z
  .object({
    agents: z
      .array(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, {
          message: 'expected agent names separated by commas, e.g. researcher,coder',
        }),
      )
      .min(1, { message: 'expected at least one agent, e.g. --agents researcher,coder' })
      .optional(),
    task: z.string().trim().min(1, { message: 'expected a task, e.g. --task "Design a REST API"' }).optional(),
    mode: z.enum(['parallel', 'sequential', 'hierarchical']).optional(),
    model: ModelIdSchema.optional(),
    fallback: z.array(ModelIdSchema).optional(),
    server: z.string().refine(isServerUrlList, { message: SERVER_URLS_EXPECTED }).optional(),
    timeout: seconds('e.g. 1800').optional(),
    promptTimeout: seconds('e.g. 300').optional(),
    maxConcurrent: z
      .string()
      .regex(/^[1-9]\d*$/, { message: 'expected a whole number of agents ≥ 1' })
      .transform(Number)
      .optional(),
    stream: z.boolean(),
    json: z.boolean(),
    quiet: z.boolean(),
    verbose: z.boolean(),
    keepSessions: z.boolean(),
    interactive: z.boolean(),
    optimize: z.enum(['cost', 'quality', 'balanced', 'speed']).optional(),
    maxCost: numeric('expected a positive amount in USD, e.g. 0.50').optional(),
    memory: MemoryUriSchema.optional(),
    store: FlowStoreUriSchema.optional(),
    config: z.string().min(1, { message: 'expected a path to a flow.config.json' }).optional(),
    inspect: z.boolean(),
    logFormat: z.enum(LOG_FORMATS).optional(),
    keepWarm: z
      .string()
      .trim()
      .regex(/^\d+(\.\d*)?$/, { message: 'expected a number of seconds ≥ 0, e.g. 300 (0: no warm server)' })
      .transform(Number)
      .optional(),
  })
  .strict();

/** The flags, checked. */
export type RunOptions = z.output<typeof RunOptionsSchema>;

/**
 * Raw commander options → the shape of {@link RunOptionsSchema}: lists split, the
 * environment applied (`OPENCODE_SERVER_URL`, `OPENCODE_FLOW_MEMORY`, `OPENCODE_FLOW_STORE`), numbers left as
 * typed.
 *
 * @example
 * ```ts
 * normaliseRunOptions({ agents: 'a,b', task: 'x' }, {}).agents; // ['a', 'b']
 * ```
 */
export function normaliseRunOptions(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  const str = (v: unknown) => (v === undefined ? undefined : String(v));
  return {
    agents: typeof raw.agents === 'string' ? csv(raw.agents) : raw.agents,
    task: raw.task,
    mode: raw.mode,
    model: raw.model,
    fallback: typeof raw.fallback === 'string' ? csv(raw.fallback) : raw.fallback,
    server: raw.server ?? optionsFromEnv(env).serverUrl,
    timeout: str(raw.timeout),
    promptTimeout: str(raw.promptTimeout),
    maxConcurrent: str(raw.maxConcurrent),
    stream: Boolean(raw.stream),
    json: Boolean(raw.json),
    quiet: Boolean(raw.quiet),
    verbose: Boolean(raw.verbose),
    keepSessions: Boolean(raw.keepSessions),
    interactive: Boolean(raw.interactive),
    optimize: raw.optimize,
    maxCost: str(raw.maxCost),
    memory: raw.memory ?? optionsFromEnv(env).memory,
    store: raw.store ?? optionsFromEnv(env).store,
    config: raw.config,
    inspect: Boolean(raw.inspect),
    logFormat: raw.logFormat ?? (env.OPENCODE_FLOW_LOG_FORMAT || undefined),
    // --no-keep-warm is commander's `false`; else the flag, else OPENCODE_FLOW_KEEP_WARM.
    keepWarm:
      raw.keepWarm === false
        ? '0'
        : raw.keepWarm === undefined
          ? env.OPENCODE_FLOW_KEEP_WARM || undefined
          : String(raw.keepWarm),
  };
}

/** camelCase option key → the flag a user typed (`maxCost` → `--max-cost`). */
function flagOf(key: PropertyKey): string {
  return `--${String(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * Validates raw commander options; a bad value is a `FlowError` (`invalid_config`, exit 2)
 * naming the flag, what it expects and what was typed.
 *
 * @example
 * ```ts
 * parseRunOptions({ agents: 'coder', timeout: 'soon' }); // throws: --timeout: expected a positive number of seconds, …, found "soon"
 * ```
 */
export function parseRunOptions(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): RunOptions {
  return parseFlags(RunOptionsSchema, normaliseRunOptions(raw, env));
}

/**
 * Validates a command's options (keyed as commander names them) with a schema; a bad value
 * is a `FlowError` (`invalid_config`, exit 2) naming the flag (`--max-cost`), what it
 * expects and what was typed.
 *
 * @example
 * ```ts
 * parseFlags(z.object({ port: z.string().regex(/^\d+$/) }), { port: 'x' }); // throws: invalid option --port: …, found "x"
 * ```
 */
export function parseFlags<S extends z.ZodType>(schema: S, input: Record<string, unknown>): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ ...i, path: [flagOf(i.path[0] ?? ''), ...i.path.slice(1)] }));
  const byFlag = Object.fromEntries(Object.entries(input).map(([k, v]) => [flagOf(k), v]));
  const lines = describeIssues(issues as typeof parsed.error.issues, byFlag);
  throw new FlowError(FlowErrorCode.InvalidConfig, `invalid option ${lines.join('; ')}`, {
    cause: parsed.error,
    details: lines,
  });
}
