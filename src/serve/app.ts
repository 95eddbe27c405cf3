import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { OpencodeFlow } from '../flow/index.js';
import { findTooDeep, MAX_INPUT_DEPTH, tooDeepMessage } from '../config/depth.js';
import { zodToFlowError } from '../config/errors.js';
import { jsonErrorWhere } from '../config/flow-config.js';
import { FlowError } from '../errors.js';
import { apiError, errorResponse, zodIssues } from './api-error.js';
import { apiReferenceCsp, apiReferenceHtml } from './api-reference.js';
import {
  ReplyBodySchema,
  type Cancelling,
  type FlowAccepted,
  type FlowCostAnswer,
  type FlowList,
  type FlowView,
  type Health,
  type Readiness,
  type ReplyAccepted,
  type RequestList,
} from './api-schemas.js';
import { requireToken } from './auth.js';
import { dashboardCsp, dashboardHtml } from './dashboard.js';
import { streamFlowEvents } from './event-stream.js';
import { FlowRegistry } from './flow-registry.js';
import type { FlowRecord } from './flow-record.js';
import { planOf } from './flow-plan.js';
import { CreateFlowBodySchema } from './flow-request.js';
import { ServeMetrics } from './metrics.js';
import {
  ServeAppOptionsSchema,
  type ResolvedServeAppOptions,
  type ServeAppOptions,
  type OnShutdown,
} from './options.js';
import { documented, openApiDocument, type OpenApiDocument } from './openapi.js';
import { checkReadiness } from './readiness.js';
import { newFlowId } from '../flow/ids.js';
import type { PostgresFlowStore } from '../store/postgres.js';
import { PoolReplica } from './pool/replica.js';
import { withIncomingTrace } from '../telemetry/sessions.js';
import { SILENT_LOGGER } from './logger.js';
import { requestIds, requestLog } from './request-log.js';

const FLOW_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** How long `DELETE /flows/:id` waits for the cancelled flow to wind down before answering 202. */
export const CANCEL_WAIT_MS = 10_000;

/** Control over a running API app. */
export interface ServeHandle {
  /** The flows the app serves. */
  readonly flows: FlowRegistry;
  /** Its Prometheus metrics (`metrics.registry`). */
  readonly metrics: ServeMetrics;
  readonly options: ResolvedServeAppOptions;
  /**
   * The pool this app is a replica of, when its flow store is Postgres (`replicas` not
   * false): flows are queued there and run by whichever replica has room.
   */
  readonly pool?: PoolReplica;
  /** What `close()` does to running flows unless told: the `onShutdown` option, else `persist` for a replica, `cancel` otherwise. */
  readonly onShutdown: OnShutdown;
  /** Resolves once the app can serve (a replica has joined its pool); rejects if it cannot. */
  readonly ready: Promise<void>;
  /** True once `close()` was called: new flows are refused (503), `/readyz` says so. */
  readonly closing: boolean;
  /**
   * Stop taking flows, then cancel the running ones (`onShutdown: 'cancel'`, default) or
   * wait for them (`'wait'`); resolves when all have finished and their event streams
   * ended. The `OpencodeFlow` itself is left running: its owner shuts it down.
   */
  close(opts?: { onShutdown?: OnShutdown }): Promise<void>;
}

/**
 * The HTTP API over one `OpencodeFlow`, as a Hono app:
 *
 * | route | auth | answer |
 * | --- | --- | --- |
 * | `POST /flows` | token | 202 `{ id, status: 'running' }`; 400 bad body (`issues` with field paths), 413, 415, 429 at `maxFlows`, 503 closing |
 * | `GET /flows` | token | `{ flows: [{ id, status, task, agents, cost, startedAt, finishedAt? }] }`, newest first |
 * | `GET /flows/:id` | token | the `FlowReport` when finished, else `{ flowId, status: 'running', agents: [...], cost }` |
 * | `GET /flows/:id/events` | token | SSE: events so far, then live; ends after `flow.done` |
 * | `GET /flows/:id/cost` | token | `{ flowId, status, total, byAgent, byModel }` |
 * | `DELETE /flows/:id` | token | cancels: 200 with the report once wound down (202 if slower), 409 if already over |
 * | `GET /metrics` | token | Prometheus text format |
 * | `GET /healthz` | none | 200 while the process runs |
 * | `GET /readyz` | none | 200 when OpenCode and memory answer, else 503 with `reasons` |
 * | `GET /` | none | the live dashboard (its API calls send the token) |
 * | `GET /openapi.json` | none | the OpenAPI 3.1 document of these routes (`openapi.ts`) |
 * | `GET /docs` | none | that document as a self-contained page |
 *
 * Errors are `{ error: { code, message, issues? } }`.
 *
 * @example
 * ```ts
 * import { serve } from '@hono/node-server';
 * const flow = new OpencodeFlow({ serverUrl: 'http://127.0.0.1:4096' });
 * await flow.start();
 * const { app, handle } = createServeApp(flow, { token: process.env.OPENCODE_FLOW_TOKEN, maxFlows: 4 });
 * const server = serve({ fetch: app.fetch, port: 5000, hostname: '127.0.0.1' });
 * // later: await handle.close(); server.close(); await flow.shutdown();
 * ```
 */
