import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/** The header a request id arrives in and is answered with. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

// Safe to copy into a log line and a response header: no spaces, quotes or controls.
const SANE = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The client's request id when it is sane (at most 128 of `A-Z a-z 0-9 . _ -`), else a new one.
 *
 * @example
 * ```ts
 * requestIdFrom('test-req-1'); // 'test-req-1'
 * requestIdFrom('bad id\n');   // 'req_5f0c9a…' (a new one)
 * ```
 */
export function requestIdFrom(incoming: string | null | undefined): string {
  return incoming && SANE.test(incoming) ? incoming : `req_${randomBytes(8).toString('hex')}`;
}

/**
 * The request being answered, for code that has no Hono context (the Node listener's error
 * handler): `createNodeServer` runs each request inside it, the app's request log reads it.
 */
export const requestScope = new AsyncLocalStorage<{ id: string }>();
