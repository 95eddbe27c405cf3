import pino, { type DestinationStream, type Logger } from 'pino';
import { maskPasswords } from '../echo.js';
import type { LogFormat, LogLevel } from './log-options.js';

/** What a masked secret is written as. */
export const MASK = '***';

/** Field paths whose values never reach a line, whatever logs them (pino `redact`). */
export const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'headers.cookie',
  'token',
  'password',
  '*.authorization',
  '*.token',
  '*.password',
];

const BEARER = /\b(bearer|basic)\s+[^\s"',;]+/gi;
const SECRET_QUERY = /([?&](?:token|access_token|password|secret|key|api_key|apikey)=)[^&\s#"']*/gi;

/**
 * A value as it may be logged: in every string (nested too) URL passwords, `Bearer …`
 * credentials and `?token=` style query values masked, and each of `secrets` (the bearer
 * token) replaced wherever it appears. Errors become `{ type, message, stack, code? }`, masked.
 *
 * @example
 * ```ts
 * maskSecrets('postgres://u:pw@db/f?token=abc', ['abc']); // 'postgres://u:***@db/f?token=***'
 * ```
 */
export function maskSecrets(value: unknown, secrets: readonly string[] = [], depth = 0): unknown {
  if (typeof value === 'string') {
    let s = maskPasswords(value).replace(BEARER, `$1 ${MASK}`).replace(SECRET_QUERY, `$1${MASK}`);
    for (const secret of secrets) if (secret) s = s.split(secret).join(MASK);
    return s;
  }
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return maskSecrets(
      {
        type: value.name,
        message: value.message,
        ...(value.stack ? { stack: value.stack } : {}),
        ...(code !== undefined ? { code } : {}),
        ...(value.cause !== undefined ? { cause: value.cause } : {}),
      },
      secrets,
      depth + 1,
    );
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, secrets, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, secrets, depth + 1)]));
}

/** Options of {@link createServeLogger}. */
export interface ServeLoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Values never printed, wherever they turn up (the bearer token). */
  secrets?: readonly string[];
  /** Where lines go (default: stdout). */
  out?: { write(s: string): unknown };
}

/**
 * The logger `opencode-flow serve` hands the API: pino, writing JSON lines, or through
 * {@link prettyLine} one readable line per entry, with secrets masked ({@link maskSecrets},
 * {@link REDACTED_PATHS}).
 *
 * @example
 * ```ts
 * const logger = createServeLogger({ level: 'info', format: 'json', secrets: [token] });
 * await startServe({ ...options, logger });
 * ```
 */
export function createServeLogger({ level, format, secrets = [], out }: ServeLoggerOptions): Logger {
  const stream: DestinationStream =
    format === 'pretty'
      ? { write: (line: string) => void (out ?? process.stdout).write(prettyLine(line)) }
      : out
        ? { write: (line: string) => void out.write(line) }
        : // Synchronous: `serve` exits right after its last line, which must not be lost.
          pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level,
      redact: { paths: REDACTED_PATHS, censor: MASK },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // pino's own error shape (type, message, stack, cause chain), masked.
      // (Its objects are not plain: a JSON round trip makes them so, nested causes too.)
      serializers: {
        err: (e: Error) => maskSecrets(JSON.parse(JSON.stringify(pino.stdSerializers.err(e))) as unknown, secrets),
      },
      hooks: {
        // Before pino serialises anything: every argument, message included, masked (errors
        // are left to the serializer above, which knows their shape).
        logMethod(args, method) {
          const mask = (a: unknown) => (a instanceof Error ? a : maskSecrets(a, secrets));
          const masked = args.map((a: unknown) =>
            a && typeof a === 'object' && !Array.isArray(a) && !(a instanceof Error)
              ? Object.fromEntries(Object.entries(a).map(([k, v]) => [k, mask(v)]))
              : mask(a),
          ) as Parameters<typeof method>;
          return method.apply(this, masked);
        },
      },
    },
    stream,
  );
}

const LEVEL_WIDTH = 5;
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/**
 * One JSON log line (as pino writes it) as a line for a person:
 * `12:00:03.120 INFO  request reqId=test-req-1 method=GET path=/flows status=200 durationMs=2.1`.
 * An error's stack follows on indented lines.
 *
 * @example
 * ```ts
 * prettyLine('{"level":"info","time":"2025-01-01T12:00:03.120Z","msg":"listening","url":"http://127.0.0.1:5000"}\n');
 * // '12:00:03.120 INFO  listening url=http://127.0.0.1:5000\n' (the time in the local zone)
 * ```
 */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const t = new Date(String(entry.time ?? Date.now()));
  const time = Number.isNaN(t.getTime())
    ? String(entry.time)
    : `${[t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const level = String(entry.level ?? '')
    .toUpperCase()
    .padEnd(LEVEL_WIDTH);
  const fields: string[] = [];
  let stack = '';
  for (const [k, v] of Object.entries(entry)) {
    if (HIDDEN.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${JSON.stringify(String(e.message ?? ''))}`);
      if (typeof e.stack === 'string')
        stack = e.stack
          .split('\n')
          .slice(1)
          .map((l) => `    ${l.trim()}\n`)
          .join('');
      continue;
    }
    fields.push(`${k}=${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`);
  }
  return `${[time, level, String(entry.msg ?? ''), ...fields].join(' ')}\n${stack}`;
}
