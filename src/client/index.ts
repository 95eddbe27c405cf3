/**
 * `opencode-flow/client`: a typed client of `opencode-flow serve`, for an app in another
 * process. Typed from the same zod schemas the server answers with (type imports only: no
 * server code, no zod at run time); errors are the library's `FlowError`.
 *
 * @example
 * ```ts
 * import { FlowClient } from 'opencode-flow/client';
 * const client = new FlowClient({ baseUrl: 'http://127.0.0.1:5000', token: process.env.OPENCODE_FLOW_TOKEN });
 * const { id } = await client.createFlow({ task: 'Review src/', agents: ['reviewer'] });
 * for await (const e of client.events(id)) if (e.type === 'agent.delta') process.stdout.write(e.data.text);
 * ```
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { FlowError, FlowErrorCode } from '../errors.js';
import type {
  ApiErrorBody,
  Cancelling,
  CreateFlowRequest,
  FlowAccepted,
  FlowCostAnswer,
  FlowList,
  FlowReportBody,
  FlowStreamEvent,
  FlowSummary,
  FlowView,
  Health,
  PendingRequestBody,
  Readiness,
  ReplyAccepted,
  ReplyAnswer,
  RequestList,
  RunningFlow,
} from '../serve/api-schemas.js';

export { FlowError, FlowErrorCode };
export type {
  Cancelling,
  CreateFlowRequest,
  FlowAccepted,
  FlowCostAnswer,
  FlowReportBody,
  FlowStreamEvent,
  FlowSummary,
  FlowView,
  Health,
  PendingRequestBody,
  Readiness,
  ReplyAccepted,
  ReplyAnswer,
  RunningFlow,
};

/** What a `FlowError` from the client carries in `details`: the server's own code and issues. */
export interface ApiErrorDetails {
  /** The API's error code (`too_many_flows`, `invalid_body`, `request_not_found`, ...). */
  code: string;
  /** The HTTP status (also `error.httpStatus`). */
  status: number;
  /** Invalid fields, with paths such as `agents[1].model`. */
  issues?: Array<{ path: string; message: string }>;
}

export interface FlowClientOptions {
  /** Where `opencode-flow serve` listens, e.g. `http://127.0.0.1:5000`. */
  baseUrl: string;
  /** The server's bearer token (`--token` / `OPENCODE_FLOW_TOKEN`). */
  token?: string;
  /** Each request (not an event stream) gives up after this long. Default 30 s. */
  timeoutMs?: number;
  /** Event streams: reconnects in a row (without an event between) before giving up. Default 5. */
  maxReconnects?: number;
  /** Event streams: the first reconnect waits this long, each next one twice as long (up to 5 s). Default 250 ms. */
  reconnectDelayMs?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface FollowOptions {
  /** Resume after this event id (`Last-Event-ID`): only later events come. */
  lastEventId?: number;
  /** Stops following (the iteration ends, no error). */
  signal?: AbortSignal;
}

const FLOW_CODES = new Set<string>(Object.values(FlowErrorCode));

/** The library's code for an API error code (the API's own code stays in `details.code`). */
function flowCodeOf(apiCode: string, status: number): FlowErrorCode {
  if (FLOW_CODES.has(apiCode)) return apiCode as FlowErrorCode;
  if (apiCode === 'request_not_found') return FlowErrorCode.FlowNotFound;
  if (apiCode === 'too_many_flows' || apiCode === 'shutting_down' || status === 503)
    return FlowErrorCode.ServerUnavailable;
  if (status >= 500) return FlowErrorCode.Internal;
  // The caller's mistake: a bad body, a bad token, a flow already over, no such route.
  return FlowErrorCode.InvalidConfig;
}

/** The API's code of an error the client threw (`too_many_flows`, ...), if the server gave one. */
export function apiErrorCode(e: unknown): string | undefined {
  return e instanceof FlowError ? (e.details as ApiErrorDetails | undefined)?.code : undefined;
}

/** True once a flow's view is its report (not `running` or `queued`). */
export function isFinished(view: FlowView): view is FlowReportBody {
  return view.status !== 'running' && view.status !== 'queued';
}

/** `AbortSignal.any` (Node >= 20.3, browsers), else the same by hand. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any(signals);
  const ctl = new AbortController();
  for (const s of signals) {
    if (s.aborted) ctl.abort(s.reason);
    else s.addEventListener('abort', () => ctl.abort(s.reason), { once: true });
  }
  return ctl.signal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * A client of one `opencode-flow serve`. Every method throws a `FlowError` when the server
 * refuses (the API's code and issues in `details`, the status in `httpStatus`) or cannot be
 * reached (`server_unavailable`; `timeout` past `timeoutMs`).
 *
 * @example
 * ```ts
 * const client = new FlowClient({ baseUrl: 'http://127.0.0.1:5000', token });
 * const { id } = await client.createFlow({ task: 'Review src/', agents: ['reviewer'] });
 * const report = await client.wait(id);
 * ```
 */
export class FlowClient {
  readonly baseUrl: string;
  readonly #token?: string;
  readonly #timeoutMs: number;
  readonly #maxReconnects: number;
  readonly #reconnectDelayMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: FlowClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new FlowError(FlowErrorCode.InvalidConfig, `baseUrl: expected an http(s) URL, got "${options.baseUrl}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new FlowError(FlowErrorCode.InvalidConfig, `baseUrl: expected an http(s) URL, got "${options.baseUrl}"`);
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxReconnects = options.maxReconnects ?? 5;
    this.#reconnectDelayMs = options.reconnectDelayMs ?? 250;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Start a flow (`POST /flows`): `{ id, status }` once the server accepted it. */
  createFlow(body: CreateFlowRequest, init?: { signal?: AbortSignal }): Promise<FlowAccepted> {
    return this.#json('POST', '/flows', { body, ...init });
  }

