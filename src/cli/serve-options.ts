import { formatPath } from '../config/errors.js';
import { describeIssues } from '../config/flow-config.js';
import { SECRET } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { optionsFromEnv } from '../flow/env.js';
import { parseFlowStoreUri } from '../store/uri.js';
import { ServeOptionsSchema, type ResolvedServeOptions, type ServeOptions } from '../serve/options.js';
import { z } from 'zod';
import { LOG_FORMATS, LOG_LEVELS } from './log-options.js';

/** `serve`'s options: checked here, loaded only when `serve` runs (its help needs none of it). */

/** Raw commander options (and env) → the shape of {@link ServeOptionsSchema}. */
export function normaliseServeOptions(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): ServeOptions {
  const num = (v: unknown) =>
    v === undefined ? undefined : typeof v === 'number' ? v : /^\s*$/.test(String(v)) ? Number.NaN : Number(v);
  const { memory, password, username, token, serverUrl, store: envStore } = optionsFromEnv(env);
  const store = (raw.store as string | undefined) ?? envStore;
  if (store !== undefined) {
    try {
      parseFlowStoreUri(store);
    } catch (e) {
      const name = raw.store !== undefined ? 'option --store' : 'OPENCODE_FLOW_STORE';
      throw new FlowError(FlowErrorCode.InvalidConfig, `invalid ${name}: ${(e as Error).message}`, { cause: e });
    }
  }
  const model = typeof raw.model === 'string' ? raw.model : undefined;
  const flowOptions: Record<string, unknown> = {
    ...(memory ? { memory } : {}),
    ...(store !== undefined ? { store } : {}),
    ...(password ? { password } : {}),
    ...(username ? { username } : {}),
    ...(model ? { model } : {}),
    ...(raw.keepSessions ? { keepSessions: true } : {}),
  };
  const timeout = raw.inputTimeout === undefined ? undefined : num(raw.inputTimeout)!;
  if (timeout !== undefined && !(timeout > 0)) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `invalid option --input-timeout: expected a positive number of seconds, found "${String(raw.inputTimeout)}"`,
    );
  }
  const inputPolicy = {
    ...(raw.onPermission !== undefined ? { onPermission: raw.onPermission } : {}),
    ...(raw.onQuestion !== undefined ? { onQuestion: raw.onQuestion } : {}),
    ...(timeout !== undefined ? { inputTimeoutMs: Math.max(1, Math.round(timeout * 1000)) } : {}),
  } as ServeOptions['inputPolicy'];
  const lease = raw.lease === undefined ? undefined : num(raw.lease)!;
  if (lease !== undefined && !(lease >= 1 && lease <= 3600)) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `invalid option --lease: expected a number of seconds from 1 to 3600, found "${String(raw.lease)}"`,
    );
  }
  // One knob: the heartbeat and the queue poll run five times per lease.
  const replicas =
    lease === undefined
      ? undefined
      : {
          leaseMs: Math.round(lease * 1000),
          heartbeatMs: Math.round(lease * 200),
          pollMs: Math.round(lease * 200),
        };
  return {
    ...(replicas ? { replicas } : {}),
    port: num(raw.port),
    host: raw.host as string | undefined,
    token: (raw.token as string | undefined) ?? token,
    server: (raw.server as string | undefined) ?? serverUrl,
    maxFlows: num(raw.maxFlows),
    onShutdown: raw.onShutdown as ServeOptions['onShutdown'],
    ...(Object.keys(flowOptions).length ? { flowOptions } : {}),
    ...(Object.keys(inputPolicy ?? {}).length ? { inputPolicy } : {}),
  };
}

/** A field of {@link ServeOptionsSchema} → the flag that sets it, and the variable it may come from. */
const SERVE_FLAGS: Record<string, { flag: string; raw: string; env?: string }> = {
  port: { flag: '--port', raw: 'port' },
  host: { flag: '--host', raw: 'host' },
  token: { flag: '--token', raw: 'token', env: 'OPENCODE_FLOW_TOKEN' },
  server: { flag: '--server', raw: 'server', env: 'OPENCODE_SERVER_URL' },
  maxFlows: { flag: '--max-flows', raw: 'maxFlows' },
  onShutdown: { flag: '--on-shutdown', raw: 'onShutdown' },
  'replicas.leaseMs': { flag: '--lease', raw: 'lease' },
  'inputPolicy.onPermission': { flag: '--on-permission', raw: 'onPermission' },
  'inputPolicy.onQuestion': { flag: '--on-question', raw: 'onQuestion' },
  'inputPolicy.inputTimeoutMs': { flag: '--input-timeout', raw: 'inputTimeout' },
  logLevel: { flag: '--log-level', raw: 'logLevel', env: 'OPENCODE_FLOW_LOG_LEVEL' },
  logFormat: { flag: '--log-format', raw: 'logFormat', env: 'OPENCODE_FLOW_LOG_FORMAT' },
};

