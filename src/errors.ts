/**
 * The one error class of opencode-flow. Every failure a user can act on carries a
 * string `code`, so callers branch on codes, not on message text.
 *
 * @example
 * ```ts
 * try { await flow.execute({ task, agents: ['nope'] }) }
 * catch (e) { if (e instanceof FlowError && e.code === FlowErrorCode.UnknownAgent) ... }
 * ```
 */
export const FlowErrorCode = {
  /** Invalid configuration, flags or API arguments (CLI exit 2). */
  InvalidConfig: 'invalid_config',
  /** An agent name that is neither a preset nor spawned. */
  UnknownAgent: 'unknown_agent',
  /** The OpenCode server cannot be reached or did not start. */
  ServerUnavailable: 'server_unavailable',
  /** The OpenCode server has no usable provider/model. */
  NoProvider: 'no_provider',
  /** An OpenCode HTTP call failed or timed out. */
  OpencodeRequest: 'opencode_request',
  /** A prompt or flow ran past its timeout. */
  Timeout: 'timeout',
  /** The flow was cancelled. */
  Cancelled: 'cancelled',
  /** The flow's hard budget was reached. */
  BudgetExceeded: 'budget_exceeded',
  /** A memory operation was rejected (bad key, oversized value, backend failure). */
  Memory: 'memory',
  /** A stored flow could not be found or read. */
  FlowNotFound: 'flow_not_found',
  /** Anything else: a bug on our side. */
  Internal: 'internal',
} as const;

export type FlowErrorCode = (typeof FlowErrorCode)[keyof typeof FlowErrorCode];

export class FlowError extends Error {
  override readonly name = 'FlowError';
  constructor(
    readonly code: FlowErrorCode,
    message: string,
    options?: { cause?: unknown; details?: unknown; httpStatus?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.details = options?.details;
    this.httpStatus = options?.httpStatus;
  }
  readonly details: unknown;
  /** The HTTP status of a failed OpenCode call (`opencode_request`), when there was an answer. */
  readonly httpStatus: number | undefined;
}

/** True when `e` is a FlowError, optionally of the given code. */
export function isFlowError(e: unknown, code?: FlowErrorCode): e is FlowError {
  return e instanceof FlowError && (code === undefined || e.code === code);
}
