import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { assertConforms, assertEventConforms } from './contract.js';

/** A test token (long enough for the server's minimum). */
export const TOKEN = 'serve-test-token-0123456789abcdef';

export interface ApiAnswer<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** One HTTP call to the API; the body is parsed when it is JSON. */
export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  {
    token = TOKEN,
    body,
    headers = {},
  }: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiAnswer<T>> {
  const h: Record<string, string> = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, { method, headers: h, body: payload, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
  // Every answer a serve test reads is checked against the published OpenAPI document.
  await assertConforms({
    method,
    path,
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: parsed,
  });
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

export interface SseEvent {
  id: number;
  event: string;
  data: any;
}

/**
 * Read a flow's SSE stream until the server ends it (or `until` says stop). Resolves with
 * every event read and whether the server closed the stream by itself.
 */
export async function readEvents(
  base: string,
  id: string,
  {
    token = TOKEN,
    lastEventId,
    until,
    onEvent,
    timeoutMs = 60_000,
  }: {
    token?: string;
    lastEventId?: number;
    until?: (e: SseEvent, all: SseEvent[]) => boolean;
    onEvent?: (e: SseEvent, all: SseEvent[]) => void;
    timeoutMs?: number;
  } = {},
): Promise<{ events: SseEvent[]; ended: boolean; contentType: string }> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
  const res = await fetch(`${base}/flows/${id}/events`, { headers, signal: ctl.signal });
  if (res.status !== 200 || !res.body) throw new Error(`events: HTTP ${res.status} ${await res.text()}`);
  await assertConforms({
    method: 'GET',
    path: `/flows/${id}/events`,
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: undefined,
  });
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  let ended = false;
  const reader = res.body.getReader();
  try {
    outer: for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let eid = 0;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
          else if (line.startsWith('id: ')) eid = Number(line.slice(4));
        }
        if (!data.length) continue; // keep-alive comment
        const e = { id: eid, event, data: JSON.parse(data.join('\n')) };
        assertEventConforms(e);
        events.push(e);
        onEvent?.(e, events);
        if (until?.(e, events)) break outer;
      }
    }
  } finally {
    clearTimeout(timer);
    if (!ended) ctl.abort();
  }
  return { events, ended, contentType: res.headers.get('content-type') ?? '' };
}

/** Samples of a Prometheus text exposition: `name{a="1",b="2"}` → value (labels sorted). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = m[2]
      ? [...m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort()
      : [];
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

/** One sample's value (0 when absent). */
export function sample(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const key = `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',')}}`;
  return metrics.get(key) ?? 0;
}

/** A memory file of its own in a temp dir (the file backend is single-process); `cleanup` removes the dir. */
export async function tempMemory(tag: string): Promise<{ uri: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `ocf-serve-${tag}-`));
  return { uri: `file:${join(dir, 'memory.json')}`, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Poll `fn` until it returns a truthy value. */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  { timeoutMs = 30_000, intervalMs = 100, what = 'condition' } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
