import type { MiddlewareHandler } from 'hono';
import { maskPasswords } from '../echo.js';
import type { ServeLogger } from './logger.js';
import { REQUEST_ID_HEADER, requestIdFrom, requestScope } from './request-id.js';

/** Query parameters whose values never reach a log line. */
const SECRET_PARAM = /^(token|access_token|auth|authorization|key|api_key|apikey|password|secret|sig|signature)$/i;

/** Probes answered fine are logged at `debug`: an orchestrator polls them every few seconds. */
const PROBES = new Set(['/healthz', '/readyz']);

/**
 * A request's path as it is logged: its query kept, but the value of a secret parameter
 * (`token`, `password`, `key`, …) replaced by `***`, and any URL password in it masked.
 *
 * @example
 * ```ts
 * loggedPath(new URL('http://h/flows?token=abc&after=3')); // '/flows?token=***&after=3'
 * ```
 */
export function loggedPath(url: URL): string {
  if (!url.search) return maskPasswords(url.pathname);
  const query = url.search
    .slice(1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // A malformed escape: judge the name as written.
      }
      return SECRET_PARAM.test(decoded) ? `${name}=***` : pair;
    })
    .join('&');
  return maskPasswords(`${url.pathname}?${query}`);
}

/** The id of the request a Hono context answers (set by {@link requestLog}). */
export const requestIds = new WeakMap<Request, string>();

/**
 * Gives each request an id (the client's `X-Request-Id` when sane, else a new one), answers
 * with it in `X-Request-Id`, and logs one line when the response has been sent: method,
 * path ({@link loggedPath}), status, duration. Under Node the line waits for the last byte
 * of the body (an event stream's duration is the stream's); elsewhere it is written when the
 * handler returns.
 *
 * @example
 * ```ts
 * app.use('*', requestLog(logger));
 * // {"msg":"request","reqId":"test-req-1","method":"GET","path":"/flows","status":200,"durationMs":2}
 * ```
 */
export function requestLog(logger: ServeLogger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const id = requestScope.getStore()?.id ?? requestIdFrom(c.req.header(REQUEST_ID_HEADER));
    requestIds.set(c.req.raw, id);
    const path = loggedPath(new URL(c.req.url));
    await next();
    c.header(REQUEST_ID_HEADER, id);
    const status = c.res.status;
    const write = (aborted: boolean) => {
      const fields = {
        reqId: id,
        method: c.req.method,
        path,
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        ...(aborted ? { aborted: true } : {}),
      };
      if (PROBES.has(c.req.path) && status < 400) logger.debug(fields, 'request');
      else logger.info(fields, 'request');
    };
    const outgoing = (c.env as { outgoing?: NodeJS.EventEmitter & { writableFinished?: boolean } } | undefined)
      ?.outgoing;
    if (!outgoing || typeof outgoing.once !== 'function') return write(false);
    // `close` follows `finish` on a completed response; alone, the client went away first.
    outgoing.once('close', () => write(!outgoing.writableFinished));
  };
}
