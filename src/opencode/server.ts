import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';
import { maskPasswords, quoteValue } from '../echo.js';
import { FlowError, FlowErrorCode } from '../errors.js';

/** Where an OpenCode server is and how to authenticate to it. */
export interface ServerEndpoint {
  url: string;
  /** HTTP basic auth (`OPENCODE_SERVER_PASSWORD`, user defaults to `opencode`). */
  username?: string;
  password?: string;
}

/** An OpenCode server this process started, or one it attached to. */
export interface OpencodeServer extends ServerEndpoint {
  /** True when this process owns the server (and `stop()` ends it). */
  readonly embedded: boolean;
  /** The child's pid when embedded. */
  readonly pid?: number;
  /** Stop an embedded server (SIGTERM, then SIGKILL after a grace period); no-op when attached. */
  stop(): Promise<void>;
}

export interface StartServerOptions {
  /** Path of the `opencode` binary. Default: `OPENCODE_BIN`, then the `opencode-ai` package, then `PATH`. */
  binary?: string;
  hostname?: string;
  /** Port to listen on; default a free loopback port (never 4096 by accident). */
  port?: number;
  /** Working directory of the server (the project it works on). Default `process.cwd()`. */
  cwd?: string;
  /** Inline config passed as `OPENCODE_CONFIG_CONTENT` (merged last by OpenCode). */
  config?: Record<string, unknown>;
  /** Extra environment. `HOME` here isolates OpenCode's data and config dirs. */
  env?: Record<string, string | undefined>;
  /** Give up when not ready after this long. Default 60 s (a loaded 2-core machine can take 30). */
  startTimeoutMs?: number;
  /** Basic-auth password to protect the embedded server with. */
  password?: string;
  /** Lines of the server's output go here (default: dropped). */
  log?: (line: string) => void;
  /**
   * Told as the start moves on: `spawn` (the binary is being started), `listen` (the process
   * runs; waiting for it to listen — OpenCode's first start on a machine spends minutes here),
   * `health` (it listens; waiting for `/global/health` to answer). Each phase once per attempt.
   */
  onPhase?: (phase: ServerStartPhase) => void;
}

/** The phases of {@link startOpencodeServer}, in order (see `onPhase`). */
export type ServerStartPhase = 'spawn' | 'listen' | 'health';

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Make sure an embedded server never outlives us: on exit kill every child; on
 * SIGINT/SIGTERM do the same when nobody else handles the signal.
 */
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of children) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      // Only act as the default handler would when we are the sole listener; an app
      // (or our CLI) with its own handler decides how to shut down.
      if (process.listenerCount(sig) <= 1) {
        for (const c of children) c.kill('SIGTERM');
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
    });
  }
}

/** Find the `opencode` binary: explicit, `OPENCODE_BIN`, the pinned package, then PATH. */
export function resolveOpencodeBinary(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.OPENCODE_BIN) return process.env.OPENCODE_BIN;
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('opencode-ai/package.json');
    for (const name of ['opencode.exe', 'opencode']) {
      const p = join(dirname(pkg), 'bin', name);
      if (existsSync(p)) return p;
    }
  } catch {
    /* optional dependency not installed: fall through to PATH */
  }
  return 'opencode';
}

/** A free TCP port on the loopback interface. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Basic-auth header value for an endpoint, or undefined. */
export function authHeader(ep: ServerEndpoint): string | undefined {
  if (!ep.password) return undefined;
  return 'Basic ' + Buffer.from(`${ep.username ?? 'opencode'}:${ep.password}`).toString('base64');
}

/**
 * Check that an OpenCode server answers `GET /global/health`, with a timeout and a few
 * retries (requests to a server that is still starting can hang).
 */
export async function checkHealth(
  ep: ServerEndpoint,
  { timeoutMs = 3000, attempts = 3, signal }: { timeoutMs?: number; attempts?: number; signal?: AbortSignal } = {},
): Promise<{ healthy: true; version?: string }> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const headers: Record<string, string> = {};
      const auth = authHeader(ep);
      if (auth) headers.authorization = auth;
      const res = await fetch(new URL('/global/health', ep.url), {
        headers,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
      });
      if (res.status === 401) {
        throw new FlowError(
          FlowErrorCode.ServerUnavailable,
          `OpenCode server at ${maskPasswords(ep.url)} refused our credentials (HTTP 401): set OPENCODE_SERVER_PASSWORD (and OPENCODE_SERVER_USERNAME if not "opencode")`,
        );
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json().catch(() => ({}))) as { version?: string };
      return { healthy: true, version: body.version };
    } catch (e) {
      if (e instanceof FlowError) throw e;
      last = e;
      if (signal?.aborted) break;
      if (i < attempts - 1) await new Promise((r) => setTimeout(r, 200 * (i + 1)));
    }
  }
  const why = last instanceof Error ? (last.cause instanceof Error ? last.cause.message : last.message) : String(last);
  throw new FlowError(
    FlowErrorCode.ServerUnavailable,
    maskPasswords(`OpenCode server at ${ep.url} is not reachable (${why})`),
    {
      cause: last,
    },
  );
}

