/**
 * Why a prompt failed, as far as fallback cares.
 *
 * @example
 * ```ts
 * ERROR_KINDS.includes('rate_limit'); // true
 * ```
 */
export const ERROR_KINDS = ['rate_limit', 'server', 'timeout', 'context_overflow', 'auth', 'other'] as const;

/**
 * One of {@link ERROR_KINDS}:
 * - `rate_limit` — 429, quotas, usage limits: cool the model down, try another.
 * - `server` — 5xx, overloaded, network failures: cool down, try another.
 * - `timeout` — the provider or our own timer gave up: try another.
 * - `context_overflow` — the prompt does not fit: try a model with a larger window.
 * - `auth` — bad or missing key, billing: the whole provider is unusable, try another provider.
 * - `other` — anything else, including an abort (usually our own cancel: do not fall back).
 *
 * @example
 * ```ts
 * const kind: ErrorKind = classifyError(info.error);
 * ```
 */
export type ErrorKind = (typeof ERROR_KINDS)[number];

const CONTEXT_RE =
  /context[ _-]?(length|window|limit)|maximum context|context_length_exceeded|too many tokens|prompt is too long|input is too long|exceeds? the (model'?s? )?(maximum|max|context)|reduce the length/;
const RATE_RE =
  /\b429\b|rate[ _-]?limit|too[ _-]many[ _-]requests|quota|usage limit|free usage exceeded|resource[ _-]exhausted|rate increased too quickly|requests per (minute|day)|tokens per minute/;
const AUTH_RE =
  /\b40[123]\b|unauthori[sz]ed|invalid[ _-]?(x-)?api[ _-]?key|incorrect api key|api key (is )?(missing|not (set|found|valid))|authenticat|permission[ _-]denied|forbidden|credentials?\b|insufficient[ _-]?(credits?|balance|funds)|payment required/;
const TIMEOUT_RE = /timed? ?out\b|\btimeout\b|etimedout|deadline exceeded/;
const SERVER_RE =
  /\b5\d\d\b|overloaded|unavailable|internal[ _-](server[ _-])?error|bad gateway|server[ _-]error|provider returned error|terminated|fetch failed|failed to fetch|network[ _-]?error|connection (refused|reset|error|lost|closed)|econnrefused|econnreset|enotfound|eai_again|socket hang up|at capacity|try again/;

/**
 * Maps a failure as OpenCode reports it to an {@link ErrorKind}. Accepts:
 * - an assistant message's `info.error` (OpenAPI `APIError`, `ProviderAuthError`,
 *   `ContextOverflowError`, `MessageAbortedError`, `MessageOutputLengthError`,
 *   `ContentFilterError`, `StructuredOutputError`, `UnknownError`);
 * - a `session.status` value `{ type: 'retry', attempt, message, next }` — OpenCode's own
 *   retry texts are `Too Many Requests`, `Provider is overloaded`, `Free usage exceeded...`,
 *   `... usage limit reached...`, or the provider's message; unknown texts count as `server`
 *   since OpenCode only retries what it judged transient;
 * - a whole `session.error` / `session.status` event (`{ type, properties }`);
 * - a JS `Error` (`TimeoutError` from `AbortSignal.timeout` → `timeout`) or a plain string.
 *
 * For `APIError` the status code decides first (429 → rate_limit; 401/402/403 → auth; 408,
 * 504, 524 → timeout; 413 → context_overflow; other 5xx → server), except that an
 * over-long-context message wins over the code (providers answer it with 400); then the
 * message and response body; then `isRetryable` → server.
 *
 * @example
 * ```ts
 * classifyError({ name: 'APIError', data: { message: 'Too Many Requests', statusCode: 429, isRetryable: true } }); // 'rate_limit'
 * classifyError({ type: 'retry', attempt: 1, message: 'Provider is overloaded', next: 0 });                     // 'server'
 * classifyError({ name: 'ProviderAuthError', data: { providerID: 'openai', message: 'bad key' } });             // 'auth'
 * ```
 */
export function classifyError(error: unknown): ErrorKind {
  if (typeof error === 'string') return fromText(error) ?? 'other';
  if (!isRecord(error)) return 'other';

  // Whole events: session.error carries { error }, session.status carries { status }.
  if (isRecord(error.properties)) {
    if ('error' in error.properties) return classifyError(error.properties.error);
    if ('status' in error.properties) return classifyError(error.properties.status);
  }
  if (error.type === 'retry') return fromText(text(error.message)) ?? 'server';

  const name = text(error.name) ?? text(error._tag);
  const data = isRecord(error.data) ? error.data : undefined;
  switch (name) {
    case 'ProviderAuthError':
      return 'auth';
    case 'ContextOverflowError':
      return 'context_overflow';
    case 'APIError':
      return fromApiError(data ?? {});
    case 'TimeoutError':
      return 'timeout';
    case 'MessageAbortedError':
    case 'AbortError':
    case 'MessageOutputLengthError':
    case 'ContentFilterError':
    case 'StructuredOutputError':
      return 'other';
  }
  if (error.code === 'timeout') return 'timeout';
  return fromText(text(data?.message) ?? text(error.message)) ?? 'other';
}

function fromApiError(data: Record<string, unknown>): ErrorKind {
  const status = typeof data.statusCode === 'number' ? data.statusCode : undefined;
  const body = `${text(data.message) ?? ''} ${(text(data.responseBody) ?? '').slice(0, 4000)}`.toLowerCase();
  if (CONTEXT_RE.test(body) || status === 413) return 'context_overflow';
  if (status === 429) return 'rate_limit';
  if (status === 401 || status === 402 || status === 403) return 'auth';
  if (status === 408 || status === 504 || status === 524) return 'timeout';
  if (status !== undefined && status >= 500) return 'server';
  return fromText(body) ?? (data.isRetryable === true ? 'server' : 'other');
}

function fromText(message: string | undefined): ErrorKind | undefined {
  if (!message) return undefined;
  const lower = message.toLowerCase();
  if (CONTEXT_RE.test(lower)) return 'context_overflow';
  if (RATE_RE.test(lower)) return 'rate_limit';
  if (AUTH_RE.test(lower)) return 'auth';
  if (TIMEOUT_RE.test(lower)) return 'timeout';
  if (SERVER_RE.test(lower)) return 'server';
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
