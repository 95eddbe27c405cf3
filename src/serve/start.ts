import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { zodToFlowError } from '../config/errors.js';
import { FlowError, FlowErrorCode } from '../errors.js';
import { OpencodeFlow, type FlowOptions } from '../flow/index.js';
import { createServeApp, type ServeHandle } from './app.js';
import { maskPasswords } from '../echo.js';
import { SILENT_LOGGER } from './logger.js';
import { httpUrl } from './loopback.js';
import { createNodeServer } from './node-server.js';
import { ServeOptionsSchema, type ResolvedServeOptions, type ServeOptions, type OnShutdown } from './options.js';

/** How long a shutdown waits for open responses (event streams) to end by themselves. */
export const SHUTDOWN_GRACE_MS = 2000;

/** A running API server. */
export interface RunningServe {
  /** `http://host:port` it listens on (the real port when `port: 0`). */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** The one `OpencodeFlow` behind the API (owned by this server). */
  readonly flow: OpencodeFlow;
  readonly app: Hono;
  readonly handle: ServeHandle;
  readonly server: Server;
  readonly options: ResolvedServeOptions;
  /**
   * Graceful stop: stop accepting connections, cancel (or wait for) running flows, end
   * their event streams, close every connection, then `flow.shutdown()` (which stops an
   * embedded OpenCode). Idempotent.
   */
  close(opts?: { onShutdown?: OnShutdown }): Promise<void>;
}

/** The field of the `stopped` line that counts the flows running at the signal, by what was done to them. */
const FLOWS_DONE: Record<OnShutdown, string> = { cancel: 'cancelled', wait: 'waitedFor', persist: 'persisted' };

/** How `startServe` behaves as a process (the CLI turns these on). */
export interface StartServeRuntime {
  /**
   * On SIGTERM/SIGINT: `close()`, then exit 0 (1 if closing failed). A second signal exits
   * at once (130 for SIGINT, 143 for SIGTERM). Default false: an embedding app decides.
   */
  handleSignals?: boolean;
  /** Progress lines (shutdown steps). Default: none. */
  log?: (line: string) => void;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const why =
        e.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is already in use (choose another with --port)`
          : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND'
            ? `cannot bind ${host}: no such local address`
            : e.code === 'EACCES'
              ? `not allowed to bind port ${port} on ${host}`
              : `cannot listen on ${host}:${port}: ${e.message}`;
      reject(new FlowError(FlowErrorCode.InvalidConfig, why, { cause: e }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * Start the HTTP API: one `OpencodeFlow` (attached to `server`, or an embedded
 * `opencode serve` when absent, exactly like the CLI), the app of {@link createServeApp},
 * listening on `host:port` (default `127.0.0.1:5000`). A non-loopback `host` needs a
 * `token`; a bad option is a `FlowError` `invalid_config` naming the field.
 *
 * @example
 * ```ts
 * const serve = await startServe({ port: 5000, token: process.env.OPENCODE_FLOW_TOKEN, server: 'http://127.0.0.1:4096' });
 * console.log(`API on ${serve.url}, dashboard on ${serve.url}/`);
 * // ...
 * await serve.close();
 * ```
 */
export async function startServe(options: ServeOptions = {}, runtime: StartServeRuntime = {}): Promise<RunningServe> {
  const parsed = ServeOptionsSchema.safeParse(options);
  if (!parsed.success) throw zodToFlowError(parsed.error, 'serve options');
  const o = parsed.data;
  const log = runtime.log ?? (() => {});
  const logger = o.logger ?? SILENT_LOGGER;
  const flow = new OpencodeFlow({
    ...(o.flowOptions as FlowOptions | undefined),
    ...(o.inputPolicy ? { inputPolicy: o.inputPolicy } : {}),
    ...(o.server ? { serverUrl: o.server } : {}),
  });
  try {
    await flow.start();
  } catch (e) {
    await flow.shutdown().catch(() => {});
    throw e;
  }
  const { app, handle } = createServeApp(flow, {
    token: o.token,
    maxFlows: o.maxFlows,
    keepFinished: o.keepFinished,
    maxBodyBytes: o.maxBodyBytes,
    onShutdown: o.onShutdown,
    maxEventsPerFlow: o.maxEventsPerFlow,
    ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
    ...(o.replicaId ? { replicaId: o.replicaId } : {}),
    log,
    logger,
  });
  try {
    await handle.ready;
  } catch (e) {
    await flow.shutdown().catch(() => {});
    throw e;
  }
  const server = createNodeServer(app.fetch, { logger });
  try {
    await listen(server, o.port, o.host);
  } catch (e) {
    await flow.shutdown().catch(() => {});
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  const serverClosed = new Promise<void>((r) => server.once('close', () => r()));
  const url = httpUrl(o.host, port);
  logger.info(
    {
      url,
      opencode: maskPasswords(flow.serverUrl ?? '?'),
      store: maskPasswords(flow.store.location),
      maxFlows: o.maxFlows,
      onShutdown: handle.onShutdown,
      auth: o.token ? 'token' : 'none',
      ...(handle.pool ? { replica: handle.pool.id } : {}),
    },
    'listening',
  );

  let closing: Promise<void> | undefined;
  const close = (opts?: { onShutdown?: OnShutdown; signal?: NodeJS.Signals }) => {
    closing ??= (async () => {
      const mode = opts?.onShutdown ?? handle.onShutdown;
      server.close();
      server.closeIdleConnections();
      const running = handle.flows.active().length;
      const signal = opts?.signal ? { signal: opts.signal } : {};
      logger.info({ ...signal, onShutdown: mode, runningFlows: running }, 'shutting down');
      const doing = {
        cancel: 'cancelling',
        wait: 'waiting for',
        persist: handle.pool
          ? 'handing over to the other replicas'
          : 'storing (resume them with opencode-flow resume <id>)',
      }[mode];
      if (running) log(`${doing} ${running} running flow${running === 1 ? '' : 's'}…`);
      try {
        await handle.close({ onShutdown: mode });
        // Event streams end right after their flow's last event: let them flush it and
        // close (a connection turns idle once its response ends), then cut the rest.
        const deadline = Date.now() + SHUTDOWN_GRACE_MS;
        let done = false;
        void serverClosed.then(() => (done = true));
        while (!done && Date.now() < deadline) {
          server.closeIdleConnections();
          await new Promise((r) => setTimeout(r, 25));
        }
      } finally {
        server.closeAllConnections();
        await serverClosed;
        await flow.shutdown();
        log('stopped');
        // What became of the flows that were running: cancelled, finished, or stored as they were.
        logger.info({ ...signal, onShutdown: mode, [FLOWS_DONE[mode]]: running }, 'stopped');
      }
    })();
    return closing;
  };

  if (runtime.handleSignals) {
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) process.exit(sig === 'SIGINT' ? 130 : 143);
      signalled = true;
      log(`${sig}: shutting down (send it again to exit at once)`);
      close({ signal: sig }).then(
        () => {
          logger.info({ signal: sig, exitCode: 0 }, 'exit');
          process.exit(0);
        },
        (e: unknown) => {
          logger.error({ signal: sig, exitCode: 1, err: e }, 'shutdown failed');
          process.stderr.write(
            `opencode-flow: error while shutting down: ${e instanceof Error ? e.message : String(e)}\n`,
          );
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  return { url, port, host: o.host, flow, app, handle, server, options: o, close };
}