/**
 * Attach to an OpenCode server that already runs, after checking its health.
 *
 * @example
 * ```ts
 * const server = await attachOpencodeServer({ url: 'http://127.0.0.1:4096', password: process.env.OPENCODE_SERVER_PASSWORD });
 * ```
 */
export async function attachOpencodeServer(ep: ServerEndpoint): Promise<OpencodeServer> {
  let parsed: URL;
  try {
    parsed = new URL(ep.url);
  } catch {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      `server URL ${quoteValue(ep.url, 120)} is not a valid URL (expected e.g. http://127.0.0.1:4096)`,
    );
  }
  const url = parsed.toString().replace(/\/$/, '');
  await checkHealth({ ...ep, url });
  return { ...ep, url, embedded: false, stop: async () => {} };
}

/**
 * Start `opencode serve` as a child process on a free loopback port and wait until it
 * listens. The child is killed when this process exits, even on SIGINT/SIGTERM.
 *
 * @example
 * ```ts
 * const server = await startOpencodeServer({ cwd: '/my/project', config: { snapshot: false } });
 * // ... use server.url ...
 * await server.stop();
 * ```
 */
export async function startOpencodeServer(options: StartServerOptions = {}): Promise<OpencodeServer> {
  if (options.port !== undefined) return startOn(options, options.port);
  // A free port can be taken by another process between our probe and OpenCode's bind
  // (busy machines, parallel test files). OpenCode then exits with `ServeError`; pick
  // another port and try again rather than failing the start.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(options, await freePort(options.hostname ?? '127.0.0.1'));
    } catch (e) {
      if (attempt >= 3 || !(e instanceof PortTakenError)) throw e;
    }
  }
}

/** OpenCode exited at start-up because its port was taken (Bun's `ServeError`). */
class PortTakenError extends FlowError {}

async function startOn(options: StartServerOptions, port: number): Promise<OpencodeServer> {
  const hostname = options.hostname ?? '127.0.0.1';
  const binary = resolveOpencodeBinary(options.binary);
  const env: Record<string, string | undefined> = {
    ...process.env,
    OPENCODE_DISABLE_AUTOUPDATE: '1',
    ...options.env,
  };
  if (options.config) env.OPENCODE_CONFIG_CONTENT = JSON.stringify(options.config);
  if (options.password) env.OPENCODE_SERVER_PASSWORD = options.password;
  else delete env.OPENCODE_SERVER_PASSWORD;

  installExitHook();
  options.onPhase?.('spawn');
  let child: ChildProcess;
  try {
    child = spawn(binary, ['serve', '--port', String(port), '--hostname', hostname], {
      cwd: options.cwd ?? process.cwd(),
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    throw new FlowError(FlowErrorCode.ServerUnavailable, `could not start OpenCode (${binary}): ${String(e)}`, {
      cause: e,
    });
  }
  children.add(child);
  child.once('spawn', () => options.onPhase?.('listen'));
  const url = `http://${hostname}:${port}`;
  const output: string[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 50) output.shift();
      options.log?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      children.delete(child);
      resolve();
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exitPromise;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  const ready = (async () => {
    const listening = () => output.some((l) => l.includes('listening on'));
    let heard = false;
    while (Date.now() < deadline) {
      if (exited) return false;
      if (listening()) {
        if (!heard) options.onPhase?.('health');
        heard = true;
        try {
          await checkHealth({ url, password: options.password }, { timeoutMs: 2000, attempts: 1 });
          return true;
        } catch {
          /* not yet */
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  })();

  const outcome = await Promise.race([ready, spawnError]);
  if (outcome instanceof Error) {
    children.delete(child);
    const hint =
      (outcome as NodeJS.ErrnoException).code === 'ENOENT'
        ? ' — install the optional dependency `opencode-ai`, put `opencode` on PATH, set OPENCODE_BIN, or pass --server URL'
        : '';
    throw new FlowError(
      FlowErrorCode.ServerUnavailable,
      `could not start OpenCode (${binary}): ${outcome.message}${hint}`,
      {
        cause: outcome,
      },
    );
  }
  if (!outcome) {
    const exitedEarly = exited;
    await stop();
    const tail = output.slice(-10).join('\n');
    const portTaken = exitedEarly && output.some((l) => /\bServeError\b|EADDRINUSE|address already in use/i.test(l));
    throw new (portTaken ? PortTakenError : FlowError)(
      FlowErrorCode.ServerUnavailable,
      portTaken
        ? `OpenCode could not listen on ${hostname}:${port}: the port is in use${tail ? `:\n${tail}` : ''}`
        : exitedEarly
          ? `OpenCode server exited during start-up (code ${exitedEarly.code ?? exitedEarly.signal})${tail ? `:\n${tail}` : ''}`
          : `OpenCode server did not become ready within ${options.startTimeoutMs ?? 60_000} ms${tail ? `:\n${tail}` : ''}`,
    );
  }
  return { url, password: options.password, embedded: true, pid: child.pid, stop };
}
