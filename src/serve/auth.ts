import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { apiError } from './api-error.js';
import { hostOfHeader, isLoopbackHost } from './loopback.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Compare a presented token with the expected one in constant time. Both are hashed
 * first, so neither their contents nor their lengths leak through timing.
 *
 * @example
 * ```ts
 * tokenMatches('secret-token-1234567', 'secret-token-1234567'); // true
 * ```
 */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * Require `Authorization: Bearer <token>`. Without a configured token (a loopback-only
 * server) every request passes, but only with a loopback `Host` header: a web page cannot
 * reach the API through DNS rebinding. Tokens are never accepted in the URL, where they
 * would end up in logs and browser history; the dashboard sends the header itself.
 *
 * @example
 * ```ts
 * app.use('/flows/*', requireToken(process.env.OPENCODE_FLOW_TOKEN));
 * ```
 */
export function requireToken(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (!token) {
      const host = c.req.header('host');
      if (host !== undefined && !isLoopbackHost(hostOfHeader(host))) {
        return apiError(
          c,
          403,
          'forbidden_host',
          `this server has no token and only answers requests addressed to a loopback host, not "${host}"`,
        );
      }
      return next();
    }
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!m || !tokenMatches(m[1]!, token)) {
      c.header('WWW-Authenticate', 'Bearer realm="opencode-flow"');
      return apiError(
        c,
        401,
        'unauthorized',
        m ? 'invalid bearer token' : 'missing bearer token: send "Authorization: Bearer <token>"',
      );
    }
    return next();
  };
}
