/**
 * How OpenCode reports a failed model call, reduced to what a fallback policy needs.
 * OpenCode puts provider failures in the assistant message's `info.error`
 * (`APIError` with `data.statusCode`, `ProviderAuthError`, `ContextOverflowError`,
 * `MessageAbortedError`, ...) and shows its own retries as `session.status {type: 'retry'}`.
 */
export type ProviderErrorKind = 'rate_limit' | 'server' | 'timeout' | 'context_overflow' | 'auth' | 'aborted' | 'other';

/** Classify an assistant message's `info.error`. */
export function classifyProviderError(error: unknown): { name: string; message: string; kind: ProviderErrorKind } {
  const e = (error ?? {}) as { name?: string; data?: { message?: string; statusCode?: number } };
  const name = e.name ?? 'UnknownError';
  const message = e.data?.message ?? name;
  const status = e.data?.statusCode;
  let kind: ProviderErrorKind = 'other';
  if (name === 'MessageAbortedError') kind = 'aborted';
  else if (name === 'ProviderAuthError') kind = 'auth';
  else if (name === 'ContextOverflowError') kind = 'context_overflow';
  else if (status === 429) kind = 'rate_limit';
  else if (status === 401 || status === 403) kind = 'auth';
  else if (status === 408 || status === 504) kind = 'timeout';
  else if (status !== undefined && status >= 500) kind = 'server';
  else kind = classifyRetryMessage(message);
  return { name, message, kind };
}

/** Classify the free-text message of a `session.status {type: 'retry'}` event. */
export function classifyRetryMessage(message: string): ProviderErrorKind {
  const m = message.toLowerCase();
  if (/rate.?limit|429|too many requests|quota|overloaded/.test(m)) return 'rate_limit';
  if (/timeout|timed out|etimedout/.test(m)) return 'timeout';
  if (/context|too long|maximum context/.test(m)) return 'context_overflow';
  if (/unauthori[sz]ed|401|403|api key|auth/.test(m)) return 'auth';
  if (/5\d\d|server error|internal|bad gateway|unavailable/.test(m)) return 'server';
  return 'other';
}