export function createServeApp(flow: OpencodeFlow, options: ServeAppOptions = {}): { app: Hono; handle: ServeHandle } {
  const parsed = ServeAppOptionsSchema.safeParse(options);
  if (!parsed.success) throw zodToFlowError(parsed.error, 'serve options');
  const o = parsed.data;
  const logger = o.logger ?? SILENT_LOGGER;
  let closing = false;
  let closed: Promise<void> | undefined;
  // The gauges read the registry, which needs the metrics: break the cycle with a late binding.
  let flows: FlowRegistry | undefined;
  const metrics = new ServeMetrics(() => flows?.active() ?? [], {
    tools: (flow.options.tools ?? []).map((t) => t.name),
  });
  flow.on('tool.call', (call) => metrics.onToolCall(call));
  flows = new FlowRegistry(flow, metrics, {
    keepFinished: o.keepFinished,
    maxEventsPerFlow: o.maxEventsPerFlow,
    logger,
  });
  const registry = flows;
  const pool =
    flow.store.kind === 'postgres' && o.replicas !== false
      ? new PoolReplica(flow, registry, flow.store as PostgresFlowStore, {
          maxFlows: o.maxFlows,
          keepFinished: o.keepFinished,
          timing: o.replicas ?? {},
          ...(o.replicaId ? { replicaId: o.replicaId } : {}),
          ...(o.log ? { log: o.log } : {}),
        })
      : undefined;
  // A replica hands its flows over (the others resume them at once) rather than cancel them.
  const shutdownDefault: OnShutdown = o.onShutdown ?? (pool ? 'persist' : 'cancel');
  const ready = pool ? pool.start() : Promise.resolve();
  ready.catch(() => undefined);

  const app = new Hono();
  const auth = requireToken(o.token);

  app.use('*', requestLog(logger));
  app.use('*', async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });

  app.get('/healthz', documented('healthz'), (c) =>
    c.json({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) } satisfies Health),
  );

  app.get('/readyz', documented('readyz'), async (c) => {
    const r = await checkReadiness(flow);
    if (closing) {
      r.ready = false;
      r.reasons.unshift('shutting down');
    }
    return c.json({ status: r.ready ? 'ready' : 'unavailable', ...r } satisfies Readiness, r.ready ? 200 : 503);
  });

  app.get('/', documented('dashboard'), (c) => {
    const nonce = randomBytes(16).toString('base64');
    c.header('Content-Security-Policy', dashboardCsp(nonce));
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    return c.html(dashboardHtml(nonce));
  });

  app.get('/metrics', documented('getMetrics'), auth, async (c) => {
    const text = await metrics.registry.metrics();
    return c.body(text, 200, { 'Content-Type': metrics.registry.contentType });
  });

  app.post(
    '/flows',
    documented('createFlow'),
    auth,
    bodyLimit({
      maxSize: o.maxBodyBytes,
      onError: (c) => {
        // The rest of the body is never read: the connection cannot carry another request.
        c.header('Connection', 'close');
        return apiError(c, 413, 'payload_too_large', `request body is larger than ${o.maxBodyBytes} bytes`);
      },
    }),
    async (c) => {
      const type = c.req.header('content-type') ?? '';
      if (!/^application\/json\s*(;|$)/i.test(type)) {
        return apiError(c, 415, 'unsupported_media_type', 'expected Content-Type: application/json');
      }
      let raw: unknown;
      const text = await c.req.text();
      try {
        raw = JSON.parse(text);
      } catch (e) {
        return apiError(
          c,
          400,
          'invalid_json',
          `request body is not valid JSON: ${jsonErrorWhere(text, e instanceof Error ? e.message : String(e))}`,
        );
      }
      const deep = findTooDeep(raw);
      if (deep) {
        const line = tooDeepMessage(deep);
        const at = line.slice(0, line.lastIndexOf(': '));
        return apiError(c, 400, 'invalid_body', `invalid flow: ${line}`, [
          { path: at, message: `nested deeper than ${MAX_INPUT_DEPTH} levels` },
        ]);
      }
      const body = CreateFlowBodySchema.safeParse(raw);
      if (!body.success) {
        const issues = zodIssues(body.error);
        return apiError(
          c,
          400,
          'invalid_body',
          `invalid flow: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
          issues,
        );
      }
      if (closing) return apiError(c, 503, 'shutting_down', 'the server is shutting down and takes no new flows');
      if (pool) {
        // Queued for the pool: whichever replica has room runs it. Preset names are checked
        // here, so a typo is a 400 now rather than a failed flow later.
        for (const a of body.data.agents) if (typeof a === 'string') await flow.agentSpec(a);
        await ready;
        const id = newFlowId();
        await pool.enqueue(body.data, id);
        c.header('Location', `/flows/${id}`);
        return c.json({ id, status: 'queued' } satisfies FlowAccepted, 202);
      }
      const running = registry.active().length;
      if (running >= o.maxFlows) {
        return apiError(
          c,
          429,
          'too_many_flows',
          `${running} flows are running, the limit is ${o.maxFlows} (--max-flows): retry when one finishes`,
        );
      }
      // A client's traceparent: the flow's trace continues the client's (src/telemetry).
      const rec = await withIncomingTrace(c.req.raw.headers, () => registry.create(body.data));
      // Before the 202, so a client that streams the flow at once sees its plan.
      rec.setPlan(await planOf(flow, rec, body.data));
      c.header('Location', `/flows/${rec.id}`);
      return c.json({ id: rec.id, status: 'running' } satisfies FlowAccepted, 202);
    },
  );

  app.get('/flows', documented('listFlows'), auth, async (c) =>
    c.json({ flows: pool ? (await ready, await pool.list()) : registry.list() } satisfies FlowList),
  );

  const notFound = (c: Context, id: string) =>
    apiError(c, 404, 'flow_not_found', `no flow "${id}" (finished flows are kept for the last ${o.keepFinished})`);
  /** A route of one flow: `local` answers from this process's record, `pooled` for a replica of a pool. */
  const withFlow =
    (
      local: (c: Context, rec: FlowRecord) => Response | Promise<Response>,
      pooled?: (c: Context, id: string, pool: PoolReplica) => Promise<Response>,
    ) =>
    async (c: Context) => {
      const id = c.req.param('id') ?? '';
      if (pool && pooled) {
        await ready;
        return FLOW_ID.test(id) && (await pool.has(id)) ? pooled(c, id, pool) : notFound(c, id);
      }
      const rec = FLOW_ID.test(id) ? registry.get(id) : undefined;
      return rec ? local(c, rec) : notFound(c, id);
    };

  app.get(
    '/flows/:id',
    documented('getFlow'),
    auth,
    withFlow(
      (c, rec) => c.json(rec.view() satisfies FlowView),
      async (c, id, p) => {
        const view = await p.view(id);
        return view ? c.json(view satisfies FlowView) : notFound(c, id);
      },
    ),
  );

  app.get(
    '/flows/:id/cost',
    documented('getFlowCost'),
    auth,
    withFlow(
      (c, rec) => c.json({ flowId: rec.id, status: rec.status, ...rec.cost() } satisfies FlowCostAnswer),
      async (c, id, p) => {
        const cost = await p.cost(id);
        // The store's status is a plain string; the contract tests check what it holds.
        return cost
          ? c.json({ flowId: id, ...cost, status: cost.status as FlowCostAnswer['status'] } satisfies FlowCostAnswer)
          : notFound(c, id);
      },
    ),
  );

  app.get(
    '/flows/:id/events',
    documented('streamFlowEvents'),
    auth,
    withFlow(
      (c, rec) => streamFlowEvents(c, (after, signal) => rec.subscribe(after, signal)),
      (c, id, p) => Promise.resolve(streamFlowEvents(c, (after, signal) => p.events(id, after, signal))),
    ),
  );

  // Permission requests and questions agents wait on (human in the loop).
  app.get(
    '/flows/:id/requests',
    documented('listFlowRequests'),
    auth,
    withFlow(
      (c, rec) => c.json({ flowId: rec.id, requests: flow.pendingRequests(rec.id) } satisfies RequestList),
      async (c, id, p) => c.json({ flowId: id, requests: await p.requests(id) } satisfies RequestList),
    ),
  );

  /** The reply body, checked against the kind of request it answers. */
  const readReply = async (c: Context, kind: 'permission' | 'question') => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return apiError(c, 400, 'invalid_json', 'the body is not JSON');
    }
    const parsed = ReplyBodySchema.safeParse(body);
    if (!parsed.success) return apiError(c, 400, 'invalid_body', 'invalid reply', zodIssues(parsed.error));
    const a = parsed.data.answer;
    if (kind === 'permission' && Array.isArray(a))
      return apiError(c, 400, 'invalid_config', "a permission is answered 'once', 'always' or 'reject'");
    if (kind === 'question' && !Array.isArray(a) && a !== 'reject')
      return apiError(
        c,
        400,
        'invalid_config',
        "a question is answered with one list of choices per question, or 'reject'",
      );
    return a;
  };

  app.post(
    '/flows/:id/requests/:rid',
    documented('answerFlowRequest'),
    auth,
    withFlow(
      async (c, rec) => {
        const rid = c.req.param('rid') ?? '';
        const pending = flow.pendingRequests(rec.id).find((p) => p.request.id === rid);
        if (!pending) return apiError(c, 404, 'request_not_found', `flow ${rec.id} has no pending request "${rid}"`);
        const answer = await readReply(c, pending.request.kind);
        if (answer instanceof Response) return answer;
        flow.reply(rid, answer);
        return c.json({ flowId: rec.id, requestId: rid, answer, agent: pending.agent } satisfies ReplyAccepted, 200);
      },
      async (c, id, p) => {
        const rid = c.req.param('rid') ?? '';
        const pending = (await p.requests(id)).find((r) => r.request.id === rid);
        if (!pending) return apiError(c, 404, 'request_not_found', `flow ${id} has no pending request "${rid}"`);
        const answer = await readReply(c, pending.request.kind);
        if (answer instanceof Response) return answer;
        // Delivered by the replica running the flow (wherever that is).
        if (!(await p.reply(id, rid, answer)))
          return apiError(c, 404, 'request_not_found', `flow ${id} has no pending request "${rid}"`);
        return c.json({ flowId: id, requestId: rid, answer, agent: pending.agent } satisfies ReplyAccepted, 200);
      },
    ),
  );

  app.delete(
    '/flows/:id',
    documented('cancelFlow'),
    auth,
    withFlow(
      async (c, rec) => {
        const outcome = registry.cancel(rec.id, 'cancelled via API');
        if (outcome === 'finished')
          return apiError(c, 409, 'flow_not_running', `flow ${rec.id} already ended (${rec.status})`);
        let timer: NodeJS.Timeout | undefined;
        const done = await Promise.race([
          rec.settled().then(() => true),
          new Promise<false>((r) => (timer = setTimeout(() => r(false), CANCEL_WAIT_MS))),
        ]);
        clearTimeout(timer);
        return done
          ? c.json(rec.view() satisfies FlowView, 200)
          : c.json({ id: rec.id, status: 'cancelling' } satisfies Cancelling, 202);
      },
      async (c, id, p) => {
        const outcome = await p.cancel(id, 'cancelled via API');
        if (outcome === 'not_found') return notFound(c, id);
        if (outcome === 'finished') {
          const view = await p.view(id);
          return apiError(c, 409, 'flow_not_running', `flow ${id} already ended (${view?.status ?? 'finished'})`);
        }
        // The replica running it was told; its end reaches this one through the store.
        const view = await p.settled(id, CANCEL_WAIT_MS);
        return view
          ? c.json(view satisfies FlowView, 200)
          : c.json({ id, status: 'cancelling' } satisfies Cancelling, 202);
      },
    ),
  );

  // The API's own description, generated from the schemas above on first ask (public: it
  // holds no data, like the dashboard page).
  let document: Promise<OpenApiDocument> | undefined;
  const openapi = () => (document ??= openApiDocument(app));
  app.get('/openapi.json', documented('openapi'), async (c) => c.json(await openapi()));
  app.get('/docs', documented('apiReference'), async (c) => {
    const nonce = randomBytes(16).toString('base64');
    c.header('Content-Security-Policy', apiReferenceCsp(nonce));
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    return c.html(apiReferenceHtml(await openapi(), nonce));
  });

  app.notFound((c) => apiError(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    if (!(err instanceof FlowError))
      logger.error({ reqId: requestIds.get(c.req.raw), method: c.req.method, path: c.req.path, err }, 'request failed');
    return errorResponse(c, err);
  });

  const handle: ServeHandle = {
    flows: registry,
    metrics,
    options: o,
    ...(pool ? { pool } : {}),
    onShutdown: shutdownDefault,
    ready,
    get closing() {
      return closing;
    },
    close({ onShutdown = shutdownDefault } = {}) {
      closing = true;
      closed ??= (async () => {
        if (pool) await pool.close(onShutdown).catch(() => undefined);
        if (onShutdown === 'cancel') registry.cancelAll('server shutting down');
        // Stored as they are, sessions untouched: `opencode-flow resume <id>` continues them.
        if (onShutdown === 'persist') await flow.detach();
        await registry.settleAll();
        registry.dispose();
      })();
      return closed;
    },
  };
  return { app, handle };
}
