import { fileURLToPath } from 'node:url';
import { quoteValue } from './echo.js';
import { FlowError, FlowErrorCode } from './errors.js';

/** The URI helpers memory and flow-store URIs share (`file:`, `sqlite:` paths; errors that quote the URI masked). */

/** A `invalid_config` FlowError about a URI. */
export function invalidUri(message: string, cause?: unknown): FlowError {
  return new FlowError(FlowErrorCode.InvalidConfig, message, cause === undefined ? undefined : { cause });
}

/** A URI as an error quotes it: password masked, control characters escaped, cut at 120 characters. */
export function quoteUri(uri: string): string {
  return quoteValue(uri, 120);
}

/**
 * The path of a `file:` or `sqlite:` URI, given what follows the scheme: `//…` is a file URL
 * (absolute, percent-decoded), anything else a path as written; `undefined` when empty.
 *
 * @example
 * ```ts
 * uriPath('sqlite:///var/lib/x.db', '///var/lib/x.db', 'sqlite', { what: 'memory URI', example: 'flow.db' }); // '/var/lib/x.db'
 * ```
 */
export function uriPath(
  uri: string,
  rest: string,
  scheme: string,
  errors: { what: string; example: string },
): string | undefined {
  if (rest.startsWith('//')) {
    try {
      const path = fileURLToPath(`file:${rest}`);
      return path === '' ? undefined : path;
    } catch (e) {
      throw invalidUri(
        `${errors.what} ${quoteUri(uri)}: ${scheme}:// needs an absolute path, e.g. ${scheme}:///${errors.example}`,
        e,
      );
    }
  }
  return rest === '' ? undefined : rest;
}