  /** Flows, newest first (`GET /flows`). */
  async listFlows(init?: { signal?: AbortSignal }): Promise<FlowSummary[]> {
    return (await this.#json<FlowList>('GET', '/flows', init)).flows;
  }

  /** A flow's running view, or its report once finished (`isFinished` tells which). */
  getFlow(id: string, init?: { signal?: AbortSignal }): Promise<FlowView> {
    return this.#json('GET', `/flows/${encodeURIComponent(id)}`, init);
  }

  /** A flow's cost so far: total, by agent, by model (USD). */
  getCost(id: string, init?: { signal?: AbortSignal }): Promise<FlowCostAnswer> {
    return this.#json('GET', `/flows/${encodeURIComponent(id)}/cost`, init);
  }

  /** The permission requests and questions the flow's agents wait on. */
  async requests(id: string, init?: { signal?: AbortSignal }): Promise<PendingRequestBody[]> {
    return (await this.#json<RequestList>('GET', `/flows/${encodeURIComponent(id)}/requests`, init)).requests;
  }

  /**
   * Answer a request: `'once' | 'always' | 'reject'` for a permission, one list of choices
   * per question (or `'reject'`) for a question.
   */
  reply(id: string, requestId: string, answer: ReplyAnswer, init?: { signal?: AbortSignal }): Promise<ReplyAccepted> {
    const path = `/flows/${encodeURIComponent(id)}/requests/${encodeURIComponent(requestId)}`;
    return this.#json('POST', path, { body: { answer }, ...init });
  }

  /**
   * Cancel a flow: its report once it wound down, `{ status: 'cancelling' }` if it takes the
   * server longer than 10 s. A flow already over is a `FlowError` (`details.code`
   * `flow_not_running`).
   */
  cancel(id: string, init?: { signal?: AbortSignal }): Promise<FlowReportBody | Cancelling> {
    return this.#json('DELETE', `/flows/${encodeURIComponent(id)}`, init);
  }

  /** `GET /healthz`. */
  health(init?: { signal?: AbortSignal }): Promise<Health> {
    return this.#json('GET', '/healthz', init);
  }

  /** `GET /readyz`: whether the server is ready, and if not why (a 503 is an answer here, not an error). */
  ready(init?: { signal?: AbortSignal }): Promise<Readiness> {
    return this.#json('GET', '/readyz', { ...init, accept: [503] });
  }

  /**
   * Follow a flow's events: first those so far (or those after `lastEventId`), then live
   * ones; the iteration ends after `flow.done`. A dropped connection is resumed from the
   * last event read (`Last-Event-ID`), so nothing is lost or repeated; after
   * `maxReconnects` failed attempts in a row it throws `server_unavailable`.
   *
   * @example
   * ```ts
   * for await (const e of client.events(id)) {
   *   if (e.type === 'agent.input_required') await client.reply(id, e.data.request.id, 'once');
   *   if (e.type === 'flow.done') console.log(e.data.status);
   * }
   * ```
   */
  async *events(id: string, options: FollowOptions = {}): AsyncGenerator<FlowStreamEvent, void, undefined> {
    const { signal } = options;
    let last = options.lastEventId ?? 0;
    let failures = 0;
    let lastError: unknown;
    const path = `/flows/${encodeURIComponent(id)}/events`;
    while (!signal?.aborted) {
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        if (last > 0) headers['last-event-id'] = String(last);
        let res: Response | undefined;
        try {
          res = await this.#send('GET', path, { headers, signal: stop.signal });
        } catch (e) {
          if (signal?.aborted) return;
          if (e instanceof FlowError && e.httpStatus !== undefined) throw e; // the server refused: no retry
          lastError = e;
        }
        if (res?.body) {
          const queue: EventSourceMessage[] = [];
          const parser = createParser({ onEvent: (m) => queue.push(m) });
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              parser.feed(value);
              for (let m = queue.shift(); m; m = queue.shift()) {
                const e = { id: Number(m.id), type: m.event, data: JSON.parse(m.data) as unknown } as FlowStreamEvent;
                last = e.id;
                failures = 0;
                yield e;
                if (e.type === 'flow.done') return;
              }
            }
            lastError = new Error('the stream ended before flow.done');
          } catch (e) {
            if (signal?.aborted) return;
            lastError = e;
          }
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
        stop.abort();
      }
      if (++failures > this.#maxReconnects)
        throw new FlowError(
          FlowErrorCode.ServerUnavailable,
          `the event stream of flow ${id} broke off after event ${last} and ${this.#maxReconnects} reconnects failed: ${
            lastError instanceof Error ? lastError.message : String(lastError)
          }`,
          { cause: lastError },
        );
      await sleep(Math.min(5_000, this.#reconnectDelayMs * 2 ** (failures - 1)), signal);
    }
  }

  /** Follow a flow to its end and resolve with its report (the data of `flow.done`). */
  async wait(id: string, options: FollowOptions = {}): Promise<FlowReportBody> {
    for await (const e of this.events(id, options)) if (e.type === 'flow.done') return e.data;
    // Stopped by the caller's signal before the end: the flow's state now.
    const view = await this.getFlow(id);
    if (isFinished(view)) return view;
    throw new FlowError(FlowErrorCode.Cancelled, `stopped waiting for flow ${id} before it finished`);
  }

  async #json<T>(
    method: string,
    path: string,
    init: { body?: unknown; signal?: AbortSignal; accept?: number[] } = {},
  ): Promise<T> {
    const signals = [AbortSignal.timeout(this.#timeoutMs), ...(init.signal ? [init.signal] : [])];
    const headers: Record<string, string> = { accept: 'application/json' };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.#send(method, path, {
      headers,
      signal: anySignal(signals),
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      accept: init.accept,
    });
    try {
      return (await res.json()) as T;
    } catch (e) {
      throw new FlowError(FlowErrorCode.OpencodeRequest, `${method} ${path}: the answer is not JSON`, {
        cause: e,
        httpStatus: res.status,
      });
    }
  }

  /** One request; a non-2xx answer (other than `accept`) becomes a `FlowError`. */
  async #send(
    method: string,
    path: string,
    init: { headers: Record<string, string>; signal: AbortSignal; body?: string; accept?: number[] },
  ): Promise<Response> {
    const headers = { ...init.headers };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let res: Response;
    try {
      res = await this.#fetch(this.baseUrl + path, { method, headers, body: init.body, signal: init.signal });
    } catch (e) {
      const timedOut = e instanceof Error && e.name === 'TimeoutError';
      throw new FlowError(
        timedOut ? FlowErrorCode.Timeout : FlowErrorCode.ServerUnavailable,
        timedOut
          ? `${method} ${path}: no answer from ${this.baseUrl} within ${this.#timeoutMs} ms`
          : `${method} ${path}: cannot reach ${this.baseUrl}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    if (res.ok || init.accept?.includes(res.status)) return res;
    const text = await res.text().catch(() => '');
    let body: Partial<ApiErrorBody> = {};
    try {
      body = JSON.parse(text) as ApiErrorBody;
    } catch {
      // not the API's error shape: keep the status
    }
    const apiCode = body.error?.code ?? `http_${res.status}`;
    const details: ApiErrorDetails = {
      code: apiCode,
      status: res.status,
      ...(body.error?.issues ? { issues: body.error.issues } : {}),
    };
    throw new FlowError(
      flowCodeOf(apiCode, res.status),
      body.error?.message ?? `${method} ${path}: HTTP ${res.status}`,
      {
        details,
        httpStatus: res.status,
      },
    );
  }
}
