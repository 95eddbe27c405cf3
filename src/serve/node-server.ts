import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener, RequestError } from '@hono/node-server';
import { printable } from '../echo.js';
import type { ApiErrorBody } from './api-error.js';
import { SILENT_LOGGER, type ServeLogger } from './logger.js';
import { REQUEST_ID_HEADER, requestIdFrom, requestScope } from './request-id.js';

/** What the API answers with: Hono's `app.fetch`. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

const errorJson = (code: string, message: string) =>
  JSON.stringify({ error: { code, message } } satisfies ApiErrorBody);

/**
 * A Node HTTP server for the API whose refusals carry the API's JSON error body too. Two
 * layers refuse a request before the app sees it, each with an empty 400 by default:
 * Node's HTTP parser (a lying or conflicting `Content-Length`, a bad `Transfer-Encoding`,
 * oversized headers) and Hono's Node adapter (a `Host` that is not a host). Here both answer
 * `{ "error": { "code": "bad_request", "message": … } }`, so a client sees why.
 *
 * @example
 * ```ts
 * const { app } = createServeApp(flow, { token });
 * const server = createNodeServer(app.fetch);
 * server.listen(5000, '127.0.0.1');
 * ```
 */
export function createNodeServer(fetch: FetchHandler, limits: NodeServerOptions = {}): Server {
  const logger = limits.logger ?? SILENT_LOGGER;
  const listener = getRequestListener(fetch, {
    errorHandler: (err) => {
      // The client hung up mid-request (its body cut off): nobody to answer, nothing to log.
      if (isHangUp(err)) return json(400, errorJson('bad_request', 'the client closed the connection'));
      if (err instanceof RequestError) {
        // The adapter builds a URL from the Host header and the target; `new URL` says only "Invalid URL".
        const why =
          err.message === 'Invalid URL' ? 'the Host header and request target do not form a valid URL' : err.message;
        return json(400, errorJson('bad_request', `bad request: ${printable(why, 200)}`));
      }
      logger.error({ reqId: requestScope.getStore()?.id, err }, 'request failed');
      return json(500, errorJson('internal', 'internal error (see the server log)'));
    },
  });
  const headersTimeout = limits.headersTimeoutMs ?? 10_000;
  const requestTimeout = limits.requestTimeoutMs ?? 60_000;
  const server = createServer(
    {
      // A client that never finishes its headers, or sends less body than its Content-Length,
      // is answered 408 and closed instead of holding a connection open (slowloris).
      headersTimeout,
      requestTimeout,
      // Node checks those timeouts this often (its default, 30 s, would let them run long).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 2))),
    },
    // Each request runs in a scope holding its id: the app's request log takes it, and an
    // error the adapter catches (after the app) is logged with it.
    (req, res) => {
      const raw = req.headers[REQUEST_ID_HEADER.toLowerCase()];
      const id = requestIdFrom(Array.isArray(raw) ? raw[0] : raw);
      void requestScope.run({ id }, () => listener(req, res));
    },
  );
  server.on('clientError', answerClientError);
  return server;
}

/** How `serve`'s listener waits for requests, and where its errors are logged. */
export interface NodeServerOptions extends NodeServerLimits {
  /** Errors no handler answered (the app's own go through its logger). Default: none printed. */
  logger?: ServeLogger;
}

/** How long `serve` waits for a request to arrive. */
export interface NodeServerLimits {
  /** For the request's headers, ms. Default 10 s. */
  headersTimeoutMs?: number;
  /** For the whole request, body included, ms (not the answer: an SSE stream is not cut). Default 60 s. */
  requestTimeoutMs?: number;
}

/** The error of a request body whose client went away (`aborted`, `ECONNRESET`), at any depth of causes. */
function isHangUp(err: unknown): boolean {
  for (let e = err as { code?: string; message?: string; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (e.code === 'ECONNRESET' || e.code === 'ERR_STREAM_PREMATURE_CLOSE' || e.message === 'aborted') return true;
    e = e.cause as typeof e;
  }
  return false;
}

function json(status: number, body: string): Response {
  return new Response(body, { status, headers: { 'content-type': 'application/json' } });
}

/**
 * Node's parser refused the bytes of a request. Answer as Node would (status and
 * `Connection: close`), with the API's JSON body, and only when nothing was written on the
 * connection yet: otherwise the answer could land inside an earlier response.
 */
function answerClientError(err: Error & { code?: string; reason?: string }, duplex: Duplex): void {
  const socket = duplex as Socket;
  if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request was not received in time']
        : [400, `malformed HTTP request: ${printable(err.reason ?? err.message, 200)}`];
  const body = errorJson(
    status === 400 ? 'bad_request' : status === 431 ? 'headers_too_large' : 'request_timeout',
    message,
  );
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  );
}
