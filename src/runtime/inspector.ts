import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import { freePort } from '../opencode/server.js';

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

/**
 * Start the Stately inspector bridge for flows: a local HTTP + WebSocket server (from
 * `@statelyai/inspect/server`) on loopback, and a WebSocket inspector that sends every
 * actor, event and snapshot of the flow's actor system to it. On a headless server,
 * connect a browser (or `createWebSocketReceiver`) to the printed URL.
 *
 * @example
 * ```ts
 * const inspector = await startFlowInspector({ port: 8080 });
 * createActor(machine, { inspect: inspector.inspect }).start();
 * console.log(`inspect at ${inspector.url}`);
 * ```
 */
export async function startFlowInspector({ port, open = false }: { port?: number; open?: boolean } = {}): Promise<FlowInspector> {
  const { createInspectorServer } = await import('@statelyai/inspect/server');
  const p = port ?? (await freePort());
  const server = createInspectorServer({ port: p, autoOpen: open });
  const wsUrl = `ws://127.0.0.1:${p}`;
  const inspector = createWebSocketInspector({ url: wsUrl });
  return {
    url: `http://localhost:${p}`,
    wsUrl,
    inspect: inspector.inspect,
    stop() {
      inspector.stop();
      server.stop();
    },
  };
}