const oneOf = (values: readonly string[]) => `expected one of ${values.join(', ')}`;

/**
 * `serve`'s log flags: the CLI's own (the library takes a logger, not a level). No format:
 * JSON lines unless stdout is a terminal, decided where the logger is made.
 */
export const ServeLogOptionsSchema = z
  .object({
    logLevel: z.enum(LOG_LEVELS, { message: oneOf(LOG_LEVELS) }).default('info'),
    logFormat: z.enum(LOG_FORMATS, { message: oneOf(LOG_FORMATS) }).optional(),
  })
  .strict();
export type ServeLogOptions = z.output<typeof ServeLogOptionsSchema>;

/** The log flags (and their variables) → the shape of {@link ServeLogOptionsSchema}. */
export function normaliseServeLogOptions(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env) {
  const pick = (flag: unknown, name: string) => (flag as string | undefined) ?? (env[name] || undefined);
  return {
    logLevel: pick(raw.logLevel, 'OPENCODE_FLOW_LOG_LEVEL'),
    logFormat: pick(raw.logFormat, 'OPENCODE_FLOW_LOG_FORMAT'),
  };
}

/**
 * Validates `serve`'s options; a bad value is a `FlowError` (`invalid_config`, exit 2) naming
 * the flag a user typed (`--max-flows`, or the variable it came from), what it expects and
 * what was typed. A token is never echoed. The log flags come back apart, as `logging`:
 * they are the CLI's, not the library's.
 *
 * @example
 * ```ts
 * parseServeOptions({ maxFlows: '0' }, {}); // throws: invalid option --max-flows: expected at least 1 flow, found "0"
 * const { logging, ...options } = parseServeOptions({ logLevel: 'warn' }, {}); // logging.logLevel: 'warn'
 * ```
 */
export function parseServeOptions(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedServeOptions & { logging: ServeLogOptions } {
  const parsed = ServeOptionsSchema.safeParse(normaliseServeOptions(raw, env));
  const logging = ServeLogOptionsSchema.safeParse(normaliseServeLogOptions(raw, env));
  if (parsed.success && logging.success) return { ...parsed.data, logging: logging.data };
  const all = [...(parsed.error?.issues ?? []), ...(logging.error?.issues ?? [])];
  const typed: Record<string, unknown> = {};
  const issues = all.map((issue) => {
    const segments = issue.path.map(String);
    const n = [2, 1].find((k) => segments.length >= k && SERVE_FLAGS[segments.slice(0, k).join('.')]);
    const known = n === undefined ? undefined : SERVE_FLAGS[segments.slice(0, n).join('.')];
    if (!known || n === undefined) return issue;
    const fromEnv = known.env !== undefined && raw[known.raw] === undefined && Boolean(env[known.env]);
    const name = fromEnv ? known.env! : known.flag;
    const value = fromEnv ? env[known.env!] : raw[known.raw];
    typed[name] = value !== undefined && known.flag === '--token' ? SECRET : value;
    return { ...issue, path: [name, ...issue.path.slice(n)] };
  });
  // A rule about a flag not given (a token for a public bind) has nothing to quote.
  const lines = (issues as typeof all).flatMap((i) =>
    i.code === 'custom' && valueAt(typed, i.path) === undefined
      ? [`${formatPath(i.path)}: ${i.message}`]
      : describeIssues([i], typed),
  );
  throw new FlowError(FlowErrorCode.InvalidConfig, `invalid option ${lines.join('; ')}`, {
    cause: parsed.error ?? logging.error,
    details: lines,
  });
}

const valueAt = (o: Record<string, unknown>, path: readonly PropertyKey[]) =>
  path.length === 1 ? o[String(path[0])] : undefined;
