import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { ServeEvent } from './flow-record.js';

/** Comment lines sent this often keep idle proxies from closing a quiet stream. */
export const SSE_KEEPALIVE_MS = 15_000;

/**
 * `GET /flows/:id/events`: the flow's events as server-sent events (`event:` the type,
 * `data:` JSON, `id:` the event's number), first the ones so far, then live ones; the
 * stream ends after `flow.done`. A client that reconnects with `Last-Event-ID` (or
 * `?after=N`) gets only what it missed. `subscribe` gives the events: a record's own, or (on
 * a replica of a pool) the ones the store holds.
 *
 * @example
 * ```ts
 * app.get('/flows/:id/events', (c) => streamFlowEvents(c, (after, signal) => record.subscribe(after, signal)));
 * ```
 */
export function streamFlowEvents(
  c: Context,
  subscribe: (after: number, signal: AbortSignal) => AsyncIterable<ServeEvent>,
  { keepAliveMs = SSE_KEEPALIVE_MS }: { keepAliveMs?: number } = {},
): Response {
  const raw = c.req.header('last-event-id') ?? c.req.query('after') ?? '0';
  const after = /^\d+$/.test(raw) ? Number(raw) : 0;
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    const stop = new AbortController();
    stream.onAbort(() => stop.abort());
    const keepAlive = setInterval(() => {
      stream.write(': keep-alive\n\n').catch(() => stop.abort());
    }, keepAliveMs);
    try {
      for await (const e of subscribe(after, stop.signal)) {
        try {
          await stream.writeSSE({ id: String(e.id), event: e.type, data: JSON.stringify(e.data) });
        } catch {
          return; // the client went away
        }
      }
    } finally {
      clearInterval(keepAlive);
    }
  });
}
