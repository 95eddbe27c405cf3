import type { z } from 'zod';
import { printable, quoteValue } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';

/**
 * `a.b[0].c` from a zod issue path. Keys a user wrote are cut and escaped ({@link printable});
 * one that is empty or holds spaces, dots, brackets or quotes is written `["git diff*"]`, so
 * the path still reads as one.
 */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += pathKey(String(p), out === '');
  }
  return out;
}

/**
 * One key of a path as {@link formatPath} writes it: `.key`, or `["odd key"]`.
 *
 * @example
 * ```ts
 * pathKey('model', false); // '.model'
 * pathKey('git diff*', false); // '["git diff*"]'
 * ```
 */
export function pathKey(key: string, first: boolean): string {
  if (/^[^\s.[\]"]+$/.test(key)) return first ? printable(key) : `.${printable(key)}`;
  return `[${quoteValue(key)}]`;
}

/** One line per issue: the field path, what was expected, and what was found. */
export function formatZodIssues(error: z.ZodError, prefix?: string): string[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    const where = [prefix, path].filter(Boolean).join('.');
    let msg = issue.message;
    if (issue.code === 'unrecognized_keys')
      msg = `unknown field(s) ${issue.keys.map((k) => `"${printable(k)}"`).join(', ')}`;
    const input = (issue as { input?: unknown }).input;
    const found =
      input !== undefined && issue.code !== 'invalid_type' && !/got|received/i.test(msg)
        ? ` (got ${quoteValue(input, 80)})`
        : '';
    return `${where || '(root)'}: ${msg}${found}`;
  });
}

/** A ZodError → FlowError `invalid_config` whose message lists every bad field. */
export function zodToFlowError(error: z.ZodError, what: string): FlowError {
  const lines = formatZodIssues(error);
  return new FlowError(FlowErrorCode.InvalidConfig, `invalid ${what}: ${lines.join('; ')}`, {
    cause: error,
    details: lines,
  });
}
