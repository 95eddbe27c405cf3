/**
 * A plain `node:http` app with one OpencodeFlow inside it: code reviews over HTTP, with the
 * agents' output streamed to the app's own clients as server-sent events.
 *
 *   npx tsx examples/embed-in-node/server.ts --port 3000 --server http://127.0.0.1:4096
 *
 * Without --server (or OPENCODE_SERVER_URL) an embedded `opencode serve` is started with
 * your own providers. See README.md for the routes.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { OpencodeFlow, type FlowReport } from 'opencode-flow';

const AGENTS = ['reviewer', 'security-auditor'];
const MAX_BODY = 1024 * 1024;
const KEEPALIVE_MS = 15_000;
/** Finished reviews kept for GET (oldest dropped first). */
const KEEP_FINISHED = 100;

const USAGE = 'usage: server.ts [--port N] [--host H] [--server URL] [--model provider/model]';
function args() {
  try {
    return parseArgs({
      options: {
        port: { type: 'string', default: process.env.PORT || '3000' },
        host: { type: 'string', default: '127.0.0.1' },
        server: { type: 'string' },
        model: { type: 'string' },
      },
    }).values;
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    process.exit(2);
  }
}
const values = args();
const port = Number(values.port);
if (!/^\d+$/.test(values.port) || port > 65535) {
  console.error(`--port: expected a port number, got "${values.port}"\n${USAGE}`);
  process.exit(2);
}

/** One review: its events so far (replayed to late subscribers), its live subscribers, its outcome. */
interface Review {
  id: string;
  status: 'running' | 'done' | 'error';
  events: Array<{ seq: number; event: string; data: unknown }>;
  clients: Set<ServerResponse>;
  report?: FlowReport;
  error?: string;
}
const reviews = new Map<string, Review>();
/** Completions of the running reviews' flows (awaited on shutdown). */
const running = new Set<Promise<void>>();

const flow = new OpencodeFlow({
  serverUrl: values.server ?? (process.env.OPENCODE_SERVER_URL || undefined),
  password: process.env.OPENCODE_SERVER_PASSWORD || undefined,
  username: process.env.OPENCODE_SERVER_USERNAME || undefined,
  model: values.model,
  // Reviews need no shared memory unless you ask for it; reports live in this process.
  memory: process.env.OPENCODE_FLOW_MEMORY || false,
  persist: false,
});

function send(res: ServerResponse, e: Review['events'][number]) {
  res.write(`id: ${e.seq}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
}

function publish(review: Review, event: string, data: unknown) {
  const e = { seq: review.events.length + 1, event, data };
  review.events.push(e);
  for (const res of review.clients) send(res, e);
}

function finish(review: Review) {
  for (const res of review.clients) res.end();
  review.clients.clear();
}

// One listener per event type for the whole app; each event names its flow (= review id).
flow.on('agent.state', (e) => {
  const r = reviews.get(e.flowId);
  if (r) publish(r, 'state', { agent: e.agent, state: e.state, model: e.model });
});
flow.on('agent.delta', (e) => {
  const r = reviews.get(e.flowId);
  if (r) publish(r, 'delta', { agent: e.agent, text: e.text });
});
flow.on('agent.tool', (e) => {
  const r = reviews.get(e.flowId);
  if (r) publish(r, 'tool', { agent: e.agent, tool: e.tool, status: e.status });
});

function startReview(code: string): Review {
  const id = `review_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const review: Review = { id, status: 'running', events: [], clients: new Set() };
  reviews.set(id, review);
  const completion = flow
    .execute({
      flowId: id,
      task: `Review the following code. Report concrete findings with line references and a severity.\n\n\`\`\`\n${code}\n\`\`\``,
      agents: AGENTS,
      mode: 'parallel',
      onAgentFailure: 'continue',
    })
    .then(
      (report) => {
        review.status = 'done';
        review.report = report;
        publish(review, 'done', report);
      },
      (err: unknown) => {
        review.status = 'error';
        review.error = err instanceof Error ? err.message : String(err);
        publish(review, 'error', { error: review.error });
      },
    )
    .finally(() => {
      finish(review);
      running.delete(completion);
      const finished = [...reviews.values()].filter((r) => r.status !== 'running');
      for (const r of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) reviews.delete(r.id);
    });
  running.add(completion);
  return review;
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw Object.assign(new Error(`body larger than ${MAX_BODY} bytes`), { status: 413 });
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw Object.assign(new Error('body is not valid JSON'), { status: 400 });
  }
}

function streamEvents(req: IncomingMessage, res: ServerResponse, review: Review) {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // A reconnecting EventSource sends the last id it saw: replay only what it missed.
  const after = Number(req.headers['last-event-id'] ?? 0) || 0;
  for (const e of review.events) if (e.seq > after) send(res, e);
  if (review.status !== 'running') return void res.end();
  review.clients.add(res);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
  res.on('close', () => {
    clearInterval(keepAlive);
    review.clients.delete(res);
  });
}

let closing = false;

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const m = /^\/review(?:\/([^/]+)(\/events)?)?\/?$/.exec(url.pathname);
  if (!m) return json(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  if (!m[1]) {
    if (req.method !== 'POST') return json(res, 405, { error: 'use POST /review' });
    if (closing) return json(res, 503, { error: 'shutting down' });
    readJson(req).then(
      (body) => {
        const code = (body as { code?: unknown } | null)?.code;
        if (typeof code !== 'string' || !code.trim())
          return json(res, 400, { error: 'expected a JSON body { "code": "<non-empty string>" }' });
        json(res, 202, { id: startReview(code).id });
      },
      (err: Error & { status?: number }) => json(res, err.status ?? 400, { error: err.message }),
    );
    return;
  }
  if (req.method !== 'GET') return json(res, 405, { error: `use GET ${url.pathname}` });
  const review = reviews.get(m[1]);
  if (!review) return json(res, 404, { error: `no review "${m[1]}"` });
  if (m[2]) return streamEvents(req, res, review);
  if (review.status === 'running') return json(res, 200, { id: review.id, status: 'running' });
  if (review.status === 'error') return json(res, 500, { id: review.id, status: 'error', error: review.error });
  return json(res, 200, { id: review.id, status: 'done', report: review.report });
});

async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  console.error(`${signal}: cancelling running reviews and shutting down`);
  server.close();
  // Cancels running flows (aborting their sessions): their streams get a `done` with status
  // "cancelled" and end. Stops the embedded OpenCode server, if any.
  let code = 0;
  try {
    await flow.shutdown();
    // Each cancelled flow's report reaches its stream as the `done` event.
    await Promise.allSettled([...running]);
  } catch (e) {
    console.error(`shutdown failed: ${e instanceof Error ? e.message : String(e)}`);
    code = 1;
  }
  for (const r of reviews.values()) finish(r);
  server.closeAllConnections();
  process.exit(code);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

try {
  await flow.start(); // connect to (or start) OpenCode before taking requests: misconfiguration fails here
} catch (e) {
  console.error(`embed-in-node: ${e instanceof Error ? e.message : String(e)}`);
  await flow.shutdown().catch(() => {});
  process.exit(1);
}
server.listen(port, values.host, () => {
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  console.log(`review app listening on http://${values.host}:${actual} (OpenCode at ${flow.serverUrl})`);
});
