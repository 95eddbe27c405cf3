import { StringDecoder } from 'node:string_decoder';
import { Transform, type Readable, type Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { FlowError, FlowErrorCode } from '../../errors.js';
import type { MemoryBackend } from '../backend.js';
import { createBackendMemoryOps } from '../backend-ops.js';
import { createMemoryBackend, type MemoryConfigInput } from '../config.js';
import { flowNamespace } from '../namespace.js';
import { refuseProtoKeys } from './proto-keys.js';
import { createMemoryMcpServer } from './server.js';

/** Options of {@link runMemoryMcpStdio}. */
export interface MemoryMcpStdioOptions {
  /** A memory config or URI (default: the file backend), or an open backend (not closed by us). */
  memory?: MemoryConfigInput | string | MemoryBackend;
  /** The flow's namespace, `flow:<id>`. */
  namespace: string;
  /** Relative memory paths resolve against this (default `process.cwd()`). */
  cwd?: string;
  /** Server name (default `flow`). */
  name?: string;
  /** Streams to speak on (default `process.stdin` / `process.stdout`). */
  stdin?: Readable;
  stdout?: Writable;
}

/** A running stdio memory MCP server. */
export interface MemoryMcpStdioServer {
  /** Stops serving and closes the backend if this server opened it. */
  close(): Promise<void>;
  /** Settles when the server has closed (stdin ended, or `close`). */
  closed: Promise<void>;
}

/**
 * Serves the memory tools over MCP stdio, straight over a backend (no memory actor): for
 * OpenCode's `"type": "local"` MCP servers and other MCP hosts. Writes nothing to stdout but
 * protocol; diagnostics go to stderr. Stops when stdin ends.
 *
 * The memory actor is the single writer of a flow's memory in the library; run this against
 * SQLite or Redis when both are live at once (the file backend refuses a second process).
 *
 * @example
 * ```ts
 * // opencode.json: "mcp": { "flow": { "type": "local", "command": ["node", "memory-mcp.js"] } }
 * await runMemoryMcpStdio({ memory: 'sqlite:./flow.db', namespace: 'flow:nightly' });
 * ```
 */
export async function runMemoryMcpStdio(options: MemoryMcpStdioOptions): Promise<MemoryMcpStdioServer> {
  const owned = !isBackend(options.memory);
  const backend = isBackend(options.memory)
    ? options.memory
    : await createMemoryBackend(options.memory, options.cwd === undefined ? {} : { cwd: options.cwd });
  const ops = createBackendMemoryOps(backend, { namespace: options.namespace, by: 'mcp' });
  const server = createMemoryMcpServer({
    ops,
    namespace: options.namespace,
    ...(options.name === undefined ? {} : { name: options.name }),
  });
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const guarded = refuseProtoKeyLines(stdin, stdout);
  const transport = new StdioServerTransport(guarded, stdout);

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stdin.off('end', onEnd);
      stdin.unpipe(guarded);
      // As the SDK's transport does for the stream it reads: let the process exit.
      if (stdin.listenerCount('data') === 0) stdin.pause();
      await server.close().catch((e: unknown) => log(`closing the server failed: ${(e as Error).message}`));
      if (owned) await backend.close().catch((e: unknown) => log(`closing memory failed: ${(e as Error).message}`));
      resolveClosed();
    })());
  const onEnd = () => void close();
  stdin.on('end', onEnd);
  transport.onerror = (e) => log(`transport error: ${e.message}`);

  await server.connect(transport);
  return { close, closed };
}

/**
 * Reads stdio server options from the environment: `OPENCODE_FLOW_MEMORY` (a memory URI,
 * default the file backend) and `OPENCODE_FLOW_NAMESPACE` (`flow:<id>`) or `OPENCODE_FLOW_ID`.
 *
 * @example
 * ```ts
 * await runMemoryMcpStdio(memoryMcpStdioOptionsFromEnv());
 * ```
 */
export function memoryMcpStdioOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): MemoryMcpStdioOptions {
  const namespace =
    env.OPENCODE_FLOW_NAMESPACE ?? (env.OPENCODE_FLOW_ID ? flowNamespace(env.OPENCODE_FLOW_ID) : undefined);
  if (!namespace) {
    throw new FlowError(
      FlowErrorCode.InvalidConfig,
      'set OPENCODE_FLOW_NAMESPACE (flow:<id>) or OPENCODE_FLOW_ID for the memory MCP server',
    );
  }
  return env.OPENCODE_FLOW_MEMORY ? { namespace, memory: env.OPENCODE_FLOW_MEMORY } : { namespace };
}

/**
 * Stdin with every line whose message carries an own `"__proto__"` key taken out and
 * answered with an `Invalid params` error: the SDK's parsing would drop the key silently
 * and run the tool on other arguments than those sent. Only lines that could spell the key
 * (`proto`, or a `\u` escape) are parsed here; the rest pass untouched.
 */
function refuseProtoKeyLines(stdin: Readable, stdout: Writable): Transform {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const guard = new Transform({
    transform(chunk: Buffer | string, _encoding, done) {
      pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
      let pass = '';
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl + 1);
        pending = pending.slice(nl + 1);
        const refusal = /proto|\\u/i.test(line) ? refusalOf(line) : undefined;
        if (!refusal) {
          pass += line;
          continue;
        }
        log(refusal.reason);
        for (const error of refusal.errors) stdout.write(`${JSON.stringify(error)}\n`);
      }
      done(null, pass);
    },
    flush(done) {
      done(null, pending + decoder.end());
    },
  });
  stdin.on('error', (e) => guard.destroy(e));
  return stdin.pipe(guard);
}

function refusalOf(line: string): ReturnType<typeof refuseProtoKeys> {
  let message: unknown;
  try {
    message = JSON.parse(line);
  } catch {
    return undefined; // the SDK reports the parse error
  }
  return refuseProtoKeys(message);
}

function isBackend(m: MemoryMcpStdioOptions['memory']): m is MemoryBackend {
  return typeof m === 'object' && m !== null && typeof (m as MemoryBackend).get === 'function';
}

function log(message: string): void {
  process.stderr.write(`[opencode-flow memory mcp] ${message}\n`);
}
