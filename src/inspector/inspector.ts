import { createInspector } from '@statelyai/inspect';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { InspectionEvent, Observer } from 'xstate';
import { InspectorHistory, type InspectionMessage, type InspectorHistoryLimits } from './history.js';

/** A running inspector bridge: actors of a flow stream to it; a browser shows them. */
export interface FlowInspector {
  /** Open this in a browser: it embeds the Stately inspector and shows the live actors. */
  readonly url: string;
  /** WebSocket that inspection events go through (for `createWebSocketReceiver`). */
  readonly wsUrl: string;
  /** Pass as `createActor(machine, { inspect })`. */
  readonly inspect: Observer<InspectionEvent>;
  stop(): void;
}

export interface FlowInspectorOptions {
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** Open the page in the default browser. */
  open?: boolean;
  /** Bounds of what a late viewer is replayed (see `InspectorHistory`). */
  history?: Partial<InspectorHistoryLimits>;
}

const STATELY_INSPECTOR_URL = 'https://stately.ai/inspect';
/** How deep snapshots and events are serialized, as `@statelyai/inspect` does by default. */
const DEPTH_LIMIT = 10;

/**
 * Start the Stately inspector bridge for flows: a local HTTP + WebSocket server bound to
 * 127.0.0.1 only (prompts, outputs and memory pass through it), which turns every actor,
 * event and snapshot of the flow's actor system into Stately inspection messages and
 * relays them to each connected viewer. A viewer who connects late first gets the kept
 * history of every live flow from its start (bounded, see `InspectorHistory`), then the
 * live messages. WebSocket connections from web pages of other origins are refused, so a
 * site open in the same browser cannot read the flow. On a headless server, forward the
 * port (`ssh -L PORT:127.0.0.1:PORT`) or read `wsUrl` with `createWebSocketReceiver`.
 *
 * @example
 * ```ts
 * const inspector = await startFlowInspector({ port: 8080 });
 * createActor(machine, { inspect: inspector.inspect }).start();
 * console.log(`inspect at ${inspector.url}`);
 * ```
 */
export async function startFlowInspector({
  port = 0,
  open = false,
  history: limits,
}: FlowInspectorOptions = {}): Promise<FlowInspector> {
  const history = new InspectorHistory(limits);
  const http = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(bridgeHtml());
  });
  const wss = new WebSocketServer({
    server: http,
    verifyClient: ({ req }: { req: IncomingMessage }) => fromLoopbackPage(req),
  });
  wss.on('connection', (ws) => {
    for (const text of history.replay()) ws.send(text);
    // Viewers only read: a message from one is not relayed to the others.
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  const p = (http.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${p}`;
  if (open) void openBrowser(url);

  const inspector = createInspector(
    {
      send(message: unknown) {
        const text = safeStringify(message);
        history.add(message as InspectionMessage, text);
        for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(text);
      },
    },
    { serializationDepthLimit: DEPTH_LIMIT },
  );
  return {
    url,
    wsUrl: `ws://127.0.0.1:${p}`,
    inspect: inspector.inspect,
    stop() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      http.close();
    },
  };
}

function isLoopbackName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::1';
}

/**
 * Host is loopback (no DNS rebinding) and, for browsers, the page is a loopback page (any
 * port, so a forwarded port works); clients without an Origin (Node, CLI tools) may connect.
 */
function fromLoopbackPage(req: IncomingMessage): boolean {
  try {
    if (!isLoopbackName(new URL(`http://${req.headers.host ?? ''}`).hostname)) return false;
    const origin = req.headers.origin;
    return origin === undefined || isLoopbackName(new URL(origin).hostname);
  } catch {
    return false;
  }
}

/** The page: the Stately inspector in an iframe, fed from this server's WebSocket. */
function bridgeHtml(): string {
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>opencode-flow · Stately inspector</title>
  <style>* { margin: 0; padding: 0; } html, body { height: 100%; } iframe { width: 100%; height: 100%; border: none; }</style>
</head>
<body>
  <iframe id="inspector" src="${STATELY_INSPECTOR_URL}"></iframe>
  <script>
    const iframe = document.getElementById('inspector');
    const buffer = [];
    let connected = false;
    window.addEventListener('message', (e) => {
      if (e.data && e.data.type === '@statelyai.connected') {
        connected = true;
        for (const m of buffer) iframe.contentWindow.postMessage(m, '*');
        buffer.length = 0;
      }
    });
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host);
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (connected) iframe.contentWindow.postMessage(data, '*');
      else buffer.push(data);
    };
  </script>
</body>
</html>`;
}

async function openBrowser(url: string): Promise<void> {
  const { spawn } = await import('node:child_process');
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  spawn(cmd, [url], { stdio: 'ignore', detached: true })
    .on('error', () => {})
    .unref();
}

/**
 * JSON of an inspection message that survives what actor snapshots hold: cycles become
 * "[Circular]", functions their name, objects deeper than the limit "[Object]" (as
 * `@statelyai/inspect`'s own serializer does), and `toJSON` is honoured (actor refs).
 */
export function safeStringify(value: unknown, depthLimit = DEPTH_LIMIT): string {
  const ancestors: object[] = [];
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'function') return { type: v.name };
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v;
    const withJson = v as { toJSON?: () => unknown };
    if (typeof withJson.toJSON === 'function') {
      const j = withJson.toJSON();
      if (j !== v) return walk(j, depth);
    }
    if (ancestors.includes(v)) return '[Circular]';
    if (depth >= depthLimit) return Array.isArray(v) ? '[Array]' : '[Object]';
    ancestors.push(v);
    try {
      if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1) ?? null);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const w = walk(x, depth + 1);
        if (w !== undefined) out[k] = w;
      }
      return out;
    } finally {
      ancestors.pop();
    }
  };
  return JSON.stringify(walk(value, 0)) ?? 'null';
}
