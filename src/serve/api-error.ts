import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { formatPath, formatZodIssues } from '../config/errors.js';
import { maskPasswords } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';

/** One invalid field of a request: its path (`agents[1].model`) and what was wrong. */
export interface ApiIssue {
  path: string;
  message: string;
}

/** The body of every error answer: `{ error: { code, message, issues? } }`. */
export interface ApiErrorBody {
  error: { code: string; message: string; issues?: ApiIssue[] };
}

/**
 * Answer with the API's error shape.
 *
 * @example
 * ```ts
 * app.notFound((c) => apiError(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
 * ```
 */
export function apiError(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  issues?: ApiIssue[],
): Response {
  // A URL's password never goes out in an answer, whoever wrote the message.
  const masked = issues?.map((i) => ({ path: i.path, message: maskPasswords(i.message) }));
  const body: ApiErrorBody = {
    error: { code, message: maskPasswords(message), ...(masked ? { issues: masked } : {}) },
  };
  return c.json(body, status);
}

/**
 * A ZodError → issues with field paths, worded like the CLI's messages (`formatZodIssues`).
 *
 * @example
 * ```ts
 * const r = CreateFlowBodySchema.safeParse(body);
 * if (!r.success) return apiError(c, 400, 'invalid_body', 'invalid flow', zodIssues(r.error));
 * ```
 */
export function zodIssues(error: z.ZodError): ApiIssue[] {
  const lines = formatZodIssues(error);
  return error.issues.map((issue, i) => {
    const path = formatPath(issue.path) || '(root)';
    const line = lines[i] ?? issue.message;
    return { path, message: line.startsWith(`${path}: `) ? line.slice(path.length + 2) : line };
  });
}

/** HTTP status for a library error: the caller's mistake is 4xx, an unreachable OpenCode 502/503. */
export function statusOfFlowError(e: FlowError): ContentfulStatusCode {
  switch (e.code) {
    case FlowErrorCode.InvalidConfig:
    case FlowErrorCode.UnknownAgent:
      return 400;
    case FlowErrorCode.FlowNotFound:
      return 404;
    case FlowErrorCode.ServerUnavailable:
    case FlowErrorCode.NoProvider:
      return 503;
    case FlowErrorCode.OpencodeRequest:
      return 502;
    case FlowErrorCode.Timeout:
      return 504;
    default:
      return 500;
  }
}

/**
 * Answer for any thrown error: a `FlowError` keeps its code and message; anything else is
 * a 500 `internal` whose message is not echoed (it may hold internals).
 *
 * @example
 * ```ts
 * app.onError((err, c) => errorResponse(c, err));
 * ```
 */
export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof FlowError) {
    const details = Array.isArray(err.details)
      ? (err.details as unknown[]).filter((d): d is string => typeof d === 'string')
      : [];
    const issues = details.length ? details.map((line) => splitIssueLine(line)) : undefined;
    return apiError(c, statusOfFlowError(err), err.code, err.message, issues);
  }
  return apiError(c, 500, FlowErrorCode.Internal, 'internal error (see the server log)');
}

function splitIssueLine(line: string): ApiIssue {
  const i = line.indexOf(': ');
  return i > 0 ? { path: line.slice(0, i), message: line.slice(i + 2) } : { path: '(root)', message: line };
}
